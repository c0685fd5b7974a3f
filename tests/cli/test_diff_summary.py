"""``gait run diff``: ``--privacy=metadata``, ``--out``, and a text summary that stays short.

Go's metadata-privacy vector is reproduced with the ``--flag=value`` spelling and the
``--out`` alias; a diff of runpacks with dozens of one-sided records prints a handful
of bounded lines that still say what changed.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

from gait_runtime.cli import main
from gait_runtime.runpack import build_runpack, write_runpack
from gait_runtime.runpack.demo import demo_inputs

VECTORS = Path(__file__).resolve().parent.parent / "vectors"


def _run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out=out), out.getvalue()


def test_metadata_privacy_equals_spelling_and_out_alias(in_tmp: Path) -> None:
    """runpack.md §12.3: ``--privacy=metadata --out f`` = Go's metadata diff, file compact."""
    shutil.copytree(VECTORS / "runpack/gait-out", in_tmp / "gait-out")
    left, right = "gait-out/runpack_run_vec_signed.zip", "gait-out/runpack_run_vec_reference.zip"
    code, text = _run("run", "diff", left, right, "--privacy=metadata", "--out", "d.json", "--json")
    payload = json.loads(text)
    expected = json.loads((VECTORS / "runpack/diff_signed_vs_reference_metadata.json").read_text())
    assert code == 2
    assert payload.pop("output") == "d.json"
    payload.pop("correlation_id")
    expected.pop("correlation_id")
    assert payload == expected
    written = (in_tmp / "d.json").read_bytes()
    assert json.loads(written) == {"privacy": "metadata", "summary": expected["summary"]}
    assert not written.endswith(b"\n")


def test_text_summary_is_bounded(in_tmp: Path) -> None:
    """Forty one-sided intents: the text names the first ten and counts the rest."""
    run_doc, intents, results, refs = demo_inputs()
    write_runpack(in_tmp / "a.zip", build_runpack(run_doc, intents, results, refs))
    extra = [
        {"intent_id": f"extra_{i:02d}", "tool_name": "tool.noop", "args": {"n": i}}
        for i in range(40)
    ]
    extra_results = [{"intent_id": x["intent_id"], "status": "ok", "result": {}} for x in extra]
    many = build_runpack(run_doc, intents + extra, results + extra_results, refs)
    write_runpack(in_tmp / "b.zip", many)
    code, text = _run("run", "diff", "a.zip", "b.zip")
    lines = text.splitlines()
    assert code == 2
    assert lines[0] == "diff changed: a.zip vs b.zip"
    assert lines[1] == "changed: intents, results [privacy=full]"
    shown = ", ".join(f"extra_{i:02d}" for i in range(10))
    assert lines[2] == f"right only intents: {shown} (+30 more)"
    assert lines[3] == f"right only results: {shown} (+30 more)"
    assert len(lines) == 4
