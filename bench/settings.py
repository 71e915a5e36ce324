"""The bench server's settings: the project's own, plus the floor views and a query counter.

Everything else (middleware, database, channel layer, cache, sessions, limits) is exactly what
queue_system/settings.py reads from the environment the bench sets, so the floor view and the
real endpoints run through the same stack in the same process.
"""

from queue_system.settings import *  # noqa: F403
from queue_system.settings import INSTALLED_APPS, MIDDLEWARE, STORAGES

# /bench/floor/ (the trivial JSON view) and /bench/floor/write/ (the least a join can do, with its
# two tables) beside every project URL.
ROOT_URLCONF = "bench.floor_urls"
INSTALLED_APPS = [*INSTALLED_APPS, "bench.minimal"]

# First, so it counts every query of the request, the session save included, and adds
# `X-Bench-Queries` to the answer. One Python call per query; the floor view pays it too.
MIDDLEWARE = ["bench.middleware.QueryCountMiddleware", *MIDDLEWARE]

# A throwaway server: pages (the staff login form) render without `collectstatic` and its manifest.
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
WHITENOISE_USE_FINDERS = True

# What-if experiments (`--override NAME=JSON`): settings the bench changes on purpose, listed in
# the report's header, so a run with them is never mistaken for the stock configuration.
_overrides = __import__("json").loads(__import__("os").environ.get("BENCH_OVERRIDES") or "{}")
globals().update(_overrides)
