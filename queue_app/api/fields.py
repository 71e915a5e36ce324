"""Input fields of the API's serializers."""

from rest_framework import serializers


class TextField(serializers.CharField):
    """A CharField that takes only text.

    DRF's CharField turns a JSON number into a string ("name": 0 becomes the name "0"); a client
    that sends a number where the API wants words has a bug, and is told so (400 "Not a valid
    string."). Form fields are always text, so only JSON bodies are affected. A field that may not
    be blank says so in the schema too (minLength 1): DRF refuses "" but drf-spectacular would
    not show it.
    """

    def __init__(self, **kwargs):
        if not kwargs.get("allow_blank", False):
            kwargs.setdefault("min_length", 1)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)
