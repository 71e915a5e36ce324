"""The ASGI entry point's WebSockets: only the sockets that need a session get one."""

import pytest

from queue_system.server import SessionOnlyWhereNeeded


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("query", "private"),
    [
        (b"", False),
        (b"lang=hi", False),
        (b"counter=3", True),
        (b"ticket=7&token=abc", True),
        (b"%74icket=7", True),  # as the consumer's parse_qs reads it
        (b"counter", True),  # a bare name is still asking for a counter (refused by the consumer)
    ],
)
async def test_only_sockets_naming_a_counter_or_a_ticket_get_a_session_and_a_user(query, private):
    seen = {}

    async def consumer(scope, receive, send):
        seen.update(scope)

    app = SessionOnlyWhereNeeded(consumer)
    await app({"type": "websocket", "path": "/ws/queue/updates/", "query_string": query, "headers": []}, None, None)

    assert ("session" in seen, "user" in seen) == (private, private)
