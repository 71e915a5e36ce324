"""The wall display over HTTP: /display/ and /display/screen/data/.

The page in Chromium (announcements, sound, reconnecting, layout): tests/browser/test_display_kiosk.py.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from queue_app import services

from ..factories import CounterFactory, PatientFactory

ROOT = Path(__file__).resolve().parents[2]


def embedded_json(html: str, element_id: str):
    match = re.search(rf'<script id="{element_id}" type="application/json">(.*?)</script>', html, re.S)
    assert match, f"no json_script #{element_id}"
    return json.loads(match.group(1))


# --- GET /display/ ---------------------------------------------------------------------------


def test_display_page_embeds_the_snapshot_and_the_announcer_settings(client, counters, patient, opd):
    services.join(patient=patient, service=opd)
    services.serve_next(counter=counters[0], by=counters[0].held_by)

    response = client.get(reverse("display_screen"))

    assert response.status_code == 200
    html = response.content.decode()
    snapshot = embedded_json(html, "display-snapshot")
    config = embedded_json(html, "display-config")
    assert [row["id"] for row in snapshot["counters"]] == [c.pk for c in counters]
    assert snapshot["counters"][0]["serving_patient"]["patient_name"] == "John D."
    assert config["lang"] == "en-US"
    assert config["template"] == "Ticket {ticket}, {name}, please go to {counter}"
    assert config["repeat"] == 3
    assert config["name_mode"] == "masked"
    assert config["digits"][:3] == ["zero", "one", "two"]
    assert set(config["statuses"]) == {"available", "busy", "break", "closed"}
    assert 'src="/static/js/display.js"' in html


def test_display_page_takes_the_announcer_settings_from_settings(client, db, settings):
    settings.ANNOUNCE_LANGUAGES = ["hi"]
    settings.DISPLAY_VOICE_LANG = "hi-IN"
    settings.DISPLAY_ANNOUNCE_TEMPLATE = "{counter}: {ticket}"
    settings.DISPLAY_ANNOUNCE_REPEAT = 2
    settings.DISPLAY_NAME_MODE = "none"

    config = embedded_json(client.get(reverse("display_screen")).content.decode(), "display-config")

    assert (config["lang"], config["template"], config["repeat"], config["name_mode"]) == (
        "hi-IN",
        "{counter}: {ticket}",
        2,
        "none",
    )


def test_display_page_escapes_names_in_the_embedded_snapshot(client, counters, opd, settings):
    settings.DISPLAY_NAME_MODE = "full"
    name = "</script><script>alert(1)</script> & <b>Bold</b>"
    services.join(patient=PatientFactory(name=name), service=opd)
    services.serve_next(counter=counters[0], by=counters[0].held_by)

    html = client.get(reverse("display_screen")).content.decode()

    assert "<script>alert(1)" not in html
    assert "<b>Bold" not in html
    snapshot = embedded_json(html, "display-snapshot")
    assert snapshot["counters"][0]["serving_patient"]["patient_name"] == name


def test_display_page_and_data_never_contain_phone_numbers(client, counters, patient, opd, settings):
    settings.DISPLAY_NAME_MODE = "full"
    services.join(patient=patient, service=opd)
    services.serve_next(counter=counters[0], by=counters[0].held_by)

    for url in (reverse("display_screen"), reverse("display_screen_data")):
        body = client.get(url).content.decode()
        assert "John Doe" in body
        assert "9812345678" not in body


def test_display_page_is_public_read_only_and_never_cached(client, db):
    response = client.get(reverse("display_screen"))

    assert response.status_code == 200
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
    assert client.post(reverse("display_screen")).status_code == 405


def test_display_page_shows_the_no_counter_open_state_in_its_markup(client, opd):
    CounterFactory(counter_name="Counter 1", service=opd)  # closed: nobody holds it

    html = client.get(reverse("display_screen")).content.decode()

    assert "No counter is open right now" in html
    assert embedded_json(html, "display-snapshot")["counters"][0]["is_open"] is False


def test_announce_repeat_below_one_stops_start_up(tmp_path):
    env = dict(os.environ, DISPLAY_ANNOUNCE_REPEAT="0", QUEUE_TESTING="1", QUEUE_IGNORE_DOTENV="1")
    result = subprocess.run(
        [sys.executable, "-c", "import queue_system.settings"], cwd=ROOT, env=env, capture_output=True, text=True
    )

    assert result.returncode != 0
    assert "DISPLAY_ANNOUNCE_REPEAT must be at least 1" in result.stderr


# --- GET /display/screen/data/ ---------------------------------------------------------------


def test_display_data_returns_every_counter_and_the_recent_calls(client, counters, patients, opd):
    first, _ = services.join(patient=patients[0], service=opd)
    services.join(patient=patients[1], service=opd)
    services.join(patient=patients[2], service=opd)
    services.serve_next(counter=counters[0], by=counters[0].held_by)

    data = client.get(reverse("display_screen_data")).json()

    row = data["counters"][0]
    assert set(row) >= {"id", "counter_name", "service", "current_status", "serving_patient", "queue_length"}
    assert row["serving_patient"]["queue_id"] == first.queue_id
    assert (row["queue_length"], data["counters"][1]["queue_length"]) == (2, 2)  # both call from OPD's one line
    assert [call["queue_id"] for call in data["recent_calls"]] == [first.queue_id]
    assert data["recent_calls"][0]["counter_name"] == "Counter 1"


@pytest.mark.parametrize(("mode", "shown"), [("masked", "John D."), ("full", "John Doe"), ("none", "")])
def test_display_data_shows_names_per_display_name_mode(client, counters, patient, opd, settings, mode, shown):
    settings.DISPLAY_NAME_MODE = mode
    services.join(patient=patient, service=opd)
    services.serve_next(counter=counters[0], by=counters[0].held_by)

    data = client.get(reverse("display_screen_data")).json()

    assert data["counters"][0]["serving_patient"]["patient_name"] == shown
    assert data["recent_calls"][0]["patient_name"] == shown


def test_display_data_runs_a_constant_number_of_queries(client, counters, patients, opd, lab, staff):
    client.get(reverse("display_screen_data"))  # the first request of a day may expire old tickets
    with CaptureQueriesContext(connection) as small:
        client.get(reverse("display_screen_data"))

    more = [services.hold_counter(counter=CounterFactory(service=lab), staff=member) for member in staff[2:]]
    for i, patient in enumerate(patients):
        services.join(patient=patient, service=opd if i % 2 else lab)
    for counter in [*counters, *more]:
        services.serve_next(counter=counter, by=counter.held_by)
    with CaptureQueriesContext(connection) as large:
        data = client.get(reverse("display_screen_data")).json()

    assert len(data["counters"]) == 4 and len(data["recent_calls"]) == 4
    assert len(large.captured_queries) == len(small.captured_queries) <= 5  # with the services' versions


# --- languages and the per-screen service filter ------------------------------------------------


def test_the_display_announces_in_every_configured_language(client, db, settings, caplog):
    settings.ANNOUNCE_LANGUAGES = ["en", "hi", "tlh", "hi"]
    with caplog.at_level("WARNING", logger="queue_app.languages"):
        config = embedded_json(client.get(reverse("display_screen")).content.decode(), "display-config")
    assert [v["code"] for v in config["voices"]] == ["en", "hi"]
    assert [v["lang"] for v in config["voices"]] == ["en-US", "hi-IN"]
    hindi = config["voices"][1]
    assert hindi["template"] == "टिकट {ticket}, {name}, कृपया {counter} पर जाएँ"
    assert hindi["digits"][:3] == ["शून्य", "एक", "दो"]
    assert hindi["script"] == "Devanagari" and config["voices"][0]["script"] == "Latin"
    assert "announce language dropped code='tlh'" in caplog.text


def test_announce_languages_that_are_all_unknown_give_the_default_language(client, db, settings, caplog):
    settings.ANNOUNCE_LANGUAGES = ["tlh", "xx-YY", ""]
    with caplog.at_level("WARNING", logger="queue_app.languages"):
        response = client.get(reverse("display_screen"))
    assert response.status_code == 200
    config = embedded_json(response.content.decode(), "display-config")
    assert [v["code"] for v in config["voices"]] == [settings.LANGUAGE_CODE]
    assert "code='tlh'" in caplog.text and "code='xx-YY'" in caplog.text


def test_the_display_filters_to_one_service(client, counters, patient, opd, lab):
    other = CounterFactory(service=lab, counter_name="Lab 1")
    html = client.get(reverse("display_screen"), {"service": opd.pk}).content.decode()
    shown = {c["id"] for c in embedded_json(html, "display-snapshot")["counters"]}
    assert shown == {c.pk for c in counters} and other.pk not in shown
    assert embedded_json(html, "display-config")["service_id"] == opd.pk

    data = client.get(reverse("display_screen_data"), {"service": lab.pk}).json()
    assert [c["id"] for c in data["counters"]] == [other.pk]


def test_a_service_filter_that_names_nothing_shows_every_service(client, counters, lab, caplog):
    CounterFactory(service=lab, counter_name="Lab 1")
    everything = len(client.get(reverse("display_screen_data")).json()["counters"])
    for bad in ("999999", "abc", "-1", "1e9", "٣"):
        with caplog.at_level("WARNING", logger="queue_app.selectors"):
            response = client.get(reverse("display_screen"), {"service": bad})
        assert response.status_code == 200
        assert len(embedded_json(response.content.decode(), "display-snapshot")["counters"]) == everything
        assert client.get(reverse("display_screen_data"), {"service": bad}).status_code == 200
    assert "display filter ignored" in caplog.text
