"""Installable: ``python -m build`` makes an sdist and a wheel; the wheel installs into a
clean venv (default extras only) and runs ``gait demo``, ``gait verify`` and
``gait conformance`` from the packaged data; optional features stay optional."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _run(cmd: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert proc.returncode == 0, f"{cmd} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def test_extras_keep_the_default_install_small() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    default = " ".join(project["dependencies"])
    for niche in ("matplotlib", "liburing"):
        assert niche not in default
    assert "opentelemetry-exporter-otlp-proto-http" in default  # OTLP export works by default
    extras = project["optional-dependencies"]
    assert extras["plot"] == ["matplotlib>=3.8"]
    assert extras["uring"][0].startswith("liburing")
    features = sorted(set(extras) - {"all", "test"})
    assert extras["all"] == [f"gait-runtime[{','.join(features)}]"]
    assert "-e '.[all,test]'" in (REPO / "Makefile").read_text()  # make demo/test get every extra


@pytest.mark.timeout(
    900
)  # one build and one install of ~50 wheels; seconds of CPU, more on a busy machine
def test_wheel_installs_into_a_clean_venv_and_runs_the_demo(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(REPO)], REPO)
    wheels, sdists = sorted(dist.glob("gait_runtime-*.whl")), sorted(dist.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1
    with zipfile.ZipFile(wheels[0]) as zf:
        names = set(zf.namelist())
    for data in (
        "gait_runtime/_data/schemas/v1/gate/intent_request.schema.json",
        "gait_runtime/_data/skills/gait-capture-runpack/SKILL.md",
        "gait_runtime/_data/profiles/soak.yaml",
    ):
        assert data in names
    with tarfile.open(sdists[0]) as tf:
        members = {m.name.split("/", 1)[1] for m in tf.getmembers() if "/" in m.name}
    for path in (
        "action.yml",
        "CHANGELOG.md",
        "ci/jenkins/Jenkinsfile",
        "docs/contracts/README.md",
    ):
        assert path in members

    # the first-party payload adapters are their own distribution (a plugin): install it too
    _run(
        [
            sys.executable,
            "-m",
            "build",
            "--no-isolation",
            "--wheel",
            "--outdir",
            str(dist),
            str(REPO / "plugins" / "gait-adapters"),
        ],
        REPO,
    )
    adapters = sorted(dist.glob("gait_adapters-*.whl"))
    assert len(adapters) == 1
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path)
    py = venv / "bin" / "python"
    # the outer pip installs into the clean interpreter, pinned like `make` pins
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(py),
            "install",
            "--quiet",
            "--no-compile",
            "--disable-pip-version-check",
            "-c",
            str(REPO / "constraints.txt"),
            str(wheels[0]),
            str(adapters[0]),
        ],
        tmp_path,
    )
    work = tmp_path / "work"
    work.mkdir()
    gait = str(venv / "bin" / "gait")
    demo = _run([gait, "demo"], work).stdout.splitlines()
    assert demo[:2] == ["mode=standard", "run_id=run_demo"]
    assert "verify=ok" in demo
    assert _run([gait, "verify", "run_demo"], work).stdout.startswith("verify ok: ")
    assert _run([gait, "conformance"], work).stdout.splitlines()[-1] == (
        "conformance ok: 4/4 checks pass"
    )
    probe = "import importlib.util as u; print([m for m in ('matplotlib', 'liburing') if u.find_spec(m)])"
    assert _run([str(py), "-c", probe], work).stdout.strip() == "[]"
    # without the uring extra the journal path is the thread one, and says why
    ring = (
        "from gait_runtime.supervisor._journal_io import JournalRing, RingUnavailable\n"
        "try:\n    JournalRing.open()\nexcept RingUnavailable as e:\n    print(e)\n"
    )
    assert "pip install 'gait-runtime[uring]'" in _run([str(py), "-c", ring], work).stdout
    plot = (
        "from pathlib import Path\nfrom gait_runtime.errors import DependencyMissingError\n"
        "from gait_runtime.harness.plot import write_plot\n"
        "try:\n    write_plot({}, Path('p.png'))\nexcept DependencyMissingError as e:\n"
        "    print(e.error_code, e)\n"
    )
    assert _run([str(py), "-c", plot], work).stdout.startswith(
        "plot_dependency_missing plotting needs the plot extra (pip install 'gait-runtime[plot]')"
    )
    _serve_exports_otlp(gait, work)


def _serve_exports_otlp(gait: str, work: Path) -> None:
    """The default install (no extras) runs ``gait serve`` and exports its decision span
    over OTLP/HTTP to a real receiver on loopback."""
    import json
    import time

    import httpx

    from tests.transport.otlp_receiver import receiving

    policy = work / "policy.yaml"
    policy.write_bytes((REPO / "tests" / "vectors" / "service" / "policy.yaml").read_bytes())
    body = (REPO / "tests" / "vectors" / "service" / "requests" / "allow_mcp.json").read_bytes()
    with receiving() as receiver:
        endpoint = f"http://127.0.0.1:{receiver.server_address[1]}"
        args = [gait, "serve", "--policy", str(policy), "--listen", "127.0.0.1:0",
                "--otel-endpoint", endpoint, "--json"]  # fmt: skip
        server = subprocess.Popen(
            args, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        try:
            assert server.stdout is not None
            startup = json.loads(server.stdout.readline())
            url = "http://" + str(startup["listen"])
            answer = httpx.post(url + "/v1/evaluate", content=body, timeout=30,
                                headers={"content-type": "application/json"})  # fmt: skip
            assert answer.status_code == 200 and answer.json()["verdict"] == "allow"
        finally:
            server.terminate()
            code = server.wait(timeout=60)
            if server.stdout is not None:
                server.stdout.close()
        assert code == 0
        deadline = time.monotonic() + 30  # bounded: the drain flushes the span before exit
        while not receiver.received and time.monotonic() < deadline:
            time.sleep(0.05)
        names = {s.span.name for s in receiver.received}
    assert "gait.gate.decision" in names, names
