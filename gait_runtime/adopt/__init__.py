"""Adoption kit: the CI regression contract, the conformance check, the agent skills.

Owns: :mod:`.ci` (``gait ci regress``: restore fixtures, run ``gait regress run``,
write a summary, pass the exit code through), :mod:`.conformance` (``gait
conformance``: the published contracts checked against what this install
produces) and :mod:`.skills` (``gait skills install``). The first two drive the
``gait`` command line itself (the contract in child processes, the way a CI job
does; conformance through the CLI entry point), so what they check is what users
see; nothing here is imported by the lower layers.
"""

from __future__ import annotations

__all__: list[str] = []
