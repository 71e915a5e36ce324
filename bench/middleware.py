"""Counts the database queries of each request into the `X-Bench-Queries` response header.

With BENCH_LOG_SQL=<file> in the server's environment it also appends every statement to that
file (`path<TAB>sql`), to see what a request's queries are (profiling, not measuring).
"""

import os

from django.db import connection

SQL_LOG = os.environ.get("BENCH_LOG_SQL")


class QueryCountMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        count = 0
        statements = []

        def counting(execute, sql, params, many, context):
            nonlocal count
            count += 1
            if SQL_LOG:
                statements.append(f"{request.path}\t{' '.join(sql.split())[:300]}\n")
            return execute(sql, params, many, context)

        with connection.execute_wrapper(counting):
            response = self.get_response(request)
        response["X-Bench-Queries"] = str(count)
        if SQL_LOG and statements:
            with open(SQL_LOG, "a") as log:
                log.write("".join([f"{request.path}\t--- {count} queries\n", *statements]))
        return response
