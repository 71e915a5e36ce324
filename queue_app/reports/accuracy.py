"""How close the wait estimate came (issue 22, item 5): the wait a ticket showed when it was made
(Ticket.estimated_wait_at_join, whole minutes) against its wait until its first call, over the
tickets that have both."""

from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from .figures import middle

# "Within 2 minutes": the estimate is shown in whole minutes, so one minute is rounding alone;
# the issue counts a change of 2 minutes or more as one a patient notices.
TOLERANCE_MINUTES = 2


def accuracy(errors: list[float]) -> dict | None:
    """From each ticket's error in minutes (estimate − wait until the first call: positive when
    the estimate was too long): how many, the share within TOLERANCE_MINUTES, the median absolute
    error and the mean error (the bias). None for no ticket."""
    if not errors:
        return None
    misses = sorted(abs(e) for e in errors)
    return {
        "patients": len(errors),
        "within_share": sum(1 for e in misses if e <= TOLERANCE_MINUTES) / len(errors),
        "tolerance_minutes": TOLERANCE_MINUTES,
        "median_error_minutes": middle(misses),
        "bias_minutes": sum(errors) / len(errors),
    }


def error_minutes(first_wait_seconds, estimate_minutes) -> float | None:
    """The estimate's error for one ticket, or None when it has no estimate or no call yet."""
    if first_wait_seconds is None or estimate_minutes is None:
        return None
    return estimate_minutes - max(0.0, float(first_wait_seconds)) / 60


def _minutes(value: float) -> str:
    return number_format(round(value, 1), 1)


def sentence(figures: dict | None, *, today: bool) -> str:
    """The figures in plain words for the reports page."""
    if figures is None:
        if today:
            return _("No patient with a recorded estimate has been called yet today.")
        return _("No patient with a recorded estimate was called in this period.")
    values = {
        "n": figures["tolerance_minutes"],
        "share": round(figures["within_share"] * 100),
        "count": figures["patients"],
        "median": _minutes(figures["median_error_minutes"]),
        "bias": _minutes(abs(figures["bias_minutes"])),
    }
    if today:
        text = ngettext(
            "Estimates were within %(n)d minutes for %(share)d%% of the %(count)d patient called today "
            "(median error %(median)s min).",
            "Estimates were within %(n)d minutes for %(share)d%% of the %(count)d patients called today "
            "(median error %(median)s min).",
            figures["patients"],
        )
    else:
        text = ngettext(
            "Estimates were within %(n)d minutes for %(share)d%% of the %(count)d patient called in this "
            "period (median error %(median)s min).",
            "Estimates were within %(n)d minutes for %(share)d%% of the %(count)d patients called in this "
            "period (median error %(median)s min).",
            figures["patients"],
        )
    if round(figures["bias_minutes"], 1) > 0:
        lean = _("On average they were %(bias)s min too long.")
    elif round(figures["bias_minutes"], 1) < 0:
        lean = _("On average they were %(bias)s min too short.")
    else:
        lean = _("On average they were neither too long nor too short.")
    return f"{text % values} {lean % values}"
