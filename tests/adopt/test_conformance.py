"""``gait conformance``: passes on this install, and each check fails on drifted documents."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from gait_runtime.adopt import conformance as conf
from gait_runtime.artifacts.schemas import schema_root

from .runner import gait, json_line

CHECKS = [
    "intent_schema.required_fields",
    "gate_eval.digest_fields",
    "run_receipt.ticket_footer",
    "refs_json.receipts",
]


def test_conformance_passes_on_this_install(tmp_path: Path) -> None:
    proc = gait("conformance", "--json", cwd=tmp_path, check=False)
    assert proc.returncode == 0, proc.stdout
    out = json_line(proc)
    assert out["ok"] is True and out["checks_failed"] == 0
    assert [c["name"] for c in out["checks"]] == CHECKS
    assert all(c["ok"] for c in out["checks"])
    assert list(tmp_path.iterdir()) == []  # it works in its own temp dir
    text = gait("conformance", cwd=tmp_path).stdout.splitlines()
    assert text[-1] == "conformance ok: 4/4 checks pass"


def test_a_drifted_intent_schema_fails_with_exit_2(tmp_path: Path) -> None:
    schemas = tmp_path / "schemas"
    shutil.copytree(schema_root(), schemas)
    path = schemas / "v1" / "gate" / "intent_request.schema.json"
    doc = json.loads(path.read_text())
    doc["required"].remove("targets")
    path.write_text(json.dumps(doc))
    proc = gait("conformance", "--schemas", str(schemas), "--json", cwd=tmp_path, check=False)
    assert proc.returncode == 2
    out = json_line(proc)
    assert out["ok"] is False and out["checks_failed"] == 1
    assert out["error_code"] == "conformance_drift"
    failed = [c for c in out["checks"] if not c["ok"]]
    assert [c["name"] for c in failed] == ["intent_schema.required_fields"]
    assert "targets" in failed[0]["detail"]


def test_gate_eval_check_catches_digest_and_exit_drift() -> None:
    good_out = {
        "verdict": "require_approval",
        "intent_digest": conf.EXAMPLE_DIGESTS["intent_digest"],
        "policy_digest": conf.EXAMPLE_DIGESTS["policy_digest"],
        "trace_id": "0" * 24,
    }
    good_trace = {
        "schema_id": "gait.gate.trace",
        "trace_id": "0" * 24,
        "signature": {"alg": "ed25519"},
        **{k: conf.EXAMPLE_DIGESTS[k] for k in ("intent_digest", "policy_digest", "args_digest")},
    }
    assert conf.check_gate_eval(4, good_out, good_trace).ok
    assert not conf.check_gate_eval(0, good_out, good_trace).ok
    assert not conf.check_gate_eval(4, {**good_out, "intent_digest": "f" * 64}, good_trace).ok
    drifted = conf.check_gate_eval(4, good_out, {**good_trace, "args_digest": "a" * 64})
    assert not drifted.ok and "args_digest" in drifted.detail
    assert not conf.check_gate_eval(
        4, good_out, {k: v for k, v in good_trace.items() if k != "signature"}
    ).ok


def test_footer_check_catches_format_and_digest_drift() -> None:
    digest = "ab" * 32
    manifest = {"run_id": "run_x", "manifest_digest": digest}
    footer = f'GAIT run_id=run_x manifest=sha256:{digest} verify="gait verify run_x"'
    payload = {"ticket_footer": footer, "run_id": "run_x", "manifest_digest": digest, "path": "p"}
    assert conf.check_footer(footer + "\n", payload, manifest).ok
    upper = footer.replace(digest, digest.upper())
    assert not conf.check_footer(upper + "\n", {**payload, "ticket_footer": upper}, manifest).ok
    old_form = f"GAIT run_id=run_x manifest=sha256:{digest} (verify: gait verify run_x)"
    assert not conf.check_footer(old_form, {**payload, "ticket_footer": old_form}, manifest).ok
    other = footer.replace('verify run_x"', 'verify run_y"')
    assert not conf.check_footer(other, {**payload, "ticket_footer": other}, manifest).ok
    assert not conf.check_footer(footer + "\nextra\n", payload, manifest).ok
    assert not conf.check_footer(footer, payload, {**manifest, "manifest_digest": "cd" * 32}).ok


def test_refs_check_catches_receipt_structure_drift() -> None:
    schema = json.loads((schema_root() / "v1" / "runpack" / "refs.schema.json").read_text())
    receipt = {
        "ref_id": "ref_1",
        "source_type": "demo",
        "source_locator": "tool.search",
        "query_digest": "1" * 64,
        "content_digest": "2" * 64,
        "retrieved_at": "2026-02-05T00:00:00Z",
        "redaction_mode": "reference",
        "immutability": "unknown",
    }
    refs = {
        "schema_id": "gait.runpack.refs",
        "schema_version": "1.0.0",
        "created_at": "2026-02-05T00:00:00Z",
        "producer_version": "0.1.0",
        "run_id": "run_demo",
        "receipts": [receipt, {**receipt, "ref_id": "ref_2"}],
    }
    assert conf.check_refs(refs, schema).ok
    missing = {k: v for k, v in receipt.items() if k != "immutability"}
    assert not conf.check_refs({**refs, "receipts": [missing]}, schema).ok
    assert not conf.check_refs({**refs, "receipts": list(reversed(refs["receipts"]))}, schema).ok
    assert not conf.check_refs(
        {**refs, "receipts": [{**receipt, "query_digest": "A" * 64}]}, schema
    ).ok
    assert not conf.check_refs({**refs, "context_ref_count": 5}, schema).ok
    loose = json.loads(json.dumps(schema))
    loose["$defs"]["receipt"]["required"].remove("immutability")
    assert not conf.check_refs(refs, loose).ok
