"""The orchestrator: set up, start the server, run the phases, check, report, clean up.

Phases (each optional, in this order):
  floor      the trivial JSON view (closed loop), a bare WSGI "hello" under gunicorn (the Python HTTP
             floor) and the bare `websockets` broadcast server with as many clients as the run
             connects: the framework's, Python HTTP's and the transport's floors
  prepare    counters' staff log in; P patients send_otp / verify_otp / join; every socket opens
  fanout     one serve_next every --fanout-interval s, nothing else: fan-out latency vs the floor
  http       each endpoint closed-loop at each --http-levels concurrency, with both floor views:
             the trivial one and the write floor (the least a join can do, `bench.minimal`)
  sustained_floor  open loop: the write floor alone at the sustained phase's joins + calls per second
  sustained  open loop: joins, serve_next/skip and break cycles, pollers, at fixed rates
Then the database is checked (double calls, numbering) and every client's messages are matched.
"""
# The docstring above is `python -m bench --help`'s description: it names the phases the flags drive.

import argparse
import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path

PHASES = ("floor", "fanout", "http", "sustained_floor", "sustained")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    g = p.add_argument_group("configuration under test")
    g.add_argument(
        "--db", choices=("sqlite", "mysql"), default="sqlite", help="SQLite file or MariaDB (default sqlite)"
    )
    g.add_argument(
        "--layer", choices=("memory", "redis"), help="channel layer (default: memory for sqlite, redis for mysql)"
    )
    g.add_argument("--processes", type=int, default=1, help="Daphne processes (default 1; >1 needs redis)")
    g.add_argument(
        "--server",
        choices=("daphne", "uvicorn", "gunicorn"),
        default="daphne",
        help="daphne: HTTP and WebSockets to Daphne (make run's single process); gunicorn: production's "
        "layout, HTTP to gunicorn workers and WebSockets to the Daphne processes; uvicorn: the ASGI "
        "alternative measured beside Daphne",
    )
    g.add_argument(
        "--http-workers", type=int, default=0, help="--server gunicorn: its workers (default: gunicorn.conf.py's)"
    )
    g.add_argument(
        "--http-threads", type=int, default=1, help="threads per gunicorn worker (default 1: sync workers; >1 gthread)"
    )
    g.add_argument(
        "--layout",
        choices=("ports", "reuseport"),
        default="ports",
        help="ports: one port per process, the client spreads over them; reuseport: one port, the kernel balances",
    )
    g.add_argument(
        "--mysql-url",
        default="mysql://root@127.0.0.1:3306/queue_bench",
        help="admin URL; the name is the database to create",
    )
    g.add_argument("--redis-url", default="redis://127.0.0.1:6379/7", help="this DB number is flushed before and after")
    g.add_argument(
        "--log-level",
        default="info",
        choices=("debug", "info", "warning", "error"),
        help="server LOG_LEVEL (default info, the product default)",
    )
    g.add_argument(
        "--override",
        action="append",
        default=[],
        metavar="NAME=JSON",
        help="what-if: a Django setting for the server, e.g. SESSION_SAVE_EVERY_REQUEST=false (repeatable)",
    )
    g.add_argument(
        "--what-if",
        default="",
        help="what-if code changes, comma list: switch-interval-<ms> (sys.setswitchinterval in the servers)",
    )
    g.add_argument("--http-limit", type=int, default=0, help="what-if: at most N HTTP requests in the app per process")
    g.add_argument(
        "--daphne-verbosity", type=int, default=0, help="daphne -v (1 adds Daphne's own access log line per request)"
    )
    g.add_argument(
        "--daphne-loop",
        choices=("uvloop", "asyncio"),
        default="uvloop",
        help="uvloop: Daphne as shipped (queue_system.asgi_server); asyncio: plain `daphne`, its own loop "
        "(a baseline without the launcher always runs plain daphne)",
    )
    g = p.add_argument_group("clients")
    g.add_argument(
        "--patients", type=int, default=50, help="P patients: send_otp, verify, join, keep ?ticket= socket (default 50)"
    )
    g.add_argument(
        "--counters",
        type=int,
        default=4,
        help="C counters, each with its staff session and ?counter= socket (default 4)",
    )
    g.add_argument("--displays", type=int, default=4, help="D display sockets (default 4)")
    g.add_argument(
        "--services", type=int, default=1, help="services the counters and patients are spread over (default 1)"
    )
    g.add_argument("--ws-procs", type=int, default=1, help="processes holding the sockets (default 1)")
    g.add_argument("--login-concurrency", type=int, default=16, help="patients logging in at once (default 16)")
    g.add_argument(
        "--keep-patient-sockets", action="store_true", help="keep patients' sockets open in the sustained phase"
    )
    g = p.add_argument_group("phases")
    g.add_argument("--phases", default=",".join(PHASES), help=f"comma list of {', '.join(PHASES)} (default all)")
    g.add_argument(
        "--http-requests", type=int, default=300, help="requests per endpoint and level, closed loop (default 300)"
    )
    # Four levels: the capacity target takes each side at its busiest level within the p95 bound.
    g.add_argument("--http-levels", default="1,2,4,8", help="closed-loop concurrency levels (default 1,2,4,8)")
    g.add_argument(
        "--fanout-events", type=int, default=20, help="serve_next calls (and bare broadcasts) in the fan-out phase"
    )
    g.add_argument("--fanout-interval", type=float, default=0.5, help="seconds between them (default 0.5)")
    g.add_argument("--duration", type=float, default=60, help="sustained phase seconds (default 60)")
    g.add_argument("--join-rate", type=float, default=100, help="joins/s offered (default 100)")
    g.add_argument("--serve-rate", type=float, default=40, help="serve_next+skip/s offered (default 40)")
    g.add_argument("--skip-every", type=int, default=10, help="every Nth serve slot is a skip (default 10; 0: never)")
    g.add_argument(
        "--break-every", type=float, default=10, help="a counter goes on break every N s (default 10; 0: never)"
    )
    g.add_argument("--break-seconds", type=float, default=1.0, help="how long a break lasts (default 1)")
    g.add_argument("--queue-poll-rate", type=float, default=2, help="get_queue_data/s (default 2)")
    g.add_argument("--display-poll-rate", type=float, default=2, help="/display/screen/data//s (default 2)")
    g = p.add_argument_group("run")
    g.add_argument("--tiny", action="store_true", help="a few seconds with tiny numbers (the smoke test)")
    g.add_argument("--output", help="JSON path (default bench/results/<timestamp>.json)")
    g.add_argument("--max-seconds", type=float, default=1800, help="hard limit for the whole run (default 1800)")
    g.add_argument(
        "--drain-seconds",
        type=float,
        default=120,
        help="after each phase, wait until no message arrived for 1 s, at most this long (default 120)",
    )
    g.add_argument(
        "--baseline",
        metavar="REV",
        help="also run the same driver against a worktree of REV (e.g. main, HEAD~1), step by step after ours",
    )
    g.add_argument("--keep", action="store_true", help="keep the temporary folder and the MariaDB database")
    g.add_argument("--quiet", action="store_true", help="no progress lines")
    g.add_argument(
        "--profile", help="phase to record with py-spy (e.g. http or sustained); stacks land beside the JSON"
    )
    args = p.parse_args(argv)
    unknown = [n for n in map(str.strip, args.what_if.split(",")) if n and not n.startswith("switch-interval-")]
    if unknown:
        p.error(f"--what-if: unknown experiment {', '.join(unknown)} (switch-interval-<ms>)")
    if args.tiny:
        tiny = {
            "patients": 5,
            "counters": 1,
            "displays": 2,
            "http_requests": 10,
            "http_levels": "1,2",
            "fanout_events": 3,
            "fanout_interval": 0.2,
            "duration": 3,
            "join_rate": 4,
            "serve_rate": 2,
            "queue_poll_rate": 2,
            "display_poll_rate": 2,
        }
        for name, value in tiny.items():
            if getattr(args, name) == p.get_default(name):
                setattr(args, name, value)
    args.layer = args.layer or ("memory" if args.db == "sqlite" else "redis")
    overrides = {}
    for item in args.override:
        name, _, value = item.partition("=")
        try:
            overrides[name.strip()] = json.loads(value)
        except ValueError:
            p.error(f'--override {item!r}: the value must be JSON (true, 100, "text", {{...}})')
    args.overrides = overrides
    args.phases = [x.strip() for x in args.phases.split(",") if x.strip()]
    args.http_levels = [int(x) for x in str(args.http_levels).split(",") if x.strip()]
    unknown = set(args.phases) - set(PHASES)
    if unknown:
        p.error(f"unknown phases: {', '.join(sorted(unknown))}")
    if (args.processes > 1 or args.server == "gunicorn") and args.layer != "redis":
        p.error("several server processes need --layer redis (the in-memory layer cannot cross processes)")
    if args.counters < 1:
        p.error("--counters must be at least 1")
    return args


@dataclass
class Config:
    args: argparse.Namespace
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(40))

    def __getattr__(self, name):
        return getattr(self.args, name)

    @property
    def redis(self) -> bool:
        return self.args.layer == "redis"

    def database_url(self, workdir: Path) -> str:
        if self.args.db == "mysql":
            return self.args.mysql_url
        return f"sqlite:///{workdir / 'bench.sqlite3'}"

    @property
    def pool_size(self) -> int:
        size = 0
        if "http" in self.args.phases:
            # join in the http phase, and again in http_texts_off
            size += 2 * self.args.http_requests * len(self.args.http_levels)
        if "sustained" in self.args.phases:
            size += int(self.args.join_rate * self.args.duration)
        if "fanout" in self.args.phases:
            size += max(0, self.args.fanout_events + 1 - self.args.patients)
        return int(size * 1.05) + 10
