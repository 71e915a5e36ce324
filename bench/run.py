"""The orchestrator: set up, start the server, run the phases (`python -m bench`), check, report,
clean up. The flags are in bench/cli.py, the steps in bench/phases.py, the derived figures in
bench/figures.py."""

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from . import analysis, procstat, report
from .baseline import Baseline, compare
from .cli import Config, parse_args
from .figures import (
    baseline_targets,
    count_errors,
    cpu_per_message,
    memory_per_connection,
    ratios,
    sustained_vs_baseline,
    targets,
)
from .floor_servers import BareServer, HelloServer
from .phases import SERVER_PROCESSES, Phases, socket_specs
from .servers import (
    ROOT,
    Servers,
    create_mysql_database,
    drop_mysql_database,
    flush_redis,
    migrate,
    server_env,
)
from .servers import seed as seed_database
from .worker import WorkerHandle, raise_fd_limit

HTTP_ENDPOINTS = ("floor", "floor_write", "display_data", "get_queue_data", "join", "serve_next")
SESSION_COOKIE = "queuesystem_staff_session"


class Bench(Phases):
    def __init__(self, args: argparse.Namespace, output: Path):
        self.cfg = Config(args)
        self.output = output
        self.log_enabled = not args.quiet
        self.workdir = Path(tempfile.mkdtemp(prefix="queue-bench-"))
        (self.workdir / "sms").mkdir()
        self.env = server_env(self.cfg, self.workdir)
        self.servers: Servers | None = None
        self.bare: BareServer | None = None
        self.hello: HelloServer | None = None
        self.baseline: Baseline | None = None
        self.workers: list[WorkerHandle] = []
        self.driver: WorkerHandle | None = None
        self.sinks: list[WorkerHandle] = []
        self.result: dict = {}
        self.phase_windows: list[dict] = []
        self.mysql_created = False

    def log(self, message: str) -> None:
        if self.log_enabled:
            print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    # --- lifecycle ---------------------------------------------------------------------------

    def cleanup(self) -> None:
        for worker in self.workers:
            try:
                worker.stop()
            except Exception:
                pass
        if self.bare is not None:
            self.bare.stop()
        if self.hello is not None:
            self.hello.stop()
        if self.servers is not None:
            self.servers.stop()
        if self.baseline is not None:
            self.baseline.cleanup()
        try:
            from django.db import connections

            connections.close_all()
        except Exception:
            pass
        if self.cfg.keep:
            self.log(f"kept {self.workdir}")
        else:
            if self.mysql_created:
                drop_mysql_database(self.cfg.mysql_url)
            shutil.rmtree(self.workdir, ignore_errors=True)
        if self.cfg.redis:
            try:
                flush_redis(self.cfg.redis_url)
            except Exception:
                pass

    def setup(self) -> dict:
        cfg = self.cfg
        self.log(f"workdir {self.workdir}; {cfg.db} + {cfg.layer}, {cfg.processes} process(es), layout {cfg.layout}")
        if cfg.db == "mysql":
            create_mysql_database(cfg.mysql_url)
            self.mysql_created = True
        if cfg.redis:
            flush_redis(cfg.redis_url)
        migrate(self.env, self.log)
        os.environ.update(self.env)
        if not cfg.redis:
            os.environ.pop("REDIS_URL", None)
        import django

        django.setup()
        from django.db import connections

        data = seed_database(cfg)
        connections.close_all()
        self.log(f"seeded {len(data['counters'])} counters, join pool of {len(data['pool'])}")
        return data

    def start_workers(self, data: dict) -> None:
        ports = self.servers.ports
        self.driver = WorkerHandle(
            "driver",
            "bench.driver.Driver",
            {
                "ports": ports,
                "sms_folder": str(self.workdir / "sms"),
                "pool": data["pool"],
                "session_cookie": SESSION_COOKIE,
                "lanes": self.cfg.services,  # the write floor: one lock row per service, as the joins have
            },
        )
        self.workers.append(self.driver)
        for i in range(max(1, self.cfg.ws_procs)):
            sink = WorkerHandle(f"sink{i}", "bench.sink.Sink", {})
            self.sinks.append(sink)
            self.workers.append(sink)
        for worker in self.workers:
            worker.call("stat", timeout=60)  # started and imported: start-up is no phase's cost

    def run(self) -> dict:
        cfg = self.cfg
        out = self.result
        out["meta"] = {
            "started_at": datetime.now().isoformat(timespec="seconds"),
            "argv": sys.argv[1:],
            "config": {k: v for k, v in vars(cfg.args).items()},
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "loadavg_start": procstat.loadavg(),
            "python_speed_ms": procstat.python_speed_ms(),
            "git": _git_revision(),
            "fd_limit": raise_fd_limit(),
        }
        data = self.setup()
        base_data = None
        if cfg.baseline:
            self.baseline = Baseline(cfg.baseline, cfg, Config, self.log)
            base_data = self.baseline.setup()
        self.servers = Servers(cfg, self.env, self.workdir, self.log)
        self.servers.start()
        self.log(f"{cfg.server}: HTTP on ports {self.servers.ports}, WebSockets on {self.servers.ws_ports} "
                 f"(pids {self.servers.named_pids()})")  # fmt: skip
        self.start_workers(data)
        base = None
        if self.baseline is not None:
            self.baseline.start(base_data, SESSION_COOKIE)
            base = out["baseline"] = {"rev": cfg.baseline, "commit": self.baseline.commit,
                                      "server": self.baseline.server, "floors": {}, "phases": {}}  # fmt: skip
        sockets_planned = cfg.patients + cfg.displays + cfg.counters
        cfg.args.payload_bytes = 450  # about a display queue_update with a few counters
        idle = procstat.Snapshot(self.pids())
        out["server"] = {"idle": {k: v for k, v in idle.procs.items() if k.startswith(SERVER_PROCESSES)}}
        out["phases"] = {}
        out["floors"] = {}

        if "floor" in cfg.phases:
            base_floor = {}
            out["floors"]["http"] = self.phase(
                "floor_http",
                lambda: {"endpoints": self.closed_loops(["floor"], baseline=base_floor)["floor"]},
                sockets=False,
            )
            if base is not None:
                base["floors"]["http"] = {"endpoints": base_floor.get("floor", {})}
            out["floors"]["wsgi"] = self.phase("floor_wsgi", lambda: {"endpoints": self.floor_wsgi()}, sockets=False)
            if sockets_planned:
                self.log(f"floor: bare websockets server, {sockets_planned} clients")
                out["floors"]["ws"] = self.floor_ws(sockets_planned)
                if "fanout" in cfg.phases:  # the same frames a call sends the displays: two
                    self.log(f"floor: bare websockets server, {sockets_planned} clients, two frames a broadcast")
                    out["floors"]["ws_call"] = self.floor_ws(sockets_planned, frames=2)

        # prepare: staff log in, patients join, sockets open
        counters = [
            {**c, "port": self.servers.ports[i % len(self.servers.ports)]} for i, c in enumerate(data["counters"])
        ]
        prep_start = time.monotonic()
        logged = self.driver.call("login_counters", counters=counters, timeout=600)
        patients = self.driver.call(
            "patients",
            count=cfg.patients,
            first=0,
            service_ids=data["service_ids"],
            concurrency=cfg.login_concurrency,
            timeout=max(600, cfg.patients),
        )
        specs = socket_specs(logged["counters"], patients["patients"], cfg.displays, self.servers.ws_port)
        before_sockets = procstat.Snapshot(self.pids())
        connected = self.connect(specs)
        time.sleep(1.0)
        after_sockets = procstat.Snapshot(self.pids())
        measure_start = time.time() * 1000
        out["phases"]["prepare"] = {
            "endpoints": {**logged["endpoints"], **patients["endpoints"]},
            "sockets": connected,
            "seconds": round(time.monotonic() - prep_start, 1),
        }
        out["server"]["connections"] = memory_per_connection(before_sockets, after_sockets, connected["connected"])
        self.log(f"{connected['connected']}/{connected['requested']} sockets connected {connected['errors'] or ''}")
        if base is not None:
            base["phases"]["prepare"] = self.prepare_baseline(base_data)

        patient_end = None
        if "fanout" in cfg.phases and logged["counters"]:
            # Someone must be waiting for each call: top the queue up from the join pool if needed.
            prefill = max(0, cfg.fanout_events + 1 - cfg.patients)
            if prefill:
                self.driver.call("closed_loop", endpoints=["join"], levels=[4], requests=prefill, timeout=600)
            out["phases"]["fanout"] = self.phase(
                "fanout",
                lambda: self.driver.call(
                    "fanout",
                    events=cfg.fanout_events,
                    interval=cfg.fanout_interval,
                    timeout=cfg.fanout_events * cfg.fanout_interval + 120,
                ),
            )
        if "http" in cfg.phases and logged["counters"]:
            base_http = {} if base is not None else None
            out["phases"]["http"] = self.phase(
                "http", lambda: {"endpoints": self.closed_loops(list(HTTP_ENDPOINTS), baseline=base_http)}
            )
            if base is not None:
                base["phases"]["http"] = {"endpoints": base_http}
            # The same join and serve_next with patient texts off: what the outbox costs a change.
            out["phases"]["http_texts_off"] = self.phase("http_texts_off", self.texts_off_loops)
        if "sustained_floor" in cfg.phases:
            # What the stack itself does at the sustained phase's rate of changes, with the least
            # a change can do: if this misses the target, no join or call can meet it.
            floor_load = {"endpoint": "floor_write", "rate": cfg.join_rate + cfg.serve_rate, "duration": cfg.duration}
            out["phases"]["sustained_floor"] = self.phase(
                "sustained_floor", lambda: self.driver.call("open_loop", **floor_load, timeout=cfg.duration + 600)
            )
            if base is not None:
                base["phases"]["sustained_floor"] = self.baseline_phase("open_loop", floor_load)
        if "sustained" in cfg.phases and logged["counters"]:
            if not cfg.keep_patient_sockets and cfg.patients:
                self.on_sinks("close", [{"kinds": ["patient"]}] * len(self.sinks))
                patient_end = time.time() * 1000
            load = {
                "duration": cfg.duration,
                "join_rate": cfg.join_rate,
                "serve_rate": cfg.serve_rate,
                "skip_every": cfg.skip_every,
                "break_every": cfg.break_every,
                "break_seconds": cfg.break_seconds,
                "queue_poll_rate": cfg.queue_poll_rate,
                "display_poll_rate": cfg.display_poll_rate,
            }
            out["phases"]["sustained"] = self.phase(
                "sustained", lambda: self.driver.call("sustained", **load, timeout=cfg.duration + 600)
            )
            if base is not None:
                if not cfg.keep_patient_sockets and cfg.patients:
                    self.baseline.sink.call("close", kinds=["patient"], timeout=300)
                base["phases"]["sustained"] = self.baseline_phase("sustained", load)
        settle = self.settle(measure_start)
        end_ms = time.time() * 1000
        patient_end = patient_end or end_ms

        sockets = [s for part in self.on_sinks("collect", [{"clear": False}] * len(self.sinks)) for s in part]
        final = procstat.Snapshot(self.pids())
        out["server"]["final"] = {k: v for k, v in final.procs.items() if k.startswith(SERVER_PROCESSES)}
        out["loadgen"] = {
            "cpu_s": {w.name: round(w.call("stat")["cpu_s"], 2) for w in self.workers},
            "note": "each phase's resources list the driver's and sinks' CPU beside the servers'",
        }
        # The servers go first: after an overload they may still hold every database connection.
        for worker in self.workers:
            worker.stop()
        self.servers.stop()
        checks = analysis.database_checks(
            start_ms=measure_start,
            end_ms=end_ms,
            patient_end_ms=patient_end,
            patient_ticket_ids=[p["ticket_id"] for p in patients["patients"]],
        )
        out["correctness"] = checks["correctness"]
        out["events"] = {
            "delivery": analysis.check_delivery(
                sockets,
                start=measure_start,
                end=end_ms,
                calls_in_db=checks["calls"],
                ticket_history=checks["ticket_history"],
                phases=self.phase_windows,
                position_interval_ms=float(self.cfg.overrides.get("QUEUE_POSITION_INTERVAL_MS", 500)),
            ),
            "latency_ms": analysis.latency_by_phase(sockets, self.phase_windows),
        }
        out["events"]["server_cpu_us_per_delivered_message"] = cpu_per_message(out)
        # Messages still on their way when a drain gave up count as lost: say so beside them.
        out["events"]["delivery"]["settle"] = settle
        out["events"]["delivery"]["drain_incomplete_in"] = [
            name for name, phase in out["phases"].items() if phase.get("drain") and not phase["drain"]["drained"]
        ]
        out["meta"]["loadavg_end"] = procstat.loadavg()
        out["errors"] = count_errors(out)
        out["ratios"] = ratios(out)
        out["targets"] = targets(out, cfg)
        if base is not None:
            base["vs"] = {
                phase: compare(out["phases"][phase]["endpoints"], base["phases"][phase]["endpoints"])
                for phase in ("http",)
                if phase in base["phases"] and phase in out["phases"]
            }
            if "http" in base["floors"]:
                floors = out["floors"]["http"]["endpoints"], base["floors"]["http"]["endpoints"]
                base["vs"]["floor_http"] = compare({"floor": floors[0]}, {"floor": floors[1]})
            base["vs"].update(sustained_vs_baseline(out, base))
            out["targets"].update(baseline_targets(out, base))
        return out


def _git_revision() -> str | None:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=5
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


class HardLimit(Exception):
    pass


def main(argv=None) -> int:
    args = parse_args(argv)
    output = Path(args.output) if args.output else ROOT / "bench" / "results" / f"{time.strftime('%Y%m%d-%H%M%S')}.json"
    bench = Bench(args, output)

    def stop(signum, frame):
        raise HardLimit(f"stopped by signal {signum}")

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGALRM, stop)
    signal.alarm(int(args.max_seconds))
    try:
        result = bench.run()
    finally:
        signal.alarm(0)
        bench.cleanup()
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2, default=str))
    print(report.table(result))
    print(f"\nJSON: {output}")
    return 0
