"""Strict YAML loading for policies: duplicate keys rejected, every node's position kept.

Owns: turning YAML text into plain Python values plus a map from each value's
path (``("rules", 2, "match", "tool_names")``) to its 1-based ``(line, column)``
mark, so validation errors can name the key and where it is. Parsing is done by
PyYAML's safe composer; this module only walks the node tree.
"""

from __future__ import annotations

from typing import Any

import yaml

from ..errors import PolicyError

__all__ = ["Marks", "Path", "load_yaml"]

Path = tuple[str | int, ...]
Marks = dict[Path, tuple[int, int]]

_MAX_NODES = 200_000
"""Node visits allowed per document (alias expansion counts): stops "billion laughs"."""
_MAX_DEPTH = 64

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str, source: str) -> tuple[Any, Marks]:
    """Parse one YAML document; return its value and the key marks.

    Raises:
        PolicyError: malformed YAML, several documents, duplicate mapping keys,
            or non-string mapping keys.
    """
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            marks: Marks = {}
            budget = [_MAX_NODES]
            value = None if node is None else _build(loader, node, (), marks, source, budget)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        where = ""
        if exc.problem_mark is not None:
            where = f"[{exc.problem_mark.line + 1}:{exc.problem_mark.column + 1}] "
        raise PolicyError(
            f"parse policy yaml: {where}{exc.problem or exc} ({source})", code="policy_yaml"
        ) from exc
    except yaml.YAMLError as exc:
        raise PolicyError(f"parse policy yaml: {exc} ({source})", code="policy_yaml") from exc
    return value, marks


def _build(
    loader: Any, node: yaml.Node, path: Path, marks: Marks, source: str, budget: list[int]
) -> Any:
    budget[0] -= 1
    if budget[0] < 0 or len(path) > _MAX_DEPTH:
        raise PolicyError(
            f"parse policy yaml: document too large or too deeply nested ({source})",
            code="policy_yaml",
        )
    marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            line, col = key_node.start_mark.line + 1, key_node.start_mark.column + 1
            if not isinstance(key, str):
                raise PolicyError(
                    f"parse policy yaml: [{line}:{col}] mapping key {key!r} must be a string "
                    f"({source})",
                    code="policy_yaml",
                )
            if key in out:
                first = marks.get((*path, key), (0, 0))
                raise PolicyError(
                    f"parse policy yaml: [{line}:{col}] duplicate key {key!r} at "
                    f"{_dotted((*path, key))} (first at {first[0]}:{first[1]}) ({source})",
                    code="policy_duplicate_key",
                    details={"field": _dotted((*path, key)), "line": line, "column": col},
                )
            out[key] = _build(loader, value_node, (*path, key), marks, source, budget)
            marks[(*path, key)] = (line, col)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [
            _build(loader, item, (*path, i), marks, source, budget)
            for i, item in enumerate(node.value)
        ]
    return loader.construct_object(node, deep=True)


def _dotted(path: Path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out or "<root>"
