"""Listening to the channel layer as a WebSocket consumer would, for tests of what is sent."""

import asyncio
import json

import pytest
from asgiref.sync import async_to_sync
from channels.layers import channel_layers, get_channel_layer


def frames(message: dict) -> list[dict]:
    """The WebSocket frames one channel-layer message carries (events.py: one message per group
    and change, a consumer sends its texts in order)."""
    return [json.loads(text) for text in message["texts"]]


class Listener:
    """A channel subscribed to some groups, as a WebSocket consumer would be."""

    def __init__(self, *groups):
        self.layer = get_channel_layer()
        self.channel = async_to_sync(self.layer.new_channel)()
        for group in groups:
            async_to_sync(self.layer.group_add)(group, self.channel)

    def messages(self, wait: float = 0.3) -> list[dict]:
        async def collect():
            received = []
            while True:
                try:
                    message = await asyncio.wait_for(self.layer.receive(self.channel), wait)
                except TimeoutError:
                    return received
                received.extend(frames(message))

        return async_to_sync(collect)()

    drain = messages


@pytest.fixture
def in_memory_layer(settings):
    """What is sent, listened to on the in-memory layer in both CI passes: the Redis pub/sub
    layer accepts group_add only for a consumer's own channels. Redis delivery across processes
    is tested in test_scaleout.py and test_faults.py."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()
