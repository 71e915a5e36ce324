"""What building SQL costs: the process CPU Django spends compiling each statement
(`SQLCompiler.as_sql` and the insert, update and delete compilers), by statement.

    with SqlCost() as cost:
        services.serve_next(...)
    cost.statements(per=1)   # [{"sql": "SELECT ...", "compiles": 1.0, "ms": 0.61}, ...], costliest first

A subquery's compile (an EXISTS, an IN (SELECT ...)) counts in the statement that contains it.
Only the thread that entered counts: the process's other threads (the text sender, the event
loop) compile their own statements meanwhile.
Building the querysets (filter, annotate) and turning rows into objects are not in it: the
compile alone is what a compiled-query cache or raw SQL would save first.
"""

import threading
import time
from collections import defaultdict

from django.db.models.sql import compiler

COMPILERS = (
    compiler.SQLCompiler,
    compiler.SQLInsertCompiler,
    compiler.SQLUpdateCompiler,
    compiler.SQLDeleteCompiler,
    compiler.SQLAggregateCompiler,
)
SQL_SHOWN = 140  # characters of each statement in the report


class SqlCost:
    def __init__(self):
        self.ns: dict[str, int] = defaultdict(int)
        self.compiles: dict[str, int] = defaultdict(int)
        self._depth = 0
        self._originals = {}
        self._thread = None

    def __enter__(self):
        self._thread = threading.get_ident()
        self._originals = {cls: cls.__dict__["as_sql"] for cls in COMPILERS}
        for cls, original in self._originals.items():
            cls.as_sql = self._timed(original)
        return self

    def __exit__(self, *exc):
        for cls, original in self._originals.items():
            cls.as_sql = original

    def _timed(self, original):
        def as_sql(sql_compiler, *args, **kwargs):
            if threading.get_ident() != self._thread:
                return original(sql_compiler, *args, **kwargs)
            self._depth += 1
            started = time.thread_time_ns()
            try:
                result = original(sql_compiler, *args, **kwargs)
            finally:
                self._depth -= 1
            if self._depth == 0:  # the outermost compile: its subqueries are in its time
                key = statement(result)
                self.ns[key] += time.thread_time_ns() - started
                self.compiles[key] += 1
            return result

        return as_sql

    def total_ms(self, *, per: int = 1) -> float:
        return round(sum(self.ns.values()) / per / 1e6, 3)

    def statements(self, *, per: int = 1, top: int = 10) -> list[dict]:
        """The costliest statements, per operation when `per` operations ran."""
        ranked = sorted(self.ns, key=self.ns.get, reverse=True)[:top]
        return [
            {"sql": key, "compiles": round(self.compiles[key] / per, 2), "ms": round(self.ns[key] / per / 1e6, 3)}
            for key in ranked
        ]


def statement(compiled) -> str:
    """A compiled statement, (sql, params) or the insert compiler's list of them, as the report
    names it: a SELECT's column list is left out, so the tables and conditions tell reads apart."""
    sql = " ".join(str(compiled[0][0] if isinstance(compiled, list) else compiled[0]).split())
    if sql.startswith("SELECT "):
        depth = 0
        for i, char in enumerate(sql):
            depth += {"(": 1, ")": -1}.get(char, 0)
            if depth == 0 and sql.startswith(" FROM ", i):
                sql = "SELECT … " + sql[i + 1 :]
                break
    return sql[:SQL_SHOWN]
