"""Counts the database queries of each request into the `X-Bench-Queries` response header, and
times its hold on a service's row lock into `X-Bench-Lock` (`<wait ms>,<hold ms>`).

The lock is the rules' first statement (`SELECT … FROM queue_app_service … FOR UPDATE`): its
duration is the wait for the lock, and from its end to the commit the lock is held, so the hold
includes every statement and every bit of Python of the transaction, and any wait for the GIL or
a core in between. A request that takes no lock, or whose transaction rolls back, sends no
`X-Bench-Lock`. A rule that locks two services (a ticket moved to another service, a counter
taken over across services) counts the second wait in both figures. The write floor's lock on its
day's sequence row (`bench.minimal`) is timed the same way.

With BENCH_LOG_SQL=<file> in the server's environment it also appends every statement to that
file (`path<TAB>sql`), to see what a request's queries are (profiling, not measuring).
"""

import os
import time

from django.db import connection, transaction

SQL_LOG = os.environ.get("BENCH_LOG_SQL")
LOCKED_TABLES = ("FROM `queue_app_service`", "FROM `bench_minimal_sequence`")


class QueryCountMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        count = 0
        statements = []
        lock = {"wait": 0.0, "held_from": None, "hold": None}

        def committed():
            lock["hold"] = time.perf_counter() - lock["held_from"]

        def counting(execute, sql, params, many, context):
            nonlocal count
            count += 1
            if SQL_LOG:
                statements.append(f"{request.path}\t{' '.join(sql.split())[:300]}\n")
            if not sql.endswith("FOR UPDATE") or not any(table in sql for table in LOCKED_TABLES):
                return execute(sql, params, many, context)
            started = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                lock["wait"] += time.perf_counter() - started
                if lock["held_from"] is None:
                    lock["held_from"] = time.perf_counter()
                    transaction.on_commit(committed)

        with connection.execute_wrapper(counting):
            response = self.get_response(request)
        response["X-Bench-Queries"] = str(count)
        if lock["hold"] is not None:
            response["X-Bench-Lock"] = f"{lock['wait'] * 1000:.2f},{lock['hold'] * 1000:.2f}"
        if SQL_LOG and statements:
            with open(SQL_LOG, "a") as log:
                log.write("".join([f"{request.path}\t--- {count} queries\n", *statements]))
        return response
