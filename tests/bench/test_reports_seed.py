"""The reports benchmark's seeding (bench/reports.py) with tiny numbers, so it cannot rot; the
benchmark itself (a year of tickets) is run by hand and its numbers are in bench/README.md."""

from bench.reports import measure, seed_history
from queue_app.models import QueueHistory, Ticket


def test_seeding_a_few_days_makes_tickets_with_history_and_a_busy_today(db):
    seeded = seed_history(days=2, per_day=30)
    assert seeded["tickets"] == Ticket.objects.count() >= 60
    assert QueueHistory.objects.filter(action="joined").count() == Ticket.objects.count()
    assert Ticket.objects.filter(status="called").count() == 6  # one a counter, today


def test_the_measurements_run_on_the_seeded_days(db, settings):
    settings.ALLOWED_HOSTS = ["localhost"]
    seed_history(days=2, per_day=30)
    result = measure(requests=1, exports=1)
    assert result["tickets_csv_year"]["runs"][0]["rows"] == Ticket.objects.count()
    assert result["overview"]["ms"]["count"] == 1
