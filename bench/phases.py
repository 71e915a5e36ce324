"""The orchestrator's measuring steps: a phase between two resource snapshots, the sockets opened,
drained and settled, the closed loops (ours and the baseline's) and the floors."""

import os
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

from . import analysis, procstat
from .baseline import PREFIX as BASE
from .floor_servers import BareServer, HelloServer
from .profile import Profiler
from .worker import WorkerHandle

# The trivial view and the bare WSGI app answer in a millisecond or two: at --http-requests a
# loop lasted a fraction of a second, and its fixed costs (connections, each worker's first
# requests) weighed as much as the requests (bench/README.md, "Reading the numbers").
FLOORS = ("floor", "floor_wsgi")
FLOOR_REQUEST_FACTOR = 10
SERVER_PROCESSES = ("daphne", "wsgi", "sender")  # the product's processes (named by Servers.named_pids)


def socket_specs(counters: list[dict], patients: list[dict], displays: int, ws_port) -> list[dict]:
    """Every socket the run opens: one per counter, D displays, one per patient's ticket."""
    return (
        [
            {
                "kind": "counter",
                "port": ws_port(i),
                "path": f"/ws/queue/updates/?counter={c['id']}",
                "cookie": c["cookie"],
                "meta": {"counter_id": c["id"]},
            }
            for i, c in enumerate(counters)
        ]
        + [{"kind": "display", "port": ws_port(i), "path": "/ws/queue/updates/", "meta": {}} for i in range(displays)]
        + [
            {
                "kind": "patient",
                "port": ws_port(i),
                "path": f"/ws/queue/updates/?ticket={p['ticket_id']}",
                "cookie": p["cookie"],
                "meta": {"ticket_id": p["ticket_id"], "service_id": p["service_id"]},
            }
            for i, p in enumerate(patients)
        ]
    )


class Phases:
    """Bench's steps, apart so the orchestrator reads in one sitting: `run.Bench` sets up the
    attributes they use (cfg, servers, workers, driver, sinks, baseline, bare, hello, result...)."""

    # --- measuring ---------------------------------------------------------------------------

    def pids(self) -> dict:
        pids = self.servers.named_pids()
        pids.update({w.name: w.pid for w in self.workers})
        pids["orchestrator"] = os.getpid()
        if self.cfg.db == "mysql":
            pids.update({f"mariadbd{i or ''}": p for i, p in enumerate(procstat.find_pids("mariadbd"))})
        if self.cfg.redis:
            pids.update({f"redis{i or ''}": p for i, p in enumerate(procstat.find_pids("redis-server"))})
        if self.bare is not None:
            pids["bare_ws"] = self.bare.pid
        if self.hello is not None:
            pids.update(self.hello.named_pids())
        if self.baseline is not None:
            pids.update(self.baseline.pids())
        return pids

    def phase(self, name: str, run, *, sockets: bool = True) -> dict:
        """Run one phase between two snapshots; the sockets are drained before the end."""
        self.log(f"phase {name}")
        # The machine's speed now, not only at the start: it has changed within one run.
        speed = procstat.python_speed_ms()
        profiler = None
        if self.cfg.profile == name:
            # Every process that serves requests: Daphne's, and under gunicorn its workers (not the master).
            served = {n: pid for n, pid in self.servers.named_pids().items() if n != "wsgi"}
            profiler = Profiler(list(served.values()), self.workdir, name, labels=list(served))
        before = procstat.Snapshot(self.pids())
        start_ms = time.time() * 1000
        result = run()
        drained = self.quiet() if sockets else None
        if profiler is not None:
            profile = profiler.stop()
            kept = []
            for path in profile.get("files", []):
                target = self.output.parent / f"{self.output.stem}-{Path(path).name}"
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(path, target)
                kept.append(str(target))
            self.result["profile"] = {"phase": name, **profile, "files": kept}
        end_ms = time.time() * 1000
        after = procstat.Snapshot(self.pids())
        self.phase_windows.append({"name": name, "start_ms": start_ms, "end_ms": end_ms})
        resources = after.since(before)
        return {**(result or {}), "resources": resources, "drain": drained, "python_speed_ms": speed}

    def quiet(self) -> dict | None:
        for sink in self.sinks:
            sink.send("quiet", idle=1.0, limit=self.cfg.drain_seconds)
        answers = [sink.result(self.cfg.drain_seconds + 30) for sink in self.sinks]
        return {"waited_s": max(a["waited_s"] for a in answers), "drained": all(a["drained"] for a in answers)}

    def settle(self, since_ms: float) -> dict:
        """After an overload the server may still be working through requests whose clients gave
        up, and committing (and announcing) calls minutes later. Wait until the database's count
        of calls has stopped growing and every display has seen that many, at most --drain-seconds.
        """
        from django.db import OperationalError, connections

        from queue_app.models import QueueHistory

        started = time.monotonic()
        since = datetime.fromtimestamp(since_ms / 1000, tz=UTC)
        last, stable_since, calls, seen = None, time.monotonic(), None, None
        while time.monotonic() - started < self.cfg.drain_seconds:
            try:
                calls = QueueHistory.objects.filter(action="called", at__gte=since).count()
            except OperationalError:  # every connection taken by a server still catching up
                connections.close_all()
                time.sleep(1)
                continue
            finally:
                connections.close_all()
            answers = [a for a in self.on_sinks("calls_seen", [{"since": since_ms}] * len(self.sinks)) if a is not None]
            seen = min(answers) if answers else None
            if calls != last:
                last, stable_since = calls, time.monotonic()
            if time.monotonic() - stable_since >= 2 and (seen is None or seen >= calls):
                break
            time.sleep(0.5)
        return {
            "waited_s": round(time.monotonic() - started, 1),
            "calls_in_db": calls,
            "fewest_seen_by_a_display": seen,
        }

    def on_sinks(self, command: str, per_sink_kwargs: list[dict], timeout: float = 300) -> list:
        for sink, kwargs in zip(self.sinks, per_sink_kwargs, strict=True):
            sink.send(command, **kwargs)
        return [sink.result(timeout) for sink in self.sinks]

    def connect(self, specs: list[dict]) -> dict:
        shares = [specs[i :: len(self.sinks)] for i in range(len(self.sinks))]
        answers = self.on_sinks("connect", [{"specs": share} for share in shares])
        errors = {}
        for answer in answers:
            for k, v in answer["errors"].items():
                errors[k] = errors.get(k, 0) + v
        return {
            "requested": sum(a["requested"] for a in answers),
            "connected": sum(a["connected"] for a in answers),
            "errors": errors,
            "seconds": max(a["seconds"] for a in answers),
            "connect_ms": [a["connect_ms"] for a in answers],
        }

    # --- phases ------------------------------------------------------------------------------

    def prepare_baseline(self, data: dict) -> dict:
        """On the baseline, what prepare did on ours: staff log in, patients join, sockets open."""
        cfg, driver, servers = self.cfg, self.baseline.driver, self.baseline.servers
        counters = [{**c, "port": servers.ports[i % len(servers.ports)]} for i, c in enumerate(data["counters"])]
        logged = driver.call("login_counters", counters=counters, timeout=600)
        patients = driver.call("patients", count=cfg.patients, first=0, service_ids=data["service_ids"],
                               concurrency=cfg.login_concurrency, timeout=max(600, cfg.patients))  # fmt: skip
        if "fanout" in cfg.phases:  # ours served that many of its patients meanwhile
            driver.call("closed_loop", endpoints=["serve_next"], levels=[1], requests=cfg.fanout_events, timeout=600)
        specs = socket_specs(logged["counters"], patients["patients"], cfg.displays, servers.ws_port)
        connected = self.baseline.sink.call("connect", specs=specs, timeout=600)
        self.log(f"baseline: {connected['connected']}/{connected['requested']} sockets connected")
        return {"endpoints": {**logged["endpoints"], **patients["endpoints"]}, "sockets": connected["connected"]}

    def baseline_phase(self, command: str, load: dict) -> dict:
        """An open-loop phase on the baseline, right after ours, with the processes' CPU."""
        self.log(f"phase {command} (baseline)")
        before = procstat.Snapshot(self.pids())
        result = self.baseline.driver.call(command, **load, timeout=load["duration"] + 600)
        self.baseline.sink.call("quiet", idle=1.0, limit=self.cfg.drain_seconds, timeout=self.cfg.drain_seconds + 30)
        return {**result, "resources": procstat.Snapshot(self.pids()).since(before)}

    def closed_loops(
        self, endpoints: list[str], *, port: int | None = None, serving=SERVER_PROCESSES, baseline: dict | None = None
    ) -> dict:
        """Each endpoint at each level, with the server's and the load generator's CPU per request.
        `port` and `serving`: another server than the product's (the bare WSGI floor), its processes.
        `baseline`: each step run on the baseline right after ours, its figures put there."""
        out = {}
        for endpoint in endpoints:
            out[endpoint] = {}
            for level in self.cfg.http_levels:
                out[endpoint][f"c{level}"] = self._closed_loop(self.driver, endpoint, level, port, serving)
                if baseline is not None and self.baseline is not None:
                    base_serving = tuple(BASE + name for name in SERVER_PROCESSES)
                    stats = self._closed_loop(self.baseline.driver, endpoint, level, None, base_serving)
                    baseline.setdefault(endpoint, {})[f"c{level}"] = stats
        return out

    def _closed_loop(self, driver: WorkerHandle, endpoint: str, level: int, port, serving) -> dict:
        before = procstat.Snapshot(self.pids())
        requests = self.cfg.http_requests * (FLOOR_REQUEST_FACTOR if endpoint in FLOORS else 1)
        loop = {"endpoints": [endpoint], "levels": [level], "requests": requests, "port": port}
        answer = driver.call("closed_loop", **loop, timeout=1800)
        used = procstat.Snapshot(self.pids()).since(before)
        stats = answer[endpoint][f"c{level}"]
        requests = max(1, stats.get("requests") or 1)
        processes = used["processes"]
        # Which process spent it: the HTTP workers, the WebSocket processes' fan-out, the texts.
        by_kind = {kind: sum(p["cpu_s"] or 0 for k, p in processes.items() if k.startswith(kind)) for kind in serving}
        database = sum(p["cpu_s"] or 0 for k, p in processes.items() if k.startswith(("mariadbd", "redis")))
        stats["server_cpu_ms_per_request"] = round(1000 * sum(by_kind.values()) / requests, 2)
        stats["server_cpu_ms_per_request_by_process"] = {
            kind.removeprefix(BASE): round(1000 * cpu / requests, 2) for kind, cpu in by_kind.items()
        }
        stats["db_and_redis_cpu_ms_per_request"] = round(1000 * database / requests, 2)
        stats["loadgen_cpu_ms_per_request"] = round(1000 * (processes[driver.name]["cpu_s"] or 0) / requests, 3)
        stats["machine_busy_pct"] = used["machine_busy_pct"]
        return stats

    def texts_off_loops(self) -> dict:
        """join and serve_next closed-loop with no turn-near threshold and no ticket opted in to
        texts (the http phase runs them with texts on, the default), then texts back on."""
        from queue_app.models import Service, Ticket

        thresholds = dict(Service.objects.values_list("pk", "notify_near_at"))
        Service.objects.update(notify_near_at=0)
        try:
            endpoints = self.closed_loops(["join"])
            Ticket.objects.update(notify=False)
            endpoints.update(self.closed_loops(["serve_next"]))
        finally:
            for pk, near_at in thresholds.items():
                Service.objects.filter(pk=pk).update(notify_near_at=near_at)
            Ticket.objects.filter(status__in=Ticket.ACTIVE_STATUSES).update(notify=True)
        return {"endpoints": endpoints}

    def floor_wsgi(self) -> dict:
        """A bare WSGI "hello" under gunicorn, the product's gunicorn configuration: Python HTTP's floor."""
        self.hello = HelloServer(self.cfg, self.workdir)
        try:
            return self.closed_loops(["floor_wsgi"], port=self.hello.port, serving=("hello_wsgi",))["floor_wsgi"]
        finally:
            self.hello.stop()
            self.hello = None

    def floor_ws(self, clients: int, frames: int = 1) -> dict:
        """The bare `websockets` server with as many clients, `frames` frames a broadcast."""
        self.bare = BareServer(self.workdir)
        try:
            specs = [{"kind": "bare", "port": self.bare.port, "path": "/", "meta": {}} for _ in range(clients)]
            connected = self.connect(specs)
            before = procstat.Snapshot(self.pids())
            self.bare.go(self.cfg.fanout_events, self.cfg.fanout_interval, self.cfg.payload_bytes, frames)
            self.quiet()
            after = procstat.Snapshot(self.pids())
            self.on_sinks("close", [{"kinds": ["bare"]}] * len(self.sinks))
            sockets = [s for part in self.on_sinks("collect", [{}] * len(self.sinks)) for s in part]
            sockets = [s for s in sockets if s["spec"]["kind"] == "bare"]
            return {
                "connect": connected,
                "frames_per_broadcast": frames,
                **analysis.check_bare(sockets, self.cfg.fanout_events * frames),
                "resources": after.since(before),
            }
        finally:
            self.bare.stop()
            self.bare = None
