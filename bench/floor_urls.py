"""The project's URLs plus /bench/floor/: a trivial sync JSON view, the framework's cost floor.

It goes through the same ASGI handler, thread hop and middleware stack as every real endpoint,
but touches neither the database nor the channel layer.
"""

from django.http import JsonResponse
from django.urls import path

from queue_system.urls import urlpatterns as project_urlpatterns


def floor(request):
    return JsonResponse({"ok": True})


urlpatterns = [path("bench/floor/", floor, name="bench_floor"), *project_urlpatterns]
