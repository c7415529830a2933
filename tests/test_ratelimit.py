"""Client-side pacing under a published budget (Aha!: 20 requests a second, 300 a minute)."""

from __future__ import annotations

import threading

import httpx

from demandsync.connectors.http import ApiClient, RateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now += seconds


def test_pacing_keeps_every_window_under_both_limits() -> None:
    clock = FakeClock()
    limiter = RateLimiter([(20, 1.0), (300, 60.0)], clock=clock, sleep=clock.sleep)
    sent = []
    for _ in range(650):
        limiter.acquire()
        sent.append(clock.now)
    # 20 per second: the 300th request goes at t=14, the 301st waits for the first to leave the minute
    assert sent[299] == 14.0 and sent[300] == 60.0 and sent[600] == 120.0
    for i in range(len(sent)):
        assert sum(1 for t in sent[i:i + 21] if t - sent[i] < 1.0) <= 20
        assert sum(1 for t in sent[i:i + 301] if t - sent[i] < 60.0) <= 300
    assert limiter.waited == sent[-1]


def test_the_client_paces_every_attempt() -> None:
    clock = FakeClock()
    limiter = RateLimiter([(20, 1.0)], clock=clock, sleep=clock.sleep)
    client = ApiClient("https://acme.aha.io", rate_limiter=limiter,
                       transport=httpx.MockTransport(lambda r: httpx.Response(200, json={})))
    for _ in range(45):
        client.request_json("GET", "/api/v1/me")
    assert client.request_counts[("GET", "/api/v1/me")] == 45
    assert clock.now == 2.0  # requests 21-40 wait one second, 41-45 another
