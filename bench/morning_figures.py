"""A simulated clinic morning's figures (overtakes, positions up, waits, estimates, correctness) and
their plain-text table: what `python -m bench.morning` reports."""

import statistics
from collections import defaultdict


def figures(morning) -> dict:
    """One morning's figures, from what `Morning` recorded as it ran."""
    from queue_app.models import Ticket

    unfinished = Ticket.objects.filter(service__in=morning.services.values()).active().count()
    announced = {pk for pk, _minute in morning.sent_called}
    called_ids = {v.pk for v in morning.visits.values() if v.called}
    waits = defaultdict(list)
    for visit in morning.visits.values():
        first_in = {}
        for service, waited in visit.called:
            first_in.setdefault(service, waited)
        for service, waited in first_in.items():
            waits[service].append(waited)
    lost = sorted(morning.lost_minutes.values())
    # The estimate a patient saw when they joined their service's line, against their wait.
    errors = [
        visit.estimates[0][1] - visit.called[0][1]
        for visit in morning.visits.values()
        if visit.estimates and visit.called and visit.estimates[0][0] >= visit.arrived - 1e-9
    ]
    return {
        "calls": morning.tally["calls"],
        "calls_overtaking": morning.tally["calls overtaking"],
        "overtakes": morning.tally["overtakes"],
        "minutes_lost_total": round(sum(lost), 1),
        "minutes_lost_max": round(max(lost, default=0.0), 1),
        "patients_losing_minutes": len(lost),
        "positions_up": sum(morning.ups.values()),
        "patients_moved_back": len(morning.up_patients),
        "positions_up_by_cause": dict(morning.ups.most_common()),
        "waits": {
            service: {
                "patients": len(values),
                "median": round(statistics.median(values), 1),
                "p90": round(percentile(values, 0.9), 1),
                "max": round(max(values), 1),
            }
            for service, values in sorted(waits.items())
            if values
        },
        "correctness": {
            "called_twice": morning.tally["called twice"],
            "lost": unfinished,
            "never_announced": len(called_ids - announced),
        },
        "end_minute": round(morning.clock.minutes, 1),
        "estimate": {
            "patients": len(errors),
            "median_abs_error": round(statistics.median(abs(e) for e in errors), 1) if errors else None,
            "bias": round(statistics.fmean(errors), 1) if errors else None,
            "within_2_min": round(100 * sum(abs(e) <= 2 for e in errors) / len(errors)) if errors else None,
            "rises_nobody_ahead": dict(morning.rises),
        },
    }


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def table(results: dict) -> str:
    modes = list(results)
    rows = [
        ("calls", lambda r: r["calls"]),
        ("calls overtaking within a class", lambda r: r["calls_overtaking"]),
        ("overtakes within a class", lambda r: r["overtakes"]),
        ("minutes lost to overtakes: total", lambda r: r["minutes_lost_total"]),
        ("minutes lost to overtakes: most by one", lambda r: r["minutes_lost_max"]),
        ("positions that went up (patients)", lambda r: f"{r['positions_up']} ({r['patients_moved_back']})"),
    ]
    for service in ("OPD", "Test"):
        rows.append(
            (
                f"{service} wait min: median / p90 / max",
                lambda r, s=service: "{median} / {p90} / {max}".format(**r["waits"][s]) if s in r["waits"] else "-",
            )
        )
    rows += [
        (
            "called twice / lost / never announced",
            lambda r: "{called_twice} / {lost} / {never_announced}".format(**r["correctness"]),
        ),
        ("last patient called at minute", lambda r: r["end_minute"]),
        (
            "estimate at joining: median |error| / bias, min",
            lambda r: "{median_abs_error} / {bias}".format(**r["estimate"]),
        ),
        ("estimates within 2 min (%)", lambda r: r["estimate"]["within_2_min"]),
        ("estimate rises of 2+ min, nobody put ahead", lambda r: sum(r["estimate"]["rises_nobody_ahead"].values())),
    ]
    width = max(len(label) for label, _ in rows)
    lines = [f"{'':{width}}  " + "  ".join(f"{m:>16}" for m in modes)]
    for label, value in rows:
        lines.append(f"{label:{width}}  " + "  ".join(f"{value(results[m])!s:>16}" for m in modes))
    for mode in modes:
        rises = results[mode]["estimate"]["rises_nobody_ahead"]
        if rises:
            lines.append(f"\n{mode}: estimate rises of 2+ minutes with nobody put ahead, by cause")
            lines += [f"  {n:4d}  {cause}" for cause, n in rises.items()]
        causes = results[mode]["positions_up_by_cause"]
        if causes:
            lines.append(f"\n{mode}: positions up by cause")
            lines += [f"  {n:4d}  {cause}" for cause, n in causes.items()]
    return "\n".join(lines)
