from django.conf import settings


def facility(request):
    return {"FACILITY_NAME": settings.FACILITY_NAME}
