from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.load.slo import (
    GRAMMAR,
    LATENCIES,
    METRICS,
    OPERATORS,
    SloSyntaxError,
    evaluate,
    parse,
    parse_all,
)


@pytest.mark.parametrize(
    ("text", "metric", "op", "threshold"),
    [
        ("error_ratio<0.001", "error_ratio", "<", 0.001),
        ("failures==0", "failures", "==", 0.0),
        ("p95<250ms", "p95", "<", 250.0),
        ("p99<1s", "p99", "<", 1000.0),
        ("p50 < 20", "p50", "<", 20.0),
        ("rps>=100", "rps", ">=", 100.0),
        ("max<=2.5s", "max", "<=", 2500.0),
        ("error_ratio<0.5%", "error_ratio", "<", 0.005),
        ("  avg != 3ms ", "avg", "!=", 3.0),
    ],
)
def test_documented_expressions_parse(text: str, metric: str, op: str, threshold: float) -> None:
    slo = parse(text)
    assert (slo.metric, slo.op) == (metric, op)
    assert slo.threshold == pytest.approx(threshold)


@pytest.mark.parametrize(("text", "threshold"), [("error_ratio<100%", 1.0), ("error_ratio<=1", 1.0),
                                                ("error_ratio==0%", 0.0), ("error_ratio<0.5%", 0.005)])
def test_error_ratio_bounds_are_inclusive(text: str, threshold: float) -> None:
    assert parse(text).threshold == pytest.approx(threshold)


@pytest.mark.parametrize(
    ("text", "token", "problem"),
    [
        ("p96<1s", "p96", "unknown metric"),
        ("p95 ~ 1s", "~ 1s", "expected an operator"),
        ("p95<", "end of text", "expected a number"),
        ("p95<fast", "fast", "expected a number"),
        ("p95<1min", "min", "bad unit"),
        ("rps>=100ms", "ms", "bad unit"),
        ("error_ratio<1s", "s", "bad unit"),
        ("error_ratio<150%", "150%", "out of range"),
        ("error_ratio<=1.5", "1.5", "out of range"),
        ("error_ratio<100.01%", "100.01%", "out of range"),
        ("<1s", "<", "expected a metric"),
    ],
)
def test_bad_expressions_name_the_token_and_show_the_grammar(text: str, token: str, problem: str) -> None:
    with pytest.raises(SloSyntaxError) as info:
        parse(text)
    assert info.value.token == token
    assert problem in info.value.message
    assert repr(token) in info.value.message
    assert info.value.hint == GRAMMAR
    assert info.value.exit_code == 2


numbers = st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False)


@given(metric=st.sampled_from(sorted(METRICS)), op=st.sampled_from(sorted(OPERATORS)), value=numbers,
       spaces=st.sampled_from(["", " ", "  "]))
def test_any_well_formed_expression_round_trips(metric: str, op: str, value: float, spaces: str) -> None:
    unit = "ms" if metric in LATENCIES else ""
    if metric == "error_ratio":
        value = min(value, 1.0)  # a ratio above 1 is refused (test above)
    slo = parse(f"{metric}{spaces}{op}{spaces}{value!r}{unit}")
    assert (slo.metric, slo.op) == (metric, op)
    assert slo.threshold == pytest.approx(value)


@given(value=numbers)
def test_seconds_are_a_thousand_milliseconds(value: float) -> None:
    assert parse(f"p99<{value!r}s").threshold == pytest.approx(parse(f"p99<{value!r}ms").threshold * 1000)


@given(threshold=numbers, measured=numbers, op=st.sampled_from(sorted(OPERATORS)))
def test_evaluation_agrees_with_the_operator(threshold: float, measured: float, op: str) -> None:
    slo = parse(f"p95{op}{threshold!r}ms")
    (result,) = evaluate((slo,), {"p95": measured})
    assert result.passed == OPERATORS[op](measured, slo.threshold)
    assert result.measured == measured


@given(text=st.text(max_size=30))
def test_arbitrary_text_either_parses_or_raises_the_documented_error(text: str) -> None:
    try:
        slo = parse(text)
    except SloSyntaxError as exc:
        message = exc.message
    else:
        assert slo.metric in METRICS
        return
    assert message.startswith(f"bad SLO {text!r}")


def test_a_missing_figure_never_passes() -> None:
    (result,) = evaluate(parse_all(["p95<1s"]), {})
    assert math.isnan(result.measured)
    assert not result.passed
