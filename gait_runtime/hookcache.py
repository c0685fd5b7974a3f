"""Start-up caches of the coding-agent hook's ``--policy`` path (one process per tool call).

Owns two cached lookups, each equal to the full work it replaces:

- :func:`cached_policy` — the parsed policy document (the YAML's plain value, kept as
  JSON) with the sha256 of the policy file's text (its bytes, for a UTF-8 file), one
  entry per policy file path and environment. A hit (same sha256) skips importing and running
  the YAML parser; validation and compilation
  (:func:`gait_runtime.gate.policy.compile_document`) run every time on that value, as
  after parsing, so the compiled policy and its digest are the same. A policy that fails
  to load is never cached (the full path reports its error).
- :func:`cached_adapter` — which ``gait_runtime.plugins`` entry point serves an adapter
  name, as a full :func:`gait_runtime.plugin.discover` resolved it (conflicts included).
  A hit loads that one entry point with discovery's checks
  (:func:`gait_runtime.plugin.load_entry_point`) instead of scanning every installed
  distribution with ``importlib.metadata`` and loading every plugin.

Keys. Every entry records the environment it was made in: the ``*.dist-info`` /
``*.egg-info`` directory names on ``sys.path`` (a name carries the version) with the
size, mtime and inode of each one's ``entry_points.txt``, and (policy entries) the
stat of the gate's YAML walker; adapter entries also record the stat of every
plugin's module file. Any difference is a miss. An environment where a plugin fails
to load is never indexed (its fix could change the conflicts).

Trust and failure. The directory is ``$GAIT_CACHE_DIR``, else ``$XDG_CACHE_HOME/gait``,
else ``~/.cache/gait`` (``GAIT_CACHE_DIR=off`` turns both caches off); it is created
``0700``. A file is read only if it is a regular file owned by this user and writable by
nobody else. Anything missing, stale, malformed, or failing to load from a hit is a miss,
and a miss does the full work, so a cache can make an answer slower, never different
(the directory is trusted like the installation: whoever can write this user's files
can also change the hook's settings). Writes are atomic (a temporary file renamed over
the entry) and best effort: an unwritable directory is not an error. Entries are a few
KB; one per policy file and environment, one adapter index per environment, none pruned.
Imports only ``hashlib``, ``json``, ``os``, ``stat``, ``sys`` at module import (the gate
and plugin modules when called).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys

TYPE_CHECKING = False  # typing costs start-up time; type checkers treat this name as True
if TYPE_CHECKING:
    from typing import Any, Final

    from .gate.model import CompiledPolicy
    from .plugin import PayloadAdapter

__all__ = ["CACHE_ENV", "cache_dir", "cached_adapter", "cached_policy", "environment"]

CACHE_ENV: Final = "GAIT_CACHE_DIR"
_FORMAT: Final = 1
_MAX_ENTRY: Final = 8 << 20
_NOFOLLOW: Final = getattr(os, "O_NOFOLLOW", 0)
_EUID: Final = getattr(os, "geteuid", None)  # POSIX; elsewhere no owner check


def cache_dir() -> str:
    """The cache directory (``""`` when ``GAIT_CACHE_DIR=off``)."""
    configured = os.environ.get(CACHE_ENV, "")
    if configured == "off":
        return ""
    if configured:
        return configured
    base = os.environ.get("XDG_CACHE_HOME", "") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "gait")


def _stat_key(path: str) -> list[int]:
    try:
        st = os.stat(path)
    except OSError:
        return []
    return [st.st_size, st.st_mtime_ns, st.st_ino]


_ENVIRONMENT: list[str] = []


def environment() -> str:
    """A digest of the installed distributions' names and entry-point files on ``sys.path``.

    Computed once per process (``sys.path`` as it was at the first call).
    """
    if not _ENVIRONMENT:
        _ENVIRONMENT.append(_environment_of(sys.path))
    return _ENVIRONMENT[0]


def _environment_of(paths: list[str]) -> str:
    h = hashlib.sha256()
    for entry in paths:
        h.update(b"\0p" + entry.encode("utf-8", "surrogateescape"))
        try:
            with os.scandir(entry or ".") as it:
                names = sorted(e.name for e in it if e.name.endswith((".dist-info", ".egg-info")))
        except OSError:  # not a directory (a zip file, or missing)
            h.update(repr(_stat_key(entry)).encode())
            continue
        for name in names:
            ep = os.path.join(entry, name, "entry_points.txt")
            h.update(f"\0d{name}{_stat_key(ep)}".encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def _read(path: str) -> Any:
    """The JSON value of a cache file this user owns alone; ``None`` for anything else."""
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if (
            not stat.S_ISREG(st.st_mode)
            or (_EUID is not None and st.st_uid != _EUID())
            or st.st_mode & 0o022
            or st.st_size > _MAX_ENTRY
        ):
            return None
        with os.fdopen(fd, "rb", closefd=False) as f:
            raw = f.read(_MAX_ENTRY + 1)
        return json.loads(raw)
    except (OSError, ValueError, RecursionError):  # RecursionError: absurdly nested JSON
        return None
    finally:
        os.close(fd)


def _write(directory: str, name: str, value: object) -> None:
    """Atomically replace ``directory/name`` with ``value`` as JSON (best effort)."""
    try:
        data = json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")
        os.makedirs(directory, mode=0o700, exist_ok=True)
        target = os.path.join(directory, name)
        tmp = f"{target}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)
        try:
            with os.fdopen(fd, "wb", closefd=False) as f:
                f.write(data)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except (OSError, TypeError, ValueError):
        try:
            os.unlink(f"{os.path.join(directory, name)}.{os.getpid()}.tmp")
        except OSError:
            pass


def _short(env: list[Any]) -> str:
    """A file-name part for an environment (one entry per environment, no thrashing)."""
    return hashlib.sha256(repr(env).encode()).hexdigest()[:16]


# ----------------------------------------------------------------------------- policy


def _walker() -> list[int]:
    return _stat_key(os.path.join(os.path.dirname(__file__), "gate", "_yaml.py"))


def cached_policy(path: str, directory: str | None = None) -> CompiledPolicy:
    """:func:`gait_runtime.gate.load_policy` of ``path``, the YAML step from the cache.

    Raises:
        PolicyError: unreadable or invalid policy (always from the full path).
    """
    from .gate.policy import compile_document, parse_policy, read_policy

    text, source = read_policy(path)
    where = cache_dir() if directory is None else directory
    if not where:
        doc, marks = parse_policy(text, source=source)
        return compile_document(doc, source=source, marks=marks)
    env = [_FORMAT, environment(), _walker()]
    sha = hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()
    # one entry per policy file and environment (an edit replaces it); the text's sha256 decides
    place = hashlib.sha256(os.path.abspath(source).encode("utf-8", "surrogateescape"))
    name = f"policy-{place.hexdigest()[:32]}-{_short(env)}"
    entry = _read(os.path.join(where, name + ".json"))
    if (
        isinstance(entry, dict)
        and entry.get("sha256") == sha
        and entry.get("env") == env
        and "doc" in entry
    ):
        try:
            return compile_document(entry["doc"], source=source)
        except Exception:  # a doctored or unexpected entry: do the full work
            pass
    doc, marks = parse_policy(text, source=source)
    try:
        doc_json: str | None = json.dumps(doc, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):  # a value JSON cannot carry exactly: never cached
        doc_json = None
    policy = compile_document(doc, source=source, marks=marks)
    if doc_json is not None and json.loads(doc_json) == doc:
        _write(where, name + ".json", {"sha256": sha, "env": env, "doc": json.loads(doc_json)})
    return policy


# ---------------------------------------------------------------------------- adapters


def cached_adapter(name: str, directory: str | None = None) -> PayloadAdapter:
    """:func:`gait_runtime.plugin.get_adapter` of ``name``, the lookup from the index.

    Raises:
        IntentError: ``unsupported adapter: <name>`` (always from a full discovery).
    """
    from .plugin import PluginInfo, get_adapter, lower, trim

    where = cache_dir() if directory is None else directory
    if not where:
        return get_adapter(name)
    key = lower(trim(name)) or "mcp"
    env = [_FORMAT, environment()]
    index_name = f"adapters-{_short(env)}.json"
    index = _read(os.path.join(where, index_name))
    if isinstance(index, dict) and index.get("env") == env and _modules_unchanged(index):
        found = _load_indexed(index, key, PluginInfo)
        if found is not None:
            return found
    adapter = get_adapter(name)  # raises for an unknown or unusable adapter
    _write_index(where, index_name, env)
    return adapter


def _modules_unchanged(index: dict[str, Any]) -> bool:
    modules = index.get("modules")
    if not isinstance(modules, list):
        return False
    for item in modules:
        if not isinstance(item, list) or len(item) != 2 or not isinstance(item[0], str):
            return False
        if _stat_key(item[0]) != item[1]:
            return False
    return True


def _load_indexed(index: dict[str, Any], key: str, info_type: Any) -> PayloadAdapter | None:
    from .plugin import PayloadAdapter, load_entry_point

    table = index.get("adapters")
    row = table.get(key) if isinstance(table, dict) else None
    if not isinstance(row, dict):
        return None
    try:
        info = info_type(
            name=row["name"],
            kind="",
            value=row["value"],
            distribution=row["distribution"],
            version=row["version"],
            location="",
        )
        loaded = load_entry_point(info, row["module"], row["attr"])
    except Exception:  # a malformed row: do the full work
        return None
    plugin = loaded.plugin
    if (
        loaded.error
        or loaded.kind != "adapter"
        or list(loaded.aliases) != row.get("aliases")
        or not isinstance(plugin, PayloadAdapter)
    ):
        return None
    return plugin


def _write_index(where: str, index_name: str, env: list[Any]) -> None:
    from importlib import metadata

    from .plugin import ENTRY_POINT_GROUP, adapters, discover

    infos = discover()
    if any(info.error.startswith("load failed") for info in infos):
        return
    parts = {
        (ep.name, ep.value): (ep.module, ep.attr)
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)
    }
    by_plugin = {id(info.plugin): info for info in infos if info.plugin is not None}
    table: dict[str, dict[str, Any]] = {}
    for word, plugin in sorted(adapters().items()):
        info = by_plugin.get(id(plugin))
        if info is None or (info.name, info.value) not in parts:
            return
        module, attr = parts[(info.name, info.value)]
        table[word] = {
            "name": info.name,
            "value": info.value,
            "module": module,
            "attr": attr,
            "distribution": info.distribution,
            "version": info.version,
            "aliases": list(info.aliases),
        }
    modules = sorted({info.location for info in infos if info.location})
    _write(
        where,
        index_name,
        {"env": env, "modules": [[m, _stat_key(m)] for m in modules], "adapters": table},
    )
