"""Shared by the quickstarts: a scratch directory, an approver key pair, and the approver
running the exact ``gait approve`` command an ApprovalRequired error carries."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
POLICY = HERE / "policy.yaml"
GAIT = str(Path(sys.executable).parent / "gait")


def scratch() -> Path:
    """A fresh working directory for traces, keys and tokens."""
    return Path(tempfile.mkdtemp(prefix="gait-quickstart-"))


def approver_keys(directory: Path) -> tuple[Path, Path]:
    """``gait keys init``: the approver's private key and the public key the gate trusts."""
    subprocess.run(
        [GAIT, "keys", "init", "--out-dir", str(directory), "--prefix", "approver"],
        check=True,
        capture_output=True,
    )
    return directory / "approver_private.key", directory / "approver_public.key"


def approve(command: str, private_key: Path, out: Path) -> dict[str, Any]:
    """The approver runs the printed command, filling in who they are and their key."""
    words = shlex.split(command)
    words[0] = GAIT
    fill = {"<approver>": "alice", "<ticket>": "CHG-1042", "<approver.key>": str(private_key)}
    words = [fill.get(w, w) for w in words]
    words[words.index("--out") + 1] = str(out)
    subprocess.run(words, check=True, capture_output=True)
    token: dict[str, Any] = json.loads(out.read_text())
    return token
