"""gait-runtime: an agent control plane.

A long-running supervisor hosts one session per agent run, a fail-closed gate
decides every tool call against a YAML policy, and every decision leaves signed,
deterministic evidence that anyone can verify offline. Importing this package has
no side effects and pulls in nothing heavy; the subpackages are imported on use.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
