"""A cheap HTTP client for many simulated browsers: one aiohttp session, cookies kept per user.

Each simulated user (patient, staff member) has its own cookie dict and its own server port;
all of them share one keep-alive connection pool. Every request is timed and recorded with its
status and the server's `X-Bench-Queries` count.
"""

import json
import re
import secrets
import string
import time
from collections import defaultdict
from http.cookies import SimpleCookie
from pathlib import Path

import aiohttp

from .stats import summarize

CSRF_ALPHABET = string.ascii_letters + string.digits
OTP_RE = re.compile(r"(?<!\d)\d{6}(?!\d)")


def new_csrf_token() -> str:
    # Django accepts any 32-character alphanumeric secret as the csrftoken cookie, provided the
    # X-CSRFToken header repeats it (double-submit): what a browser does after its first page.
    return "".join(secrets.choice(CSRF_ALPHABET) for _ in range(32))


class User:
    __slots__ = ("cookies", "port", "meta")

    def __init__(self, port: int, cookies: dict | None = None, **meta):
        self.port = port
        self.cookies = dict(cookies or {})
        self.cookies.setdefault("csrftoken", new_csrf_token())
        self.meta = meta

    def cookie_header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    def update(self, response: aiohttp.ClientResponse) -> None:
        for header in response.headers.getall("Set-Cookie", []):
            cookie = SimpleCookie()
            cookie.load(header)
            for name, morsel in cookie.items():
                if morsel.value == "" or morsel["max-age"] == "0":
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value


class Result:
    __slots__ = ("status", "body", "error", "ms", "queries", "lock")

    def __init__(self, status=0, body=None, error=None, ms=0.0, queries=None, lock=None):
        self.status, self.body, self.error, self.ms, self.queries = status, body, error, ms, queries
        self.lock = lock  # (wait ms, hold ms) of the service row lock, from X-Bench-Lock

    @property
    def ok(self) -> bool:
        return self.error is None and 200 <= self.status < 400


class Recorder:
    """Latency, status, query count and service-lock times of every request, per endpoint."""

    def __init__(self):
        self.samples = defaultdict(list)  # endpoint -> [(ms, ok, status_or_error, queries, t_done)]
        self.locks = defaultdict(list)  # endpoint -> [(wait ms, hold ms)] of the answers that had one
        self.started = time.monotonic()

    def add(self, endpoint: str, result: Result, ms: float | None = None) -> None:
        outcome = result.status if result.error is None else result.error
        self.samples[endpoint].append(
            (result.ms if ms is None else ms, result.ok, outcome, result.queries, time.monotonic())
        )
        if result.lock is not None:
            self.locks[endpoint].append(result.lock)

    def summary(self, *, wall_s: float | None = None) -> dict:
        wall = wall_s if wall_s is not None else time.monotonic() - self.started
        out = {}
        for endpoint, rows in self.samples.items():
            ok_ms = [r[0] for r in rows if r[1]]
            errors = [r for r in rows if not r[1]]
            by_outcome = defaultdict(int)
            for r in errors:
                by_outcome[str(r[2])] += 1
            queries = [r[3] for r in rows if r[1] and r[3] is not None]
            stats = summarize(ok_ms)
            out[endpoint] = {
                "requests": len(rows),
                "errors": len(errors),
                "error_kinds": dict(by_outcome),
                # Throughput: answers that succeeded, per second of the phase.
                "rps": round((len(rows) - len(errors)) / wall, 1) if wall > 0 else None,
                **{k: stats[k] for k in ("p50", "p95", "p99", "max", "mean")},
                "queries": _query_summary(queries),
                "lock_ms": _lock_summary(self.locks.get(endpoint)),
            }
        return out


def _lock_summary(locks: list[tuple[float, float]] | None) -> dict | None:
    """How long the changes waited for their service's row lock, and held it (MariaDB only)."""
    if not locks:
        return None
    wait, hold = summarize([w for w, _h in locks]), summarize([h for _w, h in locks])
    return {
        "wait_p50": wait["p50"],
        "wait_p95": wait["p95"],
        "hold_p50": hold["p50"],
        "hold_p95": hold["p95"],
        "hold_mean": hold["mean"],
    }


def _query_summary(queries: list[int]) -> dict | None:
    if not queries:
        return None
    tenth = max(1, len(queries) // 10)
    return {
        "min": min(queries),
        "max": max(queries),
        "mean": round(sum(queries) / len(queries), 2),
        "first_10pct_mean": round(sum(queries[:tenth]) / tenth, 2),
        "last_10pct_mean": round(sum(queries[-tenth:]) / tenth, 2),
        "distinct": sorted(set(queries))[:10],
    }


class Http:
    def __init__(self, *, timeout: float = 30.0, limit: int = 512):
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=limit, limit_per_host=0, keepalive_timeout=60),
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=timeout),
        )

    async def close(self) -> None:
        await self.session.close()

    async def request(
        self, method: str, path: str, *, port: int, user: User | None = None, json_body=None, form=None
    ) -> Result:
        headers = {"Accept": "application/json"}
        if user is not None:
            headers["Cookie"] = user.cookie_header()
            if method != "GET":
                headers["X-CSRFToken"] = user.cookies.get("csrftoken", "")
        data = None
        if json_body is not None:
            data = json.dumps(json_body)
            headers["Content-Type"] = "application/json"
        elif form is not None:
            data = form
        started = time.perf_counter()
        try:
            async with self.session.request(
                method, f"http://127.0.0.1:{port}{path}", data=data, headers=headers, allow_redirects=False
            ) as response:
                raw = await response.read()
                if user is not None:
                    user.update(response)
                ms = (time.perf_counter() - started) * 1000
                queries = response.headers.get("X-Bench-Queries")
                lock = response.headers.get("X-Bench-Lock")
                body = None
                if response.content_type == "application/json":
                    try:
                        body = json.loads(raw)
                    except ValueError:
                        body = None
                else:
                    body = raw.decode("utf-8", "replace")
                return Result(
                    response.status,
                    body,
                    None,
                    ms,
                    int(queries) if queries else None,
                    tuple(float(v) for v in lock.split(",")) if lock else None,
                )
        except Exception as exc:
            return Result(0, None, type(exc).__name__, (time.perf_counter() - started) * 1000)


class SmsInbox:
    """Reads the file SMS backend's folder: first line `To: +E164`, then the body with the code."""

    def __init__(self, folder: str):
        self.folder = Path(folder)
        self.seen: set[str] = set()
        self.codes: dict[str, str] = {}

    def code_for(self, phone: str) -> str | None:
        if phone not in self.codes:
            self._scan()
        return self.codes.pop(phone, None)

    def _scan(self) -> None:
        try:
            entries = list(self.folder.iterdir())
        except FileNotFoundError:
            return
        for path in entries:
            if path.name in self.seen or path.name.startswith("."):
                continue
            self.seen.add(path.name)
            text = path.read_text(encoding="utf-8")
            first, _, body = text.partition("\n")
            match = OTP_RE.search(body)
            if first.startswith("To: ") and match:
                self.codes[first[4:].strip()] = match.group()
