"""Staff pages: login (sessions, lockout, counters), the dashboard, switching counters, logout."""

import json
import re
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from queue_app import services, staff_devices
from queue_app.bidi import FSI, PDI
from queue_app.models import Counter, QueueHistory, Staff, Ticket

from ..factories import CounterFactory, StaffFactory
from ..patient_helpers import Clock

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"  # tests/factories.py
LOGIN = "/staff/login/"
DASHBOARD = "/staff/dashboard/"


def log_in(client, username, password=PASSWORD, counter=None, **extra):
    data = {"username": username, "password": password}
    if counter is not None:
        data["counter"] = counter.pk
    return client.post(LOGIN, data, **extra)


def join_all(service, patients):
    return [services.join(patient=p, service=service)[0] for p in patients]


def refresh(obj):
    return type(obj).objects.get(pk=obj.pk)


def session_cookie(client):
    cookie = client.cookies.get(settings.SESSION_COOKIE_NAME)
    return cookie.value if cookie else None


@pytest.fixture
def free_counter(opd):
    return CounterFactory(counter_name="Counter 5", service=opd)


# --- logging in -------------------------------------------------------------------------------


def test_login_page_lists_the_counters_and_which_are_free(client, counters, free_counter):
    page = client.get(LOGIN).content.decode()
    assert 'name="username"' in page and 'name="password"' in page and 'name="counter"' in page
    assert f"{FSI}Counter 1{PDI} · {FSI}OPD{PDI} (in use)" in page
    assert f"{FSI}Counter 5{PDI} · {FSI}OPD{PDI} (free)" in page
    assert "operator1" not in page  # the login page is public: no staff names


def test_login_holds_the_chosen_counter_and_opens_it(client, staff, free_counter):
    response = log_in(client, "operator3", counter=free_counter)
    assert response.status_code == 302 and response["Location"] == DASHBOARD
    counter = refresh(free_counter)
    assert counter.held_by == staff[2]
    assert counter.current_status == Counter.Status.AVAILABLE and counter.is_open()


def test_login_hands_the_unassigned_pool_to_the_counter_it_opens(client, opd, staff, free_counter, patients):
    waiting = join_all(opd, patients[:3])
    assert all(t.counter_id is None for t in waiting)
    log_in(client, "operator3", counter=free_counter)
    assert [refresh(t).counter_id for t in waiting] == [free_counter.pk] * 3


def test_login_without_a_counter_takes_the_one_an_admin_assigned(client, staff, free_counter):
    free_counter.assigned_staff = staff[2]
    free_counter.save()
    log_in(client, "operator3")
    assert refresh(free_counter).held_by == staff[2]


def test_an_operator_without_an_assigned_counter_must_choose_one(client, staff, free_counter):
    response = log_in(client, "operator3")
    assert response.status_code == 200
    assert "please choose the counter" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert refresh(free_counter).held_by is None


def test_an_admin_may_log_in_without_a_counter(client, admin_user, counters):
    response = log_in(client, "admin")
    assert response.status_code == 302
    assert not Counter.objects.filter(held_by=admin_user).exists()


def test_login_rotates_the_session_key(client, staff, free_counter):
    session = client.session
    session["before_login"] = True
    session.save()
    before = session_cookie(client)
    assert before
    log_in(client, "operator3", counter=free_counter)
    after = session_cookie(client)
    assert after and after != before
    assert not Session.objects.filter(session_key=before).exists()


def test_staff_session_follows_the_seed_settings(client, staff, free_counter):
    response = log_in(client, "operator3", counter=free_counter)
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert settings.SESSION_COOKIE_NAME == "queuesystem_staff_session"
    assert not cookie["expires"] and not cookie["max-age"]  # ends when the browser closes
    assert cookie["httponly"]
    session = Session.objects.get(session_key=cookie.value)
    assert abs((session.expire_date - timezone.now()).total_seconds() - 3600) < 60


def test_staff_session_expiry_slides_with_activity(client, staff, free_counter, monkeypatch):
    clock = Clock(monkeypatch)
    log_in(client, "operator3", counter=free_counter)
    key = session_cookie(client)
    clock.advance(minutes=55)  # five minutes left
    assert client.get(DASHBOARD).status_code == 200
    expires = Session.objects.get(session_key=key).expire_date
    assert (expires - timezone.now()).total_seconds() > 3500


def test_staff_session_is_not_rewritten_on_every_request(client, staff, free_counter):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    log_in(client, "operator3", counter=free_counter)
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/staff/get_queue_data/").status_code == 200
    assert not any('UPDATE "django_session"' in q["sql"] or "UPDATE `django_session`" in q["sql"] for q in queries)


def test_staff_login_drops_a_longer_patient_session_expiry(client, staff, free_counter, patient):
    session = client.session
    session["patient_id"] = patient.pk
    session.set_expiry(timedelta(hours=10))
    session.save()
    response = log_in(client, "operator3", counter=free_counter)
    assert not response.cookies[settings.SESSION_COOKIE_NAME]["max-age"]
    assert client.session.get_expire_at_browser_close()


def test_a_wrong_password_is_refused_with_a_message(client, staff, free_counter):
    response = log_in(client, "operator3", password="wrong", counter=free_counter)
    assert response.status_code == 200
    assert "Wrong username or password." in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert refresh(free_counter).held_by is None


def test_inactive_staff_are_refused(client, free_counter):
    StaffFactory(username="retired", is_active=False)
    response = log_in(client, "retired", counter=free_counter)
    assert response.status_code == 200
    assert "Wrong username or password." in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert refresh(free_counter).held_by is None


def test_repeated_failed_logins_lock_the_account_with_a_readable_429(client, staff, free_counter):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert log_in(client, "operator3", password="guess").status_code == 200
    locked = log_in(client, "operator3", password="guess")
    assert locked.status_code == 429
    assert "Too many failed login attempts" in locked.content.decode()
    assert "computer where you have logged in before" in locked.content.decode()
    assert int(locked["Retry-After"]) > 0
    # Even the right password is refused while locked.
    again = log_in(client, "operator3", counter=free_counter)
    assert again.status_code == 429
    assert "_auth_user_id" not in client.session
    assert refresh(free_counter).held_by is None


def test_lockout_answers_json_to_a_script(client, staff):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        response = log_in(client, "operator3", password="guess", headers={"Accept": "application/json"})
    assert response.status_code == 429
    assert response.json()["code"] == "locked_out"


def counter_pc(username, counter, address="10.0.0.5") -> Client:
    """The PC a staff member works at: they logged in there before (and logged out)."""
    pc = Client(REMOTE_ADDR=address)
    assert log_in(pc, username, counter=counter).status_code == 302
    assert pc.post("/staff/logout/").status_code == 302
    return pc


def test_failures_spread_over_many_addresses_lock_the_account(staff, free_counter):
    # 30 failures from 6 addresses, 5 each, used to leave the account open (counted per address).
    for n in range(6):
        attacker = Client(REMOTE_ADDR=f"198.51.100.{n}")
        for _ in range(5):
            log_in(attacker, "operator3", password="guess")

    assert log_in(Client(REMOTE_ADDR="198.51.100.77"), "operator3", counter=free_counter).status_code == 429
    assert refresh(free_counter).held_by is None


def test_one_address_guessing_at_many_accounts_is_locked_out(staff, free_counter):
    sprayer = Client(REMOTE_ADDR="198.51.100.50")
    for n in range(settings.AXES_FAILURE_LIMIT):
        log_in(sprayer, f"operator{1 + n % 4}", password="Password1")

    assert log_in(sprayer, "operator3", counter=free_counter).status_code == 429
    assert log_in(Client(REMOTE_ADDR="198.51.100.51"), "operator3", counter=free_counter).status_code == 302


def test_nobody_behind_the_clinics_address_can_lock_a_colleague_out_of_their_own_pc(staff, free_counter):
    pc = counter_pc("operator3", free_counter, address="10.0.0.5")
    colleague = Client(REMOTE_ADDR="10.0.0.5")  # the same NAT address
    for _ in range(30):
        log_in(colleague, "operator3", password="guess")
    assert log_in(colleague, "operator3").status_code == 429

    assert log_in(pc, "operator3", counter=free_counter).status_code == 302
    assert refresh(free_counter).held_by.username == "operator3"


def test_a_trusted_pc_gets_only_a_few_guesses_of_its_own(staff, free_counter):
    pc = counter_pc("operator3", free_counter)
    for _ in range(settings.STAFF_DEVICE_FAILURE_LIMIT):
        assert log_in(pc, "operator3", password="guess").status_code == 200
    # Its trust is spent: from now on it counts like any other browser.
    for _ in range(settings.AXES_FAILURE_LIMIT):
        log_in(pc, "operator3", password="guess")

    assert log_in(pc, "operator3", counter=free_counter).status_code == 429


def test_a_pc_is_trusted_only_for_the_accounts_that_logged_in_on_it(staff, free_counter):
    pc = counter_pc("operator3", free_counter)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        log_in(Client(REMOTE_ADDR="198.51.100.9"), "operator4", password="guess")

    assert log_in(pc, "operator4", counter=free_counter).status_code == 429
    assert log_in(pc, "operator3", counter=free_counter).status_code == 302


def test_the_pcs_cookie_is_signed_and_names_no_account(staff, free_counter):
    pc = counter_pc("operator3", free_counter)
    cookie = pc.cookies[staff_devices.COOKIE_NAME]
    assert "operator3" not in cookie.value
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and int(cookie["max-age"]) > 30 * 24 * 3600
    for _ in range(settings.AXES_FAILURE_LIMIT):
        log_in(Client(REMOTE_ADDR="198.51.100.9"), "operator3", password="guess")

    forged = Client(REMOTE_ADDR="10.0.0.5")
    forged.cookies[staff_devices.COOKIE_NAME] = cookie.value[:-4] + "AAAA"
    assert log_in(forged, "operator3", counter=free_counter).status_code == 429


@pytest.mark.parametrize("username", ["x" * 256, "\ufdfa" * 15], ids=["256 characters", "15 x U+FDFA"])
def test_a_username_longer_than_any_account_is_refused_before_the_lockout_records_it(client, staff, username):
    # U+FDFA is one character that NFKC (applied to usernames) expands to 18: 270 in all. On
    # MariaDB, recording either as a failure overflowed django-axes' 255-character column (a 500).
    response = log_in(client, username, password="guess")

    assert response.status_code == 200
    assert "Wrong username or password." in response.content.decode()
    assert not AccessAttempt.objects.exists()


def test_login_redirects_only_within_the_site(client, staff, free_counter):
    response = client.post(
        LOGIN, {"username": "operator3", "password": PASSWORD, "counter": free_counter.pk, "next": "https://evil.test/"}
    )
    assert response["Location"] == DASHBOARD


def test_logged_in_staff_opening_the_login_page_go_to_the_dashboard(client, counters):
    client.force_login(counters[0].held_by)
    response = client.get(LOGIN)
    assert response.status_code == 302 and response["Location"] == DASHBOARD


def test_another_staff_member_logging_in_on_the_same_pc_closes_the_first_ones_counter(client, staff, counters):
    log_in(client, "operator1", counter=counters[0])
    log_in(client, "operator3", counter=CounterFactory(service=counters[0].service))
    assert refresh(counters[0]).held_by is None
    assert refresh(counters[0]).current_status == Counter.Status.CLOSED


# --- one staff member per counter ------------------------------------------------------------


def test_logging_in_at_a_counter_someone_holds_asks_before_taking_it_over(client, staff, counters):
    response = log_in(client, "operator3", counter=counters[0])
    assert response.status_code == 302
    assert response["Location"] == f"/staff/switch_counter/?counter={counters[0].pk}"
    assert refresh(counters[0]).held_by == staff[0]  # nothing taken yet
    question = client.get(response["Location"]).content.decode()
    assert "Take over <bdi>Counter 1</bdi>?" in question
    assert "<bdi>operator1</bdi> is working at <bdi>Counter 1</bdi>" in question


def test_a_confirmed_take_over_ends_the_other_hold(client, staff, counters):
    client.force_login(staff[2])
    response = client.post(reverse("switch_counter"), {"counter": counters[0].pk, "force": "on"})
    assert response.status_code == 302 and response["Location"] == DASHBOARD
    assert refresh(counters[0]).held_by == staff[2]
    assert client.get(DASHBOARD).context["counter"] == counters[0]


def test_taking_a_held_counter_without_confirming_changes_nothing(client, staff, counters):
    client.force_login(staff[2])
    response = client.post(reverse("switch_counter"), {"counter": counters[0].pk})
    assert response.status_code == 409
    assert "Take over <bdi>Counter 1</bdi>?" in response.content.decode()
    assert refresh(counters[0]).held_by == staff[0]


def test_switching_counters_closes_the_old_one_and_moves_its_queue(client, opd, counters, free_counter, patients):
    tickets = join_all(opd, patients[:4])
    mine = [t for t in tickets if t.counter_id == counters[0].pk]
    client.force_login(counters[0].held_by)
    response = client.post(reverse("switch_counter"), {"counter": free_counter.pk})
    assert response.status_code == 302
    old = refresh(counters[0])
    assert old.held_by is None and old.current_status == Counter.Status.CLOSED
    assert refresh(free_counter).held_by == counters[0].held_by
    assert all(refresh(t).counter_id in (counters[1].pk, free_counter.pk) for t in mine)


@pytest.mark.parametrize("forged", ["", "abc", "999999", "-1"])
def test_switching_to_a_forged_counter_is_refused_with_a_message(client, counters, forged):
    client.force_login(counters[0].held_by)
    response = client.post(reverse("switch_counter"), {"counter": forged})
    assert response.status_code == 400
    assert re.search(r"That counter does not exist|Choose a counter", response.content.decode())
    assert refresh(counters[0]).held_by == counters[0].held_by


# --- logging out ------------------------------------------------------------------------------


def test_logout_by_get_only_asks_and_closes_nothing(client, counters):
    client.force_login(counters[0].held_by)
    response = client.get(reverse("staff_logout"))
    assert response.status_code == 200
    page = response.content.decode()
    assert 'method="post"' in page and "<bdi>Counter 1</bdi> will close" in page
    assert refresh(counters[0]).held_by == counters[0].held_by
    assert client.get(DASHBOARD).status_code == 200


def test_logout_page_warns_when_a_patient_is_still_being_served(client, opd, counters, patients):
    (first,) = join_all(opd, patients[:1])
    services.serve_next(counter=counters[0], by=None)
    client.force_login(counters[0].held_by)
    page = client.get(reverse("staff_logout")).content.decode()
    assert f"<bdi>{first.queue_id}</bdi> (<bdi>{first.patient_name}</bdi>) is still being served here" in page


def test_logout_releases_the_counter_moves_its_queue_and_ends_the_session(client, opd, counters, patients):
    tickets = join_all(opd, patients[:4])
    mine = [t for t in tickets if t.counter_id == counters[0].pk]
    client.force_login(counters[0].held_by)
    response = client.post(reverse("staff_logout"))
    assert response.status_code == 302 and response["Location"] == LOGIN
    counter = refresh(counters[0])
    assert counter.held_by is None and counter.current_status == Counter.Status.CLOSED
    assert all(refresh(t).counter_id == counters[1].pk for t in mine)
    assert client.get(DASHBOARD).status_code == 302
    assert "<bdi>Counter 1</bdi> is closed" in client.get(LOGIN).content.decode()


def test_logout_needs_the_csrf_token(counters):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(counters[0].held_by)
    assert browser.post(reverse("staff_logout")).status_code == 403
    assert refresh(counters[0]).held_by == counters[0].held_by


# --- the dashboard ----------------------------------------------------------------------------


def test_the_dashboard_sends_anonymous_visitors_to_the_staff_login(client):
    response = client.get(DASHBOARD)
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN)


def test_the_dashboard_sends_a_patient_to_the_staff_login(client, patient):
    session = client.session
    session["patient_id"] = patient.pk
    session.save()
    response = client.get(DASHBOARD)
    assert response.status_code == 302 and response["Location"].startswith(LOGIN)


def test_the_dashboard_shows_the_patient_at_the_counter_the_waiting_list_and_todays_counts(
    client, opd, counters, patients
):
    tickets = join_all(opd, patients[:7])  # one line: Counter 1 calls them in join order
    services.serve_next(counter=counters[0], by=None)
    services.serve_next(counter=counters[0], by=None)  # one served, the second at the counter
    client.force_login(counters[0].held_by)
    response = client.get(DASHBOARD)
    page = response.content.decode()
    serving = page.index('id="serving-ticket"')
    assert tickets[1].queue_id in page[serving : serving + 200]
    assert tickets[1].patient_name in page
    waiting_list = page[page.index('id="waiting-list"') : page.index('id="waiting-empty"')]
    positions = [waiting_list.index(t.queue_id) for t in tickets[2:]]  # the service's line, both counters'
    assert positions == sorted(positions) and len(positions) == 5
    assert 'id="today-served">1<' in page
    for label in ("Serve next", "Skip (no-show)", "Announce again", "Available", "Busy", "Break", "Closed"):
        assert label in page
    assert "<kbd>N</kbd>" in page and "<kbd>S</kbd>" in page and "<kbd>A</kbd>" in page
    assert 'href="/qr/"' in page and 'href="/display/"' in page
    config = json.loads(re.search(r'id="staff-config"[^>]*>(.*?)</script>', page, re.S).group(1))
    assert config["counterId"] == counters[0].pk
    assert config["state"]["serving_patient"]["queue_id"] == tickets[1].queue_id


def test_the_dashboard_escapes_what_patients_typed(client, opd, counters, patient):
    patient.name = '<img src=x onerror=alert(1)> "Robert"'
    patient.save()
    join_all(opd, [patient])
    client.force_login(counters[0].held_by)
    page = client.get(DASHBOARD).content.decode()
    assert "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


def test_an_admin_without_a_counter_sees_the_counter_picker(client, admin_user, counters):
    client.force_login(admin_user)
    page = client.get(DASHBOARD).content.decode()
    assert "Choose a counter" in page
    assert "Counter 1" in page and "Counter 2" in page
    assert f'href="/staff/dashboard/?counter={counters[0].pk}"' in page


def test_an_admin_may_manage_any_counter_by_id(client, admin_user, counters):
    client.force_login(admin_user)
    response = client.get(DASHBOARD, {"counter": counters[1].pk})
    assert response.context["counter"] == counters[1]
    assert "managing as administrator; <bdi>operator2</bdi> works here" in response.content.decode()


def test_an_operator_cannot_open_another_counters_dashboard(client, counters):
    client.force_login(counters[0].held_by)
    response = client.get(DASHBOARD, {"counter": counters[1].pk})
    assert response.context["counter"] == counters[0]


def test_an_operator_whose_counter_was_taken_over_sees_the_counter_picker(client, staff, counters):
    services.hold_counter(counter=counters[0], staff=staff[2], force=True)
    client.force_login(staff[0])
    page = client.get(DASHBOARD).content.decode()
    assert "You are not working at a counter. Pick one" in page


def test_an_operator_whose_counter_was_taken_over_is_told_who_took_it_and_when(client, staff, counters):
    client.force_login(staff[0])
    services.hold_counter(counter=counters[0], staff=staff[2], force=True)
    response = client.get(DASHBOARD)
    taken = QueueHistory.objects.filter(action="counter_held", counter=counters[0]).latest("at")
    page = response.content.decode()
    at = timezone.localtime(taken.at).strftime("%H:%M")
    assert f"<bdi>{staff[2].display_name}</bdi> took over <bdi>Counter 1</bdi> at {at}." in page
    assert "Pick a counter below to go on calling patients." in page
    assert "You are not working at a counter" not in page
    assert f'name="counter" value="{counters[0].pk}"' in page  # the picker offers the counters


def test_a_deactivated_staff_member_is_sent_back_to_the_login(client, counters):
    client.force_login(counters[0].held_by)
    Staff.objects.filter(pk=counters[0].held_by_id).update(is_active=False)
    response = client.get(DASHBOARD)
    assert response.status_code == 302 and response["Location"].startswith(LOGIN)


def test_break_from_the_dashboard_tells_how_many_patients_will_move(client, opd, counters, patients):
    join_all(opd, patients[:6])
    client.force_login(counters[0].held_by)
    page = client.get(DASHBOARD).content.decode()
    config = json.loads(re.search(r'id="staff-config"[^>]*>(.*?)</script>', page, re.S).group(1))
    # One line of six, three of them expected here: a break moves those three (the script's question).
    assert (config["state"]["queue_length"], config["state"]["expected_here"]) == (6, 3)
    assert "%(n)s waiting patients will be moved" in config["strings"]["breakBody"]
    assert Ticket.objects.filter(counter=counters[0], status="waiting").count() == 3


def test_the_dashboard_counts_everyone_waiting_when_it_lists_only_the_first(client, opd, counters, patients, settings):
    settings.WAITING_LIST_LIMIT = 1
    line = join_all(opd, patients[:6])  # one line for the service's two counters
    client.force_login(counters[0].held_by)
    page = client.get(DASHBOARD).content.decode()
    assert 'id="queue-length">6<' in page
    assert line[0].queue_id in page and line[1].queue_id not in page
    assert "…and 5 more waiting" in page
    config = json.loads(re.search(r'id="staff-config"[^>]*>(.*?)</script>', page, re.S).group(1))
    assert config["strings"]["waitingMore"] == "…and %(n)s more waiting"


def test_staff_made_with_get_or_create_store_a_hashed_password(db):
    user, _ = Staff.objects.get_or_create(username="newcomer", defaults={"password": "s3cret-Pass"})
    assert user.password != "s3cret-Pass" and user.check_password("s3cret-Pass")
    page = Client().post(LOGIN, {"username": "newcomer", "password": "s3cret-Pass"}).content.decode()
    assert "please choose the counter" in page  # the password was accepted; only the counter is missing
