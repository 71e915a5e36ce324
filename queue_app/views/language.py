"""The language picker's target: Django's set_language, made forgiving and remembered.

An unknown code is answered with the default language (and a log line), not ignored; a signed-in
patient's choice is kept on the patient, so the SMS they get later are in the language they read.
"""

from django.http import QueryDict
from django.views.decorators.http import require_POST
from django.views.i18n import set_language as django_set_language

from .. import access, languages, services


@require_POST
def set_language(request):
    """POST language (and next): switch this browser's language and go back to `next`."""
    code = languages.choose(request.POST.get("language"), where="picker")
    post = QueryDict(mutable=True)
    post.update({"language": code, "next": request.POST.get("next", "")})
    request.POST = post
    services.remember_language(patient=access.session_patient(request.session), language=code)
    return django_set_language(request)
