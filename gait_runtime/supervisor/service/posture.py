"""Runtime posture profiles (``profiles/dev.yaml``, ``profiles/oss-prod.yaml``) as ``gait serve`` flags.

Owns: loading a posture by name or path (same lookup as workload profiles),
validating it against ``schemas/v1/soak/posture_profile``, and turning its
``serve:`` mapping into the equivalent ``gait serve`` flags
(:func:`posture_serve_args`). The flags come first, so anything given later on
the command line wins (argparse keeps the last value). ``gait serve --posture``
and the soak harness (which starts its supervisor with these flags) both call
it. Does not own: what the flags mean (``cli/serve.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from ...artifacts.schemas import validate
from ...errors import ArtifactInputError, UsageError
from ...profiles import profiles_root

__all__ = ["Posture", "load_posture", "posture_names", "posture_serve_args"]

POSTURE_SCHEMA: Final = "soak/posture_profile"

_BOOL_FLAGS: Final = frozenset({"allow_client_artifact_paths"})


@dataclass(frozen=True, slots=True)
class Posture:
    """A validated runtime posture.

    Attributes:
        name: posture name (``dev``, ``oss-prod``, ...).
        description: what the posture is for.
        source: file it was read from.
        serve: ``gait serve`` option name (underscored) → value.
    """

    name: str
    description: str
    source: str
    serve: dict[str, Any]

    @property
    def key_mode(self) -> str:
        """``dev`` or ``prod`` (what signing key the server needs)."""
        return str(self.serve.get("key_mode", "dev"))


def posture_names() -> list[str]:
    """Names of the shipped postures."""
    names = []
    for path in sorted(profiles_root().glob("*.yaml")):
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            continue
        if isinstance(doc, dict) and doc.get("schema_id") == "gait.serve.posture_profile":
            names.append(path.stem)
    return names


def _path(arg: str) -> Path:
    text = arg.strip()
    if "/" in text or text.endswith((".yaml", ".yml")):
        path = Path(text)
    else:
        path = profiles_root() / f"{text}.yaml"
    if not text or not path.is_file():
        known = ", ".join(posture_names()) or "none"
        raise UsageError(f"unknown posture profile: {arg!r} (shipped: {known})")
    return path


def load_posture(arg: str) -> Posture:
    """Load and validate a posture by name or path.

    Raises:
        UsageError: unknown posture, unreadable YAML or a schema violation.
    """
    path = _path(arg)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise UsageError(f"read posture profile {path}: {exc}", code="posture_invalid") from exc
    try:
        validate(POSTURE_SCHEMA, doc)
    except ArtifactInputError as exc:
        raise UsageError(f"posture profile {path}: {exc.message}", code="posture_invalid") from exc
    return Posture(
        name=str(doc["name"]),
        description=str(doc.get("description", "")).strip(),
        source=str(path),
        serve=dict(doc["serve"]),
    )


def posture_serve_args(posture: Posture) -> list[str]:
    """The ``gait serve`` flags equivalent to ``posture.serve``, in a stable order."""
    args: list[str] = []
    for key in sorted(posture.serve):
        value = posture.serve[key]
        flag = "--" + key.replace("_", "-")
        if key in _BOOL_FLAGS:
            if value:
                args.append(flag)
            continue
        args += [flag, str(value)]
    return args
