"""The deploy guard: PromQL over the new release's own tasks, for the failures health checks miss.

Swarm's rollback catches a release that crashes or never becomes healthy. A release that is
healthy but answers errors, or answers slowly, passes every health check; the guard watches
the new version's error ratio and p95 (the app labels its request metrics with its version)
and says when the error ratio stays over its threshold for `consecutive` checks in a row, or
the p95 for `p95_for_s` seconds.

Why the p95 must hold longer than errors: on a busy machine a good release meets a few slow
seconds (a sibling task starting, another stack's load; seen in CI: p95 1753 ms over 135
requests, one check, a good v2 rolled back). A burst of slow requests stays in the rate window
for `window_s` seconds and no longer, so a p95 breach that outlasts the window is the release's
own, not a burst's. A 5xx is never the machine's doing, so errors trip at once.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from harness.metrics.prometheus import Prometheus

# Requests users make: every route but the probes' own.
USER_ROUTES = 'route!~"/health|/ready|/metrics"'


@dataclass(frozen=True)
class GuardPolicy:
    max_error_ratio: float = 0.05
    max_p95_s: float = 1.0
    window_s: int = 10  # the rate window of each check
    min_requests: float = 10.0  # fewer requests of the new version in the window: no judgement yet
    consecutive: int = 1  # checks in a row over the error ratio before the guard trips
    p95_for_s: float = 12.0  # how long the p95 stays over before the guard trips (> window_s: see above)
    watch_after_s: float = 20.0  # how long the guard keeps watching once the rollout completed


@dataclass(frozen=True)
class Reading:
    requests: float
    error_ratio: float
    p95_s: float

    def describe(self) -> str:
        if math.isnan(self.error_ratio):
            return f"{self.requests:.0f} requests"
        p95 = "-" if math.isnan(self.p95_s) else f"{self.p95_s * 1000:.0f} ms"
        return f"{self.requests:.0f} requests, errors {self.error_ratio * 100:.1f} %, p95 {p95}"


def queries(version: str, window_s: int) -> dict[str, str]:
    """The guard's PromQL for one release; also shown in its verdict so it can be re-run."""
    sel = f'job="app",version="{version}",{USER_ROUTES}'
    return {
        "requests": f"sum(increase(http_requests_total{{{sel}}}[{window_s}s]))",
        "errors": f'sum(increase(http_requests_total{{{sel},status=~"5.."}}[{window_s}s]))',
        "p95": f"histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{{{sel}}}"
               f"[{window_s}s])))",
    }


class Guard:
    """Checks one release against a policy; call `check` about once a second."""

    def __init__(self, prometheus: Prometheus, version: str, policy: GuardPolicy,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.version = version
        self.policy = policy
        self.queries = queries(version, policy.window_s)
        self._prometheus = prometheus
        self._clock = clock
        self._over = 0  # checks in a row over the error ratio
        self._slow_since: float | None = None  # when the p95 went over, while it stays over
        self.judged = 0  # checks that had enough requests of the new release to judge it
        self.last = Reading(0.0, math.nan, math.nan)

    def _scalar(self, query: str) -> float:
        found = self._prometheus.vector(query)
        return found[0].value if found else math.nan

    def read(self) -> Reading:
        requests = self._scalar(self.queries["requests"])
        if math.isnan(requests) or requests < self.policy.min_requests:
            return Reading(0.0 if math.isnan(requests) else requests, math.nan, math.nan)
        errors = self._scalar(self.queries["errors"])
        p95 = self._scalar(self.queries["p95"])
        return Reading(requests, 0.0 if math.isnan(errors) else errors / requests, p95)

    def check(self) -> str:
        """The reason to roll back once a threshold has been exceeded long enough; else ""."""
        self.last = reading = self.read()
        now = self._clock()
        self.judged += not math.isnan(reading.error_ratio)
        erroring = not math.isnan(reading.error_ratio) and reading.error_ratio > self.policy.max_error_ratio
        self._over = self._over + 1 if erroring else 0
        slow = not math.isnan(reading.p95_s) and reading.p95_s > self.policy.max_p95_s
        if not slow:
            self._slow_since = None
        elif self._slow_since is None:
            self._slow_since = now
        breaches = []
        if erroring and self._over >= self.policy.consecutive:
            breaches.append(f"error ratio {reading.error_ratio * 100:.1f} % > {self.policy.max_error_ratio * 100:g} % "
                            f"({self._over} checks in a row)")
        if self._slow_since is not None and now - self._slow_since >= self.policy.p95_for_s:
            breaches.append(f"p95 {reading.p95_s * 1000:.0f} ms > {self.policy.max_p95_s * 1000:.0f} ms "
                            f"(for {now - self._slow_since:.0f} s)")
        if not breaches:
            return ""
        return (f"deploy guard: {' and '.join(breaches)} on the {self.version} tasks "
                f"({reading.requests:.0f} requests in {self.policy.window_s} s)")

    def no_verdict(self) -> str:
        """Why a release the guard could never judge is not declared live; "" once it judged it."""
        if self.judged:
            return ""
        return (f"deploy guard: no verdict on {self.version}: it served {self.last.requests:.0f} requests in "
                f"{self.policy.window_s} s, fewer than the {self.policy.min_requests:g} needed to judge it "
                "(deploy under traffic, or pass --no-guard)")
