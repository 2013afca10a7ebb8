"""The autoscaler's loop (target-stack/autoscaler/autoscaler.py, issue #33): what it reads,
when it holds, what it asks the gate, what it says. Prometheus and scaler-gate are stand-ins
answering on real loopback ports; the decision itself is tests/unit/test_hpa.py's."""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.unit.httpstub import send_json
from tests.unit.scripts import load_script

loop_module = load_script("target-stack/autoscaler/autoscaler.py", "devsim_autoscaler")
LOAD, READY = "sum(rate(app_requests[30s]))", "sum(ready_replicas)"


@dataclass
class World:
    answers: dict[str, Any] = field(default_factory=lambda: {LOAD: 60.0, READY: 3.0})  # None: an empty result
    replicas: int = 3
    updating: bool = False
    scale_status: int = 200
    asked: list[int] = field(default_factory=list)


def handler(world: World) -> type[BaseHTTPRequestHandler]:
    class Both(BaseHTTPRequestHandler):
        def _json(self, status: int, body: Any) -> None:
            send_json(self, status, body)

        def do_GET(self) -> None:
            url = urllib.parse.urlparse(self.path)
            if url.path == "/state":
                self._json(200, {"replicas": world.replicas, "updating": world.updating, "update_state": ""})
                return
            query = urllib.parse.parse_qs(url.query)["query"][0]
            value = world.answers.get(query)
            result = [] if value is None else [{"metric": {}, "value": [0, str(value)]}]
            self._json(200, {"status": "success", "data": {"resultType": "vector", "result": result}})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            world.asked.append(body["replicas"])
            if world.scale_status == 200:
                self._json(200, {"replicas": body["replicas"], "was": world.replicas})
            else:
                self._json(world.scale_status, {"error": "the service is updating: no scaling until it ends"})

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Both


@pytest.fixture
def world() -> Iterator[tuple[World, str]]:
    state = World()
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler(state))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def loop(url: str, prometheus: str = "", **policy: Any) -> Any:
    chosen = {"target": 20.0, "minimum": 2, "maximum": 6, "down_window_s": 0.0, **policy}
    return loop_module.Loop(loop_module.Autoscaler(loop_module.Policy(**chosen)), prometheus or url, url, LOAD, READY)


def test_a_load_over_the_target_asks_the_gate_for_more(world: tuple[World, str]) -> None:
    state, url = world
    state.answers[LOAD] = 100.0  # 100 requests a second over 20 per replica: 5
    entry = loop(url).step(1000.0)
    assert state.asked == [5]
    assert (entry["outcome"], entry["current"], entry["desired"], entry["load"]) == ("scaled", 3, 5, 100.0)
    assert entry["reason"] == "load 100 / target 20 per replica: 5 recommended"


def test_switched_off_it_decides_and_logs_but_never_asks(world: tuple[World, str]) -> None:
    state, url = world
    state.answers[LOAD] = 100.0
    scaler = loop(url)
    scaler.enabled = False
    entry = scaler.step(1000.0)
    assert state.asked == []
    assert (entry["outcome"], entry["desired"]) == ("off", 5)
    assert entry["reason"].endswith("(AUTOSCALER=off: not asked)")


def test_within_the_tolerance_nothing_is_asked(world: tuple[World, str]) -> None:
    state, url = world
    state.answers[LOAD] = 63.0  # 5 % over 3 x 20
    entry = loop(url).step(1000.0)
    assert (entry["outcome"], entry["desired"], state.asked) == ("keep", 3, [])


@pytest.mark.parametrize("missing", ["empty", "down"])
def test_no_reading_holds_the_count_and_says_so(world: tuple[World, str], missing: str) -> None:
    state, url = world
    state.answers[LOAD] = None
    prometheus = "http://127.0.0.1:9" if missing == "down" else ""  # nothing listens on the discard port
    scaler = loop(url, prometheus)
    entry = scaler.step(1000.0)
    assert (entry["outcome"], entry["desired"], state.asked) == ("hold", 3, [])
    assert entry["reason"].startswith("hold: no reading of the load")
    assert 'devsim_autoscaler_decisions_total{outcome="hold",kind="no-reading"} 1' in scaler.counters.exposition()


def test_a_rollout_holds_the_count_however_high_the_load(world: tuple[World, str]) -> None:
    state, url = world
    state.answers[LOAD], state.updating = 500.0, True
    scaler = loop(url)
    entry = scaler.step(1000.0)
    assert (entry["outcome"], entry["desired"], state.asked) == ("hold", 3, [])
    assert "devsim_autoscaler_updating 1" in scaler.counters.exposition()


def test_a_refusal_by_the_gate_is_logged_as_refused(world: tuple[World, str]) -> None:
    state, url = world
    state.answers[LOAD], state.scale_status = 100.0, 409
    entry = loop(url).step(1000.0)
    assert (entry["outcome"], state.asked) == ("refused", [5])
    assert entry["gate"]["status"] == 409


def test_the_gate_down_holds(world: tuple[World, str]) -> None:
    state, url = world
    scaler = loop_module.Loop(loop_module.Autoscaler(loop_module.Policy(target=20.0)), url, "http://127.0.0.1:9",
                              LOAD, READY)
    entry = scaler.step(1000.0)
    assert entry["outcome"] == "hold"
    assert entry["reason"].startswith("hold: the gate did not answer")
    assert state.asked == []


def test_the_metrics_show_the_last_inputs_and_the_counts(world: tuple[World, str]) -> None:
    state, url = world
    scaler = loop(url)
    state.answers[LOAD] = 100.0
    scaler.step(1000.0)
    state.replicas, state.answers[LOAD] = 5, 100.0
    scaler.step(1015.0)
    text = scaler.counters.exposition()
    assert "devsim_autoscaler_current_replicas 5" in text
    assert "devsim_autoscaler_load 100" in text
    assert 'devsim_autoscaler_decisions_total{outcome="scaled",kind="up"} 1' in text
    assert 'devsim_autoscaler_decisions_total{outcome="keep",kind="within-tolerance"} 1' in text


def test_predictive_reads_the_trend_and_scales_ahead_of_the_load(world: tuple[World, str]) -> None:
    state, url = world
    trend = "predict_linear(load[30s:5s], 20)"
    state.answers[LOAD], state.answers[trend] = 62.0, 130.0  # 62 on 3 x 20: within; the trend: one ahead
    policy = loop_module.policy_from({"TARGET": "20", "MIN": "2", "MAX": "6", "EXPERIMENTAL_MODE": "true"})
    assert (policy.predictive, policy.lead_s) == (True, 20.0)
    scaler = loop_module.Loop(loop_module.Autoscaler(policy), url, url, LOAD, READY, trend)
    entry = scaler.step(1000.0)
    assert (entry["outcome"], entry["desired"], entry["predicted"], state.asked) == ("scaled", 4, 130.0, [4])
    assert "devsim_autoscaler_predicted_load 130" in scaler.counters.exposition()
    assert loop_module.policy_from({"TARGET": "20"}).predictive is False  # off unless EXPERIMENTAL_MODE=true
    assert loop_module.predict_query(20.0).startswith("predict_linear((sum(rate(http_requests_total{")
    assert loop_module.predict_query(20.0).endswith("[30s:5s], 20)")
