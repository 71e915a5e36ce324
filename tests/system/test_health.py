"""/healthz/: 200 when the database and the channel layer answer, 503 naming the one that did not."""

import json
import shutil
import urllib.error
import urllib.request

import pytest

from ..liveserver import clean_env, free_port, migrated_sqlite, start_live_server


def get_json(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


@pytest.mark.django_db
def test_healthz_answers_200_when_the_database_and_the_channel_layer_answer(client):
    response = client.get("/healthz/")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "failed": [], "database": "ok", "channel_layer": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_healthz_answers_503_naming_the_channel_layer_when_redis_does_not_answer(client, settings):
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [f"redis://127.0.0.1:{free_port()}/0"]},  # nothing listens there
        }
    }

    response = client.get("/healthz/")

    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["channel_layer"]
    assert body["database"] == "ok"
    assert body["channel_layer"].startswith("error: ")


def test_healthz_answers_503_naming_the_database_when_it_goes_away(request, tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    url = migrated_sqlite(data_dir / "queue.sqlite3")
    server = start_live_server(request, env=clean_env(DEBUG="0", QUEUE_TESTING="1", DATABASE_URL=url))
    assert get_json(server.url + "/healthz/") == (
        200,
        {"status": "ok", "failed": [], "database": "ok", "channel_layer": "ok"},
    )

    # The database file's folder becomes a plain file: SQLite can no longer open the database.
    shutil.move(data_dir, tmp_path / "data-away")
    data_dir.write_text("not a folder")
    status, body = get_json(server.url + "/healthz/")

    assert status == 503
    assert body["failed"] == ["database"]
    assert body["database"] == "error: OperationalError"
    assert body["channel_layer"] == "ok"
    assert "health check failed: database: OperationalError" in server.log_text()

    # And it recovers when the database is back.
    data_dir.unlink()
    shutil.move(tmp_path / "data-away", data_dir)
    assert get_json(server.url + "/healthz/")[0] == 200


@pytest.mark.django_db
def test_healthz_is_not_redirected_to_https(client, settings):
    settings.SECURE_SSL_REDIRECT = True

    assert client.get("/healthz/").status_code == 200
    assert client.get("/display/").status_code == 301  # the rest of the site is


@pytest.mark.django_db
def test_healthz_only_answers_get_and_head(client):
    assert client.post("/healthz/").status_code == 405
    assert client.head("/healthz/").status_code == 200
