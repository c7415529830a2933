"""Aha! as the tracker: requests per run and the time Aha!'s rate limits impose.

Runs the real ``run_sync`` in this process against the Aha! sandbox (loopback HTTP) on a
generated product: ``--features`` features, ``--ideas`` ideas each promoted to a feature and
carrying ``--votes`` endorsements. The account pacing (20/s and 300/min documented; we send at
most ``requests_per_second``/``requests_per_minute`` of the config, default 15 and 250) runs on a
simulated clock, so the script finishes fast and reports *paced seconds*: how long the same
requests take against a real account at that budget. Wall seconds are the rest (the sandbox
answering, demandsync working).

    .venv/bin/python bench/aha.py                          # 500 features, 1,000 ideas, 3 votes each
    .venv/bin/python bench/aha.py --features 2000 --ideas 100 --votes 1
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from pathlib import Path

import demandsync.connectors.aha.tracker as aha_tracker
from demandsync.config import load_config
from demandsync.connectors.http import RateLimiter
from demandsync.logs import setup_logging
from demandsync.sandbox.aha import AhaSandbox, generate_state
from demandsync.sync.run import run_sync


class SimulatedClock:
    def __init__(self) -> None:
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--features", type=int, default=500)
    ap.add_argument("--ideas", type=int, default=1000)
    ap.add_argument("--votes", type=int, default=3)
    args = ap.parse_args()
    setup_logging(quiet=True)
    clock = SimulatedClock()
    limiters: dict[str, RateLimiter] = {}

    def shared(key: str, limits: list[tuple[int, float]]) -> RateLimiter:
        return limiters.setdefault(key, RateLimiter(limits, clock=lambda: clock.now, sleep=clock.sleep))

    aha_tracker.shared_limiter = shared  # type: ignore[assignment]
    print(f"{args.features} features, {args.ideas} ideas x {args.votes} votes; pacing 15/s and 250/min")
    print(f"{'run':<22}{'GET':>7}{'PUT':>7}{'POST':>6}{'writes':>8}{'paced s':>10}{'wall s':>8}")
    with AhaSandbox(generate_state(args.features, args.ideas, args.votes)) as sandbox, \
            tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "demandsync.toml"
        path.write_text(f"""
[store]
url = "sqlite:///{tmp}/store.db"
[aha]
url = "{sandbox.url}"
api_key = "{sandbox.api_key}"
product = "APP"
[aha.fields]
requests = "customer_requests"
requesters = "requesters"
votes = "votes"
accounts = "accounts"
[[sources]]
name = "ideas"
kind = "aha_ideas"
[linking]
similarity = false
""")
        config = load_config(path)
        for name in ("first run", "re-run, nothing new"):
            sandbox.reset_counters()
            paced, started = clock.now, time.monotonic()
            report = run_sync(config)
            wall = time.monotonic() - started
            by_method = Counter[str]()
            for (method, _), n in sandbox.requests.items():
                by_method[method] += n
            print(f"{name:<22}{by_method['GET']:>7}{by_method['PUT']:>7}{by_method['POST']:>6}"
                  f"{report.writes['applied']:>8}{clock.now - paced:>10.1f}{wall:>8.1f}")
            assert report.exit_code == 0, report.errors


if __name__ == "__main__":
    main()
