"""Compare our JSON error envelope with a Go golden one.

Every Go field must match except ``hint``: Go gives the generic hint of the exit
code, we give the specific hint of the error's code (``error_detail``) (issue
20). ``error_detail`` is our addition. The cases used with this helper all have
a specific code listed in the hint table.
"""

from __future__ import annotations

from typing import Any

from gait_runtime.cli._hints import HINTS


def split_our_hint(got: dict[str, Any], expected: dict[str, Any]) -> None:
    """Check and remove the fields where we differ from Go on purpose (in place)."""
    detail = got.pop("error_detail", None)
    if "hint" not in expected:
        return
    want = HINTS.get(detail, expected["hint"]) if isinstance(detail, str) else expected["hint"]
    if expected.get("migration"):
        want = expected["hint"]  # a migration hint is Go's own specific hint: kept
    assert got.pop("hint") == want
    expected.pop("hint")
