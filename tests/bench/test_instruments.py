"""The bench's server-side instruments and how the load generator reads them.

`bench.middleware.QueryCountMiddleware` answers every request with its query count, and a queue
change with how long it waited for its service's row lock and then held it (MariaDB: SQLite
has no row locks). The client keeps both per endpoint and the report shows them.
"""

import json
import os
import threading
import time

import pytest
from django.conf import settings
from django.urls import reverse

from bench import procstat
from bench.cli import parse_args
from bench.client import Recorder, Result
from bench.report import _daphne_loop, _endpoint_rows
from queue_app import services

from ..conftest import ON_MYSQL
from ..layer_helpers import in_memory_layer  # noqa: F401 - the fixture, used below

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


def test_the_report_shows_which_process_spent_an_endpoints_cpu():
    stats = {
        "requests": 10,
        "server_cpu_ms_per_request": 15.6,
        "server_cpu_ms_per_request_by_process": {"daphne": 3.04, "wsgi": 12.5, "sender": 0.0},
    }
    (row,) = _endpoint_rows("http", {"join": {"c1": stats}})
    assert row[1] == "join c1"
    assert row[-3:-1] == [15.6, "daphne 3.0 wsgi 12.5"]  # a process that spent nothing is left out
    (older,) = _endpoint_rows("http", {"join": {"c1": {"requests": 10}}})  # a result from before the split
    assert older[-2] == "-"


def test_the_bench_settings_put_the_instrument_first():
    # Its timing must cover every other middleware's queries, and only the bench has it.
    assert "bench.middleware.QueryCountMiddleware" not in settings.MIDDLEWARE
    from bench import settings as bench_settings

    assert bench_settings.MIDDLEWARE[0] == "bench.middleware.QueryCountMiddleware"


def _closed(p50: float, rps: float) -> dict:
    return {"c1": {"requests": 300, "errors": 0, "rps": rps, "p50": p50, "p95": p50 * 2, "p99": p50 * 3}}


def test_the_write_floor_sits_between_the_trivial_view_and_the_changes_in_the_report():
    """Ratios to both floors, the write floor's own ratio on the 3x target's line and its
    sustained figures on the sustained target's, from one run's numbers."""
    from bench.figures import ratios, sustained_floor, targets

    out = {
        "floors": {},
        "phases": {
            "prepare": {"sockets": {"connected": 8}},
            "http": {
                "endpoints": {
                    "floor": _closed(2.0, 400),
                    "floor_write": _closed(5.0, 150),
                    "join": _closed(12.0, 60),
                    "serve_next": _closed(15.0, 50),
                }
            },
            "sustained_floor": {
                "endpoints": {"floor_write": {"requests": 840, "errors": 0, "rps": 140.0, "p95": 90.0}},
                "offered_rates": {"floor_write": 140},
            },
        },
        "events": {
            "latency_ms": {},
            "delivery": {"lost": 0, "display": {"clients": 2, "lost": 0}},
        },
    }
    out["ratios"] = ratios(out)

    assert out["ratios"]["floor_write_c1_p50_x_floor"] == 2.5
    assert out["ratios"]["join_c1_p50_x_write_floor"] == 2.4
    assert out["ratios"]["serve_next_c1_p50_x_write_floor"] == 3.0
    assert out["ratios"]["join_c1_p50_x_floor"] == 6.0
    assert sustained_floor(out) == {"offered_rps": 140, "rps": 140.0, "p95": 90.0, "errors": 0}

    class Cfg:
        layer = "redis"

    found = targets(out, Cfg())
    assert found["join_p50_le_3x_floor"] == {
        "value": 6.0,
        "target": 3,
        "write_floor_x_floor": 2.5,
        "full_size": True,
        "met": False,
    }
    assert sustained_floor({"phases": {}}) is None


def test_the_write_floor_refuses_a_lane_out_of_range_before_touching_the_database(rf, settings):
    settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, "bench.minimal"]
    from bench.minimal.views import LANES, write

    response = write(rf.post(f"/bench/floor/write/{LANES}/"), lane=LANES)

    assert response.status_code == 404
    assert json.loads(response.content) == {"detail": f"Lanes are numbered 0 to {LANES - 1}."}


def test_the_write_floor_answers_a_get_with_a_json_405(rf, settings):
    settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, "bench.minimal"]
    from bench.minimal.views import write

    response = write(rf.get("/bench/floor/write/0/"), lane=0)

    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert json.loads(response.content) == {"detail": "POST to take a number."}


# --- server CPU (bench/procstat.py) ---------------------------------------------------------------


def _burn(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def _cpu_between(work) -> tuple[float, float, float]:
    """What a Snapshot says this process spent on `work`, what the process clock says the work
    took, and what it says the whole window took (the snapshots read /proc themselves)."""
    me = {"me": os.getpid()}
    window = time.process_time()
    before = procstat.Snapshot(me)
    clock = time.process_time()
    work()
    spent = time.process_time() - clock
    after = procstat.Snapshot(me)
    window = time.process_time() - window
    return after.since(before)["processes"]["me"]["cpu_s"], spent, window


def test_a_short_burst_is_counted_finer_than_a_clock_tick():
    counted, spent, window = _cpu_between(lambda: _burn(0.004))  # under half of a 10-ms tick
    assert spent - 0.001 <= counted <= window + 0.001, (counted, spent, window)


def test_threads_that_start_and_end_within_the_window_are_still_counted():
    """Daphne runs requests on threads that end: their time is kept in the process's ticks."""

    def threads():
        for _ in range(3):
            worker = threading.Thread(target=_burn, args=(0.1,))
            worker.start()
            worker.join()

    counted, spent, _window = _cpu_between(threads)
    assert counted >= 0.8 * spent


# --- what building SQL costs (bench.sql_cost, bench.scaling --sql-cost) -----------------------


@pytest.mark.django_db
def test_sql_cost_times_each_statement_with_its_subqueries_and_restores_django(opd):
    from django.db.models import Exists, OuterRef
    from django.db.models.sql import compiler

    from bench.sql_cost import SqlCost
    from queue_app.models import Notification, Ticket

    stock = compiler.SQLCompiler.as_sql
    with SqlCost() as cost:
        list(Ticket.objects.annotate(texted=Exists(Notification.objects.filter(ticket=OuterRef("pk")))))
        # Another thread's statements (the text sender's, in a server) are not this thread's cost.
        elsewhere = threading.Thread(target=_compile_a_read_on_another_thread)
        elsewhere.start(), elsewhere.join()
    [read] = cost.statements()
    assert read["sql"].startswith("SELECT … FROM ") and "queue_app_ticket" in read["sql"][:40]
    assert read["compiles"] == 1 and read["ms"] > 0  # the EXISTS counted in it, not on its own
    assert cost.total_ms() == read["ms"]
    assert compiler.SQLCompiler.as_sql is stock


def _compile_a_read_on_another_thread():
    from queue_app.models import Service

    str(Service.objects.filter(pk=1).query)  # compiles the SELECT, runs nothing


@pytest.mark.django_db
def test_scaling_reports_cpu_and_the_compile_share_of_a_change(monkeypatch):
    from bench import scaling
    from queue_app import events

    monkeypatch.setattr(events, "send", events.send)  # _measure replaces it; restored after the test
    [row] = scaling._measure([0], 2, 1, sql_cost=True)
    for operation in ("join", "serve_next"):
        measured = row[operation]
        assert 0 < measured["sql_compile"]["ms_per_op"] < measured["cpu_ms_per_op"]
        assert any("INSERT INTO" in s["sql"] for s in measured["sql_compile"]["statements"]), operation


def test_the_bench_refuses_an_experiment_it_does_not_know():
    """A what-if the product has since adopted (or a typo) must not run as if it were measured."""
    assert parse_args(["--what-if", "switch-interval-1"]).what_if == "switch-interval-1"
    with pytest.raises(SystemExit):
        parse_args(["--what-if", "fast-dispatch"])


def test_a_default_run_measures_the_levels_between_one_client_and_eight():
    """The capacity target takes each side at its busiest level within the p95 bound: with only
    1 and 8 clients, a side past the bound at 8 would be judged at 1. --tiny keeps its own two."""
    assert parse_args([]).http_levels == [1, 2, 4, 8]
    assert parse_args(["--tiny"]).http_levels == [1, 2]
    assert parse_args(["--http-levels", "1,4"]).http_levels == [1, 4]


def test_the_report_says_which_loop_daphne_ran_on():
    assert _daphne_loop({"server": "gunicorn", "daphne_loop": "uvloop"}) == "Daphne on uvloop, "
    assert _daphne_loop({"server": "daphne"}) == "Daphne on asyncio, "  # a result from before --daphne-loop
    assert _daphne_loop({"server": "uvicorn", "daphne_loop": "uvloop"}) == ""  # no Daphne in that run
