"""``gait doctor``: check order, fixes and exit codes (spec scout-doctor §3)."""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from gait_runtime import __version__
from gait_runtime.cli import main
from gait_runtime.doctor import DoctorOptions, run_doctor, sh_quote
from gait_runtime.doctor.checks import required_schema_files
from gait_runtime.gate._limits import LOCK_STALE_S

ROOT = Path(__file__).resolve().parent.parent.parent
DEFAULT_ORDER = [
    "workdir",
    "output_dir",
    "job_runtime_durability",
    "temp_dir",
    "registry_cache",
    "gate_rate_limit_lock",
    "onboarding_binary",
    "key_source_ambiguity",
    "key_permissions",
    "key_config",
]
REPO_ORDER = ["schema_files", "hooks_path", "onboarding_assets"]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh HOME (no registry cache, no telemetry health file) and a fresh cwd."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("GAIT_TELEMETRY_HEALTH_PATH", raising=False)
    monkeypatch.delenv("GAIT_ADOPTION_LOG", raising=False)
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return home


def doctor(*argv: str) -> tuple[int, dict[str, Any]]:
    out = io.StringIO()
    code = main(["doctor", *argv, "--json"], out=out)
    return code, json.loads(out.getvalue())


def test_fresh_directory_gives_the_contract_order_and_two_warnings(home: Path) -> None:
    """A fresh dir: every default check in order, output dir and registry warn, exit 0."""
    code, doc = doctor()
    assert code == 0 and doc["ok"] is True
    assert [c["name"] for c in doc["checks"]] == DEFAULT_ORDER
    assert doc["onboarding_mode"] == "installed_binary"
    assert doc["status"] == "warn"
    assert doc["fix_commands"] == ["mkdir -p 'gait-out'", "mkdir -p ~/.gait/registry"]
    assert doc["summary"] == (
        "doctor: onboarding_mode=installed_binary status=warn failed=0 warned=2 non_fixable=false"
    )
    assert (doc["schema_id"], doc["schema_version"]) == ("gait.doctor.result", "1.0.0")
    assert "non_fixable" not in doc
    assert (doc["binary_version"], doc["binary_path_source"]) == (__version__, "path")
    assert not Path(".gait-doctor-writecheck").exists()


def test_following_the_fixes_clears_the_warnings(home: Path) -> None:
    """Running the two printed fix commands turns the result into a pass."""
    _, doc = doctor()
    for command in doc["fix_commands"]:
        assert os.system(command) == 0
    code, doc = doctor()
    assert (code, doc["status"]) == (0, "pass")


def test_a_failing_check_is_still_exit_0_in_default_mode(home: Path) -> None:
    """Both a key path and a key env: key_source_ambiguity fails, yet default mode exits 0."""
    code, doc = doctor("--private-key", "k", "--private-key-env", "K")
    checks = {c["name"]: c for c in doc["checks"]}
    assert checks["key_source_ambiguity"]["status"] == "fail"
    assert doc["status"] == "fail"
    assert (code, doc["ok"]) == (0, True)


def _checkout(root: Path, *, schemas: bool) -> None:
    (root / "pyproject.toml").write_text('[project]\nname = "gait-runtime"\n')
    (root / "gait_runtime").mkdir()
    if schemas:
        shutil.copytree(ROOT / "schemas", root / "schemas")


def test_missing_schema_files_in_a_checkout_is_exit_7(home: Path, tmp_path: Path) -> None:
    """schema_files is the only non-fixable check: a missing dependency exits 7."""
    repo = tmp_path / "repo"
    repo.mkdir()
    _checkout(repo, schemas=False)
    code, doc = doctor("--workdir", str(repo))
    assert [c["name"] for c in doc["checks"]] == DEFAULT_ORDER + REPO_ORDER
    schema = doc["checks"][len(DEFAULT_ORDER)]
    assert (schema["status"], schema["non_fixable"]) == ("fail", True)
    assert (code, doc["ok"], doc["non_fixable"]) == (7, False, True)
    assert doc["onboarding_mode"] == "repo_checkout"


def test_a_complete_checkout_passes_the_repo_checks(home: Path, tmp_path: Path) -> None:
    """With every required schema present the checkout checks do not fail."""
    repo = tmp_path / "repo"
    repo.mkdir()
    _checkout(repo, schemas=True)
    code, doc = doctor("--workdir", str(repo))
    checks = {c["name"]: c["status"] for c in doc["checks"]}
    assert checks["schema_files"] == "pass"
    assert code == 0
    for name in required_schema_files():
        assert (ROOT / "schemas" / "v1" / f"{name}.schema.json").is_file()


def test_this_checkout_is_recognised(home: Path) -> None:
    """The project's own source tree is a repo checkout with all its schemas."""
    result = run_doctor(DoctorOptions(workdir=ROOT, environ={"HOME": str(home)}, now=time.time()))
    assert result.onboarding_mode == "repo_checkout"
    assert [c.name for c in result.checks][-3:] == REPO_ORDER
    assert result.exit_code == 0


def test_stale_rate_limit_lock_warns_with_a_removal_fix(home: Path) -> None:
    """A gate rate-limit lock older than 15 s is a warning whose fix removes it."""
    lock = Path("gait-out/gate_rate_limits.json.lock")
    lock.parent.mkdir()
    lock.write_text("")
    old = time.time() - 120
    os.utime(lock, (old, old))
    _, doc = doctor()
    check = next(c for c in doc["checks"] if c["name"] == "gate_rate_limit_lock")
    assert check["status"] == "warn"
    assert check["fix_command"] == "rm -f 'gait-out/gate_rate_limits.json.lock'"


@pytest.mark.parametrize(("age_s", "status"), [(14.5, "pass"), (15.5, "warn"), (29.0, "warn")])
def test_rate_limit_lock_is_stale_when_the_rate_limiter_calls_it_stale(
    home: Path, age_s: float, status: str
) -> None:
    """Doctor's threshold is the lock protocol's one staleness (15 s), not a second value."""
    assert LOCK_STALE_S == 15.0
    lock = home.parent / "work" / "gait-out" / "gate_rate_limits.json.lock"
    lock.parent.mkdir()
    lock.write_text("")
    mtime = lock.stat().st_mtime
    opts = DoctorOptions(workdir=lock.parent.parent, environ={"HOME": str(home)}, now=mtime + age_s)
    check = next(c for c in run_doctor(opts).checks if c.name == "gate_rate_limit_lock")
    assert check.status == status


def test_group_writable_key_warns(home: Path) -> None:
    """key_permissions warns about a key file others can write."""
    key = Path("k.key")
    key.write_text("x")
    key.chmod(0o666)
    _, doc = doctor("--private-key", "k.key")
    check = next(c for c in doc["checks"] if c["name"] == "key_permissions")
    assert (check["status"], check["fix_command"]) == ("warn", "chmod 600 'k.key'")


def test_prod_key_mode_needs_a_loadable_key(home: Path) -> None:
    """key_config fails in prod without a key and passes with one made by gait keys init."""
    _, doc = doctor("--key-mode", "prod")
    assert next(c for c in doc["checks"] if c["name"] == "key_config")["status"] == "fail"
    assert main(["keys", "init", "--out-dir", "keys"], out=io.StringIO()) == 0
    _, doc = doctor("--key-mode", "prod", "--private-key", "keys/gait_private.key")
    assert next(c for c in doc["checks"] if c["name"] == "key_config")["status"] == "pass"


def test_text_mode_prints_each_check_and_its_fix(home: Path) -> None:
    """Text: the summary line, ``- name: status (message)``, ``  fix: cmd``; --summary trims."""
    out = io.StringIO()
    assert main(["doctor"], out=out) == 0
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("doctor: onboarding_mode=installed_binary status=warn")
    assert lines[1] == "- workdir: pass (workdir is writable)"
    assert "  fix: mkdir -p 'gait-out'" in lines
    out = io.StringIO()
    main(["doctor", "--summary"], out=out)
    summary = out.getvalue().splitlines()
    assert summary[0] == lines[0]
    assert [s for s in summary if s.startswith("- ")] == [
        "- output_dir: warn (output directory does not exist)",
        "- registry_cache: warn (registry cache directory does not exist)",
    ]


def test_sh_quote_escapes_single_quotes() -> None:
    """Fix commands quote paths POSIX style."""
    assert sh_quote("it's here") == "'it'\\''s here'"


def test_posture_without_readiness_is_a_usage_error(home: Path) -> None:
    """Serve flags only make sense with --production-readiness: exit 6."""
    code, doc = doctor("--posture", "dev")
    assert code == 6 and doc["ok"] is False
