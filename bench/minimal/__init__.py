"""The least a join can do on this stack, as a second floor beside the trivial view.

`POST /bench/floor/write/<lane>/` is what PERF-NOTES' throwaway app measured as its join: in one
transaction it locks today's sequence row of the lane (`SELECT … FOR UPDATE`), takes the next
number, inserts one row, and after the commit sends one message to one channel-layer group. The
load generator spreads its requests over as many lanes as the run has services, so the floor
takes turns on as many row locks as the real joins do. No session, no patient, no DRF, no
history, no position lists: any real join does at least this, so its latency and its capacity in
the same run, on the same server and settings, bound what the project's join can reach
(bench/README.md).

Installed only by `bench.settings`: its tables exist in the bench's own database, never in the
project's.
"""
