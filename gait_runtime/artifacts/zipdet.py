"""Deterministic zip archives: same entries in, identical bytes out.

Owns: writing a zip with entries sorted by name, deflate, the fixed
1980-01-01 00:00:00 timestamp, Unix mode 0644 and no other variable metadata
(``spec/runpack.md`` §2.2); reading a zip into a name → bytes map while
rejecting duplicate entry names and capping entry sizes.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Mapping
from typing import Final

from ..errors import ArtifactInputError, VerificationError

__all__ = ["MAX_ENTRY_BYTES", "read_zip", "write_zip"]

MAX_ENTRY_BYTES: Final = 100 * 1024 * 1024
"""Largest uncompressed entry a reader accepts (Go's ``maxZipFileBytes``)."""

_DATE_TIME: Final = (1980, 1, 1, 0, 0, 0)
_EXTERNAL_ATTR: Final = 0o100644 << 16


def write_zip(entries: Mapping[str, bytes]) -> bytes:
    """Return the deterministic zip bytes for ``entries`` (name → content)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for name in sorted(entries, key=lambda n: n.encode("utf-8")):
            info = zipfile.ZipInfo(name, date_time=_DATE_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = _EXTERNAL_ATTR
            zf.writestr(info, entries[name], compress_type=zipfile.ZIP_DEFLATED, compresslevel=6)
    return buffer.getvalue()


def read_zip(data: bytes, *, source: str = "zip") -> dict[str, bytes]:
    """Read every entry of a zip held in memory.

    Raises:
        ArtifactInputError: not a zip (or truncated), or an entry over the size cap.
        VerificationError: two entries share a name (Go treats that as tampering), or
            an entry's compressed data fails its CRC check.
    """
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise ArtifactInputError(
            f"open zip: not a valid zip file: {source}", code="zip_invalid"
        ) from exc
    seen: dict[str, bytes] = {}
    with zf:
        for info in zf.infolist():
            name = info.filename.strip()
            if name in seen:
                raise VerificationError(
                    f"zip contains duplicate entries: {name}", code="zip_duplicate_entry"
                )
            if info.file_size > MAX_ENTRY_BYTES:
                raise ArtifactInputError(
                    f"zip entry too large: {name} in {source}", code="zip_entry_too_large"
                )
            try:
                seen[name] = zf.read(info)
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
                raise VerificationError(
                    f"zip entry {name} in {source} fails its checksum (corrupt or tampered)",
                    code="zip_entry_corrupt",
                ) from exc
    return seen
