"""Reception pages: logging in without a counter, the desk, the slip, the admin actions, and the
family choice ("Who is this for?") on the patient's service selection."""

import base64
import re

import pytest
from django.test import Client
from django.urls import reverse

from queue_app import services
from queue_app.bidi import FSI, PDI
from queue_app.links import qr_data_uri
from queue_app.models import Counter, QueueHistory, Staff, Ticket

from ..factories import CounterFactory, PatientFactory, StaffFactory
from ..patient_helpers import PhoneBrowser, json_script, page

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"  # tests/factories.py
DESK = "/staff/reception/"


@pytest.fixture
def desk(db):
    return StaffFactory(username="reception1", role="reception", first_name="Rita", last_name="Desk")


@pytest.fixture
def reception(client, desk):
    client.force_login(desk)
    return client


@pytest.fixture
def walk_in(opd, counters, desk):
    ticket, _ = services.issue_walk_in(name="Asha Rao", service=opd, by=desk)
    return ticket


def slip_url(ticket, **query):
    url = reverse("reception_slip", args=[ticket.pk])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


# --- logging in ---------------------------------------------------------------------------------


def test_reception_logs_in_without_a_counter_and_lands_on_the_desk(client, desk, counters):
    response = client.post("/staff/login/", {"username": "reception1", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == DESK
    assert not Counter.objects.filter(held_by=desk).exists()
    assert client.get(DESK).status_code == 200


def test_reception_never_holds_a_counter_even_when_one_is_chosen(client, desk, opd):
    free = CounterFactory(counter_name="Counter 9", service=opd, assigned_staff=desk)
    response = client.post("/staff/login/", {"username": "reception1", "password": PASSWORD, "counter": free.pk})
    assert response["Location"] == DESK
    free.refresh_from_db()
    assert free.held_by is None and free.current_status == Counter.Status.CLOSED


def test_operators_still_need_a_counter_to_log_in(client, staff):
    response = client.post("/staff/login/", {"username": "operator3", "password": PASSWORD})
    assert response.status_code == 200 and "choose the counter you are working at" in page(response)


@pytest.mark.parametrize("path", ["/staff/login/", "/staff/dashboard/", "/staff/switch_counter/"])
def test_a_logged_in_reception_member_is_sent_to_the_desk(reception, path):
    response = reception.get(path)
    assert response.status_code == 302 and response["Location"] == DESK


# --- who may open the desk and the slip ------------------------------------------------------------


@pytest.mark.parametrize("who", ["reception", "admin"])
def test_reception_and_admins_open_the_desk_and_the_slip(client, desk, admin_user, walk_in, who):
    client.force_login(desk if who == "reception" else admin_user)
    assert client.get(DESK).status_code == 200
    assert client.get(slip_url(walk_in)).status_code == 200


def test_an_operator_gets_a_403_page_pointing_to_their_counter(client, counters, walk_in):
    client.force_login(counters[0].held_by)
    for path in (DESK, slip_url(walk_in)):
        response = client.get(path)
        assert response.status_code == 403
        assert "for reception staff and administrators" in page(response) and "/staff/dashboard/" in page(response)
        assert walk_in.patient_name not in page(response)


def test_anonymous_visitors_and_patients_are_sent_to_the_staff_login(walk_in, patient):
    phone = PhoneBrowser()
    phone.sign_in(patient.phone)
    for client in (Client(), phone):
        for path in (DESK, slip_url(walk_in)):
            response = client.get(path)
            assert response.status_code == 302
            assert response["Location"] == f"/staff/login/?next={path.replace('?', '%3F')}"


# --- the desk ---------------------------------------------------------------------------------------


def test_the_desk_is_keyboard_first(reception, opd, lab, counters):
    html = page(reception.get(DESK))
    name_input = re.search(r'<input type="text" id="walk-in-name"[^>]*>', html).group(0)
    assert "autofocus" in name_input and "required" in name_input
    assert 'type="tel" id="walk-in-phone"' in html and 'type="search" id="search"' in html
    assert html.count('name="service_id"') == 2 and "OPD" in html and "Test" in html
    assert "<kbd>/</kbd>" in html and "<kbd>Enter</kbd>" in html
    assert 'href="/admin/queue_app/ticket/"' in html  # the same actions in Django admin


def test_the_desk_says_how_busy_each_service_is(reception, opd, lab, counters, patients):
    for p in patients[:3]:
        services.join(patient=p, service=opd)
    html = page(reception.get(DESK))
    assert "3 waiting · 2 counters open" in html
    assert "0 waiting · no counter open" in html  # Test: nobody works there


def test_the_desk_gives_its_script_todays_tickets_and_translated_words(reception, walk_in):
    config = json_script(reception.get(DESK), "reception-config")
    assert [t["queue_id"] for t in config["tickets"]] == [walk_in.queue_id]
    assert config["urls"]["tickets"] == "/staff/reception/tickets/"
    assert config["strings"]["moveTo"] == "Move to %(service)s"
    assert {s["name"] for s in config["services"]} == {"OPD"}


def test_names_are_escaped_on_the_desk_and_the_slip(reception, opd, counters, desk):
    nasty = '<img src=x onerror=alert(1)>"</script>'
    ticket, _ = services.issue_walk_in(name=nasty, service=opd, by=desk)
    for response in (reception.get(DESK), reception.get(slip_url(ticket))):
        html = page(response)
        assert "<img src=x" not in html and '"</script>' not in html
    assert json_script(reception.get(DESK), "reception-config")["tickets"][0]["patient_name"] == nasty


def test_the_desk_is_not_cached_and_sets_the_csrf_cookie(reception):
    response = reception.get(DESK)
    assert "no-cache" in response["Cache-Control"] and "csrftoken" in response.cookies


# --- the slip ------------------------------------------------------------------------------------------


def test_the_slip_has_the_ticket_its_service_counter_time_and_a_qr_of_its_live_page(reception, walk_in):
    response = reception.get(slip_url(walk_in))
    html = page(response)
    assert walk_in.queue_id in html and "OPD" in html and "Counter 1" in html
    assert "Asha R." in html and "Asha Rao" not in html  # a slip gets lost: the name as on the wall
    assert walk_in.joined_at.strftime("%H:%M") in html
    qr = re.search(r'<img class="slip-qr" src="([^"]+)"', html).group(1)
    svg = base64.b64decode(qr.split(",", 1)[1]).decode()
    assert svg.startswith("<svg") and "<path" in svg
    assert "/t/" not in html  # the link is only in the code, not printed as text
    body = reception.post(
        "/staff/reception/tickets/", {"name": walk_in.patient_name, "service_id": walk_in.service_id}
    ).json()
    other = Ticket.objects.get(pk=body["ticket"]["id"])
    assert reception.get(body["link"]).status_code == 200
    assert qr_data_uri(body["link"]) in page(reception.get(slip_url(other)))  # the QR encodes that link


def test_a_ticket_without_a_counter_says_wait_for_your_number(reception, opd, desk):
    ticket, _ = services.issue_walk_in(name="Ravi", service=opd, by=desk)  # no counter open
    assert "Please wait for your number" in page(reception.get(slip_url(ticket)))


@pytest.mark.parametrize(
    ("size", "page_rule", "body_class"),
    [
        ("80", "size: 80mm", "slip-80"),
        ("58", "size: 58mm", "slip-58"),
        ("a6", "size: 105mm 148mm", "slip-a6"),
        ("letter", "size: 80mm", "slip-80"),  # unknown: the default
    ],
)
def test_the_slip_prints_on_58_and_80_mm_rolls_and_a6(reception, walk_in, size, page_rule, body_class):
    html = page(reception.get(slip_url(walk_in, size=size)))
    assert re.search(r'<style id="page-size">@page \{ ' + re.escape(page_rule), html)
    assert f'class="slip-page {body_class}"' in html
    assert '<select name="size" id="slip-size">' in html and 'id="slip-print"' in html


def test_the_desk_may_print_the_slip_from_a_frame_of_its_own_site(reception, walk_in):
    response = reception.get(slip_url(walk_in, print=1))
    assert response["X-Frame-Options"] == "SAMEORIGIN" and 'data-autoprint="1"' in page(response)


def test_an_unknown_tickets_slip_is_404(reception, walk_in):
    assert reception.get(reverse("reception_slip", args=[999999])).status_code == 404


# --- Django admin: the same actions, through the services -------------------------------------------


def test_reception_staff_may_log_in_to_the_admin_but_operators_may_not(desk, staff):
    assert Staff.objects.get(pk=desk.pk).is_staff
    assert not Staff.objects.get(pk=staff[0].pk).is_staff


def test_reception_sees_only_tickets_in_the_admin(reception, walk_in):
    index = page(reception.get("/admin/"))
    assert "/admin/queue_app/ticket/" in index
    assert "/admin/queue_app/staff/" not in index and "/admin/queue_app/counter/" not in index
    assert reception.get("/admin/queue_app/ticket/").status_code == 200
    detail = reception.get(f"/admin/queue_app/ticket/{walk_in.pk}/change/")
    assert detail.status_code == 200 and 'name="_save"' not in page(detail)  # a view, not a form
    assert reception.get("/admin/queue_app/staff/").status_code == 403
    assert reception.get("/admin/queue_app/counter/").status_code == 403


def test_the_admin_lists_recall_move_and_cancel_actions(reception, opd, lab, walk_in):
    html = page(reception.get("/admin/queue_app/ticket/"))
    for action in ("cancel_tickets", "recall_tickets", f"move_to_service_{opd.pk}", f"move_to_service_{lab.pk}"):
        assert f'value="{action}"' in html


def admin_action(client, action, tickets):
    return client.post(
        "/admin/queue_app/ticket/", {"action": action, "_selected_action": [t.pk for t in tickets]}, follow=True
    )


def test_admin_recall_moves_and_cancels_go_through_the_services(reception, desk, opd, lab, counters, patients):
    skipped, _ = services.join(patient=patients[0], service=opd)
    waiting, _ = services.join(patient=patients[1], service=opd)
    services.join(patient=patients[2], service=opd)
    services.serve_next(counter=counters[0], by=None)
    services.skip(counter=counters[0], by=None)

    response = admin_action(reception, "recall_tickets", [skipped])
    assert "1 ticket recalled." in page(response)
    assert Ticket.objects.get(pk=skipped.pk).status == "waiting"

    response = admin_action(reception, f"move_to_service_{lab.pk}", [waiting])
    assert f"1 ticket moved to {FSI}Test{PDI}" in page(response)
    moved = Ticket.objects.get(pk=waiting.pk)
    assert moved.service == lab and moved.joined_at == waiting.joined_at

    response = admin_action(reception, "cancel_tickets", [moved])
    assert Ticket.objects.get(pk=waiting.pk).status == "cancelled"
    for action in ("recalled", "moved_service", "cancelled"):
        assert QueueHistory.objects.filter(action=action, by=desk).exists()


def test_an_admin_action_that_the_rules_refuse_says_why_and_changes_nothing(reception, opd, counters, patients):
    ticket, _ = services.join(patient=patients[0], service=opd)
    response = admin_action(reception, "recall_tickets", [ticket])
    assert "Only a ticket skipped today can be recalled" in page(response) and "0 tickets recalled." in page(response)
    assert Ticket.objects.get(pk=ticket.pk).status == "waiting"


def test_operators_cannot_use_the_admin_ticket_actions(client, counters, opd, patients):
    ticket, _ = services.join(patient=patients[0], service=opd)
    client.force_login(counters[0].held_by)
    response = admin_action(client, "cancel_tickets", [ticket])
    assert "/admin/login/" in response.redirect_chain[-1][0]
    assert Ticket.objects.get(pk=ticket.pk).status == "waiting"


# --- family tickets on the service selection page ---------------------------------------------------


def test_selection_asks_who_the_ticket_is_for(signed_in_phone, patient, opd, counters):
    html = page(signed_in_phone.get("/service/selection/"))
    assert "Who is this for?" in html and f"Me (<bdi>{patient.name}</bdi>)" in html and "Someone else" in html
    assert 'name="for" value="me" checked' in html and 'name="name" id="id_for_name"' in html


def test_a_family_ticket_with_the_plain_form_shows_on_the_phones_dashboard(signed_in_phone, patient, opd, counters):
    mine = signed_in_phone.form("/service/selection/", {"for": "me", "service_id": opd.pk})
    child = signed_in_phone.form("/service/selection/", {"for": "other", "name": "Meera Doe", "service_id": opd.pk})
    assert mine.status_code == 302 and child.status_code == 302
    tickets = Ticket.objects.order_by("id")
    assert [t.patient_name for t in tickets] == ["John Doe", "Meera Doe"]
    assert {t.patient_id for t in tickets} == {patient.pk}
    html = page(signed_in_phone.get("/dashboard/"))
    assert tickets[0].queue_id in html and tickets[1].queue_id in html
    assert "For <bdi>Meera Doe</bdi>" in html and "For <bdi>John Doe</bdi>" not in html
    selection = page(signed_in_phone.get("/service/selection/"))
    assert f"View my ticket <bdi>{tickets[0].queue_id}</bdi>" in selection
    assert f"<bdi>Meera Doe</bdi>: ticket <bdi>{tickets[1].queue_id}</bdi>" in selection
    assert "Get a ticket for someone else" in selection


def test_the_same_family_member_again_shows_the_ticket_held_and_says_so(signed_in_phone, opd, counters):
    first = signed_in_phone.form("/service/selection/", {"for": "other", "name": "Meera Doe", "service_id": opd.pk})
    again = signed_in_phone.form("/service/selection/", {"for": "other", "name": "meera doe", "service_id": opd.pk})
    assert again["Location"] == first["Location"]
    assert f"{FSI}Meera Doe{PDI} already holds ticket" in page(signed_in_phone.get(again["Location"]))
    assert Ticket.objects.count() == 1


def test_someone_else_without_a_name_is_asked_for_it(signed_in_phone, opd, counters):
    response = signed_in_phone.form("/service/selection/", {"for": "other", "name": "  ", "service_id": opd.pk})
    html = page(response)
    assert response.status_code == 400 and "Please enter a name." in html and 'aria-invalid="true"' in html
    assert 'name="for" value="other" checked' in html
    assert not Ticket.objects.exists()


def test_a_family_name_is_escaped_on_the_selection_and_the_dashboard(signed_in_phone, patient, opd, counters):
    services.join(patient=patient, service=opd, name="<b>Meera</b>")
    for path in ("/service/selection/", "/dashboard/"):
        html = page(signed_in_phone.get(path))
        assert "<b>Meera</b>" not in html and "&lt;b&gt;Meera&lt;/b&gt;" in html


def test_another_phones_family_ticket_is_not_shown(signed_in_phone, opd, counters):
    services.join(patient=PatientFactory(), service=opd, name="Secret Child")
    assert "Secret Child" not in page(signed_in_phone.get("/service/selection/"))
    assert "Secret Child" not in page(signed_in_phone.get("/dashboard/"))
