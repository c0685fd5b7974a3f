"""Structured logs: one structlog processor chain for the whole process.

Owns: :func:`configure_logging` (called only by the CLI, the server and test
setup) and :func:`reset_logging`; the choice of renderer (JSON lines by
default, logfmt ``key=value`` lines on request, aligned human lines without
colours when the stream is a TTY); the log
level (argument, else ``GAIT_LOG_LEVEL``, else ``info``); routing of stdlib
``logging`` records (for example from the OpenTelemetry SDK) through the same
renderer; and :func:`bind_ids`, which binds ``session_id``, ``trace_id``,
``event_id`` and ``request_id`` for the duration of a block with
``structlog.contextvars.bound_contextvars``.

Library modules only call ``structlog.get_logger(__name__)``; they never
configure anything. Does not own: what each module logs.
"""

from __future__ import annotations

import contextvars
import logging
import os
import sys
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any, Final, Literal, TextIO

import msgspec
import structlog
from structlog.typing import Processor

from ..errors import UsageError

__all__ = [
    "LOG_LEVEL_ENV",
    "LogFormat",
    "bind_ids",
    "configure_logging",
    "get_logger",
    "reset_logging",
    "resolve_level",
]

LOG_LEVEL_ENV: Final = "GAIT_LOG_LEVEL"
DEFAULT_LEVEL: Final = "info"

LogFormat = Literal["json", "logfmt", "console"]

_LEVELS: Final = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}


class _State:
    """The stdlib handler installed by :func:`configure_logging`, for reset."""

    handler: logging.Handler | None = None
    root_level: int = logging.WARNING


def resolve_level(level: str | int | None = None) -> int:
    """The numeric level: ``level`` if given, else ``GAIT_LOG_LEVEL``, else info.

    An unknown value in the environment falls back to info (a bad variable must
    not stop the server); an unknown explicit argument is a usage error.

    Raises:
        UsageError: ``level`` is given and is not a known level name or number.
    """
    if isinstance(level, int):
        return level
    if level is not None:
        found = _LEVELS.get(level.strip().lower())
        if found is None:
            raise UsageError(
                f"unknown log level {level!r} (use debug, info, warning, error or critical)",
                code="log_level_invalid",
            )
        return found
    env = os.environ.get(LOG_LEVEL_ENV, "").strip().lower()
    return _LEVELS.get(env, _LEVELS[DEFAULT_LEVEL])


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]


def _renderer(fmt: LogFormat) -> list[Processor]:
    if fmt == "console":
        return [structlog.dev.ConsoleRenderer(colors=False)]
    if fmt == "logfmt":
        return [
            structlog.processors.format_exc_info,
            structlog.processors.LogfmtRenderer(
                key_order=["timestamp", "level", "event"], drop_missing=True, bool_as_flag=False
            ),
        ]
    return [
        structlog.processors.dict_tracebacks,
        structlog.processors.JSONRenderer(serializer=_json_line),
    ]


_JSON: Final = msgspec.json.Encoder(enc_hook=repr)


def _json_line(event: object, **_: object) -> str:
    """One compact JSON object (msgspec: about 5 µs less per line than ``json.dumps``);
    values JSON cannot hold are written as their ``repr``, as structlog's default does."""
    return _JSON.encode(event).decode("utf-8")


def configure_logging(
    *,
    level: str | int | None = None,
    fmt: LogFormat | None = None,
    stream: TextIO | None = None,
    capture_stdlib: bool = True,
) -> None:
    """Install the processor chain for structlog and, optionally, stdlib logging.

    Args:
        level: minimum level; ``GAIT_LOG_LEVEL`` or info when None.
        fmt: ``json``, ``logfmt`` (one ``key=value`` line per event, values
            quoted when needed) or ``console``; None picks ``console`` on a TTY
            and ``json`` otherwise.
        stream: where lines go; stderr when None (stdout carries command output).
        capture_stdlib: also render stdlib ``logging`` records (root logger)
            through the same chain.

    Raises:
        UsageError: ``level`` is not a known level.
    """
    out = stream if stream is not None else sys.stderr
    numeric = resolve_level(level)
    chosen: LogFormat = fmt if fmt is not None else ("console" if _isatty(out) else "json")
    shared = _shared_processors()
    structlog.configure(
        processors=[*shared, *_renderer(chosen)],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.WriteLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    _remove_stdlib_handler()
    if capture_stdlib:
        handler = logging.StreamHandler(out)
        handler.setFormatter(
            structlog.stdlib.ProcessorFormatter(
                foreign_pre_chain=shared,
                processors=[
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    *_renderer(chosen),
                ],
            )
        )
        root = logging.getLogger()
        _State.root_level = root.level
        root.addHandler(handler)
        root.setLevel(numeric)
        _State.handler = handler
    env = os.environ.get(LOG_LEVEL_ENV, "").strip().lower()
    if level is None and env and env not in _LEVELS:
        structlog.get_logger(__name__).warning(
            "log_level_env_invalid", value=env, used=DEFAULT_LEVEL
        )


def reset_logging() -> None:
    """Undo :func:`configure_logging`: structlog defaults, stdlib handler removed."""
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    _remove_stdlib_handler()


def _remove_stdlib_handler() -> None:
    if _State.handler is not None:
        root = logging.getLogger()
        root.removeHandler(_State.handler)
        root.setLevel(_State.root_level)
        _State.handler = None


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def get_logger(name: str | None = None) -> structlog.typing.FilteringBoundLogger:
    """A structlog logger (configuration is looked up lazily at first use)."""
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger(name)
    return logger


class _BoundIds:
    """The context manager :func:`bind_ids` returns (tokens, not a context scan)."""

    __slots__ = ("_ids", "_tokens")

    def __init__(self, ids: dict[str, str]) -> None:
        self._ids = ids
        self._tokens: Mapping[str, contextvars.Token[Any]] = {}

    def __enter__(self) -> None:
        self._tokens = structlog.contextvars.bind_contextvars(**self._ids)

    def __exit__(self, *exc: object) -> None:
        structlog.contextvars.reset_contextvars(**self._tokens)


def bind_ids(
    *,
    session_id: str | None = None,
    trace_id: str | None = None,
    event_id: str | None = None,
    request_id: str | None = None,
) -> AbstractContextManager[None]:
    """Bind the given correlation ids to every log line inside the block.

    Ids left as None are not bound; on exit the previous values come back (the
    variables are reset with their tokens: no copy of the whole context, which
    ``structlog.contextvars.bound_contextvars`` takes on every entry).
    Context variables do not cross memory streams: bind again in the task that
    receives a message.
    """
    ids = {}
    if session_id is not None:
        ids["session_id"] = session_id
    if trace_id is not None:
        ids["trace_id"] = trace_id
    if event_id is not None:
        ids["event_id"] = event_id
    if request_id is not None:
        ids["request_id"] = request_id
    return _BoundIds(ids)
