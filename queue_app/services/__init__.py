"""The services layer: every change of queue state goes through these functions.

Split by sub-domain: joining, calling, counters, reception; placement (which counter a waiting
ticket waits at), changes (what every change shares) and housekeeping (the end of a day). The
public rules are re-exported here, so callers write `services.serve_next(...)`.
"""

from ..errors import (  # noqa: F401
    Busy,
    CounterNotOpen,
    CounterTaken,
    InvalidInput,
    InvalidStatus,
    NobodyWaiting,
    NoCurrentTicket,
    NotAllowed,
    QueueError,
    ServiceUnavailable,
    StaleAction,
    TicketLimitReached,
    TicketNotActive,
    UnknownService,
)
from .calling import Call, announce, serve_next, skip  # noqa: F401
from .changes import stop_accepting_changes  # noqa: F401
from .counters import (  # noqa: F401
    HEARTBEAT_SECONDS,
    counter_heartbeat,
    hold_counter,
    release_counter,
    release_idle_counters,
    set_status,
    touch_counter,
)
from .housekeeping import expire_previous_days, rollover_if_new_day  # noqa: F401
from .joining import issue_walk_in, join  # noqa: F401
from .notifications import set_notify  # noqa: F401
from .patients import remember_language  # noqa: F401
from .priorities import back_to_line, category, set_priority, transfer  # noqa: F401
from .reception import cancel, move_to_service, recall  # noqa: F401
