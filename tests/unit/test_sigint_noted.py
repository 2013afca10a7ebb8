"""Ctrl-C is never lost: a KeyboardInterrupt raised while a finalizer runs is printed as
"Exception ignored" and dropped by Python, so `devsim run` notes every SIGINT before raising
(CI saw a run go on to pass and exit 0 after its Ctrl-C landed in urllib3's pool finalizer)."""

from __future__ import annotations

import gc
import os
import signal
import weakref

import pytest

from harness.experiment import run


class Pool:
    pass


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # Python's "Exception ignored"
def test_a_sigint_swallowed_by_a_finalizer_is_still_noted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run, "RECEIVED", [])
    previous = signal.signal(signal.SIGINT, run._on_sigint)
    try:
        pool = Pool()
        weakref.finalize(pool, os.kill, os.getpid(), signal.SIGINT)  # the signal arrives as the finalizer runs
        del pool
        gc.collect()  # the KeyboardInterrupt raised here is Python's to swallow, not ours to catch
    finally:
        signal.signal(signal.SIGINT, previous)
    # reaching this line shows the KeyboardInterrupt was swallowed; only the note says it came
    assert run.RECEIVED == ["SIGINT"]


def test_an_ignored_sigint_stays_ignored() -> None:
    """A background job of a non-interactive shell starts with SIGINT ignored: kept so."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        run.install_signal_handlers()
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
