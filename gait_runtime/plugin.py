"""Plugin Protocols and entry-point discovery (group ``gait_runtime.plugins``).

Owns: the four things a plugin can be — a :class:`PayloadAdapter` (a framework's
tool-call payload → an IntentRequest document), a :class:`Grader` (a regress check),
a :class:`TelemetrySink` (decision records out) and an :class:`Integration` (a thin
framework guardrail or wrapper built on the SDK) — the discovery of installed
plugins through the ``gait_runtime.plugins`` entry-point group, and the profile
context rules applied to every decoded call (``standard`` fills defaults and warns,
``oss-prod`` demands identity, workspace and session id). The core knows only these
Protocols: the adapters themselves (``mcp``, ``openai``, ``anthropic``, ``langchain``,
``claude_code``) live in first-party packages under ``plugins/``.

An entry point's name is the plugin's name; it loads to an object with a ``kind``
(``adapter``, ``grader``, ``sink`` or ``integration``) that satisfies the matching Protocol. A plugin
that fails to load, has an unknown kind, or claims a name (or alias) another plugin
also claims is listed with its error and never used: a call for that adapter fails
as ``unsupported adapter`` — nothing is decoded by a guess.

Pure apart from discovery (``importlib.metadata``), which runs once per process and is
cached; :func:`decode_call` is then a dict lookup and the adapter's own decoding.
``importlib.metadata`` is imported by :func:`discover` only: a caller that already knows
which entry point serves a name (the coding-agent hook's index, :mod:`gait_runtime.hookcache`)
loads it with :func:`load_entry_point`, which applies the same checks as discovery.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol, runtime_checkable

from .errors import IntentError
from .gate._strings import lower, trim  # re-exported: Go-exact text rules for adapters

if TYPE_CHECKING:
    from importlib import metadata

__all__ = [
    "DEFAULT_CREATED_AT",
    "ENTRY_POINT_GROUP",
    "FALLBACK_WARNING",
    "AdapterOutput",
    "DecodedCall",
    "Grader",
    "Integration",
    "PayloadAdapter",
    "PluginInfo",
    "TelemetrySink",
    "adapters",
    "decode_call",
    "decode_with",
    "discover",
    "get_adapter",
    "load_entry_point",
    "lower",
    "normalize_adapter_name",
    "resolve",
    "trim",
]

ENTRY_POINT_GROUP: Final = "gait_runtime.plugins"
DEFAULT_CREATED_AT: Final = "1980-01-01T00:00:00Z"
FALLBACK_WARNING: Final = (
    "standard profile applied fallback intent context; "
    "use --profile oss-prod for strict context enforcement"
)
_DEFAULT_IDENTITY: Final = "mcp-proxy"
_DEFAULT_WORKSPACE: Final = "."
_DEFAULT_RISK: Final = "high"

PluginKind = Literal["adapter", "grader", "sink", "integration"]


@dataclass(frozen=True, slots=True)
class AdapterOutput:
    """What an adapter returns for one call.

    Attributes:
        intent: the IntentRequest document, before the profile rules and normalisation.
        run_id_hint: a run id carried by the call (used only for the response run id).
    """

    intent: dict[str, Any]
    run_id_hint: str = ""


@runtime_checkable
class PayloadAdapter(Protocol):
    """Decodes one framework's tool-call payload into an IntentRequest document."""

    @property
    def kind(self) -> Literal["adapter"]:
        """Always ``"adapter"``."""
        ...

    @property
    def name(self) -> str:
        """The wire name (``openai``, ``claude_code``, ...); lower case."""
        ...

    @property
    def aliases(self) -> tuple[str, ...]:
        """Other spellings accepted for the name (lower case)."""
        ...

    def decode(self, call: Mapping[str, Any]) -> AdapterOutput:
        """Map ``call`` onto an IntentRequest.

        Raises:
            IntentError: the payload cannot be decoded (missing name, bad arguments).
        """
        ...


@runtime_checkable
class Grader(Protocol):
    """A regress check: ``{name, status: pass|fail, reason_codes[], details{}}`` per fixture."""

    @property
    def kind(self) -> Literal["grader"]:
        """Always ``"grader"``."""
        ...

    @property
    def name(self) -> str:
        """The grader's name in results."""
        ...

    @property
    def deterministic(self) -> bool:
        """Whether the same inputs always give the same result."""
        ...

    def grade(self, fixture: Mapping[str, Any], candidate: Mapping[str, Any]) -> dict[str, Any]:
        """Grade one candidate against one fixture; returns the grader result object."""
        ...


@runtime_checkable
class TelemetrySink(Protocol):
    """Receives one JSON-safe record per decision (lossy: a failing sink never blocks one)."""

    @property
    def kind(self) -> Literal["sink"]:
        """Always ``"sink"``."""
        ...

    @property
    def name(self) -> str:
        """The sink's name."""
        ...

    def emit(self, record: Mapping[str, Any]) -> None:
        """Take one decision record."""
        ...

    def close(self) -> None:
        """Flush and release resources."""
        ...


@runtime_checkable
class Integration(Protocol):
    """A thin framework integration (a guardrail, a tool wrapper) built on the SDK.

    Listed by ``gait plugins list``; its module must not import the framework itself, so
    listing stays cheap and works where the framework is not installed.
    """

    @property
    def kind(self) -> Literal["integration"]:
        """Always ``"integration"``."""
        ...

    @property
    def name(self) -> str:
        """The integration's name."""
        ...

    @property
    def framework(self) -> str:
        """The distribution name of the framework it plugs into."""
        ...


_PROTOCOLS: Final[dict[str, type]] = {
    "adapter": PayloadAdapter,
    "grader": Grader,
    "sink": TelemetrySink,
    "integration": Integration,
}


@dataclass(frozen=True, slots=True)
class PluginInfo:
    """One discovered entry point and where it comes from.

    Attributes:
        name: the entry point's name.
        kind: ``adapter``, ``grader``, ``sink``, ``integration`` or ``""`` (did not load).
        value: the entry point's ``module:attribute``.
        distribution: the installed distribution that declares it.
        version: that distribution's version.
        location: the file the plugin's module was loaded from.
        aliases: other names an adapter answers to.
        error: why it is unusable (load failure, bad kind, name conflict); ``""`` if usable.
        plugin: the loaded object (``None`` when it did not load).
    """

    name: str
    kind: str
    value: str
    distribution: str
    version: str
    location: str
    aliases: tuple[str, ...] = ()
    error: str = ""
    plugin: object | None = None

    def as_json(self) -> dict[str, Any]:
        """The JSON-safe view (without the loaded object)."""
        out: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "value": self.value,
            "distribution": self.distribution,
            "version": self.version,
            "location": self.location,
            "aliases": list(self.aliases),
            "ok": not self.error,
        }
        if self.error:
            out["error"] = self.error
        return out


def _load(ep: metadata.EntryPoint) -> PluginInfo:
    dist = ep.dist
    info = PluginInfo(
        name=ep.name,
        kind="",
        value=ep.value,
        distribution=dist.metadata["Name"] if dist is not None else "",
        version=dist.version if dist is not None else "",
        location="",
    )
    try:
        obj = ep.load()
    except Exception as exc:  # a broken plugin is listed, never used
        return replace(info, error=f"load failed: {exc}")
    return _checked(info, ep.module, obj)


def load_entry_point(info: PluginInfo, module: str, attr: str) -> PluginInfo:
    """Load one entry point known from an earlier discovery and check it like :func:`discover`.

    ``module`` and ``attr`` are the entry point's own parts (``EntryPoint.module`` and
    ``EntryPoint.attr``); ``info`` names it (``kind``, ``location``, ``aliases``, ``error``
    and ``plugin`` are filled here). Name conflicts between plugins are not checked:
    that needs every plugin, which is what :func:`discover` is for.
    """
    from importlib import import_module

    info = replace(info, kind="", location="", aliases=(), error="", plugin=None)
    try:
        obj: object = import_module(module)
        for part in filter(None, attr.split(".")):
            obj = getattr(obj, part)
    except Exception as exc:  # a broken plugin is listed, never used
        return replace(info, error=f"load failed: {exc}")
    return _checked(info, module, obj)


def _checked(info: PluginInfo, module_name: str, obj: object) -> PluginInfo:
    """``info`` for the loaded ``obj``: its kind and aliases, or why it is unusable."""
    module = sys.modules.get(module_name)
    info = replace(info, location=str(getattr(module, "__file__", "") or ""))
    kind = getattr(obj, "kind", "")
    protocol = _PROTOCOLS.get(kind) if isinstance(kind, str) else None
    if protocol is None:
        return replace(info, error=f"unknown plugin kind: {kind!r}")
    info = replace(info, kind=kind)
    if not isinstance(obj, protocol):
        return replace(info, error=f"does not satisfy the {kind} protocol")
    if isinstance(obj, PayloadAdapter):
        if lower(trim(obj.name)) != info.name:
            return replace(info, error=f"adapter name {obj.name!r} differs from its entry point")
        info = replace(info, aliases=tuple(lower(trim(a)) for a in obj.aliases))
    return replace(info, plugin=obj)


@functools.cache
def discover() -> tuple[PluginInfo, ...]:
    """Every entry point in ``gait_runtime.plugins``, loaded once per process.

    Sorted by (name, distribution). Adapter names and aliases claimed by more than one
    plugin mark every claimant unusable.
    """
    from importlib import metadata

    return resolve(metadata.entry_points(group=ENTRY_POINT_GROUP))


def resolve(entry_points: Iterable[metadata.EntryPoint]) -> tuple[PluginInfo, ...]:
    """Load ``entry_points`` and mark adapter name conflicts (what :func:`discover` does)."""
    eps = sorted(entry_points, key=lambda ep: (ep.name, ep.value))
    found = [_load(ep) for ep in eps]
    claims: dict[str, list[int]] = {}
    for index, info in enumerate(found):
        if info.kind == "adapter" and not info.error:
            for word in {info.name, *info.aliases}:
                claims.setdefault(word, []).append(index)
    conflicted = {i for owners in claims.values() if len(owners) > 1 for i in owners}
    for index in sorted(conflicted):
        info = found[index]
        others = sorted(
            {
                found[j].distribution or found[j].value
                for word, owners in claims.items()
                if index in owners
                for j in owners
                if j != index
            }
        )
        found[index] = replace(
            info, plugin=None, error="adapter name also claimed by " + ", ".join(others)
        )
    return tuple(found)


@functools.cache
def adapters() -> Mapping[str, PayloadAdapter]:
    """Usable adapters by wire name and by alias."""
    table: dict[str, PayloadAdapter] = {}
    for info in discover():
        if info.kind == "adapter" and not info.error and isinstance(info.plugin, PayloadAdapter):
            for word in (info.name, *info.aliases):
                table[word] = info.plugin
    return table


def normalize_adapter_name(name: str) -> str:
    """Trim + lower an adapter name and resolve its aliases (``""`` means ``mcp``).

    Raises:
        IntentError: ``unsupported adapter: <name>`` (unknown, or its plugin is unusable).
    """
    return get_adapter(name).name


def get_adapter(name: str) -> PayloadAdapter:
    """The adapter for ``name`` (trimmed, lower-cased; ``""`` means ``mcp``).

    Raises:
        IntentError: ``unsupported adapter: <name>``.
    """
    key = lower(trim(name))
    try:
        return adapters()[key or "mcp"]
    except KeyError:
        raise IntentError(f"unsupported adapter: {key}", code="adapter_unsupported") from None


@dataclass(frozen=True, slots=True)
class DecodedCall:
    """One tool call mapped onto an IntentRequest.

    Attributes:
        intent: the IntentRequest document (not yet normalised).
        run_id_hint: ``call.context.run_id`` (used only for the response run id).
        fallback_used: the standard profile filled a missing identity, workspace or session.
    """

    intent: dict[str, Any]
    run_id_hint: str
    fallback_used: bool


def decode_call(adapter: str, call: Mapping[str, Any], *, profile: str) -> DecodedCall:
    """Decode ``call`` with the named adapter and apply the profile's context rules.

    Args:
        adapter: an adapter name or alias (see :func:`normalize_adapter_name`).
        call: the request's ``call`` object.
        profile: ``standard`` or ``oss-prod``.

    Raises:
        IntentError: unknown adapter, missing tool name, malformed arguments, or a
            context field the strict profile requires.
    """
    return decode_with(get_adapter(adapter), call, profile=profile)


def decode_with(adapter: PayloadAdapter, call: Mapping[str, Any], *, profile: str) -> DecodedCall:
    """:func:`decode_call` with the adapter object itself (already looked up).

    Raises:
        IntentError: missing tool name, malformed arguments, or a context field the
            strict profile requires.
    """
    output = adapter.decode(call)
    intent = output.intent
    context = intent.get("context")
    if not isinstance(context, dict):
        raise IntentError("adapter produced an intent without a context", code="call_invalid")
    fallback = False
    if profile == "oss-prod":
        for key in ("identity", "workspace", "session_id"):
            if not _text(context.get(key)):
                raise IntentError(
                    f"context.{key} is required in strict profile", code="context_required"
                )
    else:
        for key, default in (("identity", _DEFAULT_IDENTITY), ("workspace", _DEFAULT_WORKSPACE)):
            if not _text(context.get(key)):
                context[key] = default
                fallback = True
        if not _text(context.get("session_id")):
            fallback = True
    if not _text(context.get("risk_class")):
        context["risk_class"] = _DEFAULT_RISK
    return DecodedCall(intent, output.run_id_hint, fallback)


def _text(value: object) -> str:
    return trim(value) if isinstance(value, str) else ""
