"""The benchmark runs end to end with tiny numbers, so it cannot rot.

It starts a real Daphne (and, the alternative it measures, uvicorn) on SQLite + the in-memory
layer (its own temporary database), and production's layout (gunicorn for HTTP, Daphne for the
WebSockets) on SQLite + Redis when REDIS_URL is set; it logs a counter in, lets 5 patients get an SMS code, verify
and join, opens their sockets and 2 displays, then runs every phase for a few seconds. Only
correctness is asserted, never a timing.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the bench reads /proc")


@pytest.fixture(scope="module", params=["daphne", "uvicorn", "gunicorn"])
def result(request, tmp_path_factory):
    output = tmp_path_factory.mktemp("bench") / "smoke.json"
    server = ["--server", request.param]
    if request.param == "gunicorn":
        # Its HTTP workers and Daphne are separate processes: their events cross through Redis.
        if not os.environ.get("REDIS_URL"):
            pytest.skip("--server gunicorn needs Redis: set REDIS_URL")
        server += ["--layer", "redis", "--redis-url", os.environ["REDIS_URL"]]
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "--tiny", "--quiet", "--max-seconds", "240", "--output", str(output)] + server,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return json.loads(output.read_text())


def test_the_report_has_every_section(result):
    assert {"meta", "floors", "phases", "events", "server", "loadgen", "correctness", "ratios", "targets"} <= set(
        result
    )
    assert {"prepare", "fanout", "http", "sustained_floor", "sustained"} <= set(result["phases"])
    assert {"http", "wsgi", "ws"} <= set(result["floors"])
    for stats in result["floors"]["wsgi"]["endpoints"].values():  # the bare WSGI "hello" under gunicorn
        assert stats["requests"] > 0 and stats["errors"] == 0 and stats["server_cpu_ms_per_request"] >= 0
    assert result["ratios"]["floor_c1_p50_x_floor_wsgi"] > 0
    for endpoint in ("floor", "floor_write", "join", "serve_next", "get_queue_data", "display_data"):
        for stats in result["phases"]["http"]["endpoints"][endpoint].values():
            assert {"requests", "rps", "p50", "p95", "p99", "errors", "server_cpu_ms_per_request"} <= set(stats)
    assert {"join", "serve_next", "get_queue_data", "display_data"} <= set(result["phases"]["sustained"]["endpoints"])
    assert result["server"]["connections"]["kb_per_connection"] is not None
    assert result["loadgen"]["cpu_s"]["driver"] >= 0


def test_every_phase_says_how_fast_and_how_shared_the_machine_was(result):
    # Machines of this kind changed speed within a run: each phase carries its own reading.
    phases = {"floor_http": result["floors"]["http"], **result["phases"]}
    for name in ("floor_http", "fanout", "http", "sustained_floor", "sustained"):
        assert phases[name]["python_speed_ms"] > 0, name
        assert 0 <= phases[name]["resources"]["machine_steal_pct"] <= 100, name


def test_the_servers_are_the_ones_asked_for(result):
    processes = result["server"]["idle"]
    if result["meta"]["config"]["server"] == "gunicorn":
        # WebSockets, gunicorn's master, its worker, and the texts' sender as production runs it
        assert {"daphne0", "wsgi", "wsgi0", "sender"} <= set(processes)
        join = result["phases"]["http"]["endpoints"]["join"]["c1"]
        assert join["server_cpu_ms_per_request"] > 0
        # Its parts, by process: the HTTP workers did the join's own work.
        split = join["server_cpu_ms_per_request_by_process"]
        assert set(split) == {"daphne", "wsgi", "sender"} and split["wsgi"] > 0
        assert sum(split.values()) == pytest.approx(join["server_cpu_ms_per_request"], abs=0.05)
    else:
        assert set(processes) == {"daphne0"}


def test_every_request_succeeded(result):
    assert result["errors"] == 0
    assert (
        result["phases"]["prepare"]["sockets"]["connected"] == result["phases"]["prepare"]["sockets"]["requested"] == 8
    )


def test_the_texts_the_changes_owed_were_sent_and_none_failed(result):
    # The sender (a thread, or production's process under gunicorn) kept up with the changes.
    texts = result["correctness"]["texts"]
    assert texts.get("sent", 0) > 0
    assert texts.get("failed", 0) == 0


def test_every_event_reached_every_client_once(result):
    delivery = result["events"]["delivery"]
    assert delivery["lost"] == 0
    assert delivery["duplicates"] == 0
    assert delivery["closed_by_server"] == 0
    assert delivery["display"]["calls_in_db"] > 0
    assert delivery["patient"]["personal_events_expected"] > 0
    assert result["floors"]["ws"]["lost"] == 0
    # The floor beside the displays' fan-out: each broadcast two frames, as a call sends them.
    pair = result["floors"]["ws_call"]
    assert (pair["frames_per_broadcast"], pair["lost"], pair["duplicates"]) == (2, 0, 0)
    assert pair["latency"]["count"] == 2 * result["floors"]["ws"]["latency"]["count"]
    target = result["targets"]["ws_2000_clients_p95_le_1_5x_bare_ws"]
    assert target["value"] > 0 and target["two_frame_floor"] > 0 and not target["full_size"]


def test_the_write_floor_numbered_every_write_once(result):
    """The least a join can do still has to be right: one entry per answered write, per lane
    numbered 1, 2, 3 … under its row lock, beside the ratios that compare the joins with it."""
    answered = sum(s["requests"] - s["errors"] for s in result["phases"]["http"]["endpoints"]["floor_write"].values())
    sustained = result["phases"]["sustained_floor"]["endpoints"]["floor_write"]
    answered += sustained["requests"] - sustained["errors"]
    floor = result["correctness"]["write_floor"]
    assert floor == {"entries": answered, "number_gaps": 0, "duplicate_numbers": 0}
    assert answered > 0
    assert result["ratios"]["join_c1_p50_x_write_floor"] > 0
    assert result["targets"]["join_p50_le_3x_floor"]["write_floor_x_floor"] > 0


def test_no_ticket_was_called_twice_and_numbers_have_no_gaps(result):
    correctness = result["correctness"]
    assert correctness["tickets"] > 5
    assert correctness["tickets_called_twice"] == 0
    assert correctness["number_gaps"] == 0
    assert correctness["duplicate_numbers"] == 0
    assert correctness["counters_calling_two_at_once"] == 0


def test_join_and_serve_next_are_measured_with_texts_on_and_off_in_the_same_run(result):
    off = result["phases"]["http_texts_off"]["endpoints"]
    for endpoint in ("join", "serve_next"):
        for stats in off[endpoint].values():
            assert stats["requests"] > 0 and stats["errors"] == 0, (endpoint, stats)
    assert any(name.startswith("serve_next_") and name.endswith("_texts_on_x_off") for name in result["ratios"])


@pytest.fixture(scope="module")
def against_head(tmp_path_factory):
    output = tmp_path_factory.mktemp("bench") / "baseline.json"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    worktrees = _worktrees()
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "--tiny", "--quiet", "--max-seconds", "240", "--output", str(output)]
        + ["--phases", "floor,http", "--baseline", "HEAD"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return json.loads(output.read_text()), worktrees


def _worktrees() -> list[str]:
    """The baselines' worktrees the repository lists (others may come and go meanwhile)."""
    listed = subprocess.run(["git", "worktree", "list", "--porcelain"], cwd=ROOT, capture_output=True, text=True)
    return [line for line in listed.stdout.splitlines() if line.startswith("worktree ") and "queue-baseline-" in line]


def test_the_baseline_is_driven_step_by_step_beside_ours_and_its_worktree_removed(against_head):
    result, worktrees_before = against_head
    base = result["baseline"]
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)

    assert base["rev"] == "HEAD" and base["commit"] == head.stdout.strip()
    assert base["phases"]["prepare"]["sockets"] == 8
    for endpoint in ("floor", "floor_write", "join", "serve_next", "get_queue_data", "display_data"):
        for level, stats in base["phases"]["http"]["endpoints"][endpoint].items():
            assert stats["requests"] > 0 and stats["errors"] == 0, (endpoint, level, stats)
            assert base["vs"]["http"][endpoint][level]["rps"] > 0
    assert base["floors"]["http"]["endpoints"]["c1"]["requests"] > 0
    assert "joins_and_calls_per_s_ge_1_8x_baseline" in result["targets"]
    assert result["errors"] == 0 and result["correctness"]["tickets_called_twice"] == 0
    assert _worktrees() == worktrees_before


def test_the_layer_bench_measures_both_ends_of_a_message():
    """bench.layer sends through the production layer to a receiver in a process of its own."""
    if not os.environ.get("REDIS_URL"):
        pytest.skip("the pub/sub layer needs Redis: set REDIS_URL")
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.layer",
            "--redis-url",
            os.environ["REDIS_URL"],
            "--messages",
            "50",
            "--gap-ms",
            "1",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    figures = json.loads(completed.stdout)
    assert figures["parser"] in ("hiredis", "python")
    assert figures["receiver_cpu_us_per_message"] > 0
    assert figures["sender_cpu_us_per_message"] > 0


def test_the_layer_bench_says_so_when_redis_is_not_there():
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    completed = subprocess.run(
        [sys.executable, "-m", "bench.layer", "--redis-url", f"redis://127.0.0.1:{port}/1", "--messages", "5"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode != 0
    assert "the receiver did not start (is Redis up?)" in completed.stderr
