class SmsDeliveryError(Exception):
    """The message was not accepted by the provider; nothing should be recorded as sent."""

    def __init__(self, message: str, *, provider_code: str | int | None = None, retryable: bool = True):
        super().__init__(message)
        self.provider_code = provider_code
        # False: trying again cannot help (the provider refused this message for good).
        self.retryable = retryable


class BaseSmsBackend:
    def send(self, *, to: str, body: str, status_callback: str | None = None) -> str | None:  # pragma: no cover
        """`status_callback`: where the provider should post delivery receipts (if it can)."""
        raise NotImplementedError
