"""Past capacity behind the real nginx and gunicorn: what HTTP_QUEUE_SECONDS and nginx's cap on
requests at the app change.

    .venv/bin/python -m bench.overload [--concurrency 2000] [--duration 60] [--queue-seconds 10,0] [--polite]

For each HTTP_QUEUE_SECONDS value it starts gunicorn (deploy/gunicorn.conf.py, `--workers` sync
workers) and nginx (`location /` and its busy answer as deploy/nginx/queue.conf has them, with the
X-Request-Start stamp and the limit_conn cap, and queue-busy.conf) in a temporary folder, times
`--probe` requests one at a time, then runs `--concurrency` clients in a closed loop for
`--duration` s (each sends its next GET as soon as it has an answer, or with `--polite` after a
503's Retry-After) and waits for the last answers. Per run: answers by status, answer times (all,
the 200s, the 503s), how many 200s the app wrote while their client already had nginx's 504 (work
wasted), the worker's ms per 200 and per 503 (the app's log), and the kernel's ListenOverflows
(machine-wide).
Database: MariaDB `--mysql-url`, created, migrated and dropped; Redis `--redis-url`, flushed.
Without nginx on the PATH (Debian: `apt-get install nginx-light`) it says so and exits 0.
"""

import argparse
import asyncio
import json
import os
import re
import resource
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

from . import servers
from .servers import PYTHON, ROOT, Servers, free_port
from .stats import summarize

# deploy/nginx/queue.conf's `location /` and its busy answer, read from the file, and the whole of
# queue-busy.conf (their http-level zone and maps), so the bench follows what ships.
SHIPPED = {
    "location": re.compile(r"\n(\s*location / \{\n\s*proxy_pass http://queue_web;.*?\n\s*\})", re.S),
    "busy": re.compile(r"\n(\s*location @queue_busy \{.*?\n\s*\})", re.S),
}
NGINX_CONF = """\
worker_processes 1;
worker_rlimit_nofile {nofile};
error_log {prefix}/error.log warn;
pid {prefix}/nginx.pid;
events {{ worker_connections {connections}; }}
http {{
    access_log off;
{edge}
    upstream queue_web {{ server 127.0.0.1:{upstream} max_fails=0; keepalive 16; }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
{location}
{busy}
    }}
}}
"""


def nginx_binary() -> str | None:
    return shutil.which("nginx", path=f"{os.environ.get('PATH', '')}:/usr/sbin")


def nginx_config(prefix: Path, port: int, upstream: int, connections: int) -> str:
    text = (ROOT / "deploy/nginx/queue.conf").read_text(encoding="utf-8")
    found = {name: pattern.search(text) for name, pattern in SHIPPED.items()}
    if not all(found.values()):
        raise RuntimeError(f"deploy/nginx/queue.conf: no {', '.join(k for k, v in found.items() if not v)} block")
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return NGINX_CONF.format(
        prefix=prefix,
        port=port,
        upstream=upstream,
        connections=connections,
        nofile=nofile,
        edge=(ROOT / "deploy/nginx/queue-busy.conf").read_text(encoding="utf-8"),
        **{k: v[1] for k, v in found.items()},
    )


class Stack(Servers):
    """gunicorn with the project's configuration, nginx in front: `ports[0]` is nginx's."""

    def start_stack(self, nginx: str, queue_seconds: int, args) -> None:
        nginx_port, web_port = (args.port, args.port + 1) if args.port else (free_port(), free_port())
        env = {"WEB_BIND": f"127.0.0.1:{web_port}", "WEB_CONCURRENCY": str(args.workers), "WEB_THREADS": "1"}
        env["HTTP_QUEUE_SECONDS"] = str(queue_seconds)
        command = [PYTHON, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "queue_system.wsgi:application"]
        self._spawn("wsgi", command, env)
        self.prefix = prefix = self.workdir / f"nginx-{queue_seconds}"
        prefix.mkdir()
        (prefix / "nginx.conf").write_text(
            nginx_config(prefix, nginx_port, web_port, args.nginx_connections), encoding="utf-8"
        )
        self._spawn("nginx", [nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-g", "daemon off;"])
        self.ports = [nginx_port]
        self.wait_healthy([web_port, nginx_port])

    def app_lines(self, path: str) -> list[tuple[int, float]]:
        """The app's request log (a line per request it answered) for that path: status, ms."""
        text = self.logs[0].read_text(errors="replace")
        found = re.findall(rf"path={re.escape(path)} status=(\d+) duration_ms=([\d.]+)", text)
        return [(int(status), float(ms)) for status, ms in found]

    def nginx_errors(self) -> dict:
        """nginx's errors by kind: "upstream timed out ... while connecting" (2 s, gunicorn's
        listen queue full) and "... while reading response header" (60 s) are its 504s."""
        text = (self.prefix / "error.log").read_text(errors="replace")
        return dict(Counter(re.findall(r"\[error\] \d+#\d+: (?:\*\d+ )?(.*?), client:", text)))


def listen_overflows() -> int:
    """The kernel's count of connections a full listen queue turned away (the whole machine)."""
    names, values = [line.split() for line in Path("/proc/net/netstat").read_text().splitlines()[:2]]
    return int(dict(zip(names, values, strict=True)).get("ListenOverflows", 0))


async def probe(url: str, count: int) -> float:
    """Median ms of `count` requests one at a time (the cost of one, no queue)."""
    import aiohttp

    times = []
    async with aiohttp.ClientSession() as session:
        for _ in range(count):
            started = time.monotonic()
            async with session.get(url) as answer:
                await answer.read()
                if answer.status != 200:
                    raise RuntimeError(f"probe: {url} answered {answer.status}")
            times.append((time.monotonic() - started) * 1000)
    return summarize(times)["p50"]


async def overload(url: str, concurrency: int, duration: float, timeout: float, polite: bool = False) -> list[tuple]:
    """`concurrency` clients in a closed loop for `duration` s: (sent at s, status or 0, ms) each.
    `polite`: a client told 503 waits its Retry-After before the next request, as a phone should."""
    import aiohttp

    results = []
    connector = aiohttp.TCPConnector(limit=0)
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    async with aiohttp.ClientSession(connector=connector, timeout=client_timeout) as session:
        start = time.monotonic()

        async def client():
            while (sent := time.monotonic()) - start < duration:
                try:
                    async with session.get(url) as answer:
                        await answer.read()
                        status = answer.status
                        pause = float(answer.headers.get("Retry-After") or 0) if polite and status == 503 else 0
                except (TimeoutError, aiohttp.ClientError, OSError):
                    status, pause = 0, 0
                results.append((round(sent - start, 3), status, (time.monotonic() - sent) * 1000))
                await asyncio.sleep(pause)

        await asyncio.gather(*(client() for _ in range(concurrency)))
    return results


def summary(results: list[tuple], app: list[tuple[int, float]], duration: float) -> dict:
    """The clients' answers, and the app's own log lines for the same requests (status, ms)."""
    by_status, app_status = Counter(s for _, s, _ in results), Counter(s for s, _ in app)
    times = {code: [ms for _, s, ms in results if s == code] for code in (200, 503, 504)}
    worker_ms = Counter()
    for status, ms in app:
        worker_ms[status] += ms
    return {
        "requests": len(results),
        "status": {str(k or "error"): v for k, v in sorted(by_status.items())},
        "all_ms": summarize([ms for _, _, ms in results], digits=0),
        "served_ms": summarize(times[200], digits=0),
        "busy_503_ms": summarize(times[503], digits=0),
        "timeout_504_ms": summarize(times[504], digits=0),
        "served_per_s": round(by_status[200] / duration, 1),
        "app_answered": {str(k): v for k, v in sorted(app_status.items())},
        # What an answer cost the worker (the app's own duration): a 503 is what rejecting one costs.
        "worker_ms_per_answer": {str(k): round(v / app_status[k], 2) for k, v in sorted(worker_ms.items())},
        # 200s the app wrote that reached nobody: nginx had already answered 504 (or the client gave up).
        "wasted_200": max(0, app_status[200] - by_status[200]),
    }


def run_one(nginx: str, cfg, env: dict, workdir: Path, queue_seconds: int, args, log) -> dict:
    stack = Stack(cfg, env, workdir, log)
    try:
        stack.start_stack(nginx, queue_seconds, args)
        url = f"http://127.0.0.1:{stack.ports[0]}{args.path}"
        one_ms = asyncio.run(probe(url, args.probe))
        wait = args.concurrency * one_ms / args.workers / 1000
        log(
            f"HTTP_QUEUE_SECONDS={queue_seconds}: {args.path} {one_ms} ms alone, "
            f"{args.concurrency} queued ~{wait:.0f} s"
        )
        probed, load, overflows = len(stack.app_lines(args.path)), os.getloadavg()[0], listen_overflows()
        results = asyncio.run(overload(url, args.concurrency, args.duration, args.client_timeout, args.polite))
        ended = time.monotonic()
        app, last_line = drain(stack, args.path)
        out = {
            "queue_seconds": queue_seconds,
            "one_request_ms": one_ms,
            **summary(results, app[probed:], args.duration),
        }
        # nginx had given up on them, the listen queue still held them: the workers went on alone.
        out["busy_after_last_answer_s"] = round(max(0.0, last_line - ended), 1)
        out["listen_overflows"] = listen_overflows() - overflows
        out["nginx_errors"] = stack.nginx_errors()
        # A shared machine: the 1-minute load average before and after (2 cores: above 2, someone waits).
        out["load_avg"] = [round(load, 1), round(os.getloadavg()[0], 1)]
        return out
    finally:
        stack.stop()


def drain(stack: Stack, path: str, quiet: float = 2, limit: float = 180) -> tuple[list, float]:
    """The app's log lines once it has been quiet for `quiet` s (what was left queued is done),
    and when the last one came."""
    seen, last, deadline = stack.app_lines(path), time.monotonic(), time.monotonic() + limit
    while time.monotonic() - last < quiet and time.monotonic() < deadline:
        time.sleep(0.5)
        if len(now := stack.app_lines(path)) != len(seen):
            seen, last = now, time.monotonic()
    return seen, last


def table(runs: list[dict]) -> str:
    def ms(stats, key):
        return "-" if stats[key] is None else f"{stats[key] / 1000:.1f}"

    lines = [
        "| HTTP_QUEUE_SECONDS | requests | 200 | 503 | 504 | other/errors | all p50/p95/max s | "
        "200s p50/p95/max s | 503s p50/max s | 200/s | wasted 200s | busy after s | worker ms per 200/503 |",
        "|" + "---|" * 13,
    ]
    for r in runs:
        st = r["status"]
        other = r["requests"] - sum(st.get(c, 0) for c in ("200", "503", "504"))
        a, s, b, cost = r["all_ms"], r["served_ms"], r["busy_503_ms"], r["worker_ms_per_answer"]
        lines.append(
            f"| {r['queue_seconds'] or '0 (off)'} | {r['requests']} | {st.get('200', 0)} | {st.get('503', 0)} | "
            f"{st.get('504', 0)} | {other} | {ms(a, 'p50')} / {ms(a, 'p95')} / {ms(a, 'max')} | "
            f"{ms(s, 'p50')} / {ms(s, 'p95')} / {ms(s, 'max')} | {ms(b, 'p50')} / {ms(b, 'max')} | "
            f"{r['served_per_s']} | {r['wasted_200']} | {r['busy_after_last_answer_s']} | "
            f"{cost.get('200', '-')} / {cost.get('503', '-')} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.overload", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--concurrency", type=int, default=2000, help="clients at once (default 2000)")
    parser.add_argument("--duration", type=float, default=60, help="seconds of load per run (default 60)")
    parser.add_argument("--queue-seconds", default="10,0", help="HTTP_QUEUE_SECONDS values to compare (0: off)")
    parser.add_argument("--path", default="/display/", help="what every client GETs (default /display/)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers (WEB_CONCURRENCY)")
    parser.add_argument("--probe", type=int, default=30, help="requests one at a time before the load")
    parser.add_argument("--port", type=int, default=0, help="nginx's port, gunicorn's the next (default: free)")
    parser.add_argument("--nginx-connections", type=int, default=16384, help="nginx worker_connections")
    parser.add_argument("--client-timeout", type=float, default=120)
    parser.add_argument("--polite", action="store_true", help="a client told 503 waits its Retry-After")
    parser.add_argument("--mysql-url", default="mysql://root@127.0.0.1:3306/queue_overload")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--output", help="also write the results as JSON here")
    args = parser.parse_args(argv)
    nginx = nginx_binary()
    if not nginx:
        print("bench.overload skipped: nginx is not installed (Debian: apt-get install nginx-light)")
        return 0
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)  # every client's socket, nginx's two
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < 3 * args.concurrency:
        print(f"warning: ulimit -n is {hard}; {args.concurrency} clients need about {3 * args.concurrency}")
    workdir = Path(tempfile.mkdtemp(prefix="queue-overload-"))
    cfg = SimpleNamespace(
        secret_key="overload-" + os.urandom(8).hex(),
        log_level="info",
        overrides={},
        http_limit=0,
        what_if="",
        redis=True,
        redis_url=args.redis_url,
        server="gunicorn",
        layout="ports",
        database_url=lambda _w: args.mysql_url,
    )
    created = False
    runs = []
    try:
        env = {**servers.server_env(cfg, workdir), "TRUSTED_PROXIES": "127.0.0.1"}
        servers.create_mysql_database(args.mysql_url)
        created = True
        servers.flush_redis(args.redis_url)
        servers.migrate(env, print)
        for value in (int(v) for v in args.queue_seconds.split(",")):
            runs.append(run_one(nginx, cfg, env, workdir, value, args, print))
            print(json.dumps(runs[-1]))
        print(f"\n{args.concurrency} clients, {args.duration:g} s, GET {args.path}, {args.workers} sync workers\n")
        print(table(runs))
        if args.output:
            Path(args.output).write_text(json.dumps({"args": vars(args), "runs": runs}, indent=2))
    finally:
        if created:
            servers.drop_mysql_database(args.mysql_url)
            servers.flush_redis(args.redis_url)
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
