"""Turns: at most N threads at once, the others let in first come, first served."""

import collections
import threading


class Turns:
    """A semaphore that hands a returned turn to the thread that has waited longest.

    `threading.Semaphore` lets the thread that gives a turn back take it again at once, ahead of
    threads already waiting: under a steady stream of queue changes one waiting request could go
    without a turn until it gave up (seen: a serve_next answered "busy" after 10 s while seven
    other threads served 400 patients).
    """

    def __init__(self, size: int):
        self.size = size
        self._free = size
        self._lock = threading.Lock()
        self._waiting: collections.deque[threading.Lock] = collections.deque()

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        with self._lock:
            if self._free and not self._waiting:
                self._free -= 1
                return True
            if not blocking:
                return False
            waiter = threading.Lock()
            waiter.acquire()
            self._waiting.append(waiter)
        if waiter.acquire(timeout=-1 if timeout is None else timeout):
            return True  # handed over by release()
        with self._lock:
            try:
                self._waiting.remove(waiter)
            except ValueError:
                return True  # handed over just as the wait ran out: the turn is ours
            return False

    def release(self) -> None:
        with self._lock:
            if self._waiting:
                self._waiting.popleft().release()  # the turn passes straight to the next in line
                return
            if self._free >= self.size:
                raise ValueError("Turns released more often than acquired")
            self._free += 1
