"""``gait ci regress``: the CI contract (docs/ci.md).

Only what does not need ``gait regress`` runs here; the end-to-end runs of the contract
on passing and failing fixture repositories come with the regress commands
(branch ``adopt-regress``).
"""

from __future__ import annotations

from pathlib import Path

from .runner import gait, json_line


def test_a_missing_work_directory_is_invalid_input(tmp_path: Path) -> None:
    proc = gait("ci", "regress", "--workdir", "absent", "--json", cwd=tmp_path, check=False)
    assert proc.returncode == 6
    out = json_line(proc)
    assert out["status"] == "error" and out["error"] == "work directory not found: absent"
    assert out["error_code"] == "invalid_input"
    assert list(tmp_path.iterdir()) == []  # nothing created
