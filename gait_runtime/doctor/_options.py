"""The inputs of one ``gait doctor`` run.

Owns: :class:`DoctorOptions` (workdir, output directory, key mode and key
sources, the invoked program, the environment and the wall clock). No I/O.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..artifacts.keys import KeySource

__all__ = ["DoctorOptions"]


@dataclass(frozen=True, slots=True)
class DoctorOptions:
    """Inputs of one doctor run.

    Attributes:
        workdir: directory checked (``--workdir``).
        output_dir: ``--output-dir``, relative to ``workdir`` unless absolute.
        key_mode: ``dev`` or ``prod``.
        private_key: signing key source.
        public_key: verify key source.
        argv0: the invoked program (to locate the ``gait`` binary).
        environ: environment variables (``PATH``, ``HOME``, key env vars).
        now: wall-clock seconds (lock staleness).
    """

    workdir: Path = Path(".")
    output_dir: str = "./gait-out"
    key_mode: str = "dev"
    private_key: KeySource = field(default_factory=KeySource)
    public_key: KeySource = field(default_factory=KeySource)
    argv0: str = ""
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    now: float = 0.0

    @property
    def resolved_output_dir(self) -> Path:
        """``output_dir`` joined to ``workdir`` when relative, cleaned."""
        out = Path(self.output_dir)
        if out.is_absolute():
            return Path(os.path.normpath(out))
        return Path(os.path.normpath(os.path.join(self.workdir, out)))
