class SmsDeliveryError(Exception):
    """The message was not accepted by the provider; nothing should be recorded as sent."""

    def __init__(self, message: str, *, provider_code: str | int | None = None):
        super().__init__(message)
        self.provider_code = provider_code


class BaseSmsBackend:
    def send(self, *, to: str, body: str) -> str | None:  # pragma: no cover - interface
        raise NotImplementedError
