"""How join and serve_next cost grows with the queue: in-process, no server, no network.

    .venv/bin/python -m bench.scaling [--db sqlite|mysql] [--sizes 0,300,1000,3000] [--ops 30] [--sql-cost]

For each queue size it fills the service's waiting queue to that size (through services.join),
then times `--ops` joins and `--ops` serve_next calls (wall time, and the CPU of the thread running
them: the text sender's thread is not in it), counts their queries and measures the event
payloads they publish (bytes per change, summed over groups). It is the evidence for "per-request
query count constant" and shows what grows instead: rows read and bytes built. `--sql-cost` adds
the CPU Django spends compiling each statement (bench.sql_cost).
"""

import argparse
import json
import os
import shutil
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from types import SimpleNamespace

from .servers import create_mysql_database, drop_mysql_database, migrate, server_env
from .stats import summarize


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scaling", description=__doc__)
    parser.add_argument("--db", choices=("sqlite", "mysql"), default="sqlite")
    parser.add_argument("--mysql-url", default="mysql://root@127.0.0.1:3306/queue_bench")
    parser.add_argument("--sizes", default="0,300,1000,3000")
    parser.add_argument("--ops", type=int, default=30)
    parser.add_argument("--counters", type=int, default=4)
    parser.add_argument("--sql-cost", action="store_true", help="the CPU spent compiling each statement")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    workdir = Path(tempfile.mkdtemp(prefix="queue-scaling-"))
    cfg = SimpleNamespace(
        secret_key="scaling-" + os.urandom(8).hex(),
        log_level="warning",
        redis=False,
        overrides={},
        http_limit=0,
        what_if="",
        database_url=lambda w: args.mysql_url if args.db == "mysql" else f"sqlite:///{w / 'scaling.sqlite3'}",
    )
    created = False
    try:
        env = server_env(cfg, workdir)
        if args.db == "mysql":
            create_mysql_database(args.mysql_url)
            created = True
        migrate(env, lambda message: None)
        os.environ.update(env)
        os.environ.pop("REDIS_URL", None)
        import django

        django.setup()
        print(json.dumps(_measure(sizes, args.ops, args.counters, sql_cost=args.sql_cost), indent=2))
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


def _measure(sizes: list[int], ops: int, counter_count: int, *, sql_cost: bool = False) -> list[dict]:
    from datetime import time as clock

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from queue_app import events, services
    from queue_app.models import Counter, Patient, Service, Staff

    from .sql_cost import SqlCost

    sent = []
    events.send = lambda messages, positions_of=(): sent.append(
        sum(len(json.dumps(p, default=str)) for _g, p in messages)
    )
    service = Service.objects.create(service_name="Scaling", week_days=127)
    counters = []
    for i in range(counter_count):
        staff = Staff.objects.create(username=f"scale{i}", role=Staff.Role.OPERATOR)
        counter = Counter.objects.create(
            counter_name=f"C{i}", service=service, start_time=clock(0, 0), end_time=clock(23, 59, 59, 999999)
        )
        counters.append(services.hold_counter(counter=counter, staff=staff))
    patients = iter(
        Patient.objects.bulk_create(
            [Patient(phone=f"+9197{i:08d}", name=f"P{i}") for i in range(max(sizes) + ops * (len(sizes) + 1) + 10)],
            batch_size=1000,
        )
    )
    results = []
    waiting = 0
    for size in sizes:
        while waiting < size:
            services.join(patient=next(patients), service=service)
            waiting += 1
        row = {"waiting": size}
        for name, action in (
            ("join", lambda i: services.join(patient=next(patients), service=service)),
            ("serve_next", lambda i: services.serve_next(counter=counters[i % len(counters)], by=None)),
        ):
            times, queries, cpu_ns = [], [], 0
            sent.clear()
            with SqlCost() if sql_cost else nullcontext() as cost:
                for i in range(ops):
                    with CaptureQueriesContext(connection) as captured:
                        started, cpu_started = time.perf_counter(), time.thread_time_ns()
                        action(i)
                        times.append((time.perf_counter() - started) * 1000)
                        cpu_ns += time.thread_time_ns() - cpu_started
                    queries.append(len(captured))
            row[name] = {
                "ms": summarize(times),
                "cpu_ms_per_op": round(cpu_ns / ops / 1e6, 3),
                "queries": sorted(set(queries)),
                "event_bytes_per_change": round(sum(sent) / max(1, len(sent))),
            }
            if cost is not None:
                row[name]["sql_compile"] = {"ms_per_op": cost.total_ms(per=ops), "statements": cost.statements(per=ops)}
        # joins added `ops`, serve_next removed `ops`: the queue is back to `size`
        results.append(row)
    return results


if __name__ == "__main__":
    raise SystemExit(main())
