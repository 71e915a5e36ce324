"""Deployment files: the compose file through a real compose parser, the Dockerfile's rules, the
env template against settings.py, nginx and systemd files through their own checkers when
installed, and the scripts the containers run (prestart, healthcheck) against real servers.

No Docker engine runs here: the images are not built and the stack is not started.
"""

import http.server
import json
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest
import yaml
from django.conf import settings
from django.utils import translation

from bench import overload
from queue_app import languages
from queue_app.errors import Busy
from queue_app.http import busy_body

from ..liveserver import (
    BASE_DIR,
    clean_env,
    documented_production_env,
    free_port,
    manage,
    migrated_sqlite,
    start_live_server,
)

ON_MYSQL = settings.DATABASES["default"]["ENGINE"].endswith("mysql")
COMPOSE = shutil.which("docker-compose")
needs_compose = pytest.mark.skipif(
    COMPOSE is None, reason="docker-compose (the compose file parser) is not installed: apt-get install docker-compose"
)


def read(path: str) -> str:
    return (BASE_DIR / path).read_text(encoding="utf-8")


def env_example_names() -> list[str]:
    return re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", read(".env.example"), re.MULTILINE)


# --- docker-compose.yml --------------------------------------------------------------------------


@pytest.fixture
def compose_project(tmp_path):
    """The compose file and what it refers to, with .env made from .env.example."""
    for name in ("docker-compose.yml", "Dockerfile", ".dockerignore"):
        shutil.copy(BASE_DIR / name, tmp_path / name)
    shutil.copytree(BASE_DIR / "deploy", tmp_path / "deploy")
    example = read(".env.example")
    (tmp_path / ".env").write_text(example.replace("\nMARIADB_PASSWORD=\n", "\nMARIADB_PASSWORD=s3cret-for-tests\n"))
    return tmp_path


def compose(project, *args: str) -> subprocess.CompletedProcess:
    # A clean environment: the shell's DATABASE_URL etc. must not fill in the file's ${...}.
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(project)}
    return subprocess.run([COMPOSE, *args], cwd=project, env=env, capture_output=True, text=True, timeout=60)


def compose_config(project) -> dict:
    result = compose(project, "config")
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


@needs_compose
def test_the_compose_file_passes_a_real_compose_parser(compose_project):
    result = compose(compose_project, "config", "--quiet")
    assert result.returncode == 0, result.stderr

    services = compose(compose_project, "config", "--services").stdout.split()
    assert sorted(services) == ["db", "nginx", "notifier", "redis", "web", "ws"]


@needs_compose
def test_compose_sends_the_texts_from_one_notifier_process_not_from_the_web_workers(compose_project):
    config = compose_config(compose_project)["services"]
    notifier = config["notifier"]
    assert notifier["image"] == config["web"]["image"]
    assert notifier["command"] == ["python", "manage.py", "send_notifications", "--every", "1"]
    assert notifier["depends_on"]["web"]["condition"] == "service_healthy"
    assert notifier["environment"]["MIGRATE_ON_START"] == "0"
    assert config["web"]["environment"]["NOTIFY_SENDER_THREAD"] == "0"  # over what .env says
    assert "NOTIFY_SENDER_THREAD" not in notifier["environment"]


@needs_compose
def test_compose_runs_mariadb_10_11_with_a_volume_and_a_healthcheck(compose_project):
    db = compose_config(compose_project)["services"]["db"]

    assert db["image"] == "mariadb:10.11"
    assert any(volume.endswith(":/var/lib/mysql:rw") for volume in db["volumes"])
    assert "healthcheck.sh" in db["healthcheck"]["test"]
    assert db["environment"]["MARIADB_PASSWORD"] == "s3cret-for-tests"
    assert "ports" not in db  # only the app reaches the database


@needs_compose
def test_compose_runs_redis_7_with_a_healthcheck(compose_project):
    redis = compose_config(compose_project)["services"]["redis"]

    assert redis["image"].startswith("redis:7")
    assert redis["healthcheck"]["test"][-2:] == ["redis-cli", "ping"]
    assert "ports" not in redis


@needs_compose
def test_web_reads_its_settings_from_the_env_file_and_waits_for_healthy_db_and_redis(compose_project):
    web = compose_config(compose_project)["services"]["web"]

    assert web["environment"]["DATABASE_URL"].startswith("mysql://queue:")
    assert web["environment"]["DATABASE_URL"].endswith("@db:3306/queue_system")
    assert web["environment"]["REDIS_URL"] == "redis://redis:6379/0"
    assert web["depends_on"] == {"db": {"condition": "service_healthy"}, "redis": {"condition": "service_healthy"}}
    assert "deploy/healthcheck.py" in web["healthcheck"]["test"]


@needs_compose
@pytest.mark.parametrize("service", ["web", "ws"])
def test_web_and_ws_can_run_as_several_replicas_behind_nginx(compose_project, service):
    config = compose_config(compose_project)["services"][service]

    # A fixed container name or a published host port would stop `--scale web=3`.
    assert "container_name" not in config
    assert "ports" not in config
    assert config["expose"] == ["8000"]


@needs_compose
def test_compose_serves_http_with_gunicorn_and_websockets_with_daphne_from_one_image(compose_project):
    services = compose_config(compose_project)["services"]
    web, ws = services["web"], services["ws"]

    assert "command" not in web  # the image's: gunicorn (test_the_dockerfile_runs_gunicorn_...)
    assert ws["image"] == web["image"]
    daphne_on_uvloop = ["python", "-m", "queue_system.asgi_server", "--verbosity", "0"]
    assert ws["command"][:5] == daphne_on_uvloop and ws["command"][-1] == "queue_system.asgi:application"
    assert ws["environment"]["MIGRATE_ON_START"] == "0"  # the web replicas migrate
    assert ws["depends_on"]["web"]["condition"] == "service_healthy"
    assert "deploy/healthcheck.py" in ws["healthcheck"]["test"]
    assert services["nginx"]["depends_on"]["ws"] == {"condition": "service_healthy"}


@needs_compose
def test_nginx_publishes_http_and_https_and_serves_the_static_volume(compose_project):
    config = compose_config(compose_project)
    nginx = config["services"]["nginx"]

    assert sorted(port["target"] for port in nginx["ports"]) == [80, 443]
    assert nginx["depends_on"]["web"] == {"condition": "service_healthy"}
    mounts = {volume.split(":")[1]: volume.split(":")[0] for volume in nginx["volumes"]}
    assert mounts["/srv/www/static"] == "static"
    assert "static:/app/staticfiles:rw" in config["services"]["web"]["volumes"]
    # The files it mounts exist (a missing one would be created by Docker as an empty folder).
    targets = (
        "/etc/nginx/conf.d/default.conf",
        "/etc/nginx/conf.d/queue-busy.conf",
        "/etc/nginx/snippets/queue-locations.conf",
    )
    for target in targets:
        assert (compose_project / mounts[target]).is_file(), target


@needs_compose
def test_compose_refuses_to_start_without_a_database_password(compose_project):
    env_file = compose_project / ".env"
    env_file.write_text(env_file.read_text().replace("\nMARIADB_PASSWORD=s3cret-for-tests\n", "\n"))

    result = compose(compose_project, "config", "--quiet")

    assert result.returncode != 0
    assert "set MARIADB_PASSWORD in .env" in result.stderr


def test_every_variable_the_compose_file_uses_is_in_the_env_example():
    used = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", read("docker-compose.yml")))

    assert used
    assert used <= set(env_example_names())


# --- Dockerfile, .dockerignore --------------------------------------------------------------------


def dockerfile_stages() -> list[list[str]]:
    """The Dockerfile's instructions (continuations joined), split into build stages."""
    text = re.sub(r"\\\n", " ", read("Dockerfile"))
    stages: list[list[str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def test_the_dockerfile_builds_mysqlclient_in_a_build_stage_and_ships_without_compilers():
    build, runtime = dockerfile_stages()
    build_text, runtime_text = "\n".join(build), "\n".join(runtime)

    assert re.match(r"FROM \S+ AS build", build[0])
    assert "default-libmysqlclient-dev" in build_text and "build-essential" in build_text
    assert "pip install" in build_text and "requirements.txt" in build_text
    assert "COPY --from=build /opt/venv /opt/venv" in runtime
    assert "gcc" not in runtime_text and "build-essential" not in runtime_text and "-dev" not in runtime_text
    assert "libmariadb3" in runtime_text  # the client library mysqlclient links to
    assert re.search(r"ARG PYTHON_IMAGE=python:3\.\d+-slim", read("Dockerfile"))


def test_the_dockerfile_runs_gunicorn_as_a_non_root_user():
    runtime = dockerfile_stages()[-1]
    users = [line.split()[1] for line in runtime if line.startswith("USER ")]

    assert users and users[-1] not in ("root", "0")
    assert "useradd" in "\n".join(runtime)
    (cmd,) = [line for line in runtime if line.startswith("CMD ")]
    assert cmd == 'CMD ["gunicorn", "-c", "deploy/gunicorn.conf.py", "queue_system.wsgi:application"]'
    assert "ENV WEB_BIND=0.0.0.0:8000" in runtime  # reachable from nginx's container
    (entrypoint,) = [line for line in runtime if line.startswith("ENTRYPOINT ")]
    assert "/app/deploy/docker-entrypoint.sh" in entrypoint
    script = BASE_DIR / "deploy/docker-entrypoint.sh"
    assert script.stat().st_mode & 0o111
    assert "deploy/prestart.py --collectstatic" in script.read_text()
    assert 'exec "$@"' in script.read_text()


def test_the_dockerfile_collectstatic_step_works_with_its_build_settings(tmp_path):
    (step,) = [line for line in dockerfile_stages()[-1] if "manage.py collectstatic" in line]
    build_env = dict(re.findall(r"\b([A-Z_]+)=(\S+)", step.split("python manage.py")[0]))
    assert build_env["DEBUG"] == "0"
    code = (
        "import sys, django; from django.conf import settings; django.setup(); "
        "settings.STATIC_ROOT = sys.argv[1]; "  # write into tmp_path, not the working tree
        "from django.core.management import call_command; "
        "call_command('collectstatic', interactive=False, verbosity=0)"
    )

    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "static")],
        cwd=BASE_DIR,
        env=clean_env(**build_env),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert (tmp_path / "static" / "staticfiles.json").is_file()  # the manifest whitenoise serves from
    assert list((tmp_path / "static").glob("admin/css/base.*.css.gz"))  # hashed and compressed


def test_dockerignore_keeps_secrets_and_local_state_out_of_the_image():
    patterns = {line.strip() for line in read(".dockerignore").splitlines()}

    assert {".env", ".git", ".venv/", "*.sqlite3", "var/", "deploy/certs/"} <= patterns


# --- .env.example -------------------------------------------------------------------------------


def variables_settings_reads() -> set[str]:
    source = read("queue_system/settings.py")
    readers = r"(?:envstr|envbool|envint|envlist|envchoice|os\.environ\.get|os\.getenv|os\.environ\[)"
    return set(re.findall(readers + r"\(?\s*[\"']([A-Z][A-Z0-9_]+)[\"']", source))


def test_the_env_example_lists_every_variable_settings_reads():
    read_by_settings = variables_settings_reads()

    assert {"DEBUG", "SECRET_KEY", "DATABASE_URL", "REDIS_URL", "LOG_FORMAT"} <= read_by_settings
    assert sorted(read_by_settings - set(env_example_names())) == []


def test_every_variable_in_the_env_example_has_a_comment_above_it():
    lines = read(".env.example").splitlines()
    variable = re.compile(r"^#? ?[A-Z][A-Z0-9_]+=")
    for number, line in enumerate(lines):
        if variable.match(line):
            above = lines[number - 1]
            assert above.startswith("# ") and not variable.match(above), f"no comment above {line!r}"


def test_the_env_example_holds_no_secret_values():
    values = dict(re.findall(r"^([A-Z][A-Z0-9_]+)=(.*)$", read(".env.example"), re.MULTILINE))

    for name in ("SECRET_KEY", "TWILIO_AUTH_TOKEN", "TWILIO_ACCOUNT_SID", "MARIADB_PASSWORD"):
        assert values[name] == "", name


# --- nginx ----------------------------------------------------------------------------------------


def nginx_block(text: str, header: str) -> str:
    """The body of the first `header { ... }` block (nested braces included)."""
    start = text.index(header + " {") + len(header) + 2
    depth, end = 1, start
    while depth:
        depth += {"{": 1, "}": -1}.get(text[end], 0)
        end += 1
    return text[start : end - 1]


@pytest.mark.parametrize("path", ["deploy/nginx/docker-locations.conf", "deploy/nginx/queue.conf"])
def test_nginx_upgrades_websockets_on_ws_and_serves_static_files_itself(path):
    text = read(path)
    if "listen 443" in text:
        text = text[text.index("listen 443") :]  # the HTTPS server, not the port 80 redirect
    websocket = nginx_block(text, "location /ws/")

    assert "proxy_pass http://queue_ws;" in websocket  # Daphne; the rest goes to gunicorn
    assert "proxy_pass http://queue_web;" in nginx_block(text, "location /")
    assert "proxy_http_version 1.1;" in websocket
    assert "proxy_set_header Upgrade $http_upgrade;" in websocket
    assert "proxy_set_header Connection $connection_upgrade;" in websocket
    assert re.search(r"proxy_read_timeout \d+h;", websocket)
    static = nginx_block(text, "location /static/")
    assert "proxy_pass" not in static and ("root " in static or "alias " in static)
    everything_else = nginx_block(text, "location /")
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in everything_else
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in everything_else  # replaces a forged one
    # When nginx passed it on: a request that waited for a worker too long gets a quick 503.
    assert 'proxy_set_header X-Request-Start "t=${msec}";' in everything_else


@pytest.mark.parametrize("path", ["deploy/nginx/docker-locations.conf", "deploy/nginx/queue.conf"])
def test_nginx_sheds_load_before_gunicorns_listen_queue_overflows(path):
    """Past gunicorn's backlog the kernel holds connections nginx believes sent (a 504 after 60 s):
    nginx lets fewer than that many requests at the app and answers the rest busy at once."""
    text = read(path)
    if "listen 443" in text:
        text = text[text.index("listen 443") :]
    everything_else = nginx_block(text, "location /")
    limit = int(re.search(r"limit_conn queue_requests (\d+);", everything_else)[1])
    backlog = int(re.search(r"^backlog = (\d+)$", read("deploy/gunicorn.conf.py"), re.M)[1])

    assert 0 < limit < backlog
    assert "limit_conn_status 503;" in everything_else
    assert "error_page 503 @queue_busy;" in everything_else
    busy = nginx_block(text, "location @queue_busy")
    assert f"add_header Retry-After {Busy().retry_after} always;" in busy  # as the app's own 503
    assert "return 503 $queue_busy_body;" in busy


@pytest.mark.parametrize(
    "path", ["deploy/nginx/queue.conf", "deploy/nginx/docker-http.conf", "deploy/nginx/docker-https.conf"]
)
def test_every_site_takes_the_load_shedding_from_the_one_shared_file(path):
    # At http level, so not in the site files themselves: a second copy would clash with it.
    assert "limit_conn_zone" not in read(path) and "$queue_busy_message {" not in read(path)
    assert "deploy/nginx/queue-busy.conf" in read(path)


def test_nginx_words_its_busy_answer_as_the_app_does_in_every_language(db):
    text = read("deploy/nginx/queue-busy.conf")
    language = nginx_block(text, 'map "$cookie_django_language:$http_accept_language" $queue_busy_language')
    messages = nginx_block(text, "map $queue_busy_language $queue_busy_message")
    bodies = nginx_block(text, "map $queue_busy_type $queue_busy_body")

    assert 'limit_conn_zone "queue" zone=queue_requests:' in text
    # The picker's cookie, then the browser's list, choose among exactly the shipped languages.
    shipped = "|".join(sorted(languages.shipped()))
    assert f'"~^(?<busy_language>{shipped}):" $busy_language;' in language
    assert f"\\s*(?<busy_language>{shipped})(?:" in language
    for code in languages.shipped():
        with translation.override(code):
            said = busy_body()["error"]
        if code != settings.LANGUAGE_CODE:
            assert f'    {code} "{said}";' in messages
    with translation.override(settings.LANGUAGE_CODE):
        english = busy_body()
    assert f'default "{english["error"]}";' in messages
    as_json = re.search(r"\"application/json\" '(.*)';", bodies)[1]
    assert json.loads(as_json.replace("$queue_busy_message", english["error"])) == english
    assert "default $queue_busy_message;" in bodies


class HeldUpstream(http.server.BaseHTTPRequestHandler):
    """/slow/ answers once `release` is set; /own-503/ is the app's own busy answer."""

    arrived, release = threading.Event(), threading.Event()

    def do_GET(self):  # noqa: N802 - http.server's name
        if self.path == "/slow/":
            self.arrived.set()
            self.release.wait(20)
        status, body = (503, b"the app's own") if self.path == "/own-503/" else (200, b"served")
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_past_the_limit_nginx_answers_busy_at_once_in_the_apps_shape(tmp_path, db):
    nginx = overload.nginx_binary()
    if not nginx:
        pytest.skip("nginx is not installed (apt-get install nginx-light)")
    HeldUpstream.arrived.clear(), HeldUpstream.release.clear()
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), HeldUpstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    port = free_port()
    config = overload.nginx_config(tmp_path, port, upstream.server_address[1], 64)
    # The shipped block, one request at the app at most: the second is past the limit.
    (tmp_path / "nginx.conf").write_text(
        config.replace("limit_conn queue_requests 1024;", "limit_conn queue_requests 1;"), encoding="utf-8"
    )
    server = subprocess.Popen([nginx, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-g", "daemon off;"])
    base = f"http://127.0.0.1:{port}"

    def get(path, accept="text/html", language="en", cookie=""):
        headers = {"Accept": accept, "Accept-Language": language}
        if cookie:
            headers["Cookie"] = f"django_language={cookie}"
        try:
            with urllib.request.urlopen(urllib.request.Request(base + path, headers=headers), timeout=10) as r:
                return r.status, r.headers, r.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read().decode()

    held = []
    try:
        for _ in range(100):  # nginx listening
            try:
                get("/own-503/")
                break
            except urllib.error.URLError:
                time.sleep(0.1)
        waiting = threading.Thread(target=lambda: held.append(get("/slow/")))
        waiting.start()
        assert HeldUpstream.arrived.wait(10)

        status, headers, body = get("/queue/join/", accept="application/json")
        assert (status, headers["Content-Type"], headers["Retry-After"]) == (503, "application/json", "2")
        assert json.loads(body) == busy_body()
        status, headers, body = get("/display/")
        assert (status, headers["Content-Type"], body) == (503, "text/plain; charset=utf-8", busy_body()["error"])
        # In the patient's language: the picker's cookie, else the first shipped one the browser lists.
        with translation.override("hi"):
            assert get("/display/", language="hi-IN,hi;q=0.9,en;q=0.5")[2] == busy_body()["error"]
            assert get("/display/", language="fr-CH, fr;q=0.9, hi;q=0.8")[2] == busy_body()["error"]
            assert get("/display/", language="de", cookie="hi")[2] == busy_body()["error"]
        with translation.override("es"):
            assert json.loads(get("/queue/join/", "application/json", "ar", cookie="es")[2]) == busy_body()
            assert get("/display/", language="es-419,es;q=0.9", cookie="fr")[2] == busy_body()["error"]
        with translation.override("en"):
            english = busy_body()["error"]
        for browser in ("de-DE,de;q=0.9", "en-US,en;q=0.9,ar;q=0.8", "chi,eshi", ""):
            assert get("/display/", language=browser)[2] == english, browser

        HeldUpstream.release.set()
        waiting.join(10)
        assert held[0][0] == 200 and held[0][2] == "served"  # the one at the app was served
        assert get("/own-503/")[2] == "the app's own"  # the app's answers pass untouched
    finally:
        HeldUpstream.release.set()
        server.terminate()
        server.wait(10)
        upstream.shutdown()


@pytest.mark.parametrize("path", ["deploy/nginx/docker-locations.conf", "deploy/nginx/queue.conf"])
def test_nginx_compresses_static_text_and_leaves_the_apps_answers_to_the_app(path):
    """The app gzips pages and JSON itself, but not staff answers (BREACH): nginx must not undo
    that choice by compressing what it proxies."""
    text = read(path)
    if "listen 443" in text:
        text = text[text.index("listen 443") :]
    assert re.search(r"^\s*gzip on;", text, re.MULTILINE)
    types = re.search(r"gzip_types ([^;]+);", text).group(1).split()
    assert {"text/css", "application/javascript", "application/json", "image/svg+xml"} <= set(types)
    assert "gzip_static on;" in nginx_block(text, "location /static/")
    assert "gzip off;" in nginx_block(text, "location /")


@pytest.mark.parametrize("path", ["deploy/nginx/docker-https.conf", "deploy/nginx/docker-http.conf"])
def test_nginx_in_compose_balances_every_web_and_ws_replica(path):
    for upstream, service in (("queue_web", "web"), ("queue_ws", "ws")):
        block = nginx_block(read(path), f"upstream {upstream}")
        assert f"server {service}:8000 resolve" in block  # re-resolved: scaled replicas join
        assert f"zone {upstream}" in block
    assert "resolver 127.0.0.11" in read(path)


def test_nginx_on_a_host_sends_http_to_gunicorn_and_balances_several_daphne_processes():
    web = nginx_block(read("deploy/nginx/queue.conf"), "upstream queue_web")
    ws = nginx_block(read("deploy/nginx/queue.conf"), "upstream queue_ws")

    assert re.findall(r"server (127\.0\.0\.1:\d+)", web) == ["127.0.0.1:8000"]  # queue-http.service
    assert len(re.findall(r"server 127\.0\.0\.1:\d+", ws)) >= 2


def test_nginx_https_configs_terminate_tls_and_redirect_plain_http():
    for path in ("deploy/nginx/docker-https.conf", "deploy/nginx/queue.conf"):
        text = read(path)
        assert re.search(r"listen 443 ssl", text), path
        assert "ssl_certificate " in text and "ssl_certificate_key " in text, path
        assert "return 301 https://$host$request_uri;" in text, path
        assert "/.well-known/acme-challenge/" in text, path


SITES = ["deploy/nginx/queue.conf", "deploy/nginx/docker-https.conf", "deploy/nginx/docker-http.conf"]
LOCATIONS = {"deploy/nginx/queue.conf": "deploy/nginx/queue.conf"} | {
    path: "deploy/nginx/docker-locations.conf" for path in SITES[1:]
}


def server_blocks(text: str) -> list[str]:
    blocks = []
    while "server {" in text:
        blocks.append(nginx_block(text, "server"))
        text = text[text.index("server {") + len("server {") + len(blocks[-1]) :]
    return blocks


@pytest.mark.parametrize("path", SITES)
def test_nginx_access_logs_hold_no_query_string_and_no_ticket_link(path):
    """SECURITY.md: ticket links and phone numbers are never logged. nginx's default format logs
    $request, the full request line with its query string (/check_patient/?phone=…)."""
    text = read(path)
    log_format = re.search(r"log_format queue_private (.*?);", text, re.S).group(1)
    assert not re.search(r"\$(request|request_uri|args|arg_\w+|query_string|uri)\b", log_format), log_format
    assert "$queue_logged_uri" in log_format
    mapping = nginx_block(text, "map $uri $queue_logged_uri")
    masked = dict(re.findall(r'^\s*"?([^"\s]+)"?\s+"?([^"\s;]+)"?;', mapping, re.M))
    assert masked["default"] == "$uri"
    pattern, replacement = next((k[1:], v) for k, v in masked.items() if k.startswith("~"))
    assert re.match(pattern, "/t/eyJ0IjoxMiwiZCI6IjIwMjYtMDEtMDEifQ:1tXyZ:abcdef/") and "eyJ" not in replacement
    assert not re.match(pattern, "/display/") and not re.match(pattern, "/staff/")
    # Every server logs in that format (the Docker sites' HTTPS server through the locations file).
    for block in server_blocks(text):
        logged = block if "access_log" in block else read(LOCATIONS[path])
        assert re.search(r"^\s*access_log \S+ queue_private;", logged, re.M), block[:200]


@pytest.mark.parametrize("path", ["deploy/nginx/queue.conf", "deploy/nginx/docker-locations.conf"])
def test_nginx_passes_the_host_with_its_port(path):
    """$host drops a non-standard port (https://clinic:8443): CSRF checks and redirects fail."""
    text = read(path)
    assert "proxy_set_header Host $host;" not in text
    assert text.count("proxy_set_header Host $http_host;") == 2  # the WebSocket and the rest


@pytest.mark.parametrize("path", ["deploy/nginx/queue.conf", *SITES[1:]])
def test_nginx_never_marks_a_restarting_process_down(path):
    """With max_fails, a process that refused connections while it restarted stays out of the
    pool (both out: 502 for everyone) for fail_timeout after it is back."""
    for name in ("queue_web", "queue_ws"):
        upstream = nginx_block(read(path), f"upstream {name}")
        servers = re.findall(r"^\s*server (.+);", upstream, re.M)
        assert servers and all("max_fails=0" in server for server in servers), servers


def test_the_deploying_guide_gives_nginx_room_for_the_screens_it_promises():
    """Each WebSocket holds two nginx connections; Debian's default 768 per worker caps a 2-core
    host at about 700 screens, silently. The guide raises it for the documented 2,000."""
    guide = read("docs/deployment.md")
    per_worker = int(re.search(r"worker_connections (\d+);/", guide).group(1))
    workers, connections_per_screen = 2, 2  # a 2-core host; the browser's and Daphne's
    assert workers * per_worker // connections_per_screen >= 2000
    files = int(re.search(r"worker_rlimit_nofile (\d+);", guide).group(1))
    assert files >= 2 * per_worker


NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if shutil.which("/usr/sbin/nginx") else None)
OPENSSL = shutil.which("openssl")


@pytest.mark.skipif(NGINX is None or OPENSSL is None, reason="nginx and openssl are needed to check the configs")
@pytest.mark.parametrize("site", ["queue.conf", "docker-https.conf", "docker-http.conf"])
def test_nginx_accepts_the_configs(site, tmp_path):
    version = subprocess.run([NGINX, "-v"], capture_output=True, text=True).stderr
    major, minor, patch = (int(n) for n in re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", version).groups())
    subprocess.run(
        [OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=queue.example.org"]
        + ["-keyout", str(tmp_path / "privkey.pem"), "-out", str(tmp_path / "fullchain.pem")],
        check=True,
        capture_output=True,
    )
    text = read(f"deploy/nginx/{site}")
    text = text.replace("/etc/letsencrypt/live/queue.example.org", str(tmp_path)).replace(
        "/etc/nginx/certs", str(tmp_path)
    )
    text = text.replace(
        "/etc/nginx/snippets/queue-locations.conf", str(BASE_DIR / "deploy/nginx/docker-locations.conf")
    )
    text = text.replace("server web:8000", "server 127.0.0.1:8000").replace("server ws:8000", "server 127.0.0.1:8001")
    if (major, minor, patch) < (1, 27, 3):  # older nginx (Debian 12: 1.22) lacks these two
        text = text.replace(" resolve ", " ").replace("http2 on;", "")
    (tmp_path / "site.conf").write_text(text)
    temp_paths = " ".join(f"{kind}_temp_path {tmp_path}/{kind};" for kind in ("client_body", "proxy", "fastcgi"))
    temp_paths += f" uwsgi_temp_path {tmp_path}/uwsgi; scgi_temp_path {tmp_path}/scgi;"
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log; events {{}}\n"
        # conf.d/ as Debian's and the image's nginx.conf include it, beside the site.
        f"http {{ access_log off; {temp_paths} include {BASE_DIR}/deploy/nginx/queue-busy.conf; "
        f"include {tmp_path}/site.conf; }}\n"
    )

    result = subprocess.run(
        [NGINX, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")], capture_output=True, text=True
    )

    assert result.returncode == 0, result.stderr


# --- systemd ---------------------------------------------------------------------------------------


def test_the_systemd_ws_unit_runs_one_daphne_per_port_on_loopback_as_an_unprivileged_user():
    unit = read("deploy/systemd/queue-ws@.service")

    daphne_on_uvloop = r"\S+/python -m queue_system\.asgi_server"
    assert re.search(
        rf"^ExecStart={daphne_on_uvloop} --verbosity 0 --bind 127\.0\.0\.1 --port %i queue_system", unit, re.M
    )
    assert re.search(r"^User=queue$", unit, re.M)
    assert re.search(r"^EnvironmentFile=/etc/queue-system/env$", unit, re.M)
    assert re.search(r"^Requires=queue-prestart\.service$", unit, re.M)
    assert re.search(r"^After=.*queue-prestart\.service", unit, re.M)
    assert "ProtectSystem=strict" in unit and "NoNewPrivileges=yes" in unit


def test_the_systemd_http_unit_runs_gunicorn_with_the_shipped_config_as_an_unprivileged_user():
    unit = read("deploy/systemd/queue-http.service")

    assert re.search(
        r"^ExecStart=\S+/gunicorn -c deploy/gunicorn\.conf\.py queue_system\.wsgi:application$", unit, re.M
    )
    assert re.search(r"^ExecReload=/bin/kill -s HUP \$MAINPID$", unit, re.M)
    assert re.search(r"^User=queue$", unit, re.M)
    assert re.search(r"^Requires=queue-prestart\.service$", unit, re.M)
    assert "ProtectSystem=strict" in unit and "ProtectHome=yes" in unit
    # The workers write the texts, queue-notifications sends them every second.
    assert re.search(r"^Environment=NOTIFY_SENDER_THREAD=0$", unit, re.M)
    assert re.search(r"^Wants=queue-notifications\.service$", unit, re.M)
    sender = read("deploy/systemd/queue-notifications.service")
    assert re.search(r"^ExecStart=\S+/python manage\.py send_notifications --every 1$", sender, re.M)
    # The graceful stop fits in the unit's: gunicorn's graceful_timeout is SHUTDOWN_GRACE_SECONDS.
    stop = int(re.search(r"^TimeoutStopSec=(\d+)$", unit, re.M).group(1))
    assert stop > settings.SHUTDOWN_GRACE_SECONDS


SYSTEMD_ANALYZE = shutil.which("systemd-analyze")


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed")
def test_the_systemd_units_pass_systemd_analyze_verify(tmp_path):
    # The units point at /srv/queue and /etc/queue-system: rebuild those paths under tmp_path.
    root = tmp_path / "srv"
    (root / ".venv/bin").mkdir(parents=True)
    for tool in ("gunicorn", "python"):
        (root / ".venv/bin" / tool).symlink_to(BASE_DIR / ".venv/bin" / tool)
    (tmp_path / "env").write_text("DEBUG=0\n")
    units = tmp_path / "units"
    units.mkdir()
    for unit in (BASE_DIR / "deploy/systemd").iterdir():
        text = unit.read_text().replace("/srv/queue", str(root)).replace("/etc/queue-system/env", str(tmp_path / "env"))
        (units / unit.name).write_text(text)
    shutil.copy(units / "queue-ws@.service", units / "queue-ws@8001.service")
    names = ["queue-ws@8001.service", "queue-http.service", "queue-prestart.service", "queue-housekeeping.service"]
    names += ["queue-notifications.service", "queue.target"]

    result = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", *(f"./{name}" for name in names)],
        cwd=units,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    ours = [line for line in result.stderr.splitlines() if any(name.split("@")[0] in line for name in names)]
    assert ours == []


# --- the scripts the containers and units run ----------------------------------------------------


def prestart(url: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "deploy/prestart.py", *args],
        cwd=BASE_DIR,
        env=clean_env(DEBUG="0", QUEUE_TESTING="1", DATABASE_URL=url),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def applied_migrations(url: str) -> list[str]:
    code = "from django.db import connection as c; c.cursor().execute('SELECT 1'); "
    code += "from django.db.migrations.recorder import MigrationRecorder as R; "
    code += "print('\\n'.join(f'{m.app}.{m.name}' for m in R.Migration.objects.all()))"
    result = manage("shell", "--no-imports", "-c", code, env=clean_env(DEBUG="0", QUEUE_TESTING="1", DATABASE_URL=url))
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def run_concurrently(url: str, count: int) -> list[tuple[int, str]]:
    processes = [prestart(url) for _ in range(count)]
    return [(process.wait(timeout=300), process.stdout.read()) for process in processes]


def test_prestart_migrates_an_empty_database_once_and_then_has_nothing_to_do(tmp_path):
    url = f"sqlite:///{tmp_path}/db.sqlite3"

    first, second = prestart(url), None
    assert first.wait(timeout=300) == 0, first.stdout.read()
    second = prestart(url)
    assert second.wait(timeout=300) == 0
    assert "No migrations to apply" in second.stdout.read()
    assert "queue_app.0001_initial" in applied_migrations(url)


def test_concurrent_prestarts_take_turns_on_sqlite(tmp_path):
    """Replicas starting together: each waits for the lock instead of migrating at once."""
    url = f"sqlite:///{tmp_path}/db.sqlite3"

    results = run_concurrently(url, 3)

    assert [code for code, _ in results] == [0, 0, 0], results
    assert sum("No migrations to apply" in output for _, output in results) == 2
    migrations = applied_migrations(url)
    assert len(migrations) == len(set(migrations))


@pytest.mark.skipif(not ON_MYSQL, reason="needs MariaDB/MySQL (DATABASE_URL=mysql://...) for GET_LOCK")
def test_concurrent_prestarts_take_turns_on_mariadb():
    import MySQLdb

    from ..liveserver import database_url

    db = settings.DATABASES["default"]
    name = f"{db['TEST'].get('NAME') or 'test_' + db['NAME']}_prestart"[:64]
    server = MySQLdb.connect(
        host=db["HOST"] or "127.0.0.1", port=int(db["PORT"] or 3306), user=db["USER"], passwd=db["PASSWORD"]
    )
    server.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
    server.cursor().execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    try:
        url = database_url({**db, "NAME": name})

        results = run_concurrently(url, 3)

        assert [code for code, _ in results] == [0, 0, 0], results
        assert sum("No migrations to apply" in output for _, output in results) == 2
        migrations = applied_migrations(url)
        assert len(migrations) == len(set(migrations))
    finally:
        server.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
        server.close()


@pytest.fixture(scope="module")
def production_server(request, tmp_path_factory):
    """Daphne exactly as in production (no test settings), on its own migrated SQLite file."""
    folder = tmp_path_factory.mktemp("production")
    env = documented_production_env(
        DATABASE_URL=migrated_sqlite(folder / "db.sqlite3"),
        REDIS_URL=None,
        SMS_BACKEND="console",
        TRUSTED_PROXIES="127.0.0.1",
    )
    return start_live_server(request, env=env, name="production", log_dir=folder)


def healthcheck(port: int, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "deploy/healthcheck.py", str(port)],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_the_container_healthcheck_passes_on_a_healthy_server(production_server):
    result = healthcheck(production_server.port, clean_env(ALLOWED_HOSTS=production_server.env["ALLOWED_HOSTS"]))

    assert result.returncode == 0, result.stderr


def test_the_container_healthcheck_fails_when_nothing_answers():
    result = healthcheck(free_port(), clean_env(ALLOWED_HOSTS="queue.example.org"))

    assert result.returncode == 1
    assert result.stderr.startswith("unhealthy: ")


def test_the_container_healthcheck_fails_when_the_server_refuses_its_host(production_server):
    result = healthcheck(production_server.port, clean_env(ALLOWED_HOSTS="other.example.org"))

    assert result.returncode == 1
    assert result.stderr.startswith("unhealthy: 400")


def fetch(server, path: str, **headers: str) -> tuple[int, dict]:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(server.request(path, headers=headers), timeout=10) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers)


def test_production_redirects_plain_http_to_https(production_server):
    status, headers = fetch(production_server, "/display/")

    assert status == 301
    assert headers["Location"] == "https://queue.example.org/display/"


def test_production_behind_the_proxy_sends_hsts_on_https(production_server):
    status, headers = fetch(production_server, "/no-such-page/", **{"X-Forwarded-Proto": "https"})

    assert status == 404  # served, not redirected: the proxy said the client used HTTPS
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"


# --- docs ---------------------------------------------------------------------------------------


def test_the_deploying_guide_names_only_files_that_exist():
    guide = read("docs/deployment.md")
    named = set(re.findall(r"\b((?:deploy|docs|tests)/[\w./@-]+\w)", guide))
    named |= {name for name in ("Dockerfile", "docker-compose.yml", ".env.example", "SECURITY.md") if name in guide}

    assert {"deploy/systemd/queue-ws@.service", "deploy/systemd/queue-http.service", "deploy/gunicorn.conf.py"} <= named
    assert {"deploy/nginx/queue.conf", "tests/liveserver.py"} <= named
    # deploy/certs/ and deploy/acme/ are the deployer's to fill: the folders must exist.
    made_by_deployer = ("deploy/certs/", "deploy/acme/")
    missing = sorted(
        name
        for name in named
        if not (BASE_DIR / name).exists()
        and not (name.startswith(made_by_deployer) and (BASE_DIR / name).parent.is_dir())
    )
    assert missing == []
