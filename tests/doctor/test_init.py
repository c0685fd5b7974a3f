"""``gait init``: starter policies the policy compiler accepts, never overwriting by accident."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from gait_runtime.cli import main
from gait_runtime.doctor import TEMPLATES

VECTORS = Path(__file__).resolve().parent.parent / "vectors"


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_every_template_validates(in_tmp: Path, template: str) -> None:
    """Each template is written and `gait policy validate` accepts it with the same digest."""
    out = io.StringIO()
    assert main(["init", "--template", template, "--json"], out=out) == 0
    doc = json.loads(out.getvalue())
    assert doc["next_commands"][0] == "gait policy validate .gait.yaml"
    out = io.StringIO()
    assert main(["policy", "validate", ".gait.yaml", "--json"], out=out) == 0
    assert json.loads(out.getvalue())["policy_digest"] == doc["policy_digest"]


@pytest.mark.parametrize(
    ("template", "intent", "exit_code"),
    [
        ("low", "intent_delete.json", 4),
        ("medium", "intent_delete.json", 3),
        ("high", "intent_delete.json", 3),
    ],
)
def test_templates_decide_deletes_by_risk(
    in_tmp: Path, template: str, intent: str, exit_code: int
) -> None:
    """A delete needs approval under low risk and is blocked under medium and high."""
    assert main(["init", "--template", template], out=io.StringIO()) == 0
    out = io.StringIO()
    code = main(["policy", "test", ".gait.yaml", str(VECTORS / "gate" / intent), "--json"], out=out)
    assert code == exit_code, out.getvalue()


def test_existing_policy_is_never_overwritten_without_force(in_tmp: Path) -> None:
    """A second init exits 6 and leaves the file as it was; --force replaces it."""
    Path(".gait.yaml").write_text("mine\n")
    out = io.StringIO()
    assert main(["init", "--json"], out=out) == 6
    assert json.loads(out.getvalue())["error_detail"] == "init_exists"
    assert Path(".gait.yaml").read_text() == "mine\n"
    assert main(["init", "--force", "--template", "low"], out=io.StringIO()) == 0
    assert "low risk" in Path(".gait.yaml").read_text()


def test_unknown_template_is_exit_6(in_tmp: Path) -> None:
    """An unknown --template names the choices and writes nothing."""
    out = io.StringIO()
    assert main(["init", "--template", "extreme"], out=out) == 6
    assert "low, medium, high" in out.getvalue()
    assert not Path(".gait.yaml").exists()


def test_text_prints_the_next_commands(in_tmp: Path) -> None:
    """Text mode ends with the commands to run next."""
    out = io.StringIO()
    assert main(["init"], out=out) == 0
    lines = out.getvalue().splitlines()
    assert lines[0] == "init ok: wrote .gait.yaml (template=medium)"
    assert "  gait policy validate .gait.yaml" in lines and "  gait doctor" in lines
