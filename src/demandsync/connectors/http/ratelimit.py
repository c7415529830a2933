"""Client-side pacing: stay under an API's documented request limits instead of
collecting 429s.

Some APIs publish a budget rather than (or besides) answering 429 with
``Retry-After``: Aha! allows 300 requests a minute and 20 a second per account
(Databricks' Aha! connector docs, https://docs.databricks.com/aws/en/ingestion/lakeflow-connect/aha-troubleshoot,
citing Aha!'s "API rate limiting" page). A :class:`RateLimiter` holds several
sliding windows at once (``(20, 1.0), (300, 60.0)``) and makes :meth:`acquire`
wait until a request fits into every one of them. It is shared by all threads of
one client (writes run concurrently), and the clock and sleep are injectable so
tests pace thousands of requests without waiting. The 429 that still comes
(other integrations spend the same account budget) is the retry layer's job.

>>> now = [0.0]
>>> limiter = RateLimiter([(2, 1.0)], clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
>>> [limiter.acquire() for _ in range(5)]
[0.0, 0.0, 1.0, 0.0, 1.0]
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence


class RateLimiter:
    """At most ``count`` requests in any ``seconds`` window, for every ``(count, seconds)`` given."""

    def __init__(self, limits: Sequence[tuple[int, float]], *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if not limits or any(count < 1 or seconds <= 0 for count, seconds in limits):
            raise ValueError("limits must be (count >= 1, seconds > 0) pairs")
        self.limits = [(int(count), float(seconds)) for count, seconds in limits]
        self._clock, self._sleep = clock, sleep
        self._sent: deque[float] = deque()  # send times, oldest first, as long as the longest window
        self._lock = threading.Lock()
        #: Seconds spent waiting in all (for tests and benchmarks).
        self.waited = 0.0

    def acquire(self) -> float:
        """Wait until one more request fits every window, count it, return the seconds waited."""
        waited = 0.0
        with self._lock:  # one thread paces at a time: the others queue behind it, in order
            while (delay := self._delay(self._clock())) > 0:
                self._sleep(delay)
                waited += delay
            self._sent.append(self._clock())
            self.waited += waited
        return waited

    def _delay(self, now: float) -> float:
        longest = max(seconds for _, seconds in self.limits)
        while self._sent and now - self._sent[0] >= longest:
            self._sent.popleft()
        delay = 0.0
        for count, seconds in self.limits:
            recent = [t for t in self._sent if now - t < seconds]
            if len(recent) >= count:
                # the oldest request that must leave the window before one more fits
                delay = max(delay, recent[len(recent) - count] + seconds - now)
        return delay


_SHARED: dict[str, RateLimiter] = {}
_SHARED_LOCK = threading.Lock()


def shared_limiter(key: str, limits: Sequence[tuple[int, float]]) -> RateLimiter:
    """The one limiter for ``key`` in this process (``"aha:acme.aha.io"``): a budget that is
    per account must be shared by the tracker and the sources that talk to that account.
    The first caller's ``limits`` win."""
    with _SHARED_LOCK:
        limiter = _SHARED.get(key)
        if limiter is None:
            limiter = _SHARED[key] = RateLimiter(limits)
        return limiter
