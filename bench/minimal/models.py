from django.db import models


class Sequence(models.Model):
    """One row per day and lane (a service's stand-in): the number its last entry took."""

    day = models.DateField()
    lane = models.PositiveSmallIntegerField(default=0)
    last = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "lane"], name="bench_minimal_sequence_day_lane")]

    def __str__(self) -> str:
        return f"{self.day} lane {self.lane}: {self.last}"


class Entry(models.Model):
    day = models.DateField()
    lane = models.PositiveSmallIntegerField(default=0)
    number = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "lane", "number"], name="bench_minimal_entry_day_lane_number")
        ]

    def __str__(self) -> str:
        return f"{self.day} lane {self.lane} #{self.number}"
