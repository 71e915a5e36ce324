"""The answers pages, the API and the server share: "wants JSON?" and "busy, try again"."""

import json

import pytest
from django.test import RequestFactory

from queue_app.http import busy_response, wants_json


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("application/json", True),
        ("application/json, text/plain, */*", True),  # a script's fetch library
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", False),  # a browser
        ("*/*", False),
        (None, False),
    ],
)
def test_only_a_client_preferring_json_to_a_page_wants_json(accept, expected):
    headers = {} if accept is None else {"Accept": accept}
    assert wants_json(RequestFactory().get("/", headers=headers)) is expected


def test_busy_is_a_503_with_retry_after_as_the_apis_json_error_or_plain_text():
    api, page = busy_response(json=True), busy_response(json=False)
    assert api.status_code == page.status_code == 503
    assert api["Retry-After"] == page["Retry-After"] == "2"
    message = "The service is busy, please try again in a moment."
    assert json.loads(api.content) == {"error": message, "code": "unavailable"}
    assert page["Content-Type"].startswith("text/plain") and page.content.decode() == message
