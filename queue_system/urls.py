from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularRedocView.as_view(url_name="schema"), name="api_docs"),
    path("", include("queue_app.urls")),
]

# A client asking for JSON gets the API's {"error", "code"} from these too, never an HTML page.
handler400 = "queue_app.views.errors.bad_request"
handler403 = "queue_app.views.errors.permission_denied"
handler404 = "queue_app.views.errors.page_not_found"
