"""Runpack commands: ``gait demo``, ``gait verify`` and ``gait run record|inspect|receipt|replay|diff``.

Thin handlers over :mod:`gait_runtime.runpack`: each parses its flags, calls the
library, and shapes the Go-compatible text and ``--json`` output of
``spec/runpack.md`` §7–§12. ``gait verify session-chain`` is routed elsewhere.
Key handling (and so ``cryptography``) is imported only when a key flag is given.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any, Final

from ..errors import EXIT_OK, EXIT_VERIFICATION_FAILED, InternalError, UsageError, VerificationError
from ._frame import Handler, Parser, Result, add_choice, add_common

__all__ = [
    "build_demo",
    "build_diff",
    "build_inspect",
    "build_receipt",
    "build_record",
    "build_replay",
    "build_verify",
]

_DEMO_BUNDLE: Final = "./gait-out/runpack_run_demo.zip"
_DEMO_REGRESS: Final = "gait regress bootstrap --from run_demo --json --junit ./gait-out/junit.xml"
_NOTES: Final = {
    ("missing", False): (
        "unsigned local/dev artifacts are expected by default; "
        "use --require-signature for strict verification"
    ),
    ("missing", True): (
        "signatures are required in this mode; provide signing keys and re-run verify"
    ),
    ("skipped", False): "signature checks were skipped because no verify key was provided",
    ("verified", False): "signatures verified",
    ("failed", False): (
        "signature verification failed; inspect signature_errors and re-run with the correct key"
    ),
}


def _next_commands(run_id: str) -> list[str]:
    """Follow-up commands we suggest; every one of them works in this build.

    The Go implementation suggests regress/durable/policy demos here; these hints are
    free text (not a contract), and we only suggest commands that exist.
    """
    return [
        f"gait run inspect --from {run_id}",
        f"gait run receipt --from {run_id}",
        f"gait run replay {run_id}",
    ]


def _key_flags(parser: Parser, *, public: bool) -> None:
    if public:
        parser.add_argument("--public-key", default="", help="path of the public key file")
        parser.add_argument("--public-key-env", default="", help="env var holding the public key")
    parser.add_argument("--private-key", default="", help="path of the private key file")
    parser.add_argument("--private-key-env", default="", help="env var holding the private key")


def _target(ns: argparse.Namespace, usage: str) -> str:
    value = getattr(ns, "from_", None) or ns.target
    if not value:
        raise UsageError(f"missing required {usage}")
    return str(value)


def build_demo(parser: Parser) -> Handler:
    """``gait demo [--json]``: record, write and verify ``./gait-out/runpack_run_demo.zip``."""
    add_common(parser, "records the fixed demo run offline, writes and verifies its runpack")
    parser.add_argument("--durable", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--policy", action="store_true", help=argparse.SUPPRESS)

    def handle(ns: argparse.Namespace) -> Result:
        from ..runpack import ticket_footer, verify_runpack, write_runpack
        from ..runpack.demo import DEMO_RUN_ID, demo_runpack

        if ns.durable and ns.policy:
            raise UsageError("--durable and --policy are mutually exclusive")
        if ns.durable:
            raise UsageError("gait demo --durable is not available in this build (no durable jobs)")
        if ns.policy:
            raise UsageError("gait demo --policy requires the gate; not available in this build")
        started = time.monotonic()
        path = Path("gait-out") / f"runpack_{DEMO_RUN_ID}.zip"
        write_runpack(path, demo_runpack())
        report = verify_runpack(path)
        if not report.ok:
            raise VerificationError(f"verification failed: {path}")
        footer = ticket_footer(DEMO_RUN_ID, report.manifest_digest)
        next_commands = [
            f"gait verify {DEMO_RUN_ID} --json",
            _DEMO_REGRESS,
            *_next_commands(DEMO_RUN_ID),
        ]
        payload: dict[str, Any] = {
            "ok": True,
            "mode": "standard",
            "run_id": DEMO_RUN_ID,
            "bundle": _DEMO_BUNDLE,
            "ticket_footer": footer,
            "verify": "ok",
            "next_commands": next_commands,
        }
        if duration_ms := int((time.monotonic() - started) * 1000):
            payload["duration_ms"] = duration_ms
        text = [f"{k}={payload[k]}" for k in ("mode", "run_id", "bundle", "ticket_footer")]
        text += [
            "verify=ok",
            f"next={','.join(next_commands)}",
        ]
        return Result(payload, text)

    return handle


def _verify_text(payload: dict[str, Any]) -> list[str]:
    if payload["ok"]:
        lines = [f"verify ok: {payload['path']}"]
    else:
        lines = [f"verify failed: {payload['path']}"]
        if payload.get("missing_files"):
            lines.append(f"missing files: {', '.join(payload['missing_files'])}")
        if payload.get("hash_mismatches"):
            names = ", ".join(m["path"] for m in payload["hash_mismatches"])
            lines.append(f"hash mismatches: {len(payload['hash_mismatches'])} ({names})")
    lines.append(f"signature status: {payload.get('signature_status', '')}")
    if payload.get("signature_errors"):
        lines.append(f"signature errors: {', '.join(payload['signature_errors'])}")
    lines.append(f"signature note: {payload['signature_note']}")
    if not payload["ok"]:
        lines.append(f"hint: {payload['hint']}")
    lines.append(f"next: {' | '.join(payload['next_commands'])}")
    return lines


def _verify_failure(payload: dict[str, Any]) -> None:
    """Name why verification failed: ``error``, its specific code and hint (exit 2)."""
    from ._hints import HINTS

    if payload.get("hash_mismatches"):
        detail = "runpack_hash_mismatch"
        what = "hash mismatch: " + ", ".join(m["path"] for m in payload["hash_mismatches"])
    elif payload.get("missing_files"):
        detail = "runpack_entry_missing"
        what = "missing entries: " + ", ".join(payload["missing_files"])
    else:
        detail = "runpack_signature_invalid"
        what = "signature " + str(payload.get("signature_status") or "missing")
    payload["error"] = f"runpack verification failed ({what}): {payload['path']}"
    payload["error_detail"] = detail
    payload["hint"] = HINTS[detail]


def build_verify(parser: Parser) -> Handler:
    """``gait verify <run_id|path>``: hashes, manifest digest and signatures (§7)."""
    add_common(parser, "verifies a runpack offline: file hashes, manifest digest, signatures")
    parser.add_argument("target", nargs="?", default="", help="run id or runpack path")
    add_choice(
        parser,
        "--profile",
        ("standard", "strict"),
        default="standard",
        help="strict requires a verified signature and a key",
        error="unsupported --profile: {value!r} (use standard or strict)",
    )
    parser.add_argument("--require-signature", action="store_true", help="fail unless verified")
    _key_flags(parser, public=True)

    def handle(ns: argparse.Namespace) -> Result:
        from ..runpack import resolve_runpack_path, verify_runpack

        profile = ns.profile
        key_given = any((ns.public_key, ns.public_key_env, ns.private_key, ns.private_key_env))
        if profile == "strict" and not key_given:
            raise UsageError(
                "strict verify profile requires --public-key/--public-key-env or private key source"
            )
        require = ns.require_signature or profile == "strict"
        path = resolve_runpack_path(_target(ns, "<run_id|path>"))
        verify_key = None
        if key_given:
            from ..artifacts.keys import KeySource, resolve_verify_key

            verify_key = resolve_verify_key(
                KeySource(ns.public_key, ns.public_key_env),
                KeySource(ns.private_key, ns.private_key_env),
            )
        report = verify_runpack(path, verify_key=verify_key, require_signature=require)
        payload = report.to_json()
        note_key = (report.signature_status, require and report.signature_status == "missing")
        payload["signature_note"] = _NOTES[note_key]
        payload["next_commands"] = _next_commands(report.run_id)
        if not report.ok:
            _verify_failure(payload)
        return Result(
            payload, _verify_text(payload), EXIT_OK if report.ok else EXIT_VERIFICATION_FAILED
        )

    return handle


def build_record(parser: Parser) -> Handler:
    """``gait run record --input <run_record.json>`` (§11)."""
    add_common(parser, "records a runpack from a run record JSON file, then verifies it")
    parser.add_argument("target", nargs="?", default="", help="run record JSON file")
    parser.add_argument("--input", dest="from_", default="", help="run record JSON file")
    parser.add_argument("--out-dir", default="./gait-out", help="output directory")
    parser.add_argument("--run-id", default="", help="override every run id")
    parser.add_argument(
        "--capture-mode", default="", help="reference or raw (default: the input's, else reference)"
    )
    parser.add_argument("--key-mode", default="", help="dev or prod (default: unsigned)")
    _key_flags(parser, public=False)
    parser.add_argument("--context-envelope", default="", help=argparse.SUPPRESS)
    parser.add_argument(
        "--context-evidence-mode",
        default="best_effort",
        help="best_effort or required (refs must then carry a context_set_digest)",
    )
    parser.add_argument("--unsafe-context-raw", action="store_true", help="allow raw receipts")

    def handle(ns: argparse.Namespace) -> Result:
        from ..runpack import ticket_footer, verify_runpack, write_runpack
        from ..runpack.run_record import bundle_text, record_from_input, runpack_file_name
        from ..runpack.store import decode_json

        source = _target(ns, "--input <run_record.json>")
        if ns.context_envelope:
            raise UsageError(
                "--context-envelope is not available in this build (no context proofs)"
            )
        signing = _signing_key(ns)
        try:
            data = Path(source).read_bytes()
        except OSError as exc:
            raise UsageError(f"read run record {source}: {exc.strerror or exc}") from exc
        outcome = record_from_input(
            decode_json(data, source),
            source=source,
            run_id=ns.run_id.strip(),
            capture_mode=ns.capture_mode,
            evidence_mode=ns.context_evidence_mode,
            unsafe_context_raw=ns.unsafe_context_raw,
            signing_key=signing[0] if signing else None,
        )
        runpack = outcome.runpack
        path = Path(os.path.normpath(ns.out_dir)) / runpack_file_name(runpack.run_id)
        write_runpack(path, runpack)
        report = verify_runpack(path, verify_key=signing[0].public if signing else None)
        if not report.ok:
            raise VerificationError(f"recorded runpack failed verification: {path}")
        warnings = outcome.warnings + (signing[1] if signing else [])
        payload: dict[str, Any] = {
            "ok": True,
            "run_id": runpack.run_id,
            "bundle": bundle_text(path),
            "manifest_digest": runpack.manifest_digest,
            "signature_status": "signed" if signing else "missing",
            "ticket_footer": ticket_footer(runpack.run_id, runpack.manifest_digest),
        }
        if signing:
            payload["signature_key_id"] = signing[0].key_id
        if warnings:
            payload["warnings"] = warnings
        text = [f"{k}={payload[k]}" for k in ("run_id", "bundle", "signature_status")]
        if signing:
            text.append(f"signature_key_id={signing[0].key_id}")
        if warnings:
            text.append(f"warnings={';'.join(warnings)}")
        text.append(f"ticket_footer={payload['ticket_footer']}")
        return Result(payload, text)

    return handle


def _signing_key(ns: argparse.Namespace) -> tuple[Any, list[str]] | None:
    """Resolve the record signing key; ``None`` when no key flag was given."""
    if not any((ns.key_mode, ns.private_key, ns.private_key_env)):
        return None
    from ..artifacts.keys import KeySource, resolve_signing_key

    resolved = resolve_signing_key(ns.key_mode, KeySource(ns.private_key, ns.private_key_env))
    return resolved.key, list(resolved.warnings)


def build_inspect(parser: Parser) -> Handler:
    """``gait run inspect --from <run_id|path>`` (§12.1); also session chain files."""
    add_common(parser, "lists a runpack's intents with their results (or a session chain)")
    parser.add_argument("target", nargs="?", default="", help="run id, runpack or chain path")
    parser.add_argument("--from", dest="from_", default="", help="run id or path")

    def handle(ns: argparse.Namespace) -> Result:
        from ..errors import ArtifactInputError
        from ..runpack import read_runpack, resolve_runpack_path
        from ..runpack.inspect import (
            chain_text,
            inspect_chain,
            inspect_runpack,
            inspect_text,
            load_chain,
        )

        arg = _target(ns, "--from <run_id|path>")
        if arg.lower().endswith(".json") and (chain := load_chain(Path(arg))) is not None:
            payload = inspect_chain(chain, os.path.normpath(arg))
            return Result(payload, chain_text(payload))
        path = resolve_runpack_path(arg)
        try:
            contents = read_runpack(path)
        except ArtifactInputError:
            if (chain := load_chain(path)) is None:
                raise
            payload = inspect_chain(chain, str(path))
            return Result(payload, chain_text(payload))
        payload = inspect_runpack(contents, str(path))
        return Result(payload, inspect_text(payload))

    return handle


def build_receipt(parser: Parser) -> Handler:
    """``gait run receipt --from <run_id|path>`` (§10): the ticket footer, from the artifact."""
    add_common(parser, "prints the ticket footer of a verified runpack")
    parser.add_argument("target", nargs="?", default="", help="run id or runpack path")
    parser.add_argument("--from", dest="from_", default="", help="run id or path")

    def handle(ns: argparse.Namespace) -> Result:
        from ..runpack import resolve_runpack_path, ticket_footer, verify_runpack
        from ..runpack.manifest import footer_is_valid

        path = resolve_runpack_path(_target(ns, "--from <run_id|path>"))
        report = verify_runpack(path)
        if report.missing_files or report.hash_mismatches or report.signature_status == "failed":
            failed = report.to_json()
            _verify_failure(failed)
            raise VerificationError(failed["error"], code=failed["error_detail"])
        footer = ticket_footer(report.run_id, report.manifest_digest)
        if not footer_is_valid(footer):
            raise InternalError(f"ticket footer contract validation failed: {path}")
        payload = {
            "ok": True,
            "run_id": report.run_id,
            "path": str(path),
            "manifest_digest": report.manifest_digest,
            "ticket_footer": footer,
        }
        return Result(payload, [footer])

    return handle


def build_replay(parser: Parser) -> Handler:
    """``gait run replay <run_id|path>`` (§12.2): stub replay; real tools only when unlocked."""
    add_common(parser, "replays a runpack offline with stubbed tools (real tools need opt-in)")
    parser.add_argument("target", nargs="?", default="", help="run id or runpack path")
    parser.add_argument("--from", dest="from_", default="", help="run id or path")
    parser.add_argument("--real-tools", action="store_true", help="execute allow-listed tools")
    parser.add_argument("--unsafe-real-tools", action="store_true", help="acknowledge the risk")
    parser.add_argument("--allow-tools", default="", help="comma-separated tool names")
    parser.add_argument("--unsafe-real-tools-env", default="", help="env var that must be 1")

    def handle(ns: argparse.Namespace) -> Result:
        from ..runpack import read_runpack, resolve_runpack_path
        from ..runpack.replay import authorize_real_replay, replay_runpack

        allowed = authorize_real_replay(
            real_tools=ns.real_tools,
            unsafe_real_tools=ns.unsafe_real_tools,
            allow_tools=ns.allow_tools,
            env_name=ns.unsafe_real_tools_env,
            environ=os.environ,
        )
        contents = read_runpack(resolve_runpack_path(_target(ns, "<run_id|path>")))
        outcome = replay_runpack(
            contents,
            allow_tools=allowed,
            allow_tools_text=ns.allow_tools,
            requested_unsafe=ns.unsafe_real_tools,
        )
        if outcome.ok:
            text = [f"replay ok: {outcome.run_id} ({outcome.mode})"]
        else:
            missing = ",".join(outcome.missing_results)
            text = [f"replay missing results: {outcome.run_id} ({outcome.mode}) {missing}"]
        return Result(outcome.to_json(), text, EXIT_OK if outcome.ok else EXIT_VERIFICATION_FAILED)

    return handle


_DIFF_LIST_LIMIT: Final = 10


def _bounded(items: list[str]) -> str:
    """At most ``_DIFF_LIST_LIMIT`` items, then ``(+N more)``: a summary stays one screen."""
    shown = ", ".join(items[:_DIFF_LIST_LIMIT])
    rest = len(items) - _DIFF_LIST_LIMIT
    return f"{shown} (+{rest} more)" if rest > 0 else shown


def _diff_text(summary: dict[str, Any], privacy: str) -> list[str]:
    """The lines after the header: files, then what changed, then one-sided records."""
    lines = []
    if summary.get("files_changed"):
        lines.append(f"files changed: {_bounded(summary['files_changed'])}")
    parts = [
        name
        for name in ("manifest", "intents", "results", "refs")
        if summary.get(f"{name}_changed")
    ]
    if parts:
        drift = summary.get("context_drift_classification", "none")
        suffix = f" (context drift: {drift})" if "refs" in parts and drift != "none" else ""
        lines.append(f"changed: {', '.join(parts)}{suffix} [privacy={privacy}]")
    for key in (
        "left_only_intents",
        "right_only_intents",
        "left_only_results",
        "right_only_results",
    ):
        if summary.get(key):
            lines.append(f"{key.replace('_', ' ')}: {_bounded(summary[key])}")
    return lines


def build_diff(parser: Parser) -> Handler:
    """``gait run diff <left> <right>`` (§12.3): runpacks, or two session chain files."""
    add_common(parser, "compares two runpacks (or two session chains); exit 2 when they differ")
    parser.add_argument("left", nargs="?", default="", help="run id or path")
    parser.add_argument("right", nargs="?", default="", help="run id or path")
    parser.add_argument(
        "--privacy", default="full", help="full or metadata (only which files changed)"
    )
    parser.add_argument(
        "--output", "--out", dest="output", default="", help="also write the summary JSON here"
    )

    def handle(ns: argparse.Namespace) -> Result:
        from ..artifacts.fsutil import reject_parent_traversal, write_atomic
        from ..runpack import read_runpack, resolve_runpack_path
        from ..runpack.diff import diff_chains, diff_runpacks, normalize_privacy, summary_changed
        from ..runpack.inspect import load_chain
        from ._frame import dump_json_line

        if not ns.left or not ns.right:
            raise UsageError("missing required <left> <right>")
        privacy = normalize_privacy(ns.privacy)
        chains = None
        if ns.left.lower().endswith(".json") and ns.right.lower().endswith(".json"):
            chains = (load_chain(Path(ns.left)), load_chain(Path(ns.right)))
        if chains is not None and chains[0] is not None and chains[1] is not None:
            summary = diff_chains(chains[0], chains[1])
        else:
            left = read_runpack(resolve_runpack_path(ns.left))
            right = read_runpack(resolve_runpack_path(ns.right))
            summary = diff_runpacks(left, right, privacy)
        changed = summary_changed(summary)
        payload: dict[str, Any] = {"ok": not changed, "privacy": privacy, "summary": summary}
        if ns.output:
            reject_parent_traversal(ns.output, "--output path")
            document = dump_json_line({"privacy": privacy, "summary": summary})
            write_atomic(Path(ns.output), document.encode("utf-8"))
            payload["output"] = ns.output
        text = [f"diff {'changed' if changed else 'ok'}: {ns.left} vs {ns.right}"]
        text += _diff_text(summary, privacy)
        if ns.output:
            text.append(f"output: {ns.output}")
        return Result(payload, text, EXIT_VERIFICATION_FAILED if changed else EXIT_OK)

    return handle
