"""JSON Schema (Draft 2020-12) validation for every artifact we write.

Owns: locating the schema files (``schemas/v1/**`` in a checkout, packaged as
``gait_runtime/_data/schemas`` in a wheel), compiling each once into a cached
validator, and ``validate(name, document)`` which raises
:class:`~gait_runtime.errors.ArtifactInputError` naming the JSON path of the
first problem. ``jsonschema`` is imported lazily: commands that never validate
never pay for it.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from ..errors import ArtifactInputError

__all__ = ["schema_names", "schema_root", "validate"]


@cache
def schema_root() -> Path:
    """Directory holding ``v1/``: the packaged copy if present, else the checkout's."""
    packaged = Path(__file__).resolve().parent.parent / "_data" / "schemas"
    if (packaged / "v1").is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[2] / "schemas"
    return checkout


def schema_names() -> list[str]:
    """Names accepted by :func:`validate`, e.g. ``runpack/manifest``."""
    root = schema_root() / "v1"
    return sorted(
        str(p.relative_to(root)).removesuffix(".schema.json") for p in root.rglob("*.schema.json")
    )


@cache
def _validator(name: str) -> Any:
    import jsonschema

    path = schema_root() / "v1" / f"{name}.schema.json"
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ArtifactInputError(
            f"unknown or unreadable schema: {name}", code="schema_missing"
        ) from exc
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def validate(name: str, document: object) -> None:
    """Validate ``document`` against schema ``name``.

    Raises:
        ArtifactInputError: the document does not match; the message names the path.
    """
    validator = _validator(name)
    error = next(iter(sorted(validator.iter_errors(document), key=lambda e: list(e.path))), None)
    if error is not None:
        path = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.path)
        raise ArtifactInputError(
            f"{name}: {path}: {error.message}", code="schema_violation", details={"path": path}
        )
