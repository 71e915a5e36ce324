"""Shared fixtures: two services, staffed counters, patients — all set up through the services."""

import os

import pytest
from django.conf import settings

from queue_app import services
from queue_app.models import PriorityCategory
from queue_app.sms import locmem as sms_locmem

from .factories import CounterFactory, PatientFactory, ServiceFactory, StaffFactory

ON_MYSQL = settings.DATABASES["default"]["ENGINE"].endswith("mysql")
ON_REDIS = bool(os.environ.get("REDIS_URL"))


@pytest.fixture(autouse=True)
def _clean_process_state(settings):
    """Every test starts with an empty SMS outbox, cache, in-memory channel layer and memo of
    service times, and sends position lists at once."""
    from channels.layers import channel_layers
    from django.core.cache import cache

    from queue_app import selectors

    sms_locmem.outbox.clear()
    selectors.forget_minutes()  # ids come back after each test's rollback
    selectors.forget_versions()
    settings.SMS_BACKEND = "queue_app.sms.locmem.SmsBackend"
    # In this process a change's position list is sent at once, inside the test that made it (a
    # coalesced one would be read later, from another thread, maybe during the next test). The
    # coalescing itself: tests/realtime/test_position_feed.py, and every live server (bench, browser).
    settings.QUEUE_POSITION_INTERVAL_MS = 0
    try:
        cache.clear()
    except Exception:  # noqa: BLE001 - the DB cache table exists only with database access
        pass
    channel_layers.backends.clear()
    yield


@pytest.fixture
def opd(db):
    return ServiceFactory(service_name="OPD", description="Outpatient Department")


@pytest.fixture
def per_counter_lines(opd):
    """OPD's counters are named rooms: each calls its own line first (DESIGN.md, Order)."""
    opd.per_counter_lines = True
    opd.save(update_fields=["per_counter_lines"])
    return opd


@pytest.fixture
def lab(db):
    return ServiceFactory(service_name="Test", description="Laboratory Tests")


@pytest.fixture
def staff(db):
    return [StaffFactory(username=f"operator{i}") for i in range(1, 5)]


@pytest.fixture
def admin_user(db):
    return StaffFactory(username="admin", role="admin", is_superuser=True)


@pytest.fixture
def counters(opd, staff):
    """Two open OPD counters, held by operator1 and operator2."""
    made = []
    for i, member in enumerate(staff[:2], start=1):
        counter = CounterFactory(counter_name=f"Counter {i}", service=opd)
        made.append(services.hold_counter(counter=counter, staff=member))
    return made


@pytest.fixture
def patients(db):
    return [PatientFactory() for _ in range(10)]


@pytest.fixture
def patient(db):
    return PatientFactory(name="John Doe", phone="+919812345678")


@pytest.fixture
def signed_in_phone(patient):
    """`patient`'s phone, its number verified by SMS code, as a browser would be."""
    from .patient_helpers import PhoneBrowser

    browser = PhoneBrowser()
    browser.sign_in(patient.phone)
    return browser


@pytest.fixture(scope="module")
def playwright_session():
    """One Playwright driver per browser test module. Its sync API marks an event loop as running
    in this thread for as long as it lives: a second `sync_playwright()` alongside it refuses to
    start, and async tests after it could not run their own loop, so it stops with its module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture
def elderly(db):
    """A category patients may choose themselves (the default set's Elderly 60+)."""
    return PriorityCategory.objects.update_or_create(
        code="60+", defaults={"name": "Elderly 60+", "rank": 1, "self_declare": True}
    )[0]


@pytest.fixture
def emergency(db):
    """The emergency category: next, whatever the line; given by staff only."""
    return PriorityCategory.objects.update_or_create(
        code="EMG", defaults={"name": "Emergency", "rank": 9, "is_emergency": True, "self_declare": False}
    )[0]
