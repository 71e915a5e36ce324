"""The project's URLs plus two floors, served by the same process through the same stack.

/bench/floor/ is a trivial sync JSON view, the framework's cost: the same ASGI handler, thread
hop and middleware as every real endpoint, but neither the database nor the channel layer.
/bench/floor/write/<lane>/ is the least a join can do (`bench.minimal`): a locked number, one row, one
group message.
"""

from django.http import JsonResponse
from django.urls import path

from bench.minimal import views as minimal
from queue_system.urls import urlpatterns as project_urlpatterns


def floor(request):
    return JsonResponse({"ok": True})


urlpatterns = [
    path("bench/floor/", floor, name="bench_floor"),
    path("bench/floor/write/<int:lane>/", minimal.write, name="bench_floor_write"),
    *project_urlpatterns,
]
