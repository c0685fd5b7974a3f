"""Names a package imports on first use (PEP 562): the one ``__getattr__``/``__dir__`` pair.

Owns: :func:`lazy_names`, which :mod:`gait_runtime.artifacts` and
:mod:`gait_runtime.gate` use so that importing the package (or one of its modules)
does not import every module its public names come from. Imports nothing itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["lazy_names"]


def lazy_names(
    package: str, modules: Mapping[str, str], namespace: dict[str, Any], public: Sequence[str]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """The module ``__getattr__`` and ``__dir__`` of ``package``.

    Args:
        package: the package's ``__name__``.
        modules: public name -> the submodule (relative) that defines it.
        namespace: the package's ``globals()``; a loaded name is stored there, so
            the next lookup is a plain attribute.
        public: the package's ``__all__``.
    """

    def __getattr__(name: str) -> object:
        module = modules.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        from importlib import import_module

        value = getattr(import_module(f"{package}.{module}"), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *public})

    return __getattr__, __dir__
