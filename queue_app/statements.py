"""Reads every queue change makes with the same values all day (the service's locked row, its
counters, its line): Django builds and compiles each once per thread, and later changes run the
remembered SQL. Building and compiling a statement costs about as much CPU as running it, and a
change runs under its service's lock (bench/README.md, "Remembered statements").

    @remembered
    def _called_numbers(service_id: int, day):
        return Ticket.objects.of_day(day).called().filter(service_id=service_id).values_list(...)

    serving = dict(_called_numbers(service.pk, service_day()))   # a list, as list(queryset) gives

The queryset a function builds must depend on its arguments alone (hashable values: ids, a
date, flags), never on the clock or on settings: the arguments are the key its SQL is kept
under. What it returns is evaluated at once, never chained further.
"""

import functools
import threading
from collections import OrderedDict

from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.transaction import TransactionManagementError

KEPT = 128  # statements kept per thread: a few a service and counter, for today and yesterday
_local = threading.local()


def remembered(build):
    """Decorate a function that builds a queryset: calling it returns the queryset's rows, its SQL
    compiled once per thread and arguments."""

    @functools.wraps(build)
    def read(*args, **kwargs):
        kept = _kept()
        key = (build, args, tuple(sorted(kwargs.items())))
        queryset = kept.get(key)
        if queryset is None or queryset.connection is not connections[queryset.db]:
            queryset = kept[key] = _compiled(build(*args, **kwargs))
            if len(kept) > KEPT:
                kept.popitem(last=False)
        else:
            kept.move_to_end(key)
        if queryset.compiled is None:
            return []  # no row can match (an empty IN list, an id out of range), as Django finds
        connection = queryset.connection
        if queryset.query.select_for_update and connection.features.has_select_for_update:
            # Django's compiler asks this as it compiles; a remembered statement asks it here.
            if connection.get_autocommit():
                raise TransactionManagementError("select_for_update cannot be used outside of a transaction.")
        return list(queryset._chain())

    return read


def _kept() -> OrderedDict:
    if not hasattr(_local, "kept"):
        _local.kept = OrderedDict()
    return _local.kept


def _compiled(queryset):
    """The queryset, its compiler set up and its SQL compiled once: each evaluation of a copy
    runs that SQL (the copies share the compiler, whose state is its select list)."""
    compiler = queryset.query.get_compiler(using=queryset.db)
    queryset.connection = compiler.connection
    try:
        sql = compiler.as_sql()
    except EmptyResultSet:
        queryset.compiled = None
        return queryset
    compiler.as_sql = lambda *args, **kwargs: sql
    queryset.query.get_compiler = lambda *args, **kwargs: compiler
    queryset.compiled = compiler
    return queryset
