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

Arguments named in `values` change with every call (a ticket's id, the ids of a line's head):
they are the statement's parameters, not its key. Each is an int or a str, or a tuple of them
for an IN list (padded to a power of two with its last value: the padded length is part of the
key); they must reach the SQL as they are given, as `pk=` and `pk__in=` pass them. The SQL is
compiled twice with two sets of stand-ins, and the places where the parameters differ are where
each call's values go. A statement where that is not so (Django changed the value, or the SQL
with it) is built and compiled on every call, as without this.

    @remembered(values=("ids",))
    def _rows(ids: tuple):
        return Ticket.objects.filter(pk__in=ids).values(*ROW_FIELDS)
"""

import functools
import inspect
import threading
from collections import OrderedDict

from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.transaction import TransactionManagementError

KEPT = 128  # statements kept per thread: a few a service and counter, for today and yesterday
_local = threading.local()
UNREMEMBERED = object()  # a statement whose values could not be found in its parameters
STAND_INS = (30000, 31000)  # within every integer column's range, so Django compiles them as given


def remembered(build=None, *, values=()):
    """Decorate a function that builds a queryset: calling it returns the queryset's rows, its SQL
    compiled once per thread and arguments (other than `values`)."""
    if build is None:
        return functools.partial(remembered, values=tuple(values))
    signature = inspect.signature(build)

    @functools.wraps(build)
    def read(*args, **kwargs):
        given = {}
        if values:
            arguments = signature.bind(*args, **kwargs).arguments
            given = {name: arguments.pop(name) for name in values}
            if not all(map(_substitutable, given.values())):
                return list(build(*args, **kwargs))  # a value Django may treat otherwise
            given = {name: _padded(value) for name, value in given.items()}
            key = (build, tuple(arguments.items()), tuple(_shape(v) for v in given.values()))
        else:
            key = (build, args, tuple(sorted(kwargs.items())))
        kept = _kept()
        queryset = kept.get(key)
        if queryset is None or (queryset is not UNREMEMBERED and queryset.connection is not connections[queryset.db]):
            queryset = kept[key] = _compiled(build, signature.bind(*args, **kwargs), given)
            if len(kept) > KEPT:
                kept.popitem(last=False)
        else:
            kept.move_to_end(key)
        if queryset is UNREMEMBERED:
            return list(build(*args, **kwargs))
        if queryset.compiled is None:
            return []  # no row can match (an empty IN list, an id out of range), as Django finds
        connection = queryset.connection
        if queryset.query.select_for_update and connection.features.has_select_for_update:
            # Django's compiler asks this as it compiles; a remembered statement asks it here.
            if connection.get_autocommit():
                raise TransactionManagementError("select_for_update cannot be used outside of a transaction.")
        if queryset.places:
            sql, params = queryset.template
            params = list(params)
            for at, name, index in queryset.places:
                params[at] = given[name] if index is None else given[name][index]
            queryset.compiled.remembered_sql = sql, tuple(params)
        return list(queryset._chain())

    return read


def _kept() -> OrderedDict:
    if not hasattr(_local, "kept"):
        _local.kept = OrderedDict()
    return _local.kept


def _substitutable(value) -> bool:
    if isinstance(value, tuple):
        return all(map(_substitutable, value))
    # Past 64 bits SQLite refuses a parameter where Django would find no row.
    return type(value) is str or (type(value) is int and -(2**63) <= value < 2**63)


def _padded(value):
    """An IN list padded to a power of two with its last value (which selects nothing more), so
    that a line of any length needs a few statements, not one for each length."""
    if not isinstance(value, tuple) or not value:
        return value
    return value + value[-1:] * ((1 << (len(value) - 1).bit_length()) - len(value))


def _shape(value):
    return len(value) if isinstance(value, tuple) else None


def _slots(given: dict):
    """Each value's place among the arguments: (name, index in its tuple or None, value)."""
    for name, value in given.items():
        if isinstance(value, tuple):
            yield from ((name, index, v) for index, v in enumerate(value))
        else:
            yield name, None, value


def _stand_ins(given: dict, base: int) -> tuple[dict, dict]:
    """Values of the same types and lengths as `given`'s, each one different, and what each is."""
    stand_ins, which = {name: [] for name in given}, {}
    for k, (name, index, value) in enumerate(_slots(given)):
        stand_in = f"\x1f{base + k}\x1f" if type(value) is str else base + k
        stand_ins[name].append(stand_in)
        which[stand_in] = (name, index)
    return {n: tuple(v) if isinstance(given[n], tuple) else v[0] for n, v in stand_ins.items()}, which


def _compiled(build, bound, given):
    """The queryset, its compiler set up and its SQL compiled once: each evaluation of a copy
    runs that SQL (the copies share the compiler, whose state is its select list). With
    `given` values, also where each goes in the parameters (`places`), or UNREMEMBERED."""
    if not given:
        return _compile(build(*bound.args, **bound.kwargs))
    sides = []
    for base in STAND_INS:
        stand_ins, which = _stand_ins(given, base)
        bound.arguments.update(stand_ins)
        sides.append((_compile(build(*bound.args, **bound.kwargs)), which))
    (first, which_a), (second, which_b) = sides
    if first.compiled is None or second.compiled is None:
        return first if first.compiled is second.compiled else UNREMEMBERED
    (sql_a, params_a), (sql_b, params_b) = first.template, second.template
    if sql_a != sql_b or len(params_a) != len(params_b):
        return UNREMEMBERED
    places = []
    for at, (a, b) in enumerate(zip(params_a, params_b, strict=True)):
        if a != b:
            if a not in which_a or which_a[a] != which_b.get(b):
                return UNREMEMBERED  # Django changed a value on its way: not a plain parameter
            places.append((at, *which_a[a]))
    if len(places) < len(which_a):
        return UNREMEMBERED  # a value the SQL does not carry as a parameter
    first.places = tuple(places)
    return first


def _compile(queryset):
    compiler = queryset.query.get_compiler(using=queryset.db)
    queryset.connection = compiler.connection
    queryset.places = ()
    try:
        queryset.template = compiler.remembered_sql = compiler.as_sql()
    except EmptyResultSet:
        queryset.compiled = None
        return queryset
    compiler.as_sql = lambda *args, **kwargs: compiler.remembered_sql
    queryset.query.get_compiler = lambda *args, **kwargs: compiler
    queryset.compiled = compiler
    return queryset
