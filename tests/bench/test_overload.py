"""bench.overload puts the shipped `location /` (with its X-Request-Start stamp and its cap on
requests at the app) in front of gunicorn, and says so plainly when nginx is missing. The load
itself is too long for a test: its figures are in bench/README.md."""

import subprocess

import pytest

from bench import overload


def test_the_proxy_is_the_shipped_one_with_the_queue_stamp(tmp_path):
    config = overload.nginx_config(tmp_path, port=18400, upstream=18401, connections=4096)

    assert 'proxy_set_header X-Request-Start "t=${msec}";' in config
    assert "proxy_read_timeout 60s;" in config
    assert "proxy_connect_timeout 2s;" in config
    assert "server 127.0.0.1:18401 max_fails=0;" in config
    assert "listen 127.0.0.1:18400" in config
    # Its load shedding too: the cap on requests at the app, and nginx's own busy answer.
    assert "limit_conn queue_requests 1024;" in config
    assert "location @queue_busy {" in config
    assert 'limit_conn_zone "queue" zone=queue_requests:1m;' in config


def test_nginx_accepts_the_configuration(tmp_path):
    nginx = overload.nginx_binary()
    if not nginx:
        pytest.skip("nginx is not installed (apt-get install nginx-light)")
    (tmp_path / "nginx.conf").write_text(overload.nginx_config(tmp_path, 18400, 18401, 4096), encoding="utf-8")

    checked = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")], capture_output=True, text=True
    )

    assert checked.returncode == 0, checked.stderr


def test_without_nginx_it_skips_with_a_clear_message(monkeypatch, capsys):
    monkeypatch.setattr(overload, "nginx_binary", lambda: None)

    assert overload.main(["--duration", "1"]) == 0
    assert "skipped: nginx is not installed" in capsys.readouterr().out
