"""Admin pages render for every model, and admin actions go through the services."""

from datetime import datetime, time
from urllib.parse import quote

import pytest
from axes.models import AccessAttempt
from django.apps import apps
from django.urls import reverse
from django.utils import timezone

from queue_app import services
from queue_app.models import QueueHistory, Ticket

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def test_every_model_has_changelist_and_detail_pages(admin_client, opd, counters, patients):
    ticket, _ = services.join(patient=patients[0], service=opd)
    services.serve_next(counter=counters[0], by=None)
    from django.utils import timezone

    from queue_app.models import OTP

    OTP.objects.create(phone="+919800000001", code_hash="x" * 64, sent_at=timezone.now(), expires_at=timezone.now())
    for model in apps.get_app_config("queue_app").get_models():
        opts = model._meta
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        assert admin_client.get(url).status_code == 200, url
        obj = model.objects.first()
        if obj is not None:
            url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
            assert admin_client.get(url).status_code == 200, url
    assert admin_client.get(reverse("admin:queue_app_staff_add")).status_code == 200


def test_admin_break_action_redistributes_through_the_services(admin_client, opd, counters, patients):
    for p in patients[:4]:
        services.join(patient=p, service=opd)
    response = admin_client.post(
        reverse("admin:queue_app_counter_changelist"),
        {"action": "make_break", "_selected_action": [counters[0].pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert not Ticket.objects.filter(counter=counters[0], status="waiting").exists()
    assert QueueHistory.objects.filter(action="redistributed").count() == 2


def test_admin_cancel_action_writes_history(admin_client, opd, counters, patients):
    ticket, _ = services.join(patient=patients[0], service=opd)
    admin_client.post(
        reverse("admin:queue_app_ticket_changelist"), {"action": "cancel_tickets", "_selected_action": [ticket.pk]}
    )
    assert Ticket.objects.get(pk=ticket.pk).status == "cancelled"
    assert QueueHistory.objects.filter(ticket=ticket, action="cancelled").exists()


def test_ticket_state_cannot_be_edited_by_hand_in_admin(admin_client, opd, counters, patients):
    ticket, _ = services.join(patient=patients[0], service=opd)
    url = reverse("admin:queue_app_ticket_change", args=[ticket.pk])
    admin_client.post(url, {"status": "served"})
    assert Ticket.objects.get(pk=ticket.pk).status == "waiting"


def test_operators_cannot_open_the_admin(client, staff):
    client.force_login(staff[0])
    assert client.get("/admin/").status_code == 302


# --- time zones: MariaDB as Debian installs it has no time-zone tables --------------------------

# What the database would need time-zone tables for: MariaDB's CONVERT_TZ (NULL without them:
# "Database returned an invalid datetime value"), SQLite's stand-ins for it.
ZONE_CONVERSION = ("CONVERT_TZ", "django_datetime_")


def admin_list_urls(ticket) -> list[str]:
    day = ticket.service_date
    urls = []
    for name in ("ticket", "patient", "queuehistory", "accessattempt", "accesslog"):
        app = "axes" if name.startswith("access") else "queue_app"
        urls.append(reverse(f"admin:{app}_{name}_changelist"))
    ticket_list = reverse("admin:queue_app_ticket_changelist")
    urls += [  # the ticket list's date hierarchy, drilled down, and the date filters
        f"{ticket_list}?service_date__year={day.year}",
        f"{ticket_list}?service_date__year={day.year}&service_date__month={day.month}",
        f"{ticket_list}?service_date__year={day.year}&service_date__month={day.month}&service_date__day={day.day}",
        f"{ticket_list}?service_date__gte={day.isoformat()}",
    ]
    # A date-time column's filter carries the day's start with its offset, as the admin's own
    # date filter writes it (a bare date would be a naive datetime).
    start = quote(timezone.make_aware(datetime.combine(day, time.min)).isoformat(" "))
    urls += [
        f"{reverse('admin:queue_app_patient_changelist')}?created_at__gte={start}",
        f"{reverse('admin:queue_app_queuehistory_changelist')}?at__gte={start}",
    ]
    return urls


@pytest.mark.django_db(transaction=True)
def test_admin_lists_need_no_time_zone_tables_in_the_database(admin_client, opd, counters, patients, settings):
    """Debian's MariaDB ships without time-zone tables, so any conversion in SQL fails with a
    non-UTC TIME_ZONE (.env.example's Asia/Kolkata): the admin lists, their date hierarchy and
    date filters convert in Python instead. Proven on MariaDB in CI's second pass; the queries
    are checked on every database."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.TIME_ZONE = "Asia/Kolkata"
    ticket, _ = services.join(patient=patients[0], service=opd)
    services.serve_next(counter=counters[0], by=None)
    admin_client.post("/staff/login/", {"username": "nobody", "password": "wrong"})  # a lockout log row

    for url in admin_list_urls(ticket):
        with CaptureQueriesContext(connection) as queries:
            response = admin_client.get(url)
        assert response.status_code == 200, url
        converting = [q["sql"] for q in queries if any(word in q["sql"] for word in ZONE_CONVERSION)]
        assert converting == [], f"{url} converts time zones in the database: {converting[0][:200]}"


@pytest.mark.parametrize("username", ["x" * 256, "\ufdfa" * 15], ids=["256 characters", "15 x U+FDFA"])
def test_admin_login_refuses_a_username_longer_than_any_account_before_the_lockout_records_it(
    client, admin_user, username
):
    response = client.post("/admin/login/", {"username": username, "password": "guess", "next": "/admin/"})

    assert response.status_code == 200
    assert "Please enter the correct username and password" in response.content.decode()
    assert not AccessAttempt.objects.exists()


def test_service_days_are_checkboxes_stored_as_the_bitmask(admin_client, opd):
    page = admin_client.get(reverse("admin:queue_app_service_change", args=[opd.pk])).content.decode()
    assert 'type="checkbox" name="days" value="0"' in page and "Monday" in page
    data = {
        "service_name": "OPD",
        "description": "",
        "days": ["0", "1", "2", "3", "4"],  # Monday to Friday
        "is_active": "on",
        "opens_at": "08:00",
        "closes_at": "13:00",
        "wait_alert_minutes": "30",
        "priority_calls_in_a_row": "3",
        "notify_near_at": "2",
        "closed_dates-TOTAL_FORMS": "1",
        "closed_dates-INITIAL_FORMS": "0",
        "closed_dates-0-date": "2026-12-25",
        "closed_dates-0-reason": "Christmas",
    }
    response = admin_client.post(reverse("admin:queue_app_service_change", args=[opd.pk]), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    opd.refresh_from_db()
    assert opd.week_days == 31 and opd.wait_alert_minutes == 30
    assert opd.closed_dates.get().reason == "Christmas"


def test_half_given_opening_hours_are_refused_readably(admin_client, opd):
    data = {"service_name": "OPD", "days": ["0"], "opens_at": "08:00", "closes_at": ""}
    data.update({"closed_dates-TOTAL_FORMS": "0", "closed_dates-INITIAL_FORMS": "0"})
    response = admin_client.post(reverse("admin:queue_app_service_change", args=[opd.pk]), data)
    assert response.status_code == 200
    assert "Give both opening and closing times, or neither." in response.content.decode()


def test_a_counters_last_seen_time_is_read_only(admin_client, counters):
    page = admin_client.get(reverse("admin:queue_app_counter_change", args=[counters[0].pk])).content.decode()
    assert 'name="last_seen_at"' not in page and 'name="held_by"' not in page


@pytest.mark.parametrize("model", ["queuehistory", "notification"])
def test_records_are_read_only_even_for_a_superuser(admin_client, opd, counters, patients, model):
    services.join(patient=patients[0], service=opd)
    services.serve_next(counter=counters[0], by=None)
    record = apps.get_model("queue_app", model).objects.first()
    assert admin_client.get(reverse(f"admin:queue_app_{model}_add")).status_code == 403
    delete = reverse(f"admin:queue_app_{model}_delete", args=[record.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    change = admin_client.get(reverse(f"admin:queue_app_{model}_change", args=[record.pk]))
    assert change.status_code == 200 and b'name="_save"' not in change.content
    assert apps.get_model("queue_app", model).objects.filter(pk=record.pk).exists()
