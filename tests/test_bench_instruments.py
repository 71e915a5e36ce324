"""The bench's server-side instruments and how the load generator reads them.

`bench.middleware.QueryCountMiddleware` answers every request with its query count, and a queue
change with how long it waited for its service's row lock and then held it (MariaDB: SQLite
has no row locks). The client keeps both per endpoint and the report shows them.
"""

import pytest
from django.conf import settings
from django.urls import reverse

from bench.client import Recorder, Result
from bench.report import _endpoint_rows
from queue_app import services

from .conftest import ON_MYSQL
from .layer_helpers import in_memory_layer  # noqa: F401 - the fixture, used below

pytestmark = pytest.mark.usefixtures("in_memory_layer")


@pytest.fixture
def bench_middleware(settings):
    settings.MIDDLEWARE = ["bench.middleware.QueryCountMiddleware", *settings.MIDDLEWARE]


@pytest.mark.django_db(transaction=True)  # the hold ends at the real commit
def test_a_call_reports_its_queries_and_its_hold_on_the_service_lock(client, counters, patients, bench_middleware):
    for patient in patients[:2]:
        services.join(patient=patient, service=counters[0].service)
    client.force_login(counters[0].held_by)

    response = client.post(reverse("serve_next"))

    assert response.status_code == 200
    assert int(response["X-Bench-Queries"]) > 0
    if not ON_MYSQL:
        assert "X-Bench-Lock" not in response  # SQLite serialises the whole database instead
        return
    wait, hold = (float(v) for v in response["X-Bench-Lock"].split(","))
    assert 0 <= wait < 10_000
    assert 0 < hold < 10_000


@pytest.mark.django_db(transaction=True)
def test_a_read_and_a_refused_change_report_no_lock(client, counters, bench_middleware):
    client.force_login(counters[0].held_by)

    read = client.get(reverse("get_queue_data"))
    nobody = client.post(reverse("skip_patient"))  # nobody called: rolled back

    assert read.status_code == 200 and "X-Bench-Lock" not in read
    assert nobody.status_code == 409 and "X-Bench-Lock" not in nobody
    assert int(read["X-Bench-Queries"]) > 0


def test_the_recorder_summarises_lock_times_per_endpoint():
    recorder = Recorder()
    for hold in range(1, 101):
        recorder.add("join", Result(200, ms=20.0, queries=11, lock=(0.5, float(hold))))
    recorder.add("join", Result(503, ms=10_000.0))  # no answer from the rule: no lock times
    recorder.add("display_data", Result(200, ms=5.0, queries=4))

    summary = recorder.summary(wall_s=1.0)

    assert summary["join"]["lock_ms"] == {
        "wait_p50": 0.5,
        "wait_p95": 0.5,
        "hold_p50": 50.0,  # nearest rank, as every figure of the report
        "hold_p95": 95.0,
        "hold_mean": 50.5,
    }
    assert summary["display_data"]["lock_ms"] is None
    rows = {row[1]: row for row in _endpoint_rows("http", summary)}
    assert rows["join"][-1] == "0.5/50.0/95.0"
    assert rows["display_data"][-1] == "-"


def test_the_bench_settings_put_the_instrument_first():
    # Its timing must cover every other middleware's queries, and only the bench has it.
    assert "bench.middleware.QueryCountMiddleware" not in settings.MIDDLEWARE
    from bench import settings as bench_settings

    assert bench_settings.MIDDLEWARE[0] == "bench.middleware.QueryCountMiddleware"
