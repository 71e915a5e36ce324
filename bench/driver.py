"""The HTTP driver: every request the simulated patients, counter staff and pollers make.

Closed-loop phases (k clients each waiting for its answer) measure latency and the server's
capacity; the sustained phase is open-loop: requests leave at their scheduled times whatever the
server does, and latency is measured from the scheduled time, so a stalled server shows up as
latency instead of hiding behind a client that slowed down with it (coordinated omission).
"""

import asyncio
import itertools
import time

from .client import Http, Recorder, Result, SmsInbox, User
from .stats import summarize
from .worker import Worker

FLOOR = "/bench/floor/"
FLOOR_WRITE = "/bench/floor/write/{lane}/"


class CounterState:
    __slots__ = ("id", "service_id", "user", "serving", "inflight", "on_break")

    def __init__(self, counter_id: int, service_id: int, user: User):
        self.id, self.service_id, self.user = counter_id, service_id, user
        self.serving = False
        self.inflight = 0
        self.on_break = False


class Driver(Worker):
    async def setup(self) -> None:
        cfg = self.config
        self.ports = cfg["ports"]
        self.http = Http(timeout=cfg.get("timeout", 30.0), limit=cfg.get("connections", 512))
        self.inbox = SmsInbox(cfg["sms_folder"])
        self.pool = iter(cfg["pool"])  # [(session_key, service_id)] made in the database by the orchestrator
        self.pool_used = 0
        self.counters: list[CounterState] = []
        self.port_cycle = itertools.cycle(self.ports)
        self.only_port: int | None = None  # a closed loop aimed at another server (the WSGI floor)

    async def teardown(self) -> None:
        await self.http.close()

    def _port(self) -> int:
        return self.only_port or next(self.port_cycle)

    # --- set-up steps ------------------------------------------------------------------------

    async def cmd_login_counters(self, counters: list[dict], concurrency: int = 2) -> dict:
        """Each counter's staff member: GET the login form (CSRF cookie), POST it, keep the session."""
        rec = Recorder()
        semaphore = asyncio.Semaphore(concurrency)

        async def login(spec):
            async with semaphore:
                user = User(spec["port"])
                user.cookies.pop("csrftoken")
                page = await self.http.request("GET", "/staff/login/", port=user.port, user=user)
                rec.add("staff_login_page", page)
                token = user.cookies.get("csrftoken", "")
                form = {
                    "username": spec["username"],
                    "password": spec["password"],
                    "counter": str(spec["id"]),
                    "csrfmiddlewaretoken": token,
                }
                result = await self.http.request("POST", "/staff/login/", port=user.port, user=user, form=form)
                if result.status != 302:
                    result.error = result.error or f"login_status_{result.status}"
                rec.add("staff_login", result)
                return CounterState(spec["id"], spec["service_id"], user), result.ok

        done = await asyncio.gather(*(login(spec) for spec in counters))
        self.counters = [state for state, ok in done if ok]
        return {
            "endpoints": rec.summary(),
            "counters": [{"id": c.id, "port": c.user.port, "cookie": c.user.cookie_header()} for c in self.counters],
        }

    async def cmd_patients(self, count: int, first: int, service_ids: list[int], concurrency: int = 16) -> dict:
        """P patients: send_otp, read the code from the SMS file, verify_otp, join."""
        rec = Recorder()
        semaphore = asyncio.Semaphore(concurrency)

        async def patient(i):
            async with semaphore:
                user = User(self.ports[i % len(self.ports)])
                phone = f"+9199{i:08d}"
                sent = await self.http.request(
                    "POST", "/send_otp/", port=user.port, user=user, json_body={"phone": phone, "name": f"Patient {i}"}
                )
                rec.add("send_otp", sent)
                if not sent.ok:
                    return None
                code = None
                for _ in range(50):
                    code = self.inbox.code_for(phone)
                    if code:
                        break
                    await asyncio.sleep(0.02)
                if code is None:
                    rec.add("verify_otp", Result(error="no_sms_file"))
                    return None
                verified = await self.http.request(
                    "POST", "/verify_otp/", port=user.port, user=user, json_body={"phone": phone, "otp": code}
                )
                rec.add("verify_otp", verified)
                if not verified.ok:
                    return None
                service_id = service_ids[i % len(service_ids)]
                joined = await self.http.request(
                    "POST", "/queue/join/", port=user.port, user=user, json_body={"service_id": service_id}
                )
                if joined.ok and joined.status != 201:
                    joined.error = f"join_status_{joined.status}"
                rec.add("join", joined)
                if not joined.ok:
                    return None
                ticket = joined.body["ticket"]
                return {
                    "ticket_id": ticket["id"],
                    "queue_id": ticket["queue_id"],
                    "service_id": ticket.get("service_id", service_id),
                    "port": user.port,
                    "cookie": user.cookie_header(),
                }

        started = time.monotonic()
        results = await asyncio.gather(*(patient(i) for i in range(first, first + count)))
        return {
            "endpoints": rec.summary(wall_s=time.monotonic() - started),
            "patients": [r for r in results if r is not None],
        }

    # --- requests ----------------------------------------------------------------------------

    async def _request(self, endpoint: str, index: int) -> Result:
        if endpoint in ("floor", "floor_wsgi"):
            return await self.http.request("GET", FLOOR, port=self._port())
        if endpoint == "floor_write":
            lane = index % self.config.get("lanes", 1)
            result = await self.http.request("POST", FLOOR_WRITE.format(lane=lane), port=self._port(), json_body={})
            if result.ok and result.status != 201:
                result.error = f"floor_write_status_{result.status}"
            return result
        if endpoint == "display_data":
            return await self.http.request("GET", "/display/screen/data/", port=self._port())
        if endpoint == "get_queue_data":
            counter = self.counters[index % len(self.counters)]
            return await self.http.request("GET", "/staff/get_queue_data/", port=counter.user.port, user=counter.user)
        if endpoint == "join":
            return await self._join()
        if endpoint in ("serve_next", "skip"):
            return await self._act(self.counters[index % len(self.counters)], endpoint)
        raise ValueError(endpoint)

    async def _join(self) -> Result:
        try:
            session_key, service_id = next(self.pool)
        except StopIteration:
            return Result(error="pool_exhausted")
        self.pool_used += 1
        user = User(self.ports[self.pool_used % len(self.ports)], {self.config["session_cookie"]: session_key})
        result = await self.http.request(
            "POST", "/queue/join/", port=user.port, user=user, json_body={"service_id": service_id}
        )
        if result.ok and result.status != 201:
            result.error = f"join_status_{result.status}"
        return result

    async def _act(self, counter: CounterState, action: str) -> Result:
        path = {"serve_next": "/staff/serve_next/", "skip": "/staff/skip_patient/"}[action]
        counter.inflight += 1
        try:
            result = await self.http.request("POST", path, port=counter.user.port, user=counter.user, json_body={})
        finally:
            counter.inflight -= 1
        if result.ok and isinstance(result.body, dict):
            counter.serving = result.body.get("serving_patient") is not None
        return result

    async def _set_status(self, counter: CounterState, status: str) -> Result:
        counter.inflight += 1
        try:
            return await self.http.request(
                "POST", "/staff/update_status/", port=counter.user.port, user=counter.user, json_body={"status": status}
            )
        finally:
            counter.inflight -= 1

    # --- closed-loop phases ------------------------------------------------------------------

    async def _closed_loop(self, endpoint: str, concurrency: int, requests: int, max_seconds: float) -> dict:
        rec = Recorder()
        issued = 0
        deadline = time.monotonic() + max_seconds

        async def client():
            nonlocal issued
            while issued < requests and time.monotonic() < deadline:
                index = issued
                issued += 1
                rec.add(endpoint, await self._request(endpoint, index))

        started = time.monotonic()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        summary = rec.summary(wall_s=time.monotonic() - started).get(endpoint, {})
        summary["concurrency"] = concurrency
        return summary

    async def cmd_closed_loop(
        self, endpoints: list[str], levels: list[int], requests: int, max_seconds: float = 60, port: int | None = None
    ) -> dict:
        """Each endpoint at each concurrency level, one after another: {endpoint: {"c1": …, "c8": …}}.
        `port`: every request to that server (the bare WSGI floor), not the product's."""
        out = {}
        self.only_port = port
        try:
            for endpoint in endpoints:
                out[endpoint] = {}
                for level in levels:
                    out[endpoint][f"c{level}"] = await self._closed_loop(endpoint, level, requests, max_seconds)
        finally:
            self.only_port = None
        return out

    async def cmd_fanout(self, events: int, interval: float) -> dict:
        """One serve_next every `interval` seconds, nothing else: each call is one event per group."""
        rec = Recorder()
        loop = asyncio.get_running_loop()
        start = loop.time() + 0.1
        for i in range(events):
            await asyncio.sleep(max(0.0, start + i * interval - loop.time()))
            rec.add("serve_next", await self._act(self.counters[i % len(self.counters)], "serve_next"))
        return {"endpoints": rec.summary()}

    # --- the open-loop phases ----------------------------------------------------------------

    async def cmd_open_loop(self, endpoint: str, rate: float, duration: float, max_inflight: int = 2000) -> dict:
        """One endpoint at a steady rate for `duration` s, latency from each request's scheduled time."""
        loop = asyncio.get_running_loop()
        rec = Recorder()
        t0 = loop.time() + 0.2

        async def fire(index: int, scheduled: float) -> None:
            rec.add(endpoint, await self._request(endpoint, index), ms=(loop.time() - scheduled) * 1000)

        await _open_loop(
            [(t0 + i / rate, i) for i in range(int(duration * rate))],
            fire,
            lambda _index: rec.add(endpoint, Result(error="client_overload")),
            max_inflight,
        )
        wall = loop.time() - t0
        return {"endpoints": rec.summary(wall_s=wall), "offered_rates": {endpoint: rate}, "wall_s": round(wall, 2)}

    async def cmd_sustained(
        self,
        duration: float,
        join_rate: float,
        serve_rate: float,
        skip_every: int = 10,
        break_every: float = 10.0,
        break_seconds: float = 1.0,
        queue_poll_rate: float = 2.0,
        display_poll_rate: float = 2.0,
        max_inflight: int = 2000,
    ) -> dict:
        loop = asyncio.get_running_loop()
        rec, service_rec = Recorder(), Recorder()
        t0 = loop.time() + 0.2
        t_end = t0 + duration
        schedule = []
        for kind, rate, offset in (
            ("join", join_rate, 0.0),
            ("serve", serve_rate, 0.5),
            ("get_queue_data", queue_poll_rate, 0.25),
            ("display_data", display_poll_rate, 0.75),
        ):
            if rate > 0:
                schedule += [(t0 + (i + offset) / rate, kind) for i in range(int(duration * rate))]
        schedule.sort()
        serve_slot = itertools.count()
        rotation = itertools.count()

        def pick_counter() -> CounterState | None:
            candidates = [c for c in self.counters if not c.on_break]
            return candidates[next(rotation) % len(candidates)] if candidates else None

        async def fire(kind: str, scheduled: float) -> None:
            if kind == "serve":
                counter = pick_counter()
                if counter is None:
                    rec.add("serve_next", Result(error="no_counter_open"))
                    return
                slot = next(serve_slot)
                action = "serve_next"
                if skip_every and slot % skip_every == skip_every - 1 and counter.serving and not counter.inflight:
                    action = "skip"
                result = await self._act(counter, action)
                kind = action
            elif kind == "join":
                result = await self._join()
            elif kind == "get_queue_data":
                result = await self._request("get_queue_data", next(rotation))
            else:
                result = await self._request("display_data", 0)
            rec.add(kind, result, ms=(loop.time() - scheduled) * 1000)
            service_rec.add(kind, result)

        async def breaks() -> None:
            if len(self.counters) < 2 or break_every <= 0:
                return
            for k in itertools.count():
                moment = t0 + (k + 1) * break_every
                if moment + break_seconds + 0.5 > t_end:
                    return
                await asyncio.sleep(max(0.0, moment - loop.time()))
                counter = self.counters[k % len(self.counters)]
                counter.on_break = True  # out of the serve rotation before it goes on break
                while counter.inflight:
                    await asyncio.sleep(0.005)
                scheduled = loop.time()
                result = await self._set_status(counter, "break")
                rec.add("update_status", result, ms=(loop.time() - scheduled) * 1000)
                service_rec.add("update_status", result)
                await asyncio.sleep(break_seconds)
                scheduled = loop.time()
                result = await self._set_status(counter, "available")
                rec.add("update_status", result, ms=(loop.time() - scheduled) * 1000)
                service_rec.add("update_status", result)
                counter.on_break = False

        breaker = asyncio.create_task(breaks())
        lag = await _open_loop(
            schedule,
            fire,
            lambda kind: rec.add(kind if kind != "serve" else "serve_next", Result(error="client_overload")),
            max_inflight,
        )
        await breaker
        wall = loop.time() - t0
        service = service_rec.summary(wall_s=wall)
        endpoints = rec.summary(wall_s=wall)
        for name, stats in endpoints.items():
            stats["service_time"] = {k: service[name][k] for k in ("p50", "p95", "p99")}
        return {
            "endpoints": endpoints,
            "timeline": _timeline(rec, t0, duration),
            "offered_rates": {
                "join": join_rate,
                "serve": serve_rate,
                "get_queue_data": queue_poll_rate,
                "display_data": display_poll_rate,
            },
            "scheduler_lag_ms": summarize(lag),
            "wall_s": round(wall, 2),
            "pool_used": self.pool_used,
        }


async def _open_loop(schedule, fire, overloaded, max_inflight: int) -> list[float]:
    """Start `fire(item, scheduled)` at each `(scheduled, item)` loop time, whatever the server
    does (open loop); with `max_inflight` requests already waiting, `overloaded(item)` instead.
    Returns once every request has finished, with how late the scheduler started each (ms)."""
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task] = set()
    lag = []
    for scheduled, item in schedule:
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        lag.append((loop.time() - scheduled) * 1000)
        if len(tasks) >= max_inflight:
            overloaded(item)
            continue
        task = asyncio.create_task(fire(item, scheduled))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.gather(*tasks)
    return lag


def _timeline(rec: Recorder, t0: float, duration: float, slices: int = 6) -> dict:
    """p50/p95 of joins and calls per slice of the phase: does latency grow with the queue?"""
    width = duration / slices
    out = {}
    for endpoint in ("join", "serve_next"):
        buckets = [[] for _ in range(slices)]
        for ms, ok, _outcome, _queries, done in rec.samples.get(endpoint, []):
            if ok:
                scheduled = done - ms / 1000 - t0
                buckets[min(slices - 1, max(0, int(scheduled // width)))].append(ms)
        out[endpoint] = [
            {"from_s": round(i * width, 1), "p50": summarize(b)["p50"], "p95": summarize(b)["p95"], "n": len(b)}
            for i, b in enumerate(buckets)
        ]
    return out
