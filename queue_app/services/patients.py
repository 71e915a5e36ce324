"""What a patient keeps between visits beyond their name: the language they read."""

from django.utils import translation

from .. import languages
from ..models import Patient


def remember_language(*, patient: Patient | None, language: str | None = None) -> None:
    """Keep the patient's language (default: the active one) so their SMS are written in it."""
    if patient is None:
        return
    code = languages.choose(language or translation.get_language(), where="patient")
    # One UPDATE of one column, only when it changes: no lock needed, the last choice wins.
    if patient.language != code:
        Patient.objects.filter(pk=patient.pk).update(language=code)
        patient.language = code
