from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from .. import selectors
from .base import ApiView


@extend_schema(
    responses=inline_serializer(
        "DisplaySnapshot", {"counters": serializers.ListField(), "recent_calls": serializers.ListField()}
    ),
    summary="What the wall display shows (public: names per DISPLAY_NAME_MODE, never phones)",
)
class DisplayDataApi(ApiView):
    authentication_classes = []

    def get(self, request):
        return Response(selectors.display_snapshot())
