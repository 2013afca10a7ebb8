"""The autoscaler's decision, with Kubernetes' HorizontalPodAutoscaler semantics (issue #33),
apart from how it reads its signal and changes the replica count: pure, so that every rule is
tested without a stack (tests/unit/test_hpa.py).

Side by side with the HPA (kubernetes.io, HPAScalingRules):

| rule | HPA | here |
|---|---|---|
| desired | ceil(current x metric / target) | ceil(load / per-replica target), the same with a total load |
| tolerance | no change while ratio within 10 % | `tolerance`, 0.1 by default |
| not-ready pods | 0 % on scale-up, ignored on scale-down | up: load over every replica; down: over ready ones |
| stabilisation | up 0 s (lowest of window), down 300 s (highest of window) | `up_window_s`, `down_window_s` |
| rate policies | up max(100 %, 4 pods) / 15 s, down 100 % / 15 s | `up_percent`, `up_pods`, `down_percent` |
| bounds | minReplicas, maxReplicas | `minimum`, `maximum` |
| metric missing | keeps the count | holds, and says so (KEDA scaled to the minimum: #3064) |
| rollout | counts surge pods (kubernetes #72775) | no decision while an update or rollback runs |
| zero replicas | scaling disabled while the workload is at 0 | holds at 0 (someone took the app down on purpose) |
| predictive | none (GKE, AWS forecast from history) | the trend may add one replica early, never in |

Stdlib only: it runs in the stack's autoscaler container with Debian's python3.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Policy:
    target: float  # load one replica is meant to carry (e.g. requests a second)
    minimum: int = 1
    maximum: int = 10
    tolerance: float = 0.1
    up_window_s: float = 0.0
    down_window_s: float = 300.0
    period_s: float = 15.0
    up_percent: float = 100.0
    up_pods: int = 4
    down_percent: float = 100.0
    # what a loop without a reading of the load does: hold the count (here, the HPA), or go to
    # the minimum (KEDA's fallback as its users met it, #3064: the negative control)
    on_no_reading: str = "hold"
    # predictive (EXPERIMENTAL_MODE=true): a trend of the load `lead_s` ahead may add one
    # replica before the load itself asks; it never scales in (only what was measured does)
    predictive: bool = False
    lead_s: float = 20.0

    def problems(self) -> list[str]:
        """What makes the policy unusable, for a one-line refusal before anything scales."""
        found = []
        if not (math.isfinite(self.target) and self.target > 0):
            found.append(f"the target must be above 0, got {self.target:g}")
        if not 1 <= self.minimum <= self.maximum:
            found.append(f"the bounds must be 1 <= min <= max, got min {self.minimum}, max {self.maximum}")
        if not (math.isfinite(self.tolerance) and 0 <= self.tolerance < 1):
            found.append(f"the tolerance must be in [0, 1), got {self.tolerance:g}")
        for name in ("up_window_s", "down_window_s", "period_s", "lead_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0 <= value <= 3600):
                found.append(f"{name} must be between 0 and 3600 s, got {value:g}")
        if self.period_s <= 0:
            found.append("period_s must be above 0")
        if self.up_percent <= 0 or self.down_percent <= 0 or self.up_pods < 0:
            found.append("the rate policies must allow a change")
        if self.on_no_reading not in ("hold", "minimum"):
            found.append(f"on_no_reading must be hold or minimum, got {self.on_no_reading!r}")
        return found


@dataclass(frozen=True)
class Decision:
    desired: int
    reason: str
    recommendation: int | None  # what the signal alone asked for (None: no reading)


@dataclass
class Autoscaler:
    """Decides once a loop; remembers recommendations (for the windows) and changes (for the
    rate policies)."""

    policy: Policy
    recommendations: list[tuple[float, int]] = field(default_factory=list)
    changes: list[tuple[float, int, int]] = field(default_factory=list)  # (time, replicas before, after)
    last_change: float | None = None  # when the count last changed (the predictive step waits lead_s after it)

    def decide(self, now: float, current: int, ready: int, load: float | None, updating: bool = False,
               predicted: float | None = None) -> Decision:
        """`predicted`: the load `lead_s` ahead on its trend, used only with `policy.predictive`."""
        policy = self.policy
        if updating:
            return Decision(current, "hold: a rolling update or rollback is in progress", None)
        if current == 0:  # the HPA's rule: a workload scaled to zero by hand is left there
            return Decision(0, "hold: the app is scaled to 0 (taken down on purpose); autoscaling resumes "
                            "once it runs again", None)
        if load is None or not math.isfinite(load) or load < 0:
            if policy.on_no_reading == "minimum":
                return Decision(policy.minimum, "no reading of the load (the query failed or was empty): down to "
                                "the minimum", None)
            return Decision(max(current, policy.minimum), "hold: no reading of the load (the query failed or "
                            "was empty)", None)
        raw = self._recommend(current, ready, load)
        ahead = self._ahead(now, current, ready, load, raw, predicted)
        if ahead is not None:
            raw = ahead
        self.recommendations.append((now, raw))
        horizon = now - max(policy.up_window_s, policy.down_window_s)
        self.recommendations = [(t, r) for t, r in self.recommendations if t >= horizon]
        stabilised = self._stabilise(now, current, raw)
        desired = min(max(self._limit(now, current, stabilised), policy.minimum), policy.maximum)
        if desired != current:
            self.last_change = now
            self.changes.append((now, current, desired))
            self.changes = [c for c in self.changes if c[0] >= now - policy.period_s]
        reason = (f"load {load:g} / target {policy.target:g} per replica: "
                  + (f"{raw} recommended, one ahead of it (predicted {predicted or 0:g} in {policy.lead_s:g} s)"
                     if ahead is not None else f"{raw} recommended")
                  + (f", {stabilised} after the window" if stabilised != raw else "")
                  + (f", {desired} within the bounds and rate" if desired != stabilised else ""))
        return Decision(desired, reason, raw)

    def _recommend(self, current: int, ready: int, load: float) -> int:
        policy = self.policy
        wanted = math.ceil(load / policy.target) if load > 0 else 0
        # scale-up: not-ready replicas carry nothing; scale-down: only ready ones are counted
        counted = current if wanted > current else ready
        ratio = load / (max(counted, 1) * policy.target)
        if abs(ratio - 1) <= policy.tolerance:
            return current
        return max(wanted, 0)

    def _ahead(self, now: float, current: int, ready: int, load: float, raw: int,
               predicted: float | None) -> int | None:
        """One replica more than now, when predictive, the measured load asks for no change,
        the predicted load (past the tolerance) asks for more, and the count has not changed
        for `lead_s` (the last step has had the time to show in the load); None otherwise.
        Without these, a line went on rising past a ramp's end and overshot by a replica, one
        step a loop (benchmarks/autoscale.py, 2026-12-07)."""
        policy = self.policy
        if not policy.predictive or predicted is None or not math.isfinite(predicted) or predicted <= load:
            return None
        if raw > current:  # the load already asks for more: it decides
            return None
        if self.last_change is not None and now - self.last_change < policy.lead_s:
            return None
        return current + 1 if self._recommend(current, ready, predicted) > current else None

    def _stabilise(self, now: float, current: int, raw: int) -> int:
        policy = self.policy
        if raw > current:
            window = [r for t, r in self.recommendations if t >= now - policy.up_window_s]
            return max(min(window), current) if window else raw
        if raw < current:
            window = [r for t, r in self.recommendations if t >= now - policy.down_window_s]
            return min(max(window), current) if window else raw
        return raw

    def _limit(self, now: float, current: int, wanted: int) -> int:
        """The rate policies: at most this much change per period, from the replica count a
        period ago."""
        policy = self.policy
        base = self._count_at(now - policy.period_s, current)
        if wanted > current:
            most = base + max(math.ceil(base * policy.up_percent / 100), policy.up_pods)
            return min(wanted, max(most, current))
        if wanted < current:
            least = base - math.ceil(base * policy.down_percent / 100)
            return max(wanted, min(least, current))
        return wanted

    def _count_at(self, moment: float, current: int) -> int:
        """The replica count at `moment`: what the first change after it changed from."""
        later = [before for t, before, _ in self.changes if t > moment]
        return later[0] if later else current
