from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from .. import selectors
from .base import ApiView
from .schemas import DisplaySnapshotSerializer


@extend_schema(
    parameters=[
        OpenApiParameter(
            "service", int, required=False, description="Only this service's counters and calls (unknown: all)."
        )
    ],
    responses=DisplaySnapshotSerializer,
    summary="What the wall display shows (public: names per DISPLAY_NAME_MODE, never phones)",
)
class DisplayDataApi(ApiView):
    authentication_classes = []

    def get(self, request):
        service_id = selectors.display_service(request.query_params.get("service"))
        return Response(selectors.display_snapshot(service_id=service_id))
