"""The one family of domain errors. The API maps each to a 4xx JSON answer, pages to a message."""

from django.utils.translation import gettext_lazy as _


class QueueError(Exception):
    """A request the queue rules refuse; nothing has been changed when it is raised."""

    status_code = 409
    code = "queue_error"
    default_message = _("This action is not possible right now.")

    def __init__(self, message=None, *, code: str | None = None):
        self.message = str(message or self.default_message)
        if code:
            self.code = code
        super().__init__(self.message)


class ServiceUnavailable(QueueError):
    code = "service_unavailable"
    default_message = _("This service is not available today.")


class Busy(QueueError):
    """Nothing was changed and a retry in `retry_after` seconds may succeed: the server could not
    start the change in time (an overload), or what it depends on is briefly unavailable."""

    status_code = 503
    code = "unavailable"
    default_message = _("The service is busy, please try again in a moment.")

    def __init__(self, message=None, *, retry_after: int = 2):
        super().__init__(message)
        self.retry_after = retry_after


class TicketLimitReached(QueueError):
    code = "too_many_tickets"
    default_message = _("This phone already holds as many tickets as one phone may hold today.")


class UnknownService(QueueError):
    status_code = 404
    code = "not_found"
    default_message = _("There is no such service. Please choose one from the list.")


class CounterNotOpen(QueueError):
    code = "counter_not_open"
    default_message = _("This counter is not open.")


class CounterTaken(QueueError):
    code = "counter_taken"
    default_message = _("Someone else is working at this counter.")


class NoCurrentTicket(QueueError):
    code = "no_current_ticket"
    default_message = _("No patient is being served at this counter.")


class NobodyWaiting(QueueError):
    code = "nobody_waiting"
    default_message = _("Nobody is waiting, so nobody was called. New patients appear in your list as they join.")


class StaleAction(QueueError):
    code = "stale"
    default_message = _("The patient on screen is no longer current; the page has been refreshed.")


class TicketNotActive(QueueError):
    code = "ticket_not_active"
    default_message = _("This ticket is no longer in the queue.")


class InvalidStatus(QueueError):
    status_code = 400
    code = "invalid_status"
    default_message = _("Unknown counter status.")


class NotAllowed(QueueError):
    status_code = 403
    code = "forbidden"
    default_message = _("You are not allowed to do this.")


class InvalidInput(QueueError):
    status_code = 400
    code = "invalid"
    default_message = _("The request is not valid.")


class SmsNotSent(QueueError):
    status_code = 502
    code = "sms_failed"
    default_message = _("We could not send the code, please try again")


class CodeRejected(QueueError):
    status_code = 400
    code = "invalid_code"
    default_message = _("That code is not right. Please check the SMS and try again.")
