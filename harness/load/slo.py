"""Service-level objectives over a whole load run: a tiny grammar, parsed and evaluated.

    SLO    := METRIC [SCOPE] OP NUMBER [UNIT]
    METRIC := error_ratio | failures | requests | rps | avg | p50 | p90 | p95 | p99 | max
    SCOPE  := { LABEL="VALUE" [, LABEL="VALUE"] }   LABEL: name (a request name), phase (a
              load shape's phase): the figure of those requests only, from the request log
    OP     := <  <=  >  >=  ==  !=
    UNIT   := ms | s        for avg, p50, p90, p95, p99, max (a bare number means ms)
              %             for error_ratio (0.5% == 0.005)
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from harness.errors import UsageError

GRAMMAR = (
    "SLO := METRIC [{name=\"...\", phase=\"...\"}] OP NUMBER [UNIT]; METRIC: error_ratio failures requests rps avg "
    "p50 p90 p95 p99 max; OP: < <= > >= == !=; UNIT: ms or s for latencies (bare = ms), % for error_ratio"
)
SCOPE_LABELS = ("name", "phase")

LATENCIES = frozenset({"avg", "p50", "p90", "p95", "p99", "max"})
METRICS = LATENCIES | {"error_ratio", "failures", "requests", "rps"}
OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le, ">=": operator.ge, "==": operator.eq, "!=": operator.ne, "<": operator.lt, ">": operator.gt,
}
DEFAULT_SLOS = ("error_ratio<0.01", "p95<500ms", "p99<1s")

_METRIC = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*")
_OP = re.compile(r"(<=|>=|==|!=|<|>)\s*")
_LABEL = re.compile(r'\s*([a-z_]+)\s*=\s*"([^"\\]*)"\s*(,|\})\s*')
_NUMBER = re.compile(r"([0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?|\.[0-9]+(?:[eE][+-]?[0-9]+)?)\s*")
_UNIT = re.compile(r"([A-Za-z%]*)\s*$")


class SloSyntaxError(UsageError):
    """A bad SLO expression: names the bad token and shows the grammar."""

    def __init__(self, expression: str, token: str, problem: str) -> None:
        super().__init__(f"bad SLO {expression!r}: {problem} {token!r}", hint=GRAMMAR)
        self.expression = expression
        self.token = token


@dataclass(frozen=True)
class Slo:
    """One objective. `threshold` is in the metric's own unit (ms for latencies, a ratio)."""

    text: str
    metric: str
    op: str
    threshold: float
    scope: tuple[tuple[str, str], ...] = ()  # (label, value): name and/or phase

    def label(self, name: str) -> str:
        return dict(self.scope).get(name, "")

    def holds(self, measured: float) -> bool:
        if math.isnan(measured):
            return False
        return OPERATORS[self.op](measured, self.threshold)


@dataclass(frozen=True)
class SloResult:
    slo: Slo
    measured: float
    passed: bool


def parse(expression: str) -> Slo:
    """Parses one expression; a bad one raises SloSyntaxError naming the bad token."""
    text = expression.strip()
    m = _METRIC.match(expression)
    if not m:
        raise SloSyntaxError(expression, text[:1] or expression, "expected a metric, got")
    metric = m.group(1)
    if metric not in METRICS:
        raise SloSyntaxError(expression, metric, "unknown metric")
    pos = m.end()
    scope: list[tuple[str, str]] = []
    if expression[pos:pos + 1] == "{":
        pos += 1
        while True:
            lab = _LABEL.match(expression, pos)
            if not lab:
                raise SloSyntaxError(expression, expression[pos:].strip()[:20] or "end of text",
                                     'expected label="value" (name or phase), got')
            if lab.group(1) not in SCOPE_LABELS or lab.group(1) in dict(scope):
                raise SloSyntaxError(expression, lab.group(1), "a scope takes name and phase once each; bad label")
            scope.append((lab.group(1), lab.group(2)))
            pos = lab.end()
            if lab.group(3) == "}":
                break
    o = _OP.match(expression, pos)
    if not o:
        raise SloSyntaxError(expression, expression[pos:].strip()[:10] or "end of text", "expected an operator, got")
    pos = o.end()
    n = _NUMBER.match(expression, pos)
    if not n:
        raise SloSyntaxError(expression, expression[pos:].strip()[:10] or "end of text", "expected a number, got")
    value = float(n.group(1))
    pos = n.end()
    u = _UNIT.match(expression, pos)
    if not u:
        raise SloSyntaxError(expression, expression[pos:].strip(), "unexpected text")
    unit = u.group(1)
    return Slo(text, metric, o.group(1), _scale(expression, metric, value, unit), tuple(scope))


def _scale(expression: str, metric: str, value: float, unit: str) -> float:
    if metric in LATENCIES:
        factors = {"": 1.0, "ms": 1.0, "s": 1000.0}
    elif metric == "error_ratio":
        factors = {"": 1.0, "%": 0.01}
    else:
        factors = {"": 1.0}
    if unit not in factors:
        allowed = ", ".join(repr(u) for u in factors if u) or "no unit"
        raise SloSyntaxError(expression, unit, f"{metric} takes {allowed}; bad unit")
    scaled = value * factors[unit]
    if metric == "error_ratio" and not 0 <= scaled <= 1:
        # a ratio lies in [0, 1] (0-100 %): a threshold outside it holds always or never
        raise SloSyntaxError(expression, f"{value:g}{unit}", "error_ratio is between 0 and 1 (0-100%); out of range")
    return scaled


def parse_all(expressions: list[str] | tuple[str, ...]) -> tuple[Slo, ...]:
    return tuple(parse(e) for e in expressions)


def evaluate(slos: tuple[Slo, ...], measured: Mapping[str, float],
             scoped: Callable[[Slo], float] | None = None) -> tuple[SloResult, ...]:
    """Each SLO against the run's figures (latencies in ms); a scoped one against what
    `scoped` measures for it (NaN, which fails, when nothing does)."""
    results = []
    for slo in slos:
        if slo.scope:
            value = scoped(slo) if scoped is not None else math.nan
        else:
            value = float(measured.get(slo.metric, math.nan))
        results.append(SloResult(slo, value, slo.holds(value)))
    return tuple(results)


def describe(metric: str, value: float) -> str:
    """A figure as a person reads it: latencies in ms, ratios in percent."""
    if math.isnan(value):
        return "n/a"
    if metric in LATENCIES:
        return f"{value:g} ms"
    if metric == "error_ratio":
        return f"{value:.4%}"
    if metric == "rps":
        return f"{value:.1f}/s"
    return f"{value:g}"
