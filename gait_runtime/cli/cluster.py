"""``gait run session export --from nats://… --session ID``.

Thin handler over :func:`gait_runtime.cluster.export_session`: connect to the
cluster (bounded; credentials from the ``GAIT_NATS_*`` environment), write the
session's journal, chain and checkpoint runpacks under ``--out``, print what
was written and the ``gait verify session-chain`` command that checks it.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..errors import DependencyMissingError, UsageError
from ._frame import Handler, Parser, Result, add_common

__all__ = ["build_export"]


def build_export(parser: Parser) -> Handler:
    """``gait run session export --from nats://host:port[,…] --session ID [--out DIR]``."""
    add_common(
        parser,
        "writes a session stored on NATS JetStream as journal + chain + checkpoint runpacks",
    )
    parser.add_argument(
        "--from",
        dest="source",
        default="",
        help="the cluster: nats://host:port[,host:port...] (tls:// for TLS; credentials "
        "from GAIT_NATS_CREDS, GAIT_NATS_USER/GAIT_NATS_PASSWORD or GAIT_NATS_TOKEN)",
    )
    parser.add_argument("--session", default="", help="session id (required)")
    parser.add_argument(
        "--out", default="", help="output directory (default: ./gait-out/export/<session>)"
    )
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds per cluster request")

    def handle(ns: argparse.Namespace) -> Result:
        source, session = ns.source.strip(), ns.session.strip()
        if not source or not session:
            raise UsageError("missing required --from nats://host:port and --session <id>")
        try:
            from ..cluster import NatsLink, NatsSettings, export_session
        except ImportError as exc:
            raise DependencyMissingError(
                f"session export needs the nats extra (pip install 'gait-runtime[nats]'): {exc}"
            ) from exc
        settings = NatsSettings.from_url(source, timeout_s=ns.timeout, env=os.environ)
        out = Path(ns.out) if ns.out.strip() else Path("gait-out/export") / session
        link = NatsLink(settings)
        link.start()
        try:
            result = export_session(link, session, out)
        finally:
            link.close()
        text = [
            f"session export: session_id={result.session_id} run_id={result.run_id} "
            f"events={result.events} last_sequence={result.last_sequence} "
            f"checkpoints={len(result.checkpoints)}",
            f"journal: {result.journal_path}",
        ]
        if result.chain_path is not None:
            text += [
                f"chain: {result.chain_path}",
                f"verify: cd {out} && gait verify session-chain {result.chain_path.name}",
            ]
        return Result({"operation": "export", "export": result.to_json()}, text)

    return handle
