from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView

from queue_app.views.language import set_language

urlpatterns = [
    path("admin/", admin.site.urls),
    # Ours first (same URL and name): it remembers a patient's choice and logs unknown codes.
    path("i18n/setlang/", set_language, name="set_language"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularRedocView.as_view(url_name="schema"), name="api_docs"),
    path("", include("queue_app.urls")),
]

# A client asking for JSON gets the API's {"error", "code"} from these too, never an HTML page.
handler400 = "queue_app.views.errors.bad_request"
handler403 = "queue_app.views.errors.permission_denied"
handler404 = "queue_app.views.errors.page_not_found"
