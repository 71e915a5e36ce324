# Placeholder module: the patient-journey helper replaces this file entirely.
from .base import ApiView


class SendOtpApi(ApiView):
    pass


class VerifyOtpApi(ApiView):
    pass


class CheckPatientApi(ApiView):
    pass


class JoinQueueApi(ApiView):
    pass


class CancelTicketApi(ApiView):
    pass
