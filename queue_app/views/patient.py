# Placeholder module: the patient-journey helper replaces this file entirely.
from django.http import Http404


def _todo(request, *args, **kwargs):
    raise Http404("not built yet")


home_redirect = patient_login = patient_logout = service_selection = patient_dashboard = _todo
