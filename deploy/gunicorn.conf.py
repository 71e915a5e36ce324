"""gunicorn: the HTTP server of production (queue_system.wsgi); Daphne serves the WebSocket.

    gunicorn -c deploy/gunicorn.conf.py queue_system.wsgi:application

Read from the environment (the same file as the app's settings):
  WEB_BIND          where to listen (default 127.0.0.1:8000; the container: 0.0.0.0:8000)
  WEB_CONCURRENCY   worker processes (default: 2 per CPU core + 1)
  WEB_THREADS       threads per worker (default 1: sync workers; more: gthread workers)
Measured in bench/README.md: sync workers behind nginx (which buffers slow clients, so a sync
worker never waits on one), more of them than cores, so that the cores work while some workers
wait for MariaDB and Redis; threads in a worker share its GIL with the one holding a service's
lock, and stretched the hold.
"""

import os
import sys

# A worker's connection to MariaDB is kept between its requests (settings.py: DB_CONN_MAX_AGE).
os.environ.setdefault("DB_CONN_MAX_AGE", "300")

bind = [os.environ.get("WEB_BIND", "127.0.0.1:8000")]
workers = int(os.environ.get("WEB_CONCURRENCY") or 2 * (os.cpu_count() or 1) + 1)
threads = int(os.environ.get("WEB_THREADS") or 1)
worker_class = "gthread" if threads > 1 else "sync"
# Each worker starts its own sender and housekeeping threads (queue_system/wsgi.py): a preloaded
# app's threads would stay in the master process, where no request wakes them.
preload_app = False
backlog = 2048
# At SIGTERM (systemd, Docker) a worker finishes the request in progress, then publishes what
# is still on its way (worker_exit below), within this; keep it below TimeoutStopSec=20 and
# Docker's stop_grace_period.
graceful_timeout = int(os.environ.get("SHUTDOWN_GRACE_SECONDS") or 8)
timeout = 60  # a worker silent this long is killed and replaced (nginx gives up at 60 s too)
keepalive = 5  # gthread only: nginx keeps connections to the upstream open
# The app writes one line per request (queue.requests), without query strings or ticket links;
# gunicorn's own access log would show both.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info")
# No X-Forwarded-* from gunicorn: the app trusts them only from TRUSTED_PROXIES (settings.py).
forwarded_allow_ips = ""
proc_name = "queue-http"
# No control socket (gunicorn 24+ makes one in $HOME, which the units and the image keep read-only).
control_socket_disable = True


def worker_exit(server, worker):
    wsgi = sys.modules.get("queue_system.wsgi")  # absent when the app failed to load
    if wsgi is not None:
        wsgi.finish(grace=graceful_timeout)
