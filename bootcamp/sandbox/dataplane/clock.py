"""The data plane's clock: AWS's timings, or N times faster with BOOTCAMP_SANDBOX_SPEED=N.

Health-check intervals, grace periods, cooldowns, warm-ups and metric periods are AWS's
numbers in the control plane (a target group's HealthCheckIntervalSeconds stays 30). The loops
that act on them ask this module how long that is here: at speed 1 (the default) a learner
sees AWS's real timings; tests and demos run at 10 or more and need not wait minutes.
Sandbox time (`now`) runs at the same speed, from the moment the clock was made, so metric
datapoints and alarm periods line up with the intervals that produced them.
"""

from __future__ import annotations

import datetime
import os
import time

SETTING = "BOOTCAMP_SANDBOX_SPEED"


def speed(env=None) -> float:
    """The factor from BOOTCAMP_SANDBOX_SPEED: a number of at least 1 (bad values mean 1)."""
    env = os.environ if env is None else env
    try:
        value = float(env.get(SETTING, "1"))
    except ValueError:
        return 1.0
    return value if value >= 1 else 1.0


class Clock:
    def __init__(self, factor: float | None = None):
        self.factor = speed() if factor is None else max(1.0, float(factor))
        self._wall = datetime.datetime.now(datetime.timezone.utc)
        self._start = time.monotonic()

    def real(self, aws_seconds: float) -> float:
        """How many seconds of this machine's time AWS's `aws_seconds` last here."""
        return max(0.0, float(aws_seconds)) / self.factor

    def elapsed(self, since_monotonic: float) -> float:
        """AWS seconds gone by since a time.monotonic() reading."""
        return (time.monotonic() - since_monotonic) * self.factor

    def now(self) -> datetime.datetime:
        """Sandbox time: the wall clock at start, then running `factor` times faster."""
        return self._wall + datetime.timedelta(seconds=self.elapsed(self._start))
