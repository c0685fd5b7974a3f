"""The structlog processor chain: renderers, levels, env, bound ids, stdlib bridge."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog
from structlog.testing import capture_logs

from gait_runtime.errors import UsageError
from gait_runtime.telemetry import bind_ids, configure_logging, get_logger, reset_logging
from gait_runtime.telemetry.logging import LOG_LEVEL_ENV, resolve_level


class _TTY(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _reset(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(LOG_LEVEL_ENV, raising=False)
    yield
    reset_logging()


def test_json_lines_by_default_with_level_and_timestamp() -> None:
    """A non-TTY stream gets one JSON object per line."""
    out = io.StringIO()
    configure_logging(stream=out)
    get_logger("t").info("decision_made", verdict="block")
    doc = json.loads(out.getvalue())
    assert doc["event"] == "decision_made"
    assert doc["verdict"] == "block"
    assert doc["level"] == "info"
    assert doc["timestamp"].endswith("Z")


def test_tty_gets_key_value_lines_without_colours() -> None:
    """A TTY stream gets the console renderer, with no ANSI escapes."""
    out = _TTY()
    configure_logging(stream=out)
    get_logger("t").info("decision_made", verdict="block")
    text = out.getvalue()
    assert "decision_made" in text
    assert "verdict=block" in text
    assert "\x1b[" not in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


def test_level_argument_filters_lower_levels() -> None:
    """``level="warning"`` drops info and keeps warning."""
    out = io.StringIO()
    configure_logging(stream=out, level="warning")
    log = get_logger("t")
    log.info("quiet")
    log.warning("loud")
    events = [json.loads(line)["event"] for line in out.getvalue().splitlines()]
    assert events == ["loud"]


def test_level_comes_from_env_when_no_argument(monkeypatch: pytest.MonkeyPatch) -> None:
    """``GAIT_LOG_LEVEL=debug`` enables debug lines; an argument would win."""
    monkeypatch.setenv(LOG_LEVEL_ENV, "DEBUG")
    out = io.StringIO()
    configure_logging(stream=out)
    get_logger("t").debug("detail")
    assert json.loads(out.getvalue())["event"] == "detail"
    assert resolve_level("error") == logging.ERROR


def test_bad_env_level_falls_back_to_info_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """An unknown env level must not stop the process: info is used and a warning logged."""
    monkeypatch.setenv(LOG_LEVEL_ENV, "chatty")
    out = io.StringIO()
    configure_logging(stream=out)
    get_logger("t").debug("hidden")
    docs = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [d["event"] for d in docs] == ["log_level_env_invalid"]
    assert docs[0]["value"] == "chatty"
    assert resolve_level() == logging.INFO


def test_bad_level_argument_is_a_usage_error() -> None:
    """An explicit unknown level is the caller's mistake."""
    with pytest.raises(UsageError, match="verbose"):
        configure_logging(level="verbose", stream=io.StringIO())


def test_bind_ids_adds_correlation_ids_inside_the_block_only() -> None:
    """session_id/trace_id/event_id/request_id are bound for the block; None is skipped."""
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        log = get_logger("t")
        with bind_ids(session_id="sess-1", trace_id="abc", event_id="e1", request_id="r1"):
            log.info("inside")
            with bind_ids(event_id="e2", request_id=None):
                log.info("nested")
        log.info("outside")
    assert logs[0] == {
        "event": "inside",
        "log_level": "info",
        "session_id": "sess-1",
        "trace_id": "abc",
        "event_id": "e1",
        "request_id": "r1",
    }
    assert logs[1]["event_id"] == "e2"
    assert logs[1]["request_id"] == "r1"
    assert logs[2] == {"event": "outside", "log_level": "info"}


def test_bound_ids_reach_the_rendered_json() -> None:
    """The configured chain merges context variables into every line."""
    out = io.StringIO()
    configure_logging(stream=out)
    with bind_ids(session_id="sess-9"):
        get_logger("t").warning("x")
    assert json.loads(out.getvalue())["session_id"] == "sess-9"


def test_stdlib_records_are_rendered_by_the_same_chain() -> None:
    """Third-party stdlib logging (e.g. the SDK) comes out as the same JSON lines."""
    out = io.StringIO()
    configure_logging(stream=out)
    with bind_ids(request_id="r7"):
        logging.getLogger("some.library").warning("queue full, dropping %s", "span")
    doc = json.loads(out.getvalue())
    assert doc["event"] == "queue full, dropping span"
    assert doc["level"] == "warning"
    assert doc["request_id"] == "r7"


def test_reset_removes_the_stdlib_handler_and_restores_defaults() -> None:
    """reset_logging undoes configure_logging completely."""
    root = logging.getLogger()
    before = list(root.handlers)
    level = root.level
    out = io.StringIO()
    configure_logging(stream=out)
    assert len(root.handlers) == len(before) + 1
    reset_logging()
    assert root.handlers == before
    assert root.level == level
    assert not structlog.is_configured()
    logging.getLogger("some.library").error("after reset")
    assert out.getvalue() == ""


def test_exceptions_render_as_structured_tracebacks() -> None:
    """JSON output carries the exception as data, not a preformatted blob only."""
    out = io.StringIO()
    configure_logging(stream=out)
    try:
        raise ValueError("boom")
    except ValueError:
        get_logger("t").exception("failed")
    doc = json.loads(out.getvalue())
    assert doc["exception"][0]["exc_type"] == "ValueError"
    assert doc["exception"][0]["exc_value"] == "boom"
