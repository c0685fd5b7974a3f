"""Endpoint patterns with Go ``path.Match`` semantics (gate.md §3.6), compiled once.

Owns: validating a pattern (a malformed one is rejected at policy load; the Go
implementation silently treats it as "no match") and translating it to an
anchored regular expression where ``*`` and ``?`` never cross ``/``,
``[...]`` classes allow ``^`` negation and ranges, and ``\\`` escapes. Also the
path rule (``/**`` suffix = subtree) and the domain rule (``*.x.y`` = strict
subdomain).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["DomainPattern", "GlobError", "PathPattern", "compile_glob"]


class GlobError(ValueError):
    """The pattern is malformed (Go ``path.ErrBadPattern``)."""


def _escaped(pattern: str, i: int) -> tuple[str, int]:
    """Read one class character at ``i`` (``\\`` escapes); return it and the next index."""
    if i >= len(pattern) or pattern[i] in "-]":
        raise GlobError("syntax error in pattern")
    if pattern[i] == "\\":
        i += 1
        if i >= len(pattern):
            raise GlobError("syntax error in pattern")
    ch = pattern[i]
    if i + 1 >= len(pattern):
        raise GlobError("syntax error in pattern")
    return ch, i + 1


def compile_glob(pattern: str) -> re.Pattern[str]:
    """Translate a Go ``path.Match`` pattern into a compiled full-match regex.

    Raises:
        GlobError: the pattern is malformed.
    """
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "*":
            out.append("[^/]*")
            i += 1
        elif ch == "?":
            out.append("[^/]")
            i += 1
        elif ch == "\\":
            if i + 1 >= n:
                raise GlobError("syntax error in pattern")
            out.append(re.escape(pattern[i + 1]))
            i += 2
        elif ch == "[":
            i += 1
            negated = i < n and pattern[i] == "^"
            if negated:
                i += 1
            ranges: list[str] = []
            while True:
                if i < n and pattern[i] == "]" and ranges:
                    i += 1
                    break
                lo, i = _escaped(pattern, i)
                hi = lo
                if pattern[i] == "-":
                    hi, i = _escaped(pattern, i + 1)
                ranges.append(re.escape(lo) if lo == hi else f"{re.escape(lo)}-{re.escape(hi)}")
                if lo > hi:
                    ranges[-1] = "(?!)"
            body = "".join(r for r in ranges if r != "(?!)")
            if negated:
                out.append(f"[^{body}]" if body else "(?s:.)")
            else:
                out.append(f"[{body}]" if body else "(?!)")
        else:
            out.append(re.escape(ch))
            i += 1
    return re.compile("".join(out), re.DOTALL)


@dataclass(frozen=True, slots=True)
class PathPattern:
    """A path pattern: exact, ``prefix/**`` subtree, or glob."""

    text: str
    regex: re.Pattern[str]

    @classmethod
    def compile(cls, text: str) -> PathPattern:
        """Validate and compile ``text``."""
        return cls(text, compile_glob(text))

    def matches(self, value: str) -> bool:
        """Go semantics of gate.md §3.6 for kind ``path``."""
        if value == self.text:
            return True
        if self.text.endswith("/**"):
            prefix = self.text[:-3]
            if value == prefix or value.startswith(prefix + "/"):
                return True
        return self.regex.fullmatch(value) is not None


@dataclass(frozen=True, slots=True)
class DomainPattern:
    """A domain pattern: exact (case-insensitive), ``*.suffix``, or glob."""

    text: str
    regex: re.Pattern[str]

    @classmethod
    def compile(cls, text: str) -> DomainPattern:
        """Validate and compile ``text``."""
        return cls(text, compile_glob(text))

    def matches(self, value: str) -> bool:
        """Go semantics of gate.md §3.6 for endpoint domains."""
        if value.lower() == self.text.lower():
            return True
        if self.text.startswith("*.") and value.endswith(self.text[1:]):
            return True
        return self.regex.fullmatch(value) is not None
