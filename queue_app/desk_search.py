"""The reception desk's search over today's tickets (re-exported by selectors)."""

import re

from django.db.models import Q

from .models import Ticket

DESK_LIST_LIMIT = 50  # the desk shows the latest tickets; a search finds any of today's
MAX_QUERY = 100
CODE_AND_NUMBER = re.compile(r"^([A-Za-z0-9]*[A-Za-z])[\s_-]*0*(\d{1,9})$")  # "OPD 12", "opd_012"


def today_tickets(query: str = "", *, limit: int = DESK_LIST_LIMIT) -> tuple[list[Ticket], bool]:
    """Today's tickets, newest first, matching a number ("12"), a code and number ("OPD 12"),
    or part of a ticket id or name. One query; returns the tickets and whether more matched."""
    tickets = Ticket.objects.of_day().select_related("service", "counter", "priority")
    query = " ".join(query.split())[:MAX_QUERY]
    if query:
        match = Q(queue_id__icontains=query) | Q(patient_name__icontains=query)
        coded = CODE_AND_NUMBER.match(query)
        if query.isdecimal() and len(query) <= 9:
            match = Q(number=int(query))  # digits are a ticket number, not part of the random suffix
        elif coded:
            code = re.sub(r"[^A-Z0-9]", "", coded.group(1).upper())
            match |= Q(queue_id__istartswith=f"{code}_", number=int(coded.group(2)))
        tickets = tickets.filter(match)
    found = list(tickets.order_by("-id")[: limit + 1])
    return found[:limit], len(found) > limit
