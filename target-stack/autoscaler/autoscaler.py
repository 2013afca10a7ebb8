"""The app's autoscaler (issue #33, docs/stack/autoscaling.md): every LOOP_S it reads the load
and the ready replicas from Prometheus and the replica count and rollout state from
scaler-gate, decides with hpa.py, asks the gate for the new count, and says why: one JSON log
line per decision, and its inputs and outcome as metrics on :METRICS_PORT/metrics.

It holds the count, and says so, when a reading fails (Prometheus down, an empty answer) or a
rollout runs; the gate refuses too, so a race between the two cannot scale over an update.

Environment: PROMETHEUS_URL, GATE_URL, LOAD_QUERY (requests a second the app serves),
READY_QUERY (replicas in the load balancer's rotation), TARGET (requests a second one replica
is meant to carry), MIN, MAX, TOLERANCE, UP_WINDOW_S, DOWN_WINDOW_S, PERIOD_S, UP_PERCENT,
UP_PODS, DOWN_PERCENT, ON_NO_READING (hold; minimum), LOOP_S (15), METRICS_PORT (9105), AUTOSCALER (on; off: decide and
log, never ask the gate), EXPERIMENTAL_MODE (true: predictive, the load's trend LEAD_S ahead from
PREDICT_QUERY may scale up early). Stdlib only (Debian's python3).
"""

from __future__ import annotations

import json
import math
import os
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hpa import Autoscaler, Policy
from quiet import QuietServer

# The app's own requests a second: not the checks and scrapes that reach every replica
# whatever the traffic (they would read as load that more replicas cannot spread), nor its
# server errors: while the database failed over, clients got fast 503s and, each sending its
# next request at once, doubled the rate; counted, they scaled the app 3 -> 6 for an outage
# more replicas cannot help (CI, db-primary-failover).
# An idle app has no series of served requests yet: its load is then 0 while Prometheus scrapes
# an app replica, and no reading only when it scrapes none (an outage of the metrics).
SERVED = 'sum(rate(http_requests_total{job="app",route!~"/health|/ready|/metrics",status!~"5.."}[30s]))'
LOAD_QUERY = f'{SERVED} or (0 * sum(up{{job="app"}} == 1))'


def predict_query(lead_s: float) -> str:
    """The load `lead_s` ahead on its trend: a line fitted to the last 30 s of the load.
    A 30 s rate of a ramp lags it by about 15 s; the line makes up that lag and a new
    replica's start."""
    return f"predict_linear(({SERVED})[30s:5s], {lead_s:g})"


def get_json(url: str, timeout: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as answer:
        return json.loads(answer.read())


def post_json(url: str, body: dict[str, Any], timeout: float = 10.0) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def scalar(prometheus: str, query: str) -> float | None:
    """One number from an instant query; None when the query fails, is empty or not finite."""
    try:
        answer = get_json(f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": query}))
    except (OSError, ValueError):
        return None
    result = answer.get("data", {}).get("result", []) if answer.get("status") == "success" else []
    if len(result) != 1:
        return None
    value = float(result[0]["value"][1])
    return value if math.isfinite(value) else None


@dataclass
class Counters:
    """What /metrics shows: the last inputs and decision, and counts by outcome."""

    last: dict[str, float] = field(default_factory=dict)
    totals: dict[tuple[str, str], int] = field(default_factory=dict)  # (outcome, reason kind) -> count
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, gauges: dict[str, float], outcome: str, kind: str) -> None:
        with self.lock:
            self.last.update(gauges)
            self.totals[(outcome, kind)] = self.totals.get((outcome, kind), 0) + 1

    def exposition(self) -> str:
        with self.lock:
            lines = [f"devsim_autoscaler_{name} {value:g}" for name, value in sorted(self.last.items())]
            lines += [f'devsim_autoscaler_decisions_total{{outcome="{o}",kind="{k}"}} {n}'
                      for (o, k), n in sorted(self.totals.items())]
        return "\n".join(lines) + "\n"


@dataclass
class Loop:
    scaler: Autoscaler
    prometheus: str
    gate: str
    load_query: str
    ready_query: str
    predict_query: str = ""  # the predictive mode's query ("" when it is off)
    counters: Counters = field(default_factory=Counters)
    enabled: bool = True  # AUTOSCALER=off: every decision made and logged, none asked of the gate

    def step(self, now: float) -> dict[str, Any]:
        """One decision: reads, decides, asks the gate; returns what it logs."""
        try:
            gate_state = get_json(f"{self.gate}/state")
        except (OSError, ValueError) as exc:
            entry = {"at": round(now, 3), "outcome": "hold", "reason": f"hold: the gate did not answer ({exc})"}
            self.counters.record({}, "hold", "gate")
            return entry
        current, updating = int(gate_state["replicas"]), bool(gate_state["updating"])
        load = scalar(self.prometheus, self.load_query)
        ready = scalar(self.prometheus, self.ready_query)
        predicted = scalar(self.prometheus, self.predict_query) if self.predict_query else None
        decision = self.scaler.decide(now, current, int(ready) if ready is not None else current, load, updating,
                                      predicted)
        entry: dict[str, Any] = {"at": round(now, 3), "current": current, "ready": ready, "load": load,
                                 "updating": updating, "recommendation": decision.recommendation,
                                 "desired": decision.desired, "reason": decision.reason}
        if decision.reason.startswith("hold"):
            outcome, kind = "hold", "rollout" if updating else "zero" if current == 0 else "no-reading"
        elif decision.desired == current:
            outcome, kind = "keep", "within-tolerance"
        elif not self.enabled:
            outcome, kind = "off", "up" if decision.desired > current else "down"
            entry["reason"] += " (AUTOSCALER=off: not asked)"
        else:
            status, answer = post_json(f"{self.gate}/scale", {"replicas": decision.desired})
            outcome = "scaled" if status == 200 else "refused"
            kind = "up" if decision.desired > current else "down"
            entry["gate"] = {"status": status, "answer": answer}
        entry["outcome"] = outcome
        gauges = {"current_replicas": float(current), "desired_replicas": float(decision.desired),
                  "updating": 1.0 if updating else 0.0}
        if load is not None:
            gauges["load"] = load
        if self.predict_query:
            entry["predicted"] = predicted
            if predicted is not None:
                gauges["predicted_load"] = predicted
        self.counters.record(gauges, outcome, kind)
        return entry


def policy_from(env: dict[str, str]) -> Policy:
    def number(name: str, default: float) -> float:
        return float(env.get(name, default))

    return Policy(target=number("TARGET", 20), minimum=int(number("MIN", 2)), maximum=int(number("MAX", 6)),
                  tolerance=number("TOLERANCE", 0.1), up_window_s=number("UP_WINDOW_S", 0),
                  down_window_s=number("DOWN_WINDOW_S", 300), period_s=number("PERIOD_S", 15),
                  up_percent=number("UP_PERCENT", 100), up_pods=int(number("UP_PODS", 4)),
                  down_percent=number("DOWN_PERCENT", 100), on_no_reading=env.get("ON_NO_READING", "hold"),
                  predictive=env.get("EXPERIMENTAL_MODE", "false") == "true", lead_s=number("LEAD_S", 20))


def serve_metrics(counters: Counters, port: int) -> None:
    class Metrics(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            data = counters.exposition().encode() if self.path == "/metrics" else b"ok\n"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = QuietServer(("0.0.0.0", port), Metrics)
    threading.Thread(target=server.serve_forever, daemon=True).start()


def main() -> None:
    env = dict(os.environ)
    policy = policy_from(env)
    problems = policy.problems()
    if problems:
        sys.exit("autoscaler: " + "; ".join(problems))
    loop = Loop(Autoscaler(policy), env.get("PROMETHEUS_URL", "http://monitoring:9090"),
                env.get("GATE_URL", "http://scaler-gate:8090"),
                env.get("LOAD_QUERY", LOAD_QUERY),
                env.get("READY_QUERY", 'sum(haproxy_backend_active_servers{proxy="app"})'),
                env.get("PREDICT_QUERY", predict_query(policy.lead_s)) if policy.predictive else "",
                enabled=env.get("AUTOSCALER", "on") != "off")
    serve_metrics(loop.counters, int(env.get("METRICS_PORT", "9105")))
    every = float(env.get("LOOP_S", "15"))
    print(json.dumps({"started": True, "policy": policy.__dict__}), flush=True)
    while True:
        print(json.dumps(loop.step(time.time())), flush=True)
        time.sleep(every)


if __name__ == "__main__":
    main()
