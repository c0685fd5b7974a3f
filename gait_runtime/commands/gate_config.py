"""Project defaults for ``gate eval`` from ``.gait/config.yaml`` (spec/gate.md §9).

Owns: reading the ``gate:`` section of the project config file and returning the
flag defaults it sets. A missing default file is fine; a missing file named with
``--config`` is invalid input (exit 6). Keys of other sections and unknown keys
under ``gate:`` are ignored (they belong to other commands or other versions);
known keys must be strings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import yaml

from ..errors import InvalidInputError

__all__ = ["DEFAULT_CONFIG_PATH", "GATE_CONFIG_KEYS", "fill_from_config", "load_gate_defaults"]

DEFAULT_CONFIG_PATH: Final = ".gait/config.yaml"
GATE_CONFIG_KEYS: Final = (
    "policy",
    "profile",
    "key_mode",
    "private_key",
    "private_key_env",
    "approval_public_key",
    "approval_public_key_env",
    "approval_private_key",
    "approval_private_key_env",
    "rate_limit_state",
    "trace_path",
)


def load_gate_defaults(path: str = "", *, disabled: bool = False) -> dict[str, str]:
    """Return the ``gate:`` defaults (only known keys with non-empty values).

    Args:
        path: an explicit ``--config`` path ("" means the default file).
        disabled: ``--no-config``: read nothing.

    Raises:
        InvalidInputError: an explicit file is missing, or the file is not valid YAML
            or has a non-mapping ``gate`` section or a non-string value.
    """
    if disabled:
        return {}
    explicit = bool(path.strip())
    target = Path(path.strip() or DEFAULT_CONFIG_PATH)
    try:
        text = target.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        if not explicit:
            return {}
        raise InvalidInputError(f"config file not found: {target}", code="config_missing") from exc
    except OSError as exc:
        raise InvalidInputError(f"read config {target}: {exc.strerror or exc}") from exc
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidInputError(f"parse config {target}: {exc}", code="config_invalid") from exc
    section = doc.get("gate") if isinstance(doc, dict) else None
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise InvalidInputError(f"config {target}: gate must be a mapping", code="config_invalid")
    out: dict[str, str] = {}
    for key in GATE_CONFIG_KEYS:
        value = section.get(key)
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            raise InvalidInputError(
                f"config {target}: gate.{key} must be a string", code="config_invalid"
            )
        out[key] = value.strip()
    return out


_KEY_PAIRS: Final = (
    ("private_key", "private_key_env"),
    ("approval_public_key", "approval_public_key_env"),
    ("approval_private_key", "approval_private_key_env"),
)


def fill_from_config(flags: dict[str, str], defaults: dict[str, str]) -> dict[str, str]:
    """Fill empty flags from config defaults; a key given on the command line (path
    or env) keeps the whole pair from the config out, so the two never mix.

    ``trace_path`` in the config fills the ``trace_out`` flag.
    """
    out = dict(flags)
    blocked = {k for pair in _KEY_PAIRS if any(flags.get(p) for p in pair) for k in pair}
    for key, value in defaults.items():
        attr = "trace_out" if key == "trace_path" else key
        if attr in out and not out[attr] and key not in blocked:
            out[attr] = value
    return out
