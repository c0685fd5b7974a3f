"""The CLI frame: argument parsing that never exits on its own, output rendering,
the JSON error envelope and the correlation id.

Owns: :class:`Result` (what a handler returns), :class:`Parser` (argparse that
raises :class:`~gait_runtime.errors.UsageError` instead of exiting),
``render_result`` / ``render_error`` (text or ``--json``, ``spec/exit-codes.md``
§2–3) and ``correlation_id``. Does not own any command's logic.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Final, NoReturn

import msgspec

from ..errors import (
    EXIT_APPROVAL_REQUIRED,
    EXIT_BLOCKED,
    EXIT_OK,
    GaitError,
    UsageError,
    default_envelope_fields,
    exit_code_for,
)
from ._hints import hint_for

__all__ = [
    "PROGRAM",
    "Handler",
    "HelpFormatter",
    "Parser",
    "Result",
    "add_choice",
    "add_common",
    "correlation_id",
    "dump_json_line",
    "render_error",
    "render_result",
]

PROGRAM: Final = "gait"
"""argv[0] used for correlation ids, as if invoked as ``gait`` from PATH (like the Go vectors)."""

_ENCODER: Final = msgspec.json.Encoder(order="sorted")


@dataclass(slots=True)
class Result:
    """What a command handler returns.

    Attributes:
        payload: the ``--json`` object (``ok`` is added when absent).
        text: lines printed in text mode.
        exit_code: process exit code (0, or an outcome such as 2/3/4).
    """

    payload: dict[str, Any]
    text: list[str] = field(default_factory=list)
    exit_code: int = 0


Handler = Callable[[argparse.Namespace], Result]


class HelpFormatter(argparse.HelpFormatter):
    """Help that shows each flag's default when it says something.

    ``(default: X)`` is appended unless the help already names its default, the
    default is empty, None or False (a switch), or the flag is positional.
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            not action.option_strings
            or "default" in text.lower()
            or default in (None, False, "", [], argparse.SUPPRESS)
        ):
            return text
        return f"{text} (default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` that raises :class:`UsageError` rather than exiting.

    A flag added with :func:`add_choice` keeps the Go error message for a value
    outside its ``choices``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        go_error = getattr(action, "go_error", None)
        if go_error is not None and action.choices is not None and value not in action.choices:
            details = getattr(action, "go_details", None)
            raise UsageError(go_error.format(value=value), details=details)
        super()._check_value(action, value)


def _normalized(text: str) -> str:
    return text.strip().lower()


def add_choice(
    parser: argparse.ArgumentParser,
    flag: str,
    choices: Sequence[str],
    *,
    default: str | None,
    help: str,
    error: str | None = None,
    details: dict[str, object] | None = None,
) -> argparse.Action:
    """A flag with real ``choices`` (shown in help and shell completion).

    The value is trimmed and lower-cased before the check (Go accepts any case).
    ``error`` is the message for an invalid value (``{value}`` is replaced);
    argparse's own message is used when None. ``details`` are added to that
    error's ``--json`` output (the server adds ``"executed": false``).
    """
    action = parser.add_argument(
        flag, default=default, type=_normalized, choices=tuple(choices), help=help
    )
    if error is not None:
        action.go_error = error  # type: ignore[attr-defined]  # read by Parser._check_value
        action.go_details = dict(details or {})  # type: ignore[attr-defined]
    return action


def add_common(parser: argparse.ArgumentParser, explain: str) -> None:
    """Add ``--json`` and ``--explain`` (prints one descriptive line, exit 0)."""
    parser.add_argument("--json", action="store_true", help="print one line of JSON on stdout")
    parser.add_argument(
        "--explain",
        action="store_const",
        const=explain,
        default=None,
        help="print what this command does and exit",
    )


def correlation_id(argv: Sequence[str]) -> str:
    """First 24 hex chars of sha256 over ``gait`` + argv, each trimmed, joined by U+001F."""
    items = [PROGRAM, *(a.strip() for a in argv)]
    return hashlib.sha256("\x1f".join(items).encode("utf-8")).hexdigest()[:24]


def dump_json_line(obj: object) -> str:
    """Compact JSON with keys sorted at every depth (Go re-marshals through a map)."""
    return _ENCODER.encode(obj).decode("utf-8")


def render_result(result: Result, *, as_json: bool, argv: Sequence[str], out: IO[str]) -> int:
    """Print a handler's result and return its exit code."""
    if as_json:
        payload = dict(result.payload)
        payload.setdefault(
            "ok", result.exit_code in (EXIT_OK, EXIT_BLOCKED, EXIT_APPROVAL_REQUIRED)
        )
        if payload.get("error") and payload["ok"] is False:
            _fill_envelope(payload, result.exit_code)
        payload.setdefault("correlation_id", correlation_id(argv))
        out.write(dump_json_line(payload) + "\n")
    else:
        for line in result.text:
            out.write(line + "\n")
    out.flush()
    return result.exit_code


def _fill_envelope(payload: dict[str, Any], exit_code: int) -> None:
    """The error envelope fields a failed result lacks (``spec/exit-codes.md`` §3)."""
    from ._hints import HINTS

    default_code, default_category, default_hint = default_envelope_fields(exit_code)
    payload.setdefault("error_code", default_code)
    payload.setdefault("error_category", default_category)
    payload.setdefault("retryable", False)
    detail = payload.get("error_detail")
    specific = HINTS.get(detail) if isinstance(detail, str) else None
    payload.setdefault("hint", specific or default_hint)


def render_error(
    error: GaitError, *, command: str, as_json: bool, argv: Sequence[str], out: IO[str]
) -> int:
    """Print an error (text line or JSON envelope) and return its exit code."""
    code = exit_code_for(error)
    if as_json:
        default_code, default_category, _ = default_envelope_fields(code)
        payload: dict[str, Any] = dict(error.details)
        payload.update(
            {
                "ok": False,
                "error": error.message,
                "error_code": default_code,
                "error_category": default_category,
                "error_detail": error.error_code,
                "retryable": error.retryable,
                "hint": hint_for(error),
                "correlation_id": correlation_id(argv),
            }
        )
        out.write(dump_json_line(payload) + "\n")
    else:
        prefix = f"{command} error: " if command else "error: "
        out.write(prefix + error.message.replace("\n", " ") + "\n")
        out.write("hint: " + hint_for(error) + "\n")
    out.flush()
    return code


def stdout() -> IO[str]:
    """The process stdout (indirection so tests can pass their own stream)."""
    return sys.stdout
