from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from .. import selectors
from .base import ApiView
from .schemas import DisplaySnapshotSerializer


@extend_schema(
    responses=DisplaySnapshotSerializer,
    summary="What the wall display shows (public: names per DISPLAY_NAME_MODE, never phones)",
)
class DisplayDataApi(ApiView):
    authentication_classes = []

    def get(self, request):
        return Response(selectors.display_snapshot())
