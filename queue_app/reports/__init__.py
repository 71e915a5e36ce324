"""Reports for the people who run the clinic: the live overview, history over a date range and
the CSV exports (docs/reports.md). Reads only; figures computed in Python from one query each."""
