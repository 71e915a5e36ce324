"""View-models shared by pages and the API: what a row, a message or a script's strings say."""

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from . import payloads, selectors
from .bidi import isolated
from .models import Counter, Patient, Ticket
from .names import same_person


def after_login_url(patient: Patient | None) -> str:
    """Where a verified patient goes next: their ticket, the service list, or the name step."""
    if patient is None:
        return reverse("patient_login")
    if any(t.is_active for t in selectors.patient_tickets(patient)):
        return reverse("patient_dashboard")
    return reverse("service_selection")


def already_held_message(ticket: Ticket) -> str:
    """What a second join for the same phone, service and name answers (with the ticket, 200)."""
    return _("%(name)s already holds ticket %(ticket)s for %(service)s; no new ticket was made.") % isolated(
        name=ticket.patient_name, ticket=ticket.queue_id, service=ticket.service
    )


def reception_row(ticket: Ticket) -> dict:
    """A ticket as the desk lists it: what it is, where it is, and which actions apply now.

    The `can_*` flags only choose the buttons; the services decide (and refuse with a reason).
    """
    data = payloads.patient_ticket(ticket)
    data.update(
        status_label=str(ticket.get_status_display()),
        joined_time=timezone.localtime(ticket.joined_at).strftime("%H:%M"),
        slip_url=reverse("reception_slip", args=[ticket.pk]),
        can_recall=ticket.status == Ticket.Status.SKIPPED,
        can_move=ticket.status in Ticket.MOVABLE_STATUSES,
        can_cancel=ticket.is_active,
        priority=payloads.priority(ticket),
        can_set_priority=ticket.is_active,
    )
    return data


def desk_services() -> list[dict]:
    """The services a walk-in can join today, with how busy each is, in words."""
    rows = []
    for service in selectors.services_overview():
        if not service["offered_today"]:
            continue
        waiting = ngettext("%(n)d waiting", "%(n)d waiting", service["people_waiting"]) % {
            "n": service["people_waiting"]
        }
        if service["open_counters"]:
            counters = ngettext("%(n)d counter open", "%(n)d counters open", service["open_counters"]) % {
                "n": service["open_counters"]
            }
        else:
            counters = _("no counter open")
        rows.append(
            {
                "id": service["id"],
                "name": service["service_name"],
                "meta": f"{waiting} · {counters}",
                "no_counter": not service["open_counters"],
            }
        )
    return rows


# --- the live ticket page: a phone's tickets, or one opened through a slip's link ---------------


def status_strings() -> dict:
    """Every sentence the ticket page can show, translated once; the page's script uses the same."""
    return {
        "waiting": _("You are in the queue"),
        "ahead_one": _("1 person is ahead of you."),
        "ahead_many": _("%(n)s people are ahead of you."),
        "next": _("You are next"),
        "next_detail": _("Please stay close to %(counter)s."),
        "next_detail_line": _("Please stay close: the first counter to be free will call you."),
        "expected": _("%(counter)s (expected)"),
        "pool": _("Waiting for a counter to open"),
        "pool_detail": _("You keep your place. We will tell you where to go as soon as a counter opens."),
        "called": _("Please go to %(counter)s now"),
        "called_detail": _("It is your turn."),
        "served": _("You have been seen"),
        "served_detail": _("Thank you for waiting. Take care!"),
        "skipped": _("You missed your turn"),
        "skipped_detail": _("Please see reception."),
        "cancelled": _("You left the queue"),
        "cancelled_detail": _("You can join again at any time today."),
        "expired": _("This ticket has expired"),
        "expired_detail": _("Tickets are valid on their day only. Please join again."),
        "no_counter": _("Not yet assigned"),
        "minutes": _("about %(n)s min"),
        "no_wait": _("no wait"),
        "now": _("now"),
        "reconnecting": _("Reconnecting…"),
        "polling": _("Live updates are slow on this network; checking every few seconds."),
        "leave_confirm": _("Leave the queue? You will lose your place."),
        "leaving": _("Leaving…"),
        "left": _("You left the queue."),
        "network": _("No connection: nothing was changed. Check the network and try again."),
        "texts_on": _("Texts are on for this ticket."),
        "texts_off": _("Texts are off for this ticket."),
        "your_turn": _("It is your turn"),
        "alerts_on": _("Alerts are on: this phone will show one when it is your turn."),
        "alerts_blocked": _("Alerts are blocked in this browser's settings; keep this page open instead."),
    }


def ticket_status(ticket: dict, strings: dict) -> dict:
    """The plain-language status of a ticket_dict: a headline and a sentence."""
    status = ticket["status"]
    counter = ticket.get("counter") or ""
    if status == Ticket.Status.CALLED:
        return {
            "key": "called",
            "headline": strings["called"] % isolated(counter=counter),
            "detail": strings["called_detail"],
        }
    if status == Ticket.Status.WAITING:
        if not ticket.get("counter_id"):
            return {"key": "pool", "headline": strings["pool"], "detail": strings["pool_detail"]}
        ahead = ticket.get("people_ahead") or 0
        if ahead == 0:
            if ticket.get("one_line"):
                detail = strings["next_detail_line"]
            else:
                detail = strings["next_detail"] % isolated(counter=counter)
            return {"key": "next", "headline": strings["next"], "detail": detail}
        detail = strings["ahead_one"] if ahead == 1 else strings["ahead_many"] % {"n": ahead}
        return {"key": "waiting", "headline": strings["waiting"], "detail": detail}
    return {"key": status, "headline": strings.get(status, status), "detail": strings.get(f"{status}_detail", "")}


def ticket_facts(ticket: dict, strings: dict) -> dict:
    """Counter, position, people ahead and the wait, as the ticket card shows them."""
    waiting = ticket["status"] == Ticket.Status.WAITING
    called = ticket["status"] == Ticket.Status.CALLED
    minutes = ticket.get("estimated_wait_minutes") or 0
    counter = ticket.get("counter") or strings["no_counter"]
    if waiting and ticket.get("one_line") and ticket.get("counter"):
        counter = strings["expected"] % isolated(counter=counter)
    return {
        "counter": counter,
        "position": ticket.get("position") if waiting else "–",
        "ahead": ticket.get("people_ahead", 0) if waiting else "–",
        # A ticket waiting for a counter to open has no estimate: no time, and never "no wait".
        "wait": (
            "–"
            if ticket.get("estimated_wait_minutes") is None
            else (strings["minutes"] % {"n": minutes} if minutes else strings["no_wait"])
        )
        if waiting
        else (strings["now"] if called else "–"),
    }


def dashboard_context(data: list[dict], *, patient: Patient | None, poll_url: str) -> dict:
    """The live ticket page for these ticket_dicts: a signed-in phone's tickets (with `patient`),
    or one ticket opened through its signed link (`patient` None: no leaving, no new ticket).

    Each ticket still in play gets a live card: the active ones, and those finished today that
    reception may bring back (a skipped ticket recalled, a served one sent on to another
    service). With none of those, the latest ticket's news (left, expired). The rest are listed.
    """
    strings = status_strings()
    active = [t for t in data if t["status"] in Ticket.ACTIVE_STATUSES]
    shown = [t for t in data if t["status"] in Ticket.ACTIVE_STATUSES or t.get("may_come_back")] or data[-1:]
    earlier = [{**t, "status_label": Ticket.Status(t["status"]).label} for t in data if t not in shown]
    cards = [
        {
            "ticket": t,
            "state": ticket_status(t, strings),
            "facts": ticket_facts(t, strings),
            "active": t["status"] in Ticket.ACTIVE_STATUSES,
            # A family member's ticket on the phone's page, or a slip's ticket: say whose it is.
            "for_name": t["patient_name"]
            if patient is None or not same_person(t["patient_name"], patient.name)
            else "",
        }
        for t in shown
    ]
    return {
        "cards": cards,
        "has_active": bool(active),
        "earlier": earlier,
        "patient": patient,
        "link_mode": patient is None,
        "dashboard_data": {
            "tickets": shown,
            "strings": strings,
            "cancelUrl": reverse("cancel_ticket") if patient is not None else None,
            "notifyUrl": reverse("ticket_notify") if patient is not None else None,
            "pollUrl": poll_url,
        },
    }


# --- the counter dashboard ---------------------------------------------------------------------


def call_message(call, *, action: str) -> str:
    """What the clerk is told after Serve next, Skip or Announce again (a services.Call): what
    became of the patient at the counter, who was called and, when nobody was, why and what to do."""
    if action == "announce":
        return _("%(ticket)s announced again on the display.") % isolated(ticket=call.ticket.queue_id)
    sentences = []
    if call.finished is not None:
        done = _("%(ticket)s marked as a no-show.") if action == "skip" else _("Finished %(ticket)s.")
        sentences.append(done % isolated(ticket=call.finished.queue_id))
    if call.ticket is not None:
        sentences.append(_("Called %(ticket)s.") % isolated(ticket=call.ticket.queue_id))
    elif call.counter.is_open():
        sentences.append(_("Nobody else is waiting. New patients appear in your list as they join."))
    else:
        sentences += [_not_calling_reason(call.counter), _waiting_elsewhere(call)]
        if call.counter.current_status not in Counter.OPEN_STATUSES:
            sentences.append(_("Choose Available to call patients again."))
    return " ".join(sentences)


def _not_calling_reason(counter: Counter) -> str:
    if counter.current_status == Counter.Status.BREAK:
        return _("You are on break, so nobody new was called.")
    if counter.current_status == Counter.Status.CLOSED:
        return _("This counter is closed, so nobody new was called.")
    if counter.held_by_id is None:
        return _("Nobody works at this counter, so nobody new was called.")
    return _("This counter is outside its opening hours, so nobody new was called.")


def _waiting_elsewhere(call) -> str:
    if call.waiting_elsewhere:
        return ngettext(
            "%(n)d patient is waiting for the other counters.",
            "%(n)d patients are waiting for the other counters.",
            call.waiting_elsewhere,
        ) % {"n": call.waiting_elsewhere}
    if call.waiting_unassigned:
        return ngettext(
            "%(n)d patient is waiting for a counter to open.",
            "%(n)d patients are waiting for a counter to open.",
            call.waiting_unassigned,
        ) % {"n": call.waiting_unassigned}
    return _("Nobody else is waiting.")


def script_strings(own: dict) -> dict:
    """The sentences a page's script shows, translated on the server (no JS catalogue): the
    page's own, and those every live page shares."""
    return {
        "network": _("No connection: nothing was changed. Check the network and try again."),
        "loggedOut": _("Your session has ended. Please log in again."),
        "statusLabels": {value: str(label) for value, label in Counter.Status.choices},
        **own,
    }
