"""Opting in and out of patient texts: at join, on the ticket page (API and plain form), at the
reception desk for a walk-in; and the outbox in the admin (read-only, phones masked)."""

import pytest
from django.test import Client

from queue_app import services
from queue_app.models import Notification, Ticket

from ..factories import StaffFactory
from ..patient_helpers import PhoneBrowser

pytestmark = pytest.mark.django_db


def join(browser, service, **fields):
    return browser.api("/queue/join/", {"service_id": service.pk, **fields})


def test_joining_from_a_verified_phone_turns_texts_on_by_default(signed_in_phone, opd, counters):
    response = join(signed_in_phone, opd)
    assert response.status_code == 201 and response.json()["ticket"]["notify"] is True
    assert Notification.objects.filter(kind="near").count() == 1


def test_a_patient_may_join_with_texts_off(signed_in_phone, opd, counters):
    response = join(signed_in_phone, opd, notify="false")
    assert response.status_code == 201 and response.json()["ticket"]["notify"] is False
    assert Notification.objects.count() == 0


def test_a_notify_that_is_not_a_boolean_is_a_400(signed_in_phone, opd, counters):
    response = join(signed_in_phone, opd, notify="perhaps")
    assert response.status_code == 400 and "notify" in response.json()["fields"]
    assert Ticket.objects.count() == 0


def test_the_ticket_page_turns_texts_off_and_on_again(signed_in_phone, opd, counters):
    ticket_id = join(signed_in_phone, opd).json()["ticket"]["id"]
    off = signed_in_phone.api("/queue/notify/", {"ticket": ticket_id, "notify": "false"})
    assert off.status_code == 200 and off.json()["ticket"]["notify"] is False
    assert Notification.objects.get().status == "dropped"
    on = signed_in_phone.api("/queue/notify/", {"ticket": ticket_id, "notify": "true"})
    assert on.status_code == 200 and Ticket.objects.get().notify is True


def test_someone_elses_ticket_is_a_404(signed_in_phone, opd, counters, patients):
    other, _ = services.join(patient=patients[0], service=opd)
    response = signed_in_phone.api("/queue/notify/", {"ticket": other.pk, "notify": "false"})
    assert response.status_code == 404 and response.json()["code"]
    assert Ticket.objects.get(pk=other.pk).notify is True


@pytest.mark.parametrize("body", [{}, {"ticket": "x", "notify": "true"}, {"notify": "true"}])
def test_bad_input_to_the_switch_is_a_400(signed_in_phone, opd, counters, body):
    response = signed_in_phone.api("/queue/notify/", body)
    assert response.status_code == 400 and response.json()["code"]


def test_the_switch_needs_a_verified_phone_and_the_csrf_token(opd, counters, patients):
    ticket, _ = services.join(patient=patients[0], service=opd)
    anonymous = PhoneBrowser()
    assert anonymous.api("/queue/notify/", {"ticket": ticket.pk, "notify": "false"}).status_code == 403
    assert Client(enforce_csrf_checks=True).post("/queue/notify/", {"ticket": ticket.pk}).status_code == 403
    assert Ticket.objects.get().notify is True


def test_texts_cannot_be_turned_on_for_a_finished_ticket(signed_in_phone, opd, counters):
    ticket_id = join(signed_in_phone, opd, notify="false").json()["ticket"]["id"]
    services.cancel(ticket=Ticket.objects.get(pk=ticket_id))
    response = signed_in_phone.api("/queue/notify/", {"ticket": ticket_id, "notify": "true"})
    assert response.status_code == 409 and Ticket.objects.get().notify is False


def test_without_javascript_the_selection_form_and_the_ticket_page_carry_the_choice(signed_in_phone, opd, counters):
    page = signed_in_phone.get("/service/selection/").content.decode()
    assert 'name="notify" value="1" id="id_notify"' in page and "checked" in page
    signed_in_phone.form("/service/selection/", {"for": "me", "service_id": opd.pk})  # unticked: absent
    ticket = Ticket.objects.get()
    assert ticket.notify is False
    response = signed_in_phone.form("/dashboard/", {"action": "notify", "ticket": ticket.pk, "notify": "1"})
    assert response.status_code == 302 and Ticket.objects.get().notify is True


def test_reception_may_turn_texts_on_for_a_walk_in_with_a_phone(client, opd, counters):
    client.force_login(StaffFactory(username="desk", role="reception"))
    url = "/staff/reception/tickets/"
    refused = client.post(url, {"name": "Ravi", "service_id": opd.pk, "notify": "true"})
    assert refused.status_code == 400 and "phone" in refused.json()["fields"]
    made = client.post(url, {"name": "Ravi", "service_id": opd.pk, "phone": "+919800000009", "notify": "true"})
    assert made.status_code == 201 and made.json()["ticket"]["notify"] is True
    plain = client.post(url, {"name": "Asha", "service_id": opd.pk, "phone": "+919800000010"})
    assert plain.json()["ticket"]["notify"] is False


def test_the_admin_lists_the_outbox_read_only_with_masked_phones(admin_user, opd, counters, patients):
    services.join(patient=patients[0], service=opd)
    client = Client()
    client.force_login(admin_user)
    page = client.get("/admin/queue_app/notification/?kind__exact=near&status__exact=pending")
    assert page.status_code == 200
    text = page.content.decode()
    assert "***" + patients[0].phone[-4:] in text and patients[0].phone not in text
    row = Notification.objects.get()
    assert client.get(f"/admin/queue_app/notification/{row.pk}/change/").status_code == 200
    assert client.get("/admin/queue_app/notification/add/").status_code == 403
    assert client.post(f"/admin/queue_app/notification/{row.pk}/delete/", {"post": "yes"}).status_code == 403
