# Placeholder module: the staff-counter helper replaces this file entirely.
from django.http import Http404, HttpResponse


def _todo(request, *args, **kwargs):
    raise Http404("not built yet")


def lockout_response(request, credentials, *args, **kwargs):
    return HttpResponse("Too many failed logins", status=429)


staff_login = staff_dashboard = switch_counter = staff_logout = _todo
