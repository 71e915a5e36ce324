from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class QueueAppConfig(AppConfig):
    name = "queue_app"
    verbose_name = _("Patient queue")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import (
            checks,  # noqa: F401 - registers the system checks
            staff_devices,  # noqa: F401 - connects its login signal receivers
        )
