"""``gait conformance``: the published contracts checked against what this install does.

Owns: the expected values of ``docs/contracts/`` that a consumer relies on
(required intent fields, the digest fields of a gate decision and their values
for the documented example, the ticket footer, the receipt structure of
``refs.json``) and the checks that compare them with the real outputs of
``gait gate eval``, the demo runpack and ``gait run receipt``, run through
the CLI entry point on files in a temporary directory. Any difference is drift: the command exits 2
naming the check. Each check is a pure function of the documents it is given,
so a test can feed it a drifted document.
"""

from __future__ import annotations

import io
import json
import re
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from ..artifacts.schemas import schema_root as installed_schema_root
from ..runpack import write_runpack
from ..runpack.demo import demo_runpack

__all__ = [
    "EXAMPLE_INTENT",
    "EXAMPLE_POLICY",
    "FOOTER_RE",
    "INTENT_CONTEXT_REQUIRED",
    "INTENT_REQUIRED",
    "RECEIPT_REQUIRED",
    "Check",
    "check_footer",
    "check_gate_eval",
    "check_intent_schema",
    "check_refs",
    "run_conformance",
]

INTENT_REQUIRED: Final = (
    "schema_id",
    "schema_version",
    "created_at",
    "producer_version",
    "tool_name",
    "args",
    "targets",
    "context",
)
INTENT_CONTEXT_REQUIRED: Final = ("identity", "workspace", "risk_class")
RECEIPT_REQUIRED: Final = (
    "ref_id",
    "source_type",
    "source_locator",
    "query_digest",
    "content_digest",
    "retrieved_at",
    "redaction_mode",
    "immutability",
)
FOOTER_RE: Final = re.compile(
    r'^GAIT run_id=([A-Za-z0-9_-]+) manifest=sha256:([a-f0-9]{64}) verify="gait verify ([A-Za-z0-9_-]+)"$'
)
_HEX64: Final = re.compile(r"^[a-f0-9]{64}$")
_HEX24: Final = re.compile(r"^[a-f0-9]{24}$")

EXAMPLE_INTENT: Final[dict[str, Any]] = {
    "schema_id": "gait.gate.intent_request",
    "schema_version": "1.0.0",
    "created_at": "2026-03-01T09:30:00Z",
    "producer_version": "example-agent/0.1",
    "tool_name": "fs.write_file",
    "args": {"path": "/srv/app/config.yaml", "mode": "overwrite", "retries": 3},
    "targets": [{"kind": "path", "value": "/srv/app/config.yaml", "operation": "write"}],
    "arg_provenance": [{"arg_path": "$.path", "source": "user"}],
    "context": {
        "identity": "deploy-bot",
        "workspace": "/work/app",
        "risk_class": "high",
        "session_id": "sess-42",
    },
}
EXAMPLE_POLICY: Final = """\
schema_id: gait.gate.policy
schema_version: 1.0.0
default_verdict: block
fail_closed:
  enabled: true
  required_fields: [targets]
rules:
  - name: allow-reads
    priority: 50
    effect: allow
    match:
      tool_names: [fs.read_file, fs.list_dir]
  - name: writes-need-approval
    priority: 20
    effect: require_approval
    match:
      tool_name: fs.write_file
      workspace_prefixes: [/work/]
    endpoint:
      path_denylist: ["/etc/**", "*.pem"]
    reason_codes: [write_requires_review]
"""
# docs/contracts/intent-request.md and gate-result.md: the digests of the example above.
EXAMPLE_DIGESTS: Final = {
    "intent_digest": "9dd8919a8c1aa325f3ccb5e73ece835cd4da4b8d1da9e550393cb627a99025e1",
    "policy_digest": "1f8c29c91b9a51e56c370cd184135e3650b136f8c4ed7ce0fadfd8384874254d",
    "args_digest": "81346eaea5df65cb98e0825bcc68b92ff4eb7ba810275327f48dae2a811003a2",
}


@dataclass(frozen=True, slots=True)
class Check:
    """One named check: passed or not, and what was found."""

    name: str
    ok: bool
    detail: str

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


def _result(name: str, problems: Sequence[str], good: str) -> Check:
    return Check(name, not problems, "; ".join(problems) if problems else good)


def check_intent_schema(schema: Any) -> Check:
    """The intent schema still requires exactly the documented fields."""
    problems: list[str] = []
    if not isinstance(schema, dict):
        return _result("intent_schema.required_fields", ["schema is not a JSON object"], "")
    required = schema.get("required")
    if required != list(INTENT_REQUIRED):
        problems.append(f"required is {required}, documented {list(INTENT_REQUIRED)}")
    schema_id = (schema.get("properties") or {}).get("schema_id", {}).get("const")
    if schema_id != "gait.gate.intent_request":
        problems.append(f"schema_id const is {schema_id!r}")
    context = (schema.get("properties") or {}).get("context") or {}
    if context.get("required") != list(INTENT_CONTEXT_REQUIRED):
        problems.append(
            f"context.required is {context.get('required')}, "
            f"documented {list(INTENT_CONTEXT_REQUIRED)}"
        )
    return _result(
        "intent_schema.required_fields",
        problems,
        f"{len(INTENT_REQUIRED)} top-level and {len(INTENT_CONTEXT_REQUIRED)} context fields",
    )


def check_gate_eval(code: int, output: Any, trace: Any) -> Check:
    """``gate eval`` of the documented example: exit 4 and the documented digest fields."""
    problems: list[str] = []
    if code != 4:
        problems.append(f"exit code {code}, documented 4 (require_approval)")
    out = output if isinstance(output, dict) else {}
    tr = trace if isinstance(trace, dict) else {}
    if out.get("verdict") != "require_approval":
        problems.append(f"verdict {out.get('verdict')!r}")
    for key in ("intent_digest", "policy_digest"):
        if out.get(key) != EXAMPLE_DIGESTS[key]:
            problems.append(f"output {key} {out.get(key)!r}, documented {EXAMPLE_DIGESTS[key]}")
    if not _HEX24.match(str(out.get("trace_id", ""))):
        problems.append(f"output trace_id {out.get('trace_id')!r} is not 24 lowercase hex")
    for key in ("intent_digest", "policy_digest", "args_digest"):
        if tr.get(key) != EXAMPLE_DIGESTS[key]:
            problems.append(f"trace {key} {tr.get(key)!r}, documented {EXAMPLE_DIGESTS[key]}")
    if tr.get("trace_id") != out.get("trace_id"):
        problems.append("trace trace_id differs from the output's")
    if tr.get("schema_id") != "gait.gate.trace":
        problems.append(f"trace schema_id {tr.get('schema_id')!r}")
    if not isinstance(tr.get("signature"), dict):
        problems.append("trace has no signature envelope")
    return _result(
        "gate_eval.digest_fields",
        problems,
        "intent_digest, policy_digest, args_digest and trace_id as documented",
    )


def check_footer(text_stdout: str, payload: Any, manifest: Any) -> Check:
    """``run receipt``: the footer line, in text mode alone, pins the stored manifest digest."""
    problems: list[str] = []
    lines = text_stdout.splitlines()
    if len(lines) != 1:
        problems.append(f"text mode printed {len(lines)} lines, documented 1")
    footer = lines[0] if lines else ""
    match = FOOTER_RE.match(footer)
    man = manifest if isinstance(manifest, dict) else {}
    if match is None:
        problems.append(f"footer {footer!r} does not match the documented pattern")
    else:
        if match.group(1) != match.group(3):
            problems.append("run_id and the verify command's run id differ")
        if match.group(1) != man.get("run_id"):
            problems.append(f"footer run_id {match.group(1)} is not the manifest's")
        if match.group(2) != man.get("manifest_digest"):
            problems.append("footer digest is not the manifest's stored manifest_digest")
    pay = payload if isinstance(payload, dict) else {}
    if pay.get("ticket_footer") != footer:
        problems.append("--json ticket_footer differs from the text line")
    for key in ("run_id", "manifest_digest", "path"):
        if key not in pay:
            problems.append(f"--json output lacks {key}")
    return _result("run_receipt.ticket_footer", problems, footer)


def check_refs(refs: Any, schema: Any) -> Check:
    """``refs.json``: the receipt structure of the published contract."""
    problems: list[str] = []
    doc = refs if isinstance(refs, dict) else {}
    if doc.get("schema_id") != "gait.runpack.refs" or doc.get("schema_version") != "1.0.0":
        problems.append(f"schema {doc.get('schema_id')!r} {doc.get('schema_version')!r}")
    receipts = doc.get("receipts")
    if not isinstance(receipts, list):
        problems.append("receipts is not an array")
        receipts = []
    receipt_schema = (
        (((schema or {}).get("$defs") or {}).get("receipt") or {})
        if isinstance(schema, dict)
        else {}
    )
    if receipt_schema.get("required") != list(RECEIPT_REQUIRED):
        problems.append(
            f"schema receipt.required is {receipt_schema.get('required')}, "
            f"documented {list(RECEIPT_REQUIRED)}"
        )
    ids = []
    for i, receipt in enumerate(receipts):
        if not isinstance(receipt, dict):
            problems.append(f"receipts[{i}] is not an object")
            continue
        ids.append(str(receipt.get("ref_id", "")))
        missing = [k for k in RECEIPT_REQUIRED if k not in receipt]
        if missing:
            problems.append(f"receipts[{i}] lacks {', '.join(missing)}")
        for key in ("query_digest", "content_digest"):
            if key in receipt and not _HEX64.match(str(receipt[key])):
                problems.append(f"receipts[{i}].{key} is not 64 lowercase hex")
    if ids != sorted(ids):
        problems.append("receipts are not sorted by ref_id")
    count = doc.get("context_ref_count")
    if count is not None and count != len(receipts):
        problems.append(f"context_ref_count {count} != {len(receipts)} receipts")
    if isinstance(schema, dict) and not problems:
        import jsonschema

        errors = sorted(
            jsonschema.Draft202012Validator(schema).iter_errors(doc), key=lambda e: list(e.path)
        )
        if errors:
            problems.append(f"refs.json does not validate: {errors[0].message}")
    return _result("refs_json.receipts", problems, f"{len(receipts)} receipts as documented")


Runner = Callable[[Sequence[str]], tuple[int, str]]


def _in_process(args: Sequence[str]) -> tuple[int, str]:
    """Run one ``gait`` command through the real CLI entry point, capturing stdout."""
    from ..cli import main

    out = io.StringIO()
    code = main(list(args), out=out)
    return code, out.getvalue()


def _json_line(stdout: str) -> Any:
    try:
        return json.loads(stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def run_conformance(
    *, schema_root: Path | None = None, runner: Runner = _in_process
) -> list[Check]:
    """Run every check on files in a fresh temporary directory, in a fixed order.

    Every command gets absolute paths (nothing is written to the working directory).
    """
    root = schema_root if schema_root is not None else installed_schema_root()
    checks = [check_intent_schema(_load(root / "v1" / "gate" / "intent_request.schema.json"))]
    with tempfile.TemporaryDirectory(prefix="gait-conformance-") as tmp:
        work = Path(tmp).resolve()
        (work / "policy.yaml").write_text(EXAMPLE_POLICY, encoding="utf-8")
        (work / "intent.json").write_text(json.dumps(EXAMPLE_INTENT), encoding="utf-8")
        code, stdout = runner(
            [
                "gate",
                "eval",
                "--policy",
                str(work / "policy.yaml"),
                "--intent",
                str(work / "intent.json"),
                "--trace-out",
                str(work / "trace.json"),
                "--approval-audit-out",
                str(work / "approval_audit.json"),
                "--rate-limit-state",
                str(work / "rate_limits.json"),
                "--no-config",
                "--json",
            ]
        )
        checks.append(check_gate_eval(code, _json_line(stdout), _load(work / "trace.json")))
        pack = work / "gait-out" / "runpack_run_demo.zip"
        write_runpack(pack, demo_runpack())  # exactly what `gait demo` writes
        _, text = runner(["run", "receipt", "--from", str(pack)])
        _, as_json = runner(["run", "receipt", "--from", str(pack), "--json"])
        manifest: Any = None
        refs: Any = None
        try:
            with zipfile.ZipFile(pack) as zf:
                manifest = json.loads(zf.read("manifest.json"))
                refs = json.loads(zf.read("refs.json"))
        except (OSError, KeyError, ValueError, zipfile.BadZipFile):
            pass
        checks.append(check_footer(text, _json_line(as_json), manifest))
        checks.append(check_refs(refs, _load(root / "v1" / "runpack" / "refs.schema.json")))
    return checks
