"""The fixed content of ``gait demo`` (``spec/runpack.md`` §8).

Owns: the demo run (``run_demo``), its three intents, results and reference
receipts, and :func:`demo_runpack`, which records them through the normal
pipeline in ``reference`` capture, unsigned. With ``producer_version="0.0.0-dev"``
the entries equal the Go implementation's bytes exactly. Does no I/O.
"""

from __future__ import annotations

from typing import Any, Final

from ..artifacts.jcs import sha256_hex
from .record import Runpack, build_runpack

__all__ = ["DEMO_CREATED_AT", "DEMO_RUN_ID", "demo_inputs", "demo_runpack"]

DEMO_RUN_ID: Final = "run_demo"
DEMO_CREATED_AT: Final = "2026-02-05T00:00:00Z"
_TOOLS: Final = (
    ("tool.search", {"query": "gait demo: offline verification"}),
    ("tool.fetch", {"url": "https://example.local/demo"}),
    ("tool.summarize", {"input_ref": "ref_1"}),
)


def demo_inputs() -> tuple[
    dict[str, Any], list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]
]:
    """``(run, intents, results, refs)`` of the demo, before recording."""
    run = {
        "run_id": DEMO_RUN_ID,
        "created_at": DEMO_CREATED_AT,
        "env": {"os": "demo", "arch": "demo", "runtime": "go"},
        "timeline": [
            {"event": "start", "ts": DEMO_CREATED_AT},
            {"event": "finish", "ts": "2026-02-05T00:00:02Z"},
        ],
    }
    intents: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    receipts: list[dict[str, Any]] = []
    for number, (tool, args) in enumerate(_TOOLS, start=1):
        intent_id = f"intent_{number}"
        intents.append({"intent_id": intent_id, "tool_name": tool, "args": dict(args)})
        results.append(
            {
                "intent_id": intent_id,
                "status": "ok",
                "result": {"ok": True, "message": f"demo result {number}"},
            }
        )
        receipts.append(
            {
                "ref_id": f"ref_{number}",
                "source_type": "demo",
                "source_locator": tool,
                "query_digest": sha256_hex(f"query-{number}".encode()),
                "content_digest": sha256_hex(f"content-{number}".encode()),
                "retrieved_at": DEMO_CREATED_AT,
                "redaction_mode": "reference",
            }
        )
    return run, intents, results, {"receipts": receipts}


def demo_runpack(producer_version: str | None = None) -> Runpack:
    """Record the demo runpack (reference capture, unsigned)."""
    run, intents, results, refs = demo_inputs()
    return build_runpack(
        run, intents, results, refs, capture_mode="reference", producer_version=producer_version
    )
