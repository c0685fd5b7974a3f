"""Synchronous artifact core: canonical bytes, digests, signatures, keys, schemas, zips.

Nothing here imports anyio or does network I/O; files are touched only by the
explicitly named load/save/write functions.

Modules: ``jcs`` (RFC 8785 canonical bytes, sha256 digests), ``gojson`` (the
one Go-compatible JSON encoder), ``signing`` (ed25519 over JCS bytes),
``keys`` (key files, env vars, dev/prod key modes), ``schemas`` (JSON Schema
validation of ``schemas/``), ``timefmt`` (RFC 3339 nano timestamps, Go
durations), ``zipdet`` (deterministic zips), ``fsutil`` (atomic writes,
directory fsync), ``lockfile`` (the one ``O_EXCL`` lock-file protocol),
``tracelog`` (the server trace log's line format, segments and export step).

The package re-exports only what is cheap to import (no ``cryptography``, no
``jsonschema``, no ``yaml``), so ``gait verify`` and ``gait demo`` keep their
start-up budget; signing, keys and schemas are imported from their modules. The
re-exports themselves are imported on first use (PEP 562 ``__getattr__``): importing
one module of the package (``jcs`` for a digest) does not import the others
(``gojson``, ``fsutil``, ``lockfile``).
"""

from __future__ import annotations

from ._lazy import lazy_names as _lazy_names

TYPE_CHECKING = False  # type checkers treat this name as True
if TYPE_CHECKING:
    from .fsutil import write_atomic as write_atomic
    from .gojson import go_json as go_json
    from .gojson import go_json_indent as go_json_indent
    from .jcs import canonicalize as canonicalize
    from .jcs import digest as digest
    from .jcs import sha256_hex as sha256_hex
    from .lockfile import release_lock_file as release_lock_file
    from .lockfile import take_lock_file as take_lock_file
    from .timefmt import format_go_duration as format_go_duration
    from .timefmt import format_ns as format_ns
    from .timefmt import parse_go_duration as parse_go_duration
    from .timefmt import parse_rfc3339 as parse_rfc3339

__all__ = [
    "canonicalize",
    "digest",
    "format_go_duration",
    "format_ns",
    "go_json",
    "go_json_indent",
    "parse_go_duration",
    "parse_rfc3339",
    "release_lock_file",
    "sha256_hex",
    "take_lock_file",
    "write_atomic",
]

_LAZY = {
    "canonicalize": "jcs",
    "digest": "jcs",
    "format_go_duration": "timefmt",
    "format_ns": "timefmt",
    "go_json": "gojson",
    "go_json_indent": "gojson",
    "parse_go_duration": "timefmt",
    "parse_rfc3339": "timefmt",
    "release_lock_file": "lockfile",
    "sha256_hex": "jcs",
    "take_lock_file": "lockfile",
    "write_atomic": "fsutil",
}


__getattr__, __dir__ = _lazy_names(__name__, _LAZY, globals(), __all__)
