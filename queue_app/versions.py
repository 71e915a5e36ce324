"""The state versions screens compare to notice a missed change (services.changes.publish_change
bumps them): read for snapshots and for the pongs of thousands of pinging sockets."""

import time
from dataclasses import dataclass

from .models import Counter, Service
from .statements import remembered


def service_version(service_id: int) -> int:
    """The service's state version now (0 for a service that no longer exists)."""
    return Service.objects.filter(pk=service_id).values_list("version", flat=True).first() or 0


# What a socket's ping is answered with (consumers.py): the versions, read at most once a second
# per process, so thousands of screens pinging every few seconds cost the database nothing more.
VERSIONS_MEMO_SECONDS = 1.0
_versions_memo: list = []  # [(expires at, StateVersions)]


@dataclass(frozen=True)
class StateVersions:
    services: dict  # service id -> its state version
    counters: dict  # counter id -> the version of the last change its staff socket was sent


def remembered_versions() -> StateVersions | None:
    """The versions read less than VERSIONS_MEMO_SECONDS ago, if any (no query: safe to call
    from async code)."""
    if _versions_memo and _versions_memo[0][0] > time.monotonic():
        return _versions_memo[0][1]
    return None


def state_versions() -> StateVersions:
    """Every service's and counter's version, as of at most VERSIONS_MEMO_SECONDS ago."""
    memo = remembered_versions()
    if memo is not None:
        return memo
    versions = StateVersions(
        services=dict(service_versions()),
        counters=dict(Counter.objects.values_list("pk", "version")),
    )
    _versions_memo[:] = [(time.monotonic() + VERSIONS_MEMO_SECONDS, versions)]
    return versions


@remembered
def service_versions() -> list[tuple[int, int]]:
    """(service id, state version) of every service, read now."""
    return Service.objects.values_list("pk", "version")


def forget_versions() -> None:
    _versions_memo.clear()
