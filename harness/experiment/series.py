"""Series of runs of one experiment: `devsim run --prove` (as shipped, then under each declared
negative control) and `devsim run --repeat N` (N runs, the spread of each claim).

    prove:  up (as shipped) -> run -> for each control: up --set its switches -> run
            -> finally: up (as shipped again) -> power.assess -> the shipped run's verdict.json
    repeat: run x N (each ends with the stack's steady state) -> trials.json in the first run's folder
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness.context import RunContext
from harness.errors import HarnessError, UsageError
from harness.experiment import power
from harness.experiment.run import Outcome, RunOptions, run_one
from harness.report import render
from harness.runs import RunFiles
from harness.stack import lifecycle
from harness.stack.services import running_switches
from harness.verdict import trials
from harness.verdict.record import EXIT, UnderControl

MAX_REPEAT = 100


def check_repeat(count: int) -> None:
    if not 1 <= count <= MAX_REPEAT:
        raise UsageError(f"--repeat must be between 1 and {MAX_REPEAT}, got {count}")


def check_provable(path: Path, experiment: dict[str, Any]) -> None:
    """Before any fault: --prove needs controls to run."""
    if not power.controls(experiment):
        raise UsageError(f"{path}: --prove needs negative controls, and the experiment declares none",
                         hint="add `controls:` to its devsim extension; see experiments/app-instance-crash.yaml")


def _publish(ctx: RunContext, outcome: Outcome) -> Path | None:
    return render.publish_after_run(outcome.run_dir, ctx.settings.reports_dir, ctx.progress)


def prove(ctx: RunContext, path: Path, experiment: dict[str, Any], options: RunOptions) -> Outcome:
    """The experiment as shipped, then once per declared control; the shipped run's verdict
    gets each claim's power. The stack is put back as shipped whatever happens."""
    settings, progress, driver = ctx.settings, ctx.progress, ctx.driver
    declared = power.controls(experiment)
    progress.step(f"--prove: {path.name} as shipped first, then under {len(declared)} negative control(s)")
    lifecycle.up(driver, settings, ctx.target, progress)  # every switch at its shipped value
    shipped = run_one(ctx, path, experiment, options)
    if shipped.interrupted or shipped.status != "passed":
        progress.warn(f"as shipped the run is {shipped.status}: its controls would show nothing, so none runs")
        return shipped
    runs: list[power.ControlRun] = []
    interrupted = False
    try:
        for n, control in enumerate(declared, start=1):
            progress.step(f"control {n}/{len(declared)} {control.name!r}: setting {control.describe()}")
            try:
                lifecycle.up(driver, settings.replace(overrides=control.switches), ctx.target, progress)
            except HarnessError as exc:
                runs.append(power.ControlRun(control, None, f"its switches could not be set: {exc.one_line()}"))
                continue
            found = running_switches(driver, settings, ctx.target.switch_reader(driver, settings))  # read back
            wrong = {k: v for k, v in control.switches if found.get(k) != v}
            if wrong:  # the stack does not carry what the control set: its run would show nothing
                carried = ", ".join(f"{k} is {found.get(k)!r}, not {v!r}" for k, v in wrong.items())
                runs.append(power.ControlRun(control, None, f"the stack does not carry its switches: {carried}"))
                continue
            record = UnderControl(control.name, dict(control.switches), shipped.verdict.run_id,
                                  {k: found.get(k) for k, _ in control.switches})
            under = replace(options, control=record, variables={**options.variables, **dict(control.variables)})
            outcome = run_one(ctx, path, experiment, under)
            _publish(ctx, outcome)
            runs.append(power.ControlRun(control, outcome.verdict))
            if outcome.interrupted:
                interrupted = True
                break
    finally:
        progress.step("putting the stack back as shipped")
        lifecycle.up(driver, settings, ctx.target, progress)
    verdict = power.assess(shipped.verdict, runs)
    if interrupted:
        verdict = replace(verdict, status="error", reason=f"interrupted under control {runs[-1].control.name!r}; "
                          "the stack was put back as shipped")
    verdict.write(RunFiles(shipped.run_dir))
    return Outcome(verdict, shipped.run_dir, interrupted=interrupted)


@dataclass(frozen=True)
class Trials:
    outcomes: tuple[Outcome, ...]
    claims: tuple[trials.ClaimTrials, ...]
    status: str
    reason: str
    file: Path | None

    @property
    def exit_code(self) -> int:
        return EXIT[self.status]

    @property
    def interrupted(self) -> bool:
        return any(o.interrupted for o in self.outcomes)


def repeat(ctx: RunContext, path: Path, experiment: dict[str, Any], options: RunOptions, count: int) -> Trials:
    """`count` runs of the experiment, one after the other; stops early only when interrupted."""
    outcomes: list[Outcome] = []
    for n in range(1, count + 1):
        ctx.progress.step(f"--repeat: run {n} of {count} of {path.name}")
        outcome = run_one(ctx, path, experiment, options)
        _publish(ctx, outcome)
        outcomes.append(outcome)
        if outcome.interrupted:
            break
    verdicts = [o.verdict for o in outcomes]
    found = trials.summarise(verdicts)
    status, reason = trials.status(verdicts, found, count)
    written = trials.write(outcomes[0].run_dir, verdicts, found, count) if outcomes else None
    if outcomes:
        _publish(ctx, outcomes[0])  # its page shows the trials
    return Trials(tuple(outcomes), tuple(found), status, reason, written)
