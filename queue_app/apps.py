from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class QueueAppConfig(AppConfig):
    name = "queue_app"
    verbose_name = _("Patient queue")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.contrib.auth.signals import user_logged_out

        from . import (  # noqa: F401 - checks registers the system checks, staff_devices its login receivers
            checks,
            events,
            staff_devices,
        )

        # Staff and admin logout alike: the session's sockets close in every process.
        user_logged_out.connect(events.revoke_logged_out_session, dispatch_uid="queue_revoke_logged_out_session")
