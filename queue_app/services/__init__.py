"""The services layer: every change of queue state goes through these functions."""

from .errors import (  # noqa: F401
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
    TicketNotActive,
)
from .queue import (  # noqa: F401
    announce,
    cancel,
    count_to_redistribute,
    expire_previous_days,
    hold_counter,
    issue_walk_in,
    join,
    move_to_service,
    recall,
    release_counter,
    rollover_if_new_day,
    serve_next,
    set_status,
    skip,
)
