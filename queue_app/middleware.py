import logging

from django.db import DatabaseError

from .services import release_idle_counters_now_and_then, rollover_if_new_day

log = logging.getLogger("queue.middleware")


class RolloverMiddleware:
    """At the first request of a new service day, earlier days' open tickets become expired;
    about once a minute, counters whose dashboard went quiet are released.

    Housekeeping never fails a request: with the database down the request itself answers (the
    health check reports 503, the API its own 503), and the work is retried on a later request.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path != "/healthz/":
            try:
                rollover_if_new_day()
                release_idle_counters_now_and_then()
            except DatabaseError:
                log.warning("housekeeping skipped: database unavailable", exc_info=True)
        return self.get_response(request)
