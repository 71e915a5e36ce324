from .services import rollover_if_new_day


class RolloverMiddleware:
    """At the first request of a new service day, earlier days' open tickets become expired."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        rollover_if_new_day()
        return self.get_response(request)
