"""The OpenAPI schema describes every answer, and the answers have the shapes it declares."""

import io

import pytest
from django.test import Client
from django.urls import reverse

from queue_app import payloads, presenters, selectors, services
from queue_app.api import schemas
from queue_app.models import Ticket


def _fields(serializer_class) -> set[str]:
    return set(serializer_class().fields)


def _schema():
    return Client().get("/api/schema/", HTTP_ACCEPT="application/json").json()


def _resolve(schema: dict, node: dict) -> dict:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    if "allOf" in node:  # a nullable reference
        return _resolve(schema, node["allOf"][0])
    return node


def _unnamed_objects(schema: dict, node: dict, where: str) -> list[str]:
    """Places where a body says only "an object" without naming its fields."""
    node = _resolve(schema, node)
    if node.get("type") == "array":
        return _unnamed_objects(schema, node["items"], f"{where}[]")
    if node.get("type") == "object" or "properties" in node:
        extra = node.get("additionalProperties")
        if "properties" not in node and not (isinstance(extra, dict) and extra):
            return [where]
        found = []
        for name, child in node.get("properties", {}).items():
            found += _unnamed_objects(schema, child, f"{where}.{name}")
        if isinstance(extra, dict) and extra:
            found += _unnamed_objects(schema, extra, f"{where}.*")
        return found
    return []


@pytest.mark.django_db
def test_the_schema_names_the_fields_of_every_response_body():
    schema = _schema()
    unnamed, bodies = [], 0
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for status, response in operation.get("responses", {}).items():
                body = response.get("content", {}).get("application/json", {}).get("schema")
                if body is None:
                    continue
                bodies += 1
                unnamed += _unnamed_objects(schema, body, f"{method.upper()} {path} {status}")
    assert bodies > 40
    assert unnamed == []


def test_the_unnamed_object_check_finds_a_bare_object():
    schema = {"components": {"schemas": {}}}
    body = {"type": "object", "properties": {"counter": {"type": "object", "additionalProperties": {}}}}
    assert _unnamed_objects(schema, body, "x") == ["x.counter"]


def test_a_staff_action_answer_has_the_declared_shape(counters, patients, staff):
    services.join(patient=patients[0], service=counters[0].service)
    client = Client()
    client.force_login(staff[0])
    body = client.post(reverse("serve_next")).json()
    assert set(body) == _fields(schemas.CounterActionSerializer)
    assert set(body["counter"]) == _fields(schemas.StaffCounterSerializer)
    assert set(body["serving_patient"]) == _fields(schemas.StaffServingSerializer)
    data = client.get(reverse("get_queue_data")).json()
    assert set(data) == _fields(schemas.CounterQueueSerializer)
    assert set(data["today"]) == _fields(schemas.TodayCountsSerializer)


def test_ticket_shapes_match_their_declarations(counters, patients):
    ticket, _ = services.join(patient=patients[0], service=counters[0].service)
    services.join(patient=patients[1], service=counters[0].service)
    assert set(selectors.ticket_dict(ticket)) == _fields(schemas.PatientTicketSerializer)
    assert set(payloads.patient_ticket(ticket)) == _fields(schemas.TicketSerializer)
    assert set(presenters.reception_row(ticket)) == _fields(schemas.ReceptionRowSerializer)


def test_the_display_snapshot_matches_its_declaration(counters, patients):
    services.join(patient=patients[0], service=counters[0].service)
    services.serve_next(counter=counters[0], by=None)
    snapshot = selectors.display_snapshot()
    assert set(snapshot) == _fields(schemas.DisplaySnapshotSerializer)
    assert set(snapshot["counters"][0]) == _fields(schemas.DisplayCounterSerializer)
    assert set(snapshot["recent_calls"][0]) == _fields(schemas.RecentCallSerializer)


def test_desk_services_match_their_declaration(counters):
    assert set(presenters.desk_services()[0]) == _fields(schemas.DeskServiceSerializer)


def test_a_patient_ticket_in_the_pool_has_no_counter(opd, patients):
    ticket, _ = services.join(patient=patients[0], service=opd)
    data = selectors.ticket_dict(ticket)
    assert ticket.status == Ticket.Status.WAITING and data["counter"] is None and data["position"] == 1


def test_the_schema_generates_without_warnings(db):
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", stdout=io.StringIO(), stderr=io.StringIO())


@pytest.mark.django_db
def test_every_required_text_field_of_a_request_says_it_may_not_be_empty():
    schema = _schema()
    unbounded = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for body in operation.get("requestBody", {}).get("content", {}).values():
                node = _resolve(schema, body["schema"])
                for name in node.get("required", []):
                    field = node["properties"][name]
                    if field.get("type") == "string" and "enum" not in field and not field.get("minLength"):
                        unbounded.append(f"{method.upper()} {path} {name}")
    assert sorted(set(unbounded)) == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/staff/serve_next/"),
        ("post", "/staff/skip_patient/"),
        ("post", "/staff/announce_patient/"),
        ("post", "/staff/update_status/"),
        ("get", "/staff/get_queue_data/"),
    ],
)
def test_the_staff_actions_declare_the_404_they_give_an_admin_naming_no_counter(method, path, admin_user):
    client = Client()
    client.force_login(admin_user)
    fields = {"counter": 987654, "status": "busy"}
    response = client.post(path, fields) if method == "post" else client.get(path, fields)

    assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert "404" in _schema()["paths"][path][method]["responses"]
