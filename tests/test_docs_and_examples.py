"""The README's code, every example script and the CLI run, so they never rot."""

from __future__ import annotations

import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


def test_readme_example_runs(capsys):
    blocks = python_blocks(ROOT / "README.md")
    assert blocks
    for code in blocks:
        exec(compile(code, "README.md", "exec"), {})
    assert "Log-likelihood" in capsys.readouterr().out


def test_readme_quickstart_has_two_commands():
    text = (ROOT / "README.md").read_text()
    quick = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```bash\n(.*?)```", quick, flags=re.S)
    assert len(commands) == 2
    assert all("python3.12" in c for c in commands)
    ci = (ROOT / ".ci" / "run").read_text()
    assert commands[1].strip() in ci


@pytest.mark.parametrize("script", sorted((ROOT / "examples").glob("*.py")), ids=lambda p: p.name)
def test_example_runs(script, capsys):
    runpy.run_path(str(script), run_name="__main__")
    assert capsys.readouterr().out


def test_cli_runs_as_a_process(tmp_path):
    """The console script's module as its own process: its output and exit codes."""
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "probfit.cli", *args], capture_output=True,
                              text=True, cwd=ROOT, check=False)

    r = run("validate", "specs/logistic.yaml")
    assert r.returncode == 0 and "valid model 'logistic'" in r.stdout
    r = run("validate", str(tmp_path / "missing.yaml"))
    assert r.returncode == 2 and r.stderr.startswith("probfit: error:")
    r = run("no-such-command")
    assert r.returncode == 2 and "invalid choice" in r.stderr


def test_cli_demo(tmp_path, run_cli):
    report = tmp_path / "demo.html"
    r = run_cli("demo", "--report", str(report))
    assert r.returncode == 0, r.stderr
    assert "MLE" in r.stdout and "MAP" in r.stdout and "shrinkage" in r.stdout
    assert f"comparison report written to {report.resolve()}" in r.stdout
    assert report.read_text().count('src="data:image/png;base64,') == 5


def test_cli_validate_and_errors(tmp_path, run_cli):
    r = run_cli("validate", "specs/logistic.yaml")
    assert r.returncode == 0 and "valid model 'logistic'" in r.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nobserve: [{data: y, dist: Nope}]\n")
    r = run_cli("validate", str(bad))
    assert r.returncode == 2
    assert r.stderr.startswith("probfit: error:") and "Traceback" not in r.stderr
    r = run_cli("demo", "--prior-scale", "-1")
    assert r.returncode == 2 and "scale" in r.stderr and "Traceback" not in r.stderr


def test_cli_fit_csv(tmp_path, run_cli):
    import numpy as np

    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 2))
    y = (rng.random(100) < 1 / (1 + np.exp(-X @ [1.0, -1.0]))).astype(int)
    csv = tmp_path / "d.csv"
    rows = ["X_1,X_2,y"] + [f"{a},{b},{c}" for (a, b), c in zip(X, y, strict=True)]
    csv.write_text("\n".join(rows) + "\n")
    r = run_cli("fit", "specs/logistic.yaml", "--data", str(csv), "--method", "map",
                "--out", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out" / "fit.json").is_file()
    assert (tmp_path / "out" / "fit.nc").is_file() and "Convergence report" in r.stdout
    r = run_cli("fit", "specs/logistic.yaml", "--data", str(tmp_path / "missing.csv"))
    assert r.returncode == 2 and "does not exist" in r.stderr


def test_cli_explain(tmp_path, run_cli):
    import numpy as np

    rng = np.random.default_rng(1)
    X = rng.normal(size=(50, 2))
    y = (rng.random(50) < 0.5).astype(int)
    csv = tmp_path / "d.csv"
    csv.write_text("X_1,X_2,y\n" + "\n".join(f"{a},{b},{c}" for (a, b), c in zip(X, y,
                                                                                   strict=True)))
    r = run_cli("explain", "specs/logistic.yaml", "--data", str(csv))
    assert r.returncode == 0, r.stderr
    # specs/logistic.yaml: w ~ Normal(0, 2.5) → λ₂ = 1/2.5² = 0.16; sklearn C = 1/λ₂ = 6.25
    assert "prior Normal(loc=0, scale=2.5)" in r.stdout and "λ₂ = 0.16" in r.stdout
    assert "C=6.25" in r.stdout and "alpha=0.0032" in r.stdout  # glum alpha = λ₂ / n, n = 50
    r = run_cli("explain", "specs/logistic.yaml", "--data", str(tmp_path / "nope.csv"))
    assert r.returncode == 2 and "does not exist" in r.stderr and "Traceback" not in r.stderr
