"""Names inside sentences built in Python (queue_app/bidi.py): a mixed-direction name such as
"عبدالله R." is isolated wherever a sentence carries it, <bdi> on pages, FSI…PDI in text, and a
text message that fits the GSM alphabet is left as it is (isolates would make it UCS-2)."""

import pytest
from django.urls import reverse

from queue_app import services
from queue_app.bidi import FSI, PDI, html_isolated
from queue_app.models import Notification
from queue_app.services.notifications import text
from queue_app.sms.gsm import is_gsm7

from ..factories import CounterFactory, PatientFactory, ServiceFactory, StaffFactory
from ..patient_helpers import page

pytestmark = pytest.mark.django_db

NAME = "عبدالله R."  # Arabic, then a Latin initial: shown unisolated as ".R عبدالله"
COUNTER = "شباك R2"


def isolated(value) -> str:
    return f"{FSI}{value}{PDI}"


@pytest.fixture
def mixed_counter(opd, staff):
    return services.hold_counter(counter=CounterFactory(counter_name=COUNTER, service=opd), staff=staff[2])


def test_a_page_sentence_escapes_each_name_inside_its_own_bdi():
    html = html_isolated("You are now working at %(counter)s.", counter=f"<b>{NAME}</b>")
    assert html == f"You are now working at <bdi>&lt;b&gt;{NAME}&lt;/b&gt;</bdi>."


def test_a_page_sentence_keeps_its_own_braces_percent_signs_and_numbers_as_text():
    html = html_isolated("<{x}> 100%% of %(n)d at %(counter)s", counter="{y}", n=3)
    assert html == "&lt;{x}&gt; 100% of 3 at <bdi>{y}</bdi>"


def test_the_desk_is_told_the_ticket_and_the_name_each_isolated(client, opd, counters):
    client.force_login(StaffFactory(username="desk1", role="reception"))
    walk_in = {"name": NAME, "phone": "98123 45678", "service_id": opd.pk}
    made = client.post("/staff/reception/tickets/", walk_in).json()
    queue_id = made["ticket"]["queue_id"]
    assert made["message"] == f"Ticket {isolated(queue_id)} for {isolated(NAME)}."
    again = client.post("/staff/reception/tickets/", walk_in).json()
    assert again["message"].startswith(f"{isolated(NAME)} already holds ticket {isolated(queue_id)} for ")


def test_the_ticket_page_names_the_counter_isolated(signed_in_phone, patient, opd, mixed_counter):
    services.set_status(counter=mixed_counter, status="available", by=None)
    services.join(patient=patient, service=opd)
    services.serve_next(counter=mixed_counter, by=None)
    assert f"Please go to {isolated(COUNTER)} now" in page(signed_in_phone.get("/dashboard/"))


def test_the_flash_after_leaving_names_the_service_in_a_bdi(signed_in_phone, patient, counters):
    clinic = ServiceFactory(service_name=NAME)
    CounterFactory(counter_name=COUNTER, service=clinic)
    ticket, _ = services.join(patient=patient, service=clinic)
    left = signed_in_phone.form("/dashboard/", {"action": "cancel", "ticket": ticket.pk}, follow=True)
    assert f"You left the queue for <bdi>{NAME}</bdi>." in page(left)


def test_a_refusal_names_the_counter_isolated(opd, mixed_counter):
    services.set_status(counter=mixed_counter, status="closed", by=None)
    with pytest.raises(services.CounterNotOpen) as refused:
        services.serve_next(counter=mixed_counter, by=None)
    assert refused.value.message.startswith(f"{isolated(COUNTER)} is not open")


def test_a_closed_service_is_named_isolated(patient):
    closed = ServiceFactory(service_name=NAME, is_active=False)
    with pytest.raises(services.ServiceUnavailable) as refused:
        services.join(patient=patient, service=closed)
    assert refused.value.message.startswith(f"{isolated(NAME)} is not available")


def test_taking_a_counter_names_who_holds_it_isolated(mixed_counter):
    holder = mixed_counter.held_by
    holder.first_name, holder.last_name = "عبدالله", "R."
    holder.save()
    with pytest.raises(services.CounterTaken) as refused:
        services.hold_counter(counter=mixed_counter, staff=StaffFactory(username="other1"))
    assert refused.value.message.startswith(f"{isolated(holder.display_name)} is working at {isolated(COUNTER)}.")


def test_the_flash_after_logging_out_names_the_counter_in_a_bdi(client, mixed_counter):
    client.force_login(mixed_counter.held_by)
    client.post(reverse("staff_logout"))
    assert f"<bdi>{COUNTER}</bdi> is closed" in client.get("/staff/login/").content.decode()


def test_a_text_in_the_gsm_alphabet_gets_no_isolates(opd, counters):
    ticket, _ = services.join(patient=PatientFactory(language="en"), service=opd)
    body = text(ticket, Notification.Kind.NEAR)
    assert FSI not in body and is_gsm7(body)


def test_an_arabic_text_isolates_the_facility_the_code_and_the_counter(settings, opd, mixed_counter):
    ticket, _ = services.join(patient=PatientFactory(language="ar"), service=opd)
    ticket.counter = mixed_counter
    body = text(ticket, Notification.Kind.CALLED)
    assert body.startswith(f"{isolated(settings.FACILITY_NAME)}: ")
    assert isolated(ticket.queue_id) in body and isolated(COUNTER) in body


def test_an_english_text_to_a_counter_named_in_arabic_isolates_it(opd, mixed_counter):
    ticket, _ = services.join(patient=PatientFactory(language="en"), service=opd)
    ticket.counter = mixed_counter
    body = text(ticket, Notification.Kind.CALLED)
    assert f"please go to {isolated(COUNTER)} now" in body
