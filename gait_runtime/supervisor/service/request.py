"""Step one of the decision path: the ``/v1/evaluate`` request body, decoded and checked.

Owns: :class:`EvaluateRequest` (``spec/service.md`` §3.1, unknown fields
refused), :func:`decode_request` (Go's decode messages, the UTF-8, nesting and
identifier bounds) and :func:`check_lockdown` (the client-path lockdown of §4 in
Go's order). Every fault here is a :class:`RequestError` carrying its HTTP
status, raised before anything is evaluated or written. Pure: no clock, no files.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated, Any, Final

import msgspec

from ...artifacts.fsutil import reject_parent_traversal
from ...errors import ArtifactInputError

__all__ = [
    "MAX_ID_BYTES",
    "MAX_NESTING",
    "EvaluateRequest",
    "RequestError",
    "check_lockdown",
    "decode_request",
]

MAX_ID_BYTES: Final = 128
"""Longest ``session_id`` / ``run_id`` accepted, in UTF-8 bytes (file names stay < 255)."""
MAX_NESTING: Final = 64
"""Deepest nesting of objects and arrays accepted in ``request.call``."""


class EvaluateRequest(msgspec.Struct, forbid_unknown_fields=True):
    """The request body of ``/v1/evaluate`` (and the SSE / stream routes)."""

    call: dict[str, Any] | None = None
    adapter: str = ""
    run_id: str = ""
    session_id: str = ""
    session_journal: str = ""
    checkpoint_interval: Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)] = 0
    trace_path: str = ""
    runpack_out: str = ""
    emit_runpack: bool = False
    pack_out: str = ""
    emit_pack: bool = False
    approval_tokens: list[dict[str, Any]] | None = None


class RequestError(Exception):
    """A request the decision path refuses before evaluating it.

    Attributes:
        status: HTTP status of the answer (400).
        message: the Go error text.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


_DECODER: Final = msgspec.json.Decoder(EvaluateRequest)
_ID_FORBIDDEN: Final = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_CONTEXT_STRINGS: Final = (
    "identity",
    "workspace",
    "risk_class",
    "phase",
    "agent_id",
    "run_id",
    "workflow_id",
    "repo",
    "environment",
    "job_id",
    "session_id",
    "request_id",
    "environment_fingerprint",
)
_NESTED_TOO_DEEP: Final = f"request.call is nested deeper than {MAX_NESTING} levels"


def decode_request(body: bytes) -> EvaluateRequest:
    """Decode and validate a request body; every input fault is a 400, before any artifact.

    Raises:
        RequestError: not one JSON object, an unknown or mistyped field, no
            ``call``, nesting beyond :data:`MAX_NESTING`, or a bad identifier.
    """
    try:
        request = _DECODER.decode(body)
    except msgspec.DecodeError as exc:
        raise RequestError(400, _decode_message(body, str(exc))) from None
    except UnicodeDecodeError:
        raise RequestError(400, "decode request: body is not valid UTF-8") from None
    except RecursionError:
        raise RequestError(400, _NESTED_TOO_DEEP) from None
    if not request.call:
        raise RequestError(400, "request.call is required")
    _check_depth(request.call)
    _check_id("request.session_id", request.session_id)
    _check_id("request.run_id", request.run_id)
    context = request.call.get("context")
    if isinstance(context, dict):
        for key in _CONTEXT_STRINGS:
            value = context.get(key)
            if value is None:
                continue
            if not isinstance(value, str):
                raise RequestError(400, f"call.context.{key} must be a string")
            if key in ("session_id", "run_id"):
                _check_id(f"call.context.{key}", value)
    elif context is not None:
        raise RequestError(400, "call.context must be an object")
    return request


def check_lockdown(request: EvaluateRequest, *, allow_client_paths: bool) -> None:
    """Refuse client output paths in Go's order (``spec/service.md`` §4), before evaluating.

    Raises:
        RequestError: a client path the configuration does not allow, or one
            that climbs out with ``..``.
    """
    for name, what in (("trace_path", "trace path"), ("runpack_out", "runpack path")):
        value = str(getattr(request, name)).strip()
        if not value:
            continue
        if not allow_client_paths:
            raise RequestError(400, f"request.{name} is not allowed by server configuration")
        try:
            reject_parent_traversal(value, what)
        except ArtifactInputError as exc:
            raise RequestError(400, exc.message.split(":")[0]) from None
    if request.pack_out.strip():
        raise RequestError(400, "request.pack_out is not allowed by server configuration")
    if request.emit_pack:
        raise RequestError(400, "request.emit_pack requires server --pack-dir")
    if request.session_journal.strip():
        raise RequestError(400, "request.session_journal is not allowed by server configuration")
    context = request.call.get("context") if request.call else None
    if isinstance(context, dict) and str(context.get("context_envelope_path") or "").strip():
        raise RequestError(
            400,
            "call.context.context_envelope_path is not supported; "
            "use --context-envelope at the boundary",
        )


def _check_id(name: str, value: str) -> None:
    """Identifiers name files: bounded length, no control or line-breaking characters."""
    if len(value) > MAX_ID_BYTES or len(value.encode()) > MAX_ID_BYTES:
        raise RequestError(400, f"{name} is longer than {MAX_ID_BYTES} bytes")
    if _ID_FORBIDDEN.search(value):
        raise RequestError(400, f"{name} contains a control character")


def _check_depth(value: object) -> None:
    """Refuse containers nested deeper than :data:`MAX_NESTING` (level by level, no recursion).

    Only containers are queued, so a wide object of scalars costs one pass.
    """
    level: list[object] = [value]
    depth = 1
    while level:
        if depth > MAX_NESTING:
            raise RequestError(400, _NESTED_TOO_DEEP)
        below: list[object] = []
        for item in level:
            children: Iterable[object] = item.values() if isinstance(item, dict) else item  # type: ignore[assignment]
            below.extend(c for c in children if type(c) is dict or type(c) is list)
        level = below
        depth += 1


def _decode_message(body: bytes, detail: str) -> str:
    if not body.strip():
        return "decode request: EOF"
    if "truncated" in detail:
        return "decode request: unexpected EOF"
    if "trailing characters" in detail:
        return "request body must contain a single JSON object"
    unknown = re.match(r"Object contains unknown field `(.*)`", detail)
    if unknown:
        return f'decode request: json: unknown field "{unknown.group(1)}"'
    return f"decode request: {detail}"
