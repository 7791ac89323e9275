from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _repo_cwd(monkeypatch):
    """Run every test from the repository root so relative paths (specs/, examples/) work."""
    monkeypatch.chdir(ROOT)


@dataclass
class CliRun:
    """What one command of the ``probfit`` console script returned and printed."""

    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def run_cli(capsys):
    """Run a ``probfit`` command in this process (``probfit.cli.main``, from the repository
    root), without paying a fresh interpreter's imports for every command; the console script
    as a separate process is tested once (``test_cli_runs_as_a_process``)."""
    from probfit.cli import main

    def run(*args: str) -> CliRun:
        capsys.readouterr()
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse's usage errors and --help
            # the status a process would exit with: None is success, a message is 1
            code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
        out = capsys.readouterr()
        return CliRun(code, out.out, out.err)

    return run


def _simulate(seed: int = 7, n: int = 300, p: int = 3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    w = np.array([0.8, -0.5, 0.3])[:p]
    eta = X @ w + 0.2
    out = {}
    out["linear_regression"] = ({"X": X, "y": eta + rng.normal(scale=0.7, size=n)}, None)
    out["logistic"] = ({"X": X, "y": (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)},
                       None)
    from scipy.stats import norm

    out["probit"] = ({"X": X, "y": (rng.random(n) < norm.cdf(eta)).astype(float)}, None)
    expo = rng.uniform(0.5, 2.0, size=n)
    out["poisson"] = ({"X": X, "log_exposure": np.log(expo),
                       "y": rng.poisson(expo * np.exp(eta)).astype(float)}, None)
    out["gamma"] = ({"X": X, "y": rng.gamma(4.0, np.exp(eta) / 4.0)}, None)
    mu = np.exp(eta)
    alpha = 0.5
    out["negative_binomial"] = ({"X": X, "y": rng.negative_binomial(
        1 / alpha, 1 / (1 + alpha * mu)).astype(float)}, None)
    out["robust_regression"] = ({"X": X, "y": eta + 0.7 * rng.standard_t(4.0, size=n)}, None)
    W = np.array([[0.5, -0.4], [-0.3, 0.8], [0.2, 0.1]])[:p]
    logits = np.column_stack([np.zeros(n), X @ W])
    prob = np.exp(logits - logits.max(1, keepdims=True))
    prob /= prob.sum(1, keepdims=True)
    y = np.array([rng.choice(3, p=pr) for pr in prob], dtype=float)
    out["multinomial_logistic"] = ({"X": X, "y": y}, {"k": 2})
    return out


@pytest.fixture(scope="session")
def spec_data():
    """Simulated data (and extra dims) for every model in specs/."""
    return _simulate()
