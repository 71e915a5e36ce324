"""The reports on a year of a busy clinic: in-process, no server, no network.

    .venv/bin/python -m bench.reports [--db sqlite|mysql] [--days 365] [--per-day 600] [--requests 40]

Seeds `--days` past days of `--per-day` tickets over two services (OPD and Test, six counters),
each ticket with its history rows (joined, called, and how it ended), plus a busy morning today,
all through bulk_create. Then times, through Django's test client (the whole middleware stack,
the bench's query counter included): the live overview fragment, the page with a 30-day report,
and the one-year CSV exports, streamed to the end. Prints one JSON document.
"""

import argparse
import json
import os
import random
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

from .servers import create_mysql_database, drop_mysql_database, migrate, server_env
from .stats import summarize

SERVICES = (("OPD", 4, 0.7), ("Test", 2, 0.3))  # name, counters, share of the day's patients
# Arrivals by hour of the day (a morning rush, a quieter afternoon).
HOURS = {8: 8, 9: 16, 10: 18, 11: 14, 12: 10, 13: 7, 14: 9, 15: 8, 16: 6, 17: 4}
OUTCOMES = (("served", 0.86), ("skipped", 0.07), ("cancelled", 0.04), ("expired", 0.03))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reports", description=__doc__)
    parser.add_argument("--db", choices=("sqlite", "mysql"), default="sqlite")
    parser.add_argument("--mysql-url", default="mysql://root@127.0.0.1:3306/queue_bench")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--per-day", type=int, default=600)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--exports", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the MariaDB database for --reuse")
    parser.add_argument("--reuse", action="store_true", help="measure a database kept by --keep, no seeding")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="queue-reports-"))
    cfg = SimpleNamespace(
        secret_key="reports-" + os.urandom(8).hex(),
        log_level="warning",
        redis=False,
        overrides={},
        http_limit=0,
        what_if="",
        database_url=lambda w: args.mysql_url if args.db == "mysql" else f"sqlite:///{w / 'reports.sqlite3'}",
    )
    created = False
    try:
        env = server_env(cfg, workdir)
        if args.db == "mysql" and not args.reuse:
            create_mysql_database(args.mysql_url)
            created = not args.keep
        if not args.reuse:
            migrate(env, lambda message: None)
        os.environ.update(env)
        os.environ.pop("REDIS_URL", None)
        import django

        django.setup()
        started = time.perf_counter()
        if args.reuse:
            from queue_app.models import QueueHistory, Ticket

            seeded = {"tickets": Ticket.objects.count(), "history_rows": QueueHistory.objects.count(), "reused": True}
        else:
            seeded = seed_history(days=args.days, per_day=args.per_day)
        seeded["seconds"] = round(time.perf_counter() - started, 1)
        result = {"db": args.db, "seeded": seeded, **measure(requests=args.requests, exports=args.exports)}
        print(json.dumps(result, indent=2))
    finally:
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # Django never got set up
            pass
        if created:
            drop_mysql_database(args.mysql_url)
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def _pick(weighted, rng):
    return rng.choices([k for k, _w in weighted], weights=[w for _k, w in weighted])[0]


def seed_history(*, days: int, per_day: int, seed: int = 22, batch: int = 5000) -> dict:
    """`days` past days of `per_day` tickets with their history, and today's morning so far
    (a third of a day: most served, some waiting, one called per counter). Bulk inserts only."""
    from datetime import time as clock

    from django.utils import timezone

    from queue_app import services
    from queue_app.models import Counter, Patient, QueueHistory, Service, Staff, Ticket

    rng = random.Random(seed)
    today = timezone.localdate()
    zone = timezone.get_current_timezone()
    patients = Patient.objects.bulk_create(
        [Patient(phone=f"+9196{i:08d}", name=f"Patient {i}") for i in range(2000)], batch_size=batch
    )
    desks = []  # (service, share, [(counter, staff)])
    for name, count, share in SERVICES:
        service = Service.objects.create(service_name=name, wait_alert_minutes=45)
        pairs = []
        for i in range(count):
            staff = Staff.objects.create(username=f"{name.lower()}{i + 1}", role=Staff.Role.OPERATOR)
            counter = Counter.objects.create(
                counter_name=f"{name} {i + 1}", service=service, start_time=clock(0), end_time=clock(23, 59, 59)
            )
            pairs.append((counter, staff))
        desks.append((service, share, pairs))
    History = QueueHistory.Action
    tickets, rows = 0, 0
    for offset in range(days, -1, -1):
        day = today - timedelta(days=offset)
        is_today = offset == 0
        made, history = [], []
        for service, share, pairs in desks:
            count = round(per_day * share / (3 if is_today else 1))
            stamps = sorted(
                datetime(day.year, day.month, day.day, _pick(HOURS.items(), rng), rng.randrange(60), tzinfo=zone)
                + timedelta(seconds=rng.randrange(60))
                for _ in range(count)
            )
            for number, joined in enumerate(stamps, start=1):
                counter, staff = pairs[rng.randrange(len(pairs))]
                status = _pick(OUTCOMES, rng)
                if is_today and number > count - 30:
                    status = "waiting"
                wait = timedelta(seconds=min(7200, rng.expovariate(1 / 900)))
                serve = timedelta(seconds=max(30, rng.lognormvariate(5.6, 0.5)))
                called = joined + wait if status in ("served", "skipped") else None
                finished = {"served": called and called + serve, "skipped": called and called + timedelta(seconds=90)}
                finished = finished.get(status) or (joined + wait if status in ("cancelled", "expired") else None)
                # The estimate shown at joining: the wait give or take a couple of minutes.
                estimate = max(0, round(wait.total_seconds() / 60 + rng.gauss(0, 2)))
                ticket = Ticket(
                    queue_id=f"{service.code}_{number:03d}_{rng.randrange(10000):04d}",
                    number=number,
                    service_date=day,
                    service=service,
                    patient=patients[rng.randrange(len(patients))],
                    patient_name="Patient",
                    counter=counter,
                    status=status,
                    joined_at=joined,
                    called_at=called,
                    first_called_at=called,
                    finished_at=finished,
                    called_by=staff if called else None,
                    estimated_wait_at_join=estimate,
                )
                made.append(ticket)
        Ticket.objects.bulk_create(made, batch_size=batch)
        # Read the day back for the ids: not every database returns them from a bulk insert.
        saved = list(
            Ticket.objects.filter(service_date=day).values_list("id", "counter_id", "status", "joined_at", "called_at")
        )
        for ticket_id, counter_id, status, joined, called in saved:
            history.append(QueueHistory(ticket_id=ticket_id, counter_id=counter_id, action=History.JOINED, at=joined))
            if called:
                history.append(
                    QueueHistory(ticket_id=ticket_id, counter_id=counter_id, action=History.CALLED, at=called)
                )
            if status != "waiting":
                history.append(
                    QueueHistory(ticket_id=ticket_id, counter_id=counter_id, action=status, at=called or joined)
                )
        QueueHistory.objects.bulk_create(history, batch_size=batch)
        tickets += len(made)
        rows += len(history)
    # Today: every counter held and serving someone, so the overview has all it shows.
    for _service, _share, pairs in desks:
        for counter, staff in pairs:
            services.hold_counter(counter=counter, staff=staff)
            services.serve_next(counter=counter, by=staff)
    return {"days": days, "tickets": Ticket.objects.count(), "history_rows": QueueHistory.objects.count()}


def _timed(client, url: str, count: int) -> dict:
    """Wall-clock and this process's CPU per request: on a machine shared with other work the
    first includes waiting for a core, the second does not (MariaDB's own time is in neither)."""
    times, cpu, queries = [], [], set()
    for _ in range(count):
        started, started_cpu = time.perf_counter(), time.process_time()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
        assert response.status_code == 200, (url, response.status_code)
        queries.add(int(response.headers.get("X-Bench-Queries", "-1")))
    return {"url": url, "ms": summarize(times), "cpu_ms": summarize(cpu), "queries": sorted(queries)}


def _export(client, url: str, count: int) -> dict:
    runs = []
    for _ in range(count):
        started, started_cpu = time.perf_counter(), time.process_time()
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        lines = sum(chunk.count(b"\n") for chunk in response.streaming_content) - 1
        seconds, cpu = time.perf_counter() - started, time.process_time() - started_cpu
        runs.append(
            {"rows": lines, "seconds": round(seconds, 2), "rows_per_s": round(lines / seconds), "cpu_s": round(cpu, 2)}
        )
    return {"url": url, "runs": runs, "best_rows_per_s": max(r["rows_per_s"] for r in runs)}


def measure(*, requests: int, exports: int) -> dict:
    from django.test import Client
    from django.utils import timezone

    from queue_app.models import Staff

    manager, _created = Staff.objects.get_or_create(username="bench-manager", role=Staff.Role.MANAGER)
    client = Client(SERVER_NAME="localhost")
    client.force_login(manager)
    today = timezone.localdate()
    month = f"date_from={(today - timedelta(days=29)).isoformat()}&date_to={today.isoformat()}"
    year = f"date_from={(today - timedelta(days=364)).isoformat()}&date_to={today.isoformat()}"
    _timed(client, "/reports/overview/", 2)  # warm-up: templates, connections
    return {
        "loadavg_before": os.getloadavg(),
        "overview": _timed(client, "/reports/overview/", requests),
        "report_30_days": _timed(client, f"/reports/?{month}", requests),
        "tickets_csv_year": _export(client, f"/reports/tickets.csv?{year}", exports),
        "summary_csv_year": _export(client, f"/reports/summary.csv?{year}", exports),
        "loadavg_after": os.getloadavg(),
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


if __name__ == "__main__":
    raise SystemExit(main())
