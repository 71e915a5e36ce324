"""Schema fuzzing: every endpoint of /api/schema/, as every kind of visitor, never answers 5xx.

schemathesis generates requests from the OpenAPI schema — valid ones (positive) and invalid ones
(negative: wrong types, missing fields, bodies that are not objects, odd content types) — and
hypothesis picks who sends each: anonymous, a patient, an operator, an admin, a reception clerk.
Each request goes in-process through Django's test client with the visitor's session cookie and
a valid CSRF token, so it reaches the view, not the CSRF wall. The clinic's state carries over
from one request to the next within an endpoint's run (joins, calls, breaks pile up).

What must hold for every request: no 5xx, every API error is JSON {"error", "code"}, and every
status answered is one the schema declares for that operation.
Bounded (FUZZ_EXAMPLES per endpoint) to about a minute in all; marked `fuzz` (CI runs it on SQLite).
"""

import collections
import json
import os

import pytest
import requests
import schemathesis
import yaml
from django.core.serializers.json import DjangoJSONEncoder
from django.test import Client
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from ..security_helpers import CSRF_TOKEN, build_cast

pytestmark = [pytest.mark.fuzz, pytest.mark.django_db]

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "100"))  # per endpoint, positive and negative together
VISITORS = ["anon", "patA", "op1", "admin", "recep"]
TALLY: collections.Counter = collections.Counter()  # for the summary line: requests, 4xx, 5xx
# Any request may meet these, whatever the operation; the schema's description says so once.
TRANSPORT_ERRORS = {413, 415}


def load_schema():
    """What /api/schema/ serves (drf-spectacular's generator), read without a request or a database."""
    document = SchemaGenerator().get_schema(request=None, public=True)
    return schemathesis.openapi.from_dict(json.loads(json.dumps(document, cls=DjangoJSONEncoder)))


def operation_labels() -> list[str]:
    return [result.ok().label for result in load_schema().get_all_operations()]


def test_the_fuzzed_schema_is_the_one_served(client, db):
    served = yaml.safe_load(client.get("/api/schema/").content.decode())
    assert sorted(served["paths"]) == sorted(load_schema().raw_schema["paths"])
    assert len(operation_labels()) >= 11


@pytest.fixture(scope="module", autouse=True)
def summary(request):
    """After the module: one line with the figures (the README's Reliability section quotes them)."""
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None or not TALLY["requests"]:
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line(
            f"\nAPI fuzzing: {TALLY['requests']} requests over {TALLY['endpoints']} endpoints, "
            f"{TALLY['4xx']} answered 4xx, {TALLY['5xx']} answered 5xx"
        )


def send(client: Client, case) -> object:
    """The generated request, serialised exactly as schemathesis would send it, through Django."""
    kwargs = case.as_transport_kwargs(base_url="http://testserver")
    prepared = requests.Request(
        method=kwargs["method"],
        url=kwargs["url"],
        params=kwargs.get("params"),
        data=kwargs.get("data"),
        json=kwargs.get("json"),
        files=kwargs.get("files") or None,
    ).prepare()
    body = prepared.body or b""
    path = prepared.url.removeprefix("http://testserver")
    return client.generic(
        prepared.method,
        path,
        data=body.encode() if isinstance(body, str) else body,
        content_type=prepared.headers.get("Content-Type", ""),
        headers={"X-CSRFToken": CSRF_TOKEN, "Accept": "application/json"},
    )


@pytest.mark.parametrize("label", operation_labels())
def test_no_request_to_any_endpoint_is_answered_5xx(label, opd, counters, admin_user):
    cast = build_cast(opd, counters, admin_user)
    for actor in cast.actors.values():
        actor.client.raise_request_exception = False  # a crash is a 500 to report, not an exception
    operation = next(r.ok() for r in load_schema().get_all_operations() if r.ok().label == label)
    cases = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )
    TALLY["endpoints"] += 1

    @given(who=st.sampled_from(VISITORS), case=cases)
    @settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def check(who, case):
        response = send(cast.actors[who].client, case)
        TALLY["requests"] += 1
        TALLY[f"{response.status_code // 100}xx"] += 1
        request = f"{who}: {case.as_curl_command()}"
        assert response.status_code < 500, f"{response.status_code} for {request}\n{response.content[:500]!r}"
        if response.status_code >= 400:
            assert response.get("Content-Type", "").startswith("application/json"), f"not JSON: {request}"
            body = response.json()
            assert isinstance(body, dict) and {"error", "code"} <= set(body), f"{request}: {body!r}"
        declared = {int(status) for status in operation.definition.raw["responses"]} | TRANSPORT_ERRORS
        assert response.status_code in declared, f"{response.status_code} is not in the schema: {request}"

    check()
