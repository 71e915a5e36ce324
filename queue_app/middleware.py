from .services import release_idle_counters_now_and_then, rollover_if_new_day


class RolloverMiddleware:
    """At the first request of a new service day, earlier days' open tickets become expired;
    about once a minute, counters whose dashboard went quiet are released."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        rollover_if_new_day()
        release_idle_counters_now_and_then()
        return self.get_response(request)
