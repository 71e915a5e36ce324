from django.conf import settings
from django.urls import path, register_converter

from .api import display as display_api
from .api import patient as patient_api
from .api import reception as reception_api
from .api import staff as staff_api
from .models import parse_id
from .views import debug, display, health, patient, qr, reception, reports, sms_status, staff


class AnyIdConverter:
    """A ticket id in a path: any segment matches, and one that is not an id becomes 0.

    With <int:...> a path like tickets/abc/recall/ matched no route and got Django's HTML 404
    page; now the view answers it as it answers an unknown id (the API's JSON 404).
    """

    regex = "[^/]+"

    def to_python(self, value: str) -> int:
        return parse_id(value) or 0

    def to_url(self, value) -> str:
        return str(value)


register_converter(AnyIdConverter, "id")

urlpatterns = [
    # Patient
    path("", patient.home_redirect, name="home_redirect"),
    path("patient/login/", patient.patient_login, name="patient_login"),
    path("patient/logout/", patient.patient_logout, name="patient_logout"),
    path("send_otp/", patient_api.SendOtpApi.as_view(), name="send_otp"),
    path("verify_otp/", patient_api.VerifyOtpApi.as_view(), name="verify_otp"),
    path("check_patient/", patient_api.CheckPatientApi.as_view(), name="check_patient"),
    path("service/selection/", patient.service_selection, name="service_selection"),
    path("queue/join/", patient_api.JoinQueueApi.as_view(), name="join_queue"),
    path("queue/cancel/", patient_api.CancelTicketApi.as_view(), name="cancel_ticket"),
    path("queue/notify/", patient_api.NotifyApi.as_view(), name="ticket_notify"),
    path("dashboard/", patient.patient_dashboard, name="patient_dashboard"),
    path("qr/", qr.poster, name="qr_poster"),
    path("qr.png", qr.qr_png, name="qr_png"),
    path("qr.svg", qr.qr_svg, name="qr_svg"),
    # Staff
    path("staff/login/", staff.staff_login, name="staff_login"),
    path("staff/dashboard/", staff.staff_dashboard, name="staff_dashboard"),
    path("staff/switch_counter/", staff.switch_counter, name="switch_counter"),
    path("staff/serve_next/", staff_api.ServeNextApi.as_view(), name="serve_next"),
    path("staff/skip_patient/", staff_api.SkipPatientApi.as_view(), name="skip_patient"),
    path("staff/update_status/", staff_api.UpdateStatusApi.as_view(), name="update_counter_status"),
    path("staff/announce_patient/", staff_api.AnnouncePatientApi.as_view(), name="announce_patient"),
    path("staff/get_queue_data/", staff_api.QueueDataApi.as_view(), name="get_queue_data"),
    path("staff/transfer_patient/", staff_api.TransferPatientApi.as_view(), name="transfer_patient"),
    path("staff/back_to_line/", staff_api.BackToLineApi.as_view(), name="back_to_line"),
    path("staff/set_priority/", staff_api.SetPriorityApi.as_view(), name="set_priority"),
    path("staff/logout/", staff.staff_logout, name="staff_logout"),
    # Reception desk (docs/reception.md)
    path("staff/reception/", reception.reception_desk, name="reception_desk"),
    path("staff/reception/tickets/", reception_api.TicketsApi.as_view(), name="reception_tickets"),
    path("staff/reception/tickets/<id:ticket_id>/recall/", reception_api.RecallApi.as_view(), name="reception_recall"),
    path("staff/reception/tickets/<id:ticket_id>/move/", reception_api.MoveApi.as_view(), name="reception_move"),
    path("staff/reception/tickets/<id:ticket_id>/cancel/", reception_api.CancelApi.as_view(), name="reception_cancel"),
    path(
        "staff/reception/tickets/<id:ticket_id>/priority/",
        reception_api.PriorityApi.as_view(),
        name="reception_priority",
    ),
    path("staff/reception/tickets/<id:ticket_id>/slip/", reception.reception_slip, name="reception_slip"),
    path("t/<str:token>/", reception.ticket_link, name="ticket_link"),
    # Display
    path("display/", display.display_screen, name="display_screen"),
    path("display/screen/data/", display_api.DisplayDataApi.as_view(), name="display_screen_data"),
    # Reports (docs/reports.md)
    path("reports/", reports.reports_page, name="reports"),
    path("reports/overview/", reports.overview_fragment, name="reports_overview"),
    path("reports/tickets.csv", reports.tickets_csv, name="reports_tickets_csv"),
    path("reports/summary.csv", reports.summary_csv, name="reports_summary_csv"),
    path("healthz/", health.healthz, name="healthz"),
    path("sms/status/", sms_status.sms_status, name="sms_status"),
]

if settings.DEBUG:
    urlpatterns += [
        path("debug/counters/", debug.debug_counters, name="debug_counters"),
        path("debug/session/", debug.debug_session, name="debug_session"),
    ]
