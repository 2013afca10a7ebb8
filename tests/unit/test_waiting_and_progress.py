from __future__ import annotations

import io

from harness.progress import Progress
from harness.stack.waiting import Check, Waiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_waiter_returns_the_check_that_succeeded() -> None:
    clock = FakeClock()
    answers = iter([Check(False, "a"), Check(False, "b"), Check(True, "c")])
    seen: list[str] = []
    result = Waiter(timeout=10, interval=1, clock=clock, sleep=clock.sleep).until(lambda: next(answers), seen.append)
    assert result == Check(True, "c")
    assert seen == ["a", "b", "c"]
    assert clock.now == 2.0


def test_waiter_gives_up_at_the_deadline_without_oversleeping() -> None:
    clock = FakeClock()
    result = Waiter(timeout=2.5, interval=1, clock=clock, sleep=clock.sleep).until(lambda: Check(False, "no"))
    assert result is None
    assert clock.now == 2.5


def test_progress_stamps_steps_and_drops_repeated_updates() -> None:
    clock = FakeClock()
    out = io.StringIO()
    progress = Progress(out, clock=clock)
    progress.step("building")
    clock.now = 1.5
    progress.update("waiting 0/3")
    progress.update("waiting 0/3")
    progress.update("waiting 3/3")
    assert out.getvalue().splitlines() == [
        "[   0.0s] building", "[   1.5s] waiting 0/3", "[   1.5s] waiting 3/3",
    ]


def test_quiet_progress_writes_nothing() -> None:
    out = io.StringIO()
    progress = Progress(out, quiet=True)
    progress.step("x")
    progress.update("y")
    assert out.getvalue() == ""
