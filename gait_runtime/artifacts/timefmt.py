"""Timestamps exactly as the Go implementation writes them (RFC 3339 "Nano" form).

Owns: parsing RFC 3339 text into a nanosecond-precise :class:`Timestamp`,
formatting it back in Go's ``time.RFC3339Nano`` layout (UTC as ``Z``, fraction
trimmed of trailing zeros, up to 9 digits), and the fixed instants Go uses
(``EPOCH_1980``, ``ZERO_TIME``). Python's ``datetime`` holds only microseconds,
so digest-bearing times are kept as integer nanoseconds here.
"""

from __future__ import annotations

import calendar
import functools
import re
from datetime import UTC, datetime, timedelta
from typing import Final, NamedTuple

from ..errors import ArtifactInputError

__all__ = [
    "EPOCH_1980",
    "format_go_duration",
    "parse_go_duration",
    "ZERO_TIME_TEXT",
    "Timestamp",
    "format_ns",
    "normalize_rfc3339",
    "parse_rfc3339",
    "utc_seconds_text",
]

_RFC3339: Final = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))$"
)

ZERO_TIME_TEXT: Final = "0001-01-01T00:00:00Z"


class Timestamp(NamedTuple):
    """An instant as Unix nanoseconds plus the UTC offset it was written with."""

    unix_ns: int
    offset_minutes: int = 0

    def text(self) -> str:
        """Go RFC3339Nano text; keeps a non-zero offset as ``+hh:mm``."""
        return format_ns(self.unix_ns, self.offset_minutes)

    def utc_text(self) -> str:
        """Go RFC3339Nano text of the same instant in UTC."""
        return format_ns(self.unix_ns, 0)


def parse_rfc3339(text: str, *, field: str = "timestamp") -> Timestamp:
    """Parse RFC 3339 text (offsets allowed) with nanosecond precision.

    Valid texts are memoised (a checkpoint parses each event time several times).

    Raises:
        ArtifactInputError: ``text`` is not valid RFC 3339.
    """
    stamp = _parse_cached(text)
    if isinstance(stamp, Timestamp):
        return stamp
    raise ArtifactInputError(f"{field}: invalid RFC 3339 {stamp} {text!r}", code="time_invalid")


@functools.lru_cache(maxsize=4096)
def _parse_cached(text: str) -> Timestamp | str:
    """The timestamp, or what is invalid about ``text`` (``time`` or ``offset``)."""
    m = _RFC3339.match(text)
    if m is None:
        return "time"
    year, month, day, hour, minute, second = (int(m.group(i)) for i in range(1, 7))
    frac = m.group(7) or ""
    try:
        datetime(year, month, day, hour, minute, second)
    except ValueError:
        return "time"
    if m.group(8):
        offset = 0
    else:
        sign = 1 if m.group(9) == "+" else -1
        oh, om = int(m.group(10)), int(m.group(11))
        if oh > 23 or om > 59:
            return "offset"
        offset = sign * (oh * 60 + om)
    seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)) - offset * 60
    nanos = int(frac.ljust(9, "0")) if frac else 0
    return Timestamp(seconds * 1_000_000_000 + nanos, offset)


def format_ns(unix_ns: int, offset_minutes: int = 0) -> str:
    """Format Unix nanoseconds in Go RFC3339Nano layout."""
    seconds, nanos = divmod(unix_ns, 1_000_000_000)
    local = seconds + offset_minutes * 60
    days, rem = divmod(local, 86400)
    hh, rem = divmod(rem, 3600)
    mm, ss = divmod(rem, 60)
    out = f"{_date_text(days)}T{hh:02d}:{mm:02d}:{ss:02d}"
    if nanos:
        out += "." + f"{nanos:09d}".rstrip("0")
    if offset_minutes == 0:
        return out + "Z"
    sign = "+" if offset_minutes > 0 else "-"
    oh, om = divmod(abs(offset_minutes), 60)
    return f"{out}{sign}{oh:02d}:{om:02d}"


@functools.lru_cache(maxsize=1024)
def _date_text(days: int) -> str:
    """``YYYY-MM-DD`` of a day counted from 1970-01-01 (memoised: times cluster)."""
    dt = datetime(1970, 1, 1) + timedelta(days=days)
    return f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}"


def normalize_rfc3339(text: str, *, field: str = "timestamp") -> str:
    """Re-emit RFC 3339 text the way Go re-encodes a ``time.Time`` (offset kept)."""
    return parse_rfc3339(text, field=field).text()


def utc_seconds_text(moment: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` (seconds precision, UTC) for an aware datetime."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_DURATION_PART: Final = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_NS: Final = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}


def parse_go_duration(text: str) -> int:
    """Parse Go ``time.ParseDuration`` syntax (``90s``, ``1h30m``, ``1.5h``, ``-5s``) to nanoseconds.

    Integer arithmetic throughout, so ``1.1s`` is exactly 1,100,000,000 ns.

    Raises:
        ValueError: not a valid duration (the message quotes the text).
    """
    s = text.strip()
    sign = 1
    if s[:1] in ("+", "-"):
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        raise ValueError(f"invalid duration {text!r}")
    total = 0
    pos = 0
    while pos < len(s):
        m = _DURATION_PART.match(s, pos)
        if m is None:
            raise ValueError(f"invalid duration {text!r}")
        whole, _, frac = m.group(1).partition(".")
        scale = _UNIT_NS[m.group(2)]
        total += int(whole or "0") * scale
        if frac:
            total += int(frac) * scale // 10 ** len(frac)
        pos = m.end()
    if total >= 2**63:
        raise ValueError(f"invalid duration {text!r}: overflow")
    return sign * total


_SECOND_NS: Final = 1_000_000_000


def _fmt_frac(value: int, unit: int) -> str:
    whole, frac = divmod(value, unit)
    digits = len(str(unit)) - 1
    text = str(whole)
    if frac:
        text += "." + f"{frac:0{digits}d}".rstrip("0")
    return text


def format_go_duration(ns: int) -> str:
    """Format nanoseconds like Go's ``time.Duration.String()`` (``2s``, ``202ms``, ``1m30s``)."""
    if ns == 0:
        return "0s"
    neg = ns < 0
    ns = abs(ns)
    if ns < 1_000:
        out = f"{ns}ns"
    elif ns < 1_000_000:
        out = _fmt_frac(ns, 1_000) + "µs"
    elif ns < _SECOND_NS:
        out = _fmt_frac(ns, 1_000_000) + "ms"
    else:
        hours, rem = divmod(ns, 3600 * _SECOND_NS)
        minutes, rem = divmod(rem, 60 * _SECOND_NS)
        secs = _fmt_frac(rem, _SECOND_NS) + "s"
        if hours:
            out = f"{hours}h{minutes}m{secs}"
        elif minutes:
            out = f"{minutes}m{secs}"
        else:
            out = secs
    return "-" + out if neg else out


EPOCH_1980: Final = Timestamp(315532800 * 1_000_000_000)
"""``1980-01-01T00:00:00Z``, the deterministic fallback time Go uses."""
