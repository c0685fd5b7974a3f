"""The io_uring binding is probed in a child process, so a build that dies here
(``SIGILL`` on a CPU without the instructions it was compiled for) becomes a
clean fall-back to threads instead of killing the server."""

from __future__ import annotations

import pytest

from gait_runtime.supervisor import uring


def test_a_binding_that_kills_its_process_is_reported_not_fatal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(uring, "_PROBE", "import os, signal\nos.kill(os.getpid(), signal.SIGILL)\n")
    uring._binding_dies_here.cache_clear()
    try:
        reason = uring._binding_dies_here()
    finally:
        uring._binding_dies_here.cache_clear()
    assert (
        reason == "the io_uring binding dies with SIGILL on this machine (a build for another CPU)"
    )


def test_a_probe_that_exits_normally_leaves_the_decision_to_the_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(uring, "_PROBE", "raise SystemExit(1)\n")  # e.g. the kernel said ENOSYS
    uring._binding_dies_here.cache_clear()
    try:
        assert uring._binding_dies_here() == ""
    finally:
        uring._binding_dies_here.cache_clear()


def test_open_refuses_the_ring_when_the_probe_saw_the_binding_die(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys
    import types

    monkeypatch.setitem(sys.modules, "liburing", types.ModuleType("liburing"))  # never called
    monkeypatch.setattr(uring, "_binding_dies_here", lambda: "dies with SIGILL")
    with pytest.raises(uring.RingUnavailable, match=r"^dies with SIGILL$"):
        uring.JournalRing.open()
