"""The wall display: a call shows at once, is spoken three times, and calls never talk over each other."""

import os
import re

import pytest
from playwright.sync_api import expect

from .conftest import DESKTOP, TV
from .helpers import SPEECH_STUB, log_in_staff, wait_live

# "Within a second of Serve next" (issue 7). A slower machine may widen it; never narrow it.
CALL_DEADLINE_MS = int(os.environ.get("BROWSER_CALL_DEADLINE_MS", "1000"))


def shown_code(queue_id: str) -> str:
    """The display shows OPD_001_1234 as "OPD 001": the random suffix is not for the wall."""
    service, number, _suffix = queue_id.split("_")
    return f"{service} {number}"


@pytest.fixture
def open_display(open_context):
    """open_display() -> /display/ on a 1920×1080 TV whose speech is recorded, sound enabled by a click."""

    def open_():
        page = open_context(TV, init_scripts=[SPEECH_STUB]).new_page()
        page.goto("/display/")
        page.get_by_role("button", name="Click to enable sound").click()
        expect(page.locator("#sound-gate")).to_be_hidden()
        wait_live(page)
        return page

    return open_


def spoken(page) -> list[str]:
    return page.evaluate("window.__speech.texts.slice()")


def wait_until_quiet(page, *, started: int) -> None:
    """Until `started` speak() calls were made and the announcer has nothing left to say."""
    page.wait_for_function(
        "n => window.__speech.texts.length >= n && window.__speech.active === 0"
        " && !QueueDisplay.speaking && QueueDisplay.queue.length === 0",
        arg=started,
    )


def test_serve_next_shows_the_call_within_a_second_and_speaks_it_three_times(site, open_context, open_display):
    made = site.data(
        "setup",
        services=[{"service_name": "OPD", "description": "Outpatient Department"}],
        staff=[{"username": "nurse1"}],
        counters=[{"counter_name": "Counter 1", "service": "OPD", "held_by": "nurse1"}],
        joins=[
            {"phone": "+919876520001", "name": "Ananya Sharma", "service": "OPD"},
            {"phone": "+919876520002", "name": "李伟", "service": "OPD"},
        ],
    )
    first = made["tickets"][0]["queue_id"]
    desk = open_context(DESKTOP).new_page()
    log_in_staff(desk, username="nurse1", counter_id=made["counters"]["Counter 1"])
    display = open_display()
    row = display.locator(f'tr.d-row[data-counter-id="{made["counters"]["Counter 1"]}"]')
    expect(row.locator(".d-counter")).to_have_text("Counter 1")
    expect(row.locator(".d-waiting")).to_have_text("2")

    desk.get_by_role("button", name="Serve next").click()

    within = {"timeout": CALL_DEADLINE_MS}
    expect(display.locator("#call-ticket")).to_have_text(shown_code(first), **within)
    expect(display.locator("#call-counter")).to_have_text("Counter 1", **within)
    expect(display.locator("#now-calling")).to_have_class(re.compile(r"\bis-fresh\b"), **within)
    expect(row.locator(".d-ticket")).to_have_text(shown_code(first), **within)
    expect(row).to_have_class(re.compile(r"\bis-fresh\b"), **within)
    expect(row.locator(".d-waiting")).to_have_text("1")
    # Public screen: the name is masked, never shown in full.
    expect(display.locator("#call-name")).not_to_have_text("Ananya Sharma")

    wait_until_quiet(display, started=1)
    texts = spoken(display)
    assert len(texts) == 3, texts
    assert len(set(texts)) == 1, texts
    assert "OPD zero zero one" in texts[0] and "Counter 1" in texts[0], texts[0]


def test_two_quick_calls_are_announced_one_after_the_other(site, open_context, open_display):
    made = site.data(
        "setup",
        services=[{"service_name": "Test", "description": "Laboratory Tests"}],
        staff=[{"username": "nurse3"}, {"username": "nurse4"}],
        counters=[
            {"counter_name": "Counter 3", "service": "Test", "held_by": "nurse3"},
            {"counter_name": "Counter 4", "service": "Test", "held_by": "nurse4"},
        ],
        joins=[
            {"phone": "+919876520003", "name": "محمد علي", "service": "Test"},
            {"phone": "+919876520004", "name": "Rahul Verma", "service": "Test"},
        ],
    )
    desks = []
    for username, counter in (("nurse3", "Counter 3"), ("nurse4", "Counter 4")):
        desk = open_context(DESKTOP).new_page()
        log_in_staff(desk, username=username, counter_id=made["counters"][counter])
        desks.append(desk)
    display = open_display()

    for desk in desks:  # two counters call within a moment of each other
        desk.get_by_role("button", name="Serve next").click()

    for counter in ("Counter 3", "Counter 4"):
        row = display.locator(f'tr.d-row[data-counter-id="{made["counters"][counter]}"]')
        expect(row.locator(".d-ticket")).to_have_text(re.compile(r"^TEST 00[12]$"))

    wait_until_quiet(display, started=4)  # the second call has begun
    texts = spoken(display)
    assert len(texts) == 6, texts
    first, second = texts[0], texts[3]
    assert texts == [first] * 3 + [second] * 3, texts
    assert {"Counter 3" in first, "Counter 4" in first} == {True, False}
    assert ("Counter 3" in first) != ("Counter 3" in second), (first, second)
    # Each repetition ended before the next began: never two voices at once.
    record = display.evaluate("window.__speech")
    assert record["maxActive"] == 1, record["events"]
    assert [kind for kind, _text in record["events"]] == ["start", "end"] * 6, record["events"]
