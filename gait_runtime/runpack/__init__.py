"""Runpacks: deterministic, verifiable zips of one agent run (``spec/runpack.md``).

Owns the whole runpack life cycle: recording (:func:`build_runpack`), writing
(:func:`write_runpack`), resolving ``<run_id|path>`` arguments, verification
(:func:`verify_runpack`), the strict reader used by inspect/replay/diff
(:func:`read_runpack`), the manifest digest and the ticket footer. Consumers
(inspect, replay, diff) live in the submodules of the same names. Never imports
anyio and does no network I/O.

Sub-modules: ``manifest`` (names, digest, footer), ``record`` (pipeline),
``store`` (files), ``verify``, ``demo``, ``inspect``, ``replay``, ``diff``.
"""

from __future__ import annotations

from .manifest import manifest_digest as manifest_digest
from .manifest import ticket_footer as ticket_footer
from .record import Runpack as Runpack
from .record import build_runpack as build_runpack
from .store import RunpackContents as RunpackContents
from .store import read_runpack as read_runpack
from .store import resolve_runpack_path as resolve_runpack_path
from .store import write_runpack as write_runpack
from .verify import VerifyReport as VerifyReport
from .verify import verify_runpack as verify_runpack

__all__ = [
    "Runpack",
    "RunpackContents",
    "VerifyReport",
    "build_runpack",
    "manifest_digest",
    "read_runpack",
    "resolve_runpack_path",
    "ticket_footer",
    "verify_runpack",
    "write_runpack",
]
