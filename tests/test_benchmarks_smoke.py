"""The benchmark harness runs end to end on tiny sizes (it asserts nothing about speed)."""

from __future__ import annotations

import re

import numpy as np
import pytest

import probfit as pf
from benchmarks import gmm_em, lasso_path, lean_newton, machine, memory, run, vi_logistic
from benchmarks.glm import GLMProblem
from benchmarks.harness import Data, Outcome, Problem, Runner, time_problem

CELLS = 9


def _tables(text: str) -> dict[str, list[list[str]]]:
    """Rows of the Markdown tables in ``text``, by problem (header and rule dropped)."""
    out: dict[str, list[list[str]]] = {}
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith("| problem |"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            out.setdefault(cells[0], []).append(cells)
    return out


def test_quick_suite_prints_a_well_formed_table_for_every_problem(capsys, tmp_path):
    out = tmp_path / "R.md"
    assert run.main(["--quick", "--out", str(out)]) == 0
    tables = _tables(capsys.readouterr().out)
    names = [p.name for p in run.all_problems("quick")]
    assert list(tables) == names
    for name in names:
        rows = tables[name]
        assert all(len(r) == CELLS for r in rows), rows
        first = rows[0]
        assert first[1].startswith("probfit") and first[3] == "1.00"
        for r in rows:
            assert float(r[2]) > 0 and np.isfinite(float(r[4])) and float(r[5]) >= 0
            if r[1] == "probfit lbfgs":  # a GLM's L-BFGS forms no XᵀWX: no floor
                assert r[8] == ""
            elif r[1].startswith("probfit"):
                assert float(r[8]) > 0  # floor multiple
    text = out.read_text()
    assert text.startswith("# Benchmark results")
    assert [m for m in re.findall(r"^## (\S+)$", text, re.M)] == names
    assert "Machine:" in text and "Python" in text


def test_problems_option_rejects_unknown_names():
    with pytest.raises(SystemExit):
        run.main(["--quick", "--problems", "no_such_problem"])


def test_results_section_is_replaced_in_place(tmp_path):
    path = tmp_path / "R.md"
    path.write_text("# Benchmark results\n\n## other\n\nkeep me\n")
    run.write_section(path, "GLM", "first\n")
    run.write_section(path, "GLM", "second\n")
    text = path.read_text()
    assert "keep me" in text and "second" in text and "first" not in text
    assert text.count("## GLM") == 1


class _Allocates(Problem):
    """A problem whose only runner holds ``mb`` megabytes at once."""

    name = "allocates"

    def __init__(self, mb: int) -> None:
        self.mb = mb

    def describe(self) -> str:
        return "allocates"

    def data(self) -> Data:
        return {}

    def runners(self) -> list[Runner]:
        def fn(data: Data) -> Outcome:
            a = np.ones(self.mb * 2**20 // 8)
            return Outcome(float(a.sum()), 1)

        return [Runner("probfit", fn, probfit=True), Runner("absent", fn, ("no_such_mod",))]

    def objective(self, data: Data, outcome: Outcome) -> float:
        return outcome.solution

    def floor(self, data, runner, outcome):
        return None


@pytest.mark.skipif(not memory.supported(), reason="no resettable VmHWM on this system")
def test_peak_memory_is_the_resident_growth_of_the_fit():
    # numpy's allocator is traced, but the measure is the kernel's high-water mark: it must
    # see the 150 MB buffer, and not the memory the process held before
    peak = memory.peak_growth_in_this_process(_Allocates(150), "probfit", {}, warmup=True)
    assert 145 <= peak <= 200


@pytest.mark.skipif(not memory.supported(), reason="no resettable VmHWM on this system")
def test_peak_memory_in_a_fresh_process():
    problem = GLMProblem("t", "logistic", 2000, 5)
    peak = memory.peak_growth(problem, "probfit newton", {})
    assert 0.0 <= peak < 200.0


def test_missing_peers_are_skipped_and_named():
    rows, skipped = time_problem(_Allocates(1), 2, {})
    assert [r.library for r in rows] == ["probfit"]
    assert skipped == ["absent (no_such_mod not installed)"]
    assert len(rows[0].times) == 2 and rows[0].ratio == 1.0


def test_gmm_estep_loglik_is_probfits():
    x = gmm_em.simulate(500)
    fit = gmm_em.model().fit({"x": x}, k=gmm_em.K, seed=0, n_init=1, tol=1e-6)
    p = fit.params
    resp, ll = gmm_em.estep(x, p["pi"], p["mu"], p["cov"])
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(ll, gmm_em.loglik(x, p["pi"], p["mu"], p["cov"]), rtol=1e-12)
    np.testing.assert_allclose(ll, fit.loglik, rtol=1e-12)


def test_exact_meanfield_elbo_gradient_matches_central_differences():
    X, y = vi_logistic.simulate(n=200, p=3)
    lam = np.array([0.1, -0.2, 0.3, -1.0, -1.5, -2.0])
    _, g = vi_logistic.neg_elbo(lam, X, y)
    eps = 1e-6
    num = np.array([(vi_logistic.neg_elbo(lam + eps * e, X, y)[0]
                     - vi_logistic.neg_elbo(lam - eps * e, X, y)[0]) / (2 * eps)
                    for e in np.eye(lam.size)])
    err = np.linalg.norm(g - num) / max(1.0, np.linalg.norm(g), np.linalg.norm(num))
    assert err <= 1e-6


def test_lasso_objective_is_probfits_penalised_objective():
    X, y = lasso_path.make_data(300, 20)
    lam = 5.0
    rng = np.random.default_rng(1)
    b0, w = 0.2, rng.normal(size=20) * (rng.random(20) < 0.5)
    eta = b0 + X @ w
    direct = np.sum(np.logaddexp(0.0, eta) - y * eta) + lam * np.sum(np.abs(w))
    np.testing.assert_allclose(lasso_path.objective(b0, w, X, y, lam), direct, rtol=1e-12)


def test_path_reports_iterations_per_point():
    X, y = lasso_path.make_data(300, 20)
    res = pf.path(lasso_path.model(), {"X": X, "y": y}, "w", n=5)
    # at λ_max the warm start is already the solution; below it every fit has to move
    assert res.n_iter.shape == (5,) and np.all(res.n_iter >= 0) and np.all(res.n_iter[1:] >= 1)


class _BrokenPeer(_Allocates):
    def runners(self) -> list[Runner]:
        def broken(data: Data) -> Outcome:
            raise RuntimeError("peer exploded")

        return [*super().runners()[:1], Runner("broken", broken)]


def test_a_failing_peer_is_dropped_with_a_note():
    rows, skipped = time_problem(_BrokenPeer(1), 3, {})
    assert [r.library for r in rows] == ["probfit"]
    assert skipped == ["broken (failed: RuntimeError: peer exploded)"]


def test_glm_target_verdict_at_the_target_size():
    from benchmarks.harness import Row

    problem = GLMProblem("t", "logistic", 1_000_000, 50)
    rows = [Row("t", "probfit newton", 1.0, 1.0, 10.0, 0.0, 4, floor_multiple=1.5,
                peak_mb=100.0),
            Row("t", "probfit lbfgs", 0.5, 0.5, 10.0, 0.0, 9),
            Row("t", "peer", 2.0, 2.0, 10.0 + 1e-6, 1e-7, 5)]
    text = problem.verdict(rows)  # probfit's own other engine is not a peer
    assert "fastest peer (peer, 2.000 s): met" in text and "2 × floor: met" in text
    assert "1e-8 of the best: met" in text and "< 3 × X (1,144 MB): met" in text
    rows[0].time_s = 3.0
    assert "fastest peer (peer, 2.000 s): NOT met" in problem.verdict(rows)
    assert GLMProblem("t", "logistic", 2000, 5).verdict(rows) is None


def test_lean_newton_reaches_probfits_optimum_and_reports(tmp_path):
    """The lean Newton bound is a correct Newton fit: the same optimum as probfit's (the
    module's report states the gap); its report is written where asked."""
    out = tmp_path / "lean.md"
    lean_newton.main(["--n", "3000", "--p", "6", "--repeats", "1", "--out", str(out)])
    text = out.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| ") and "newton" in
            line.lower()]
    assert [r.split("|")[1].strip() for r in rows] == ["probfit newton", "lean numpy Newton"]
    probfit_nll, lean_nll = (float(r.split("|")[6]) for r in rows)
    assert lean_nll == pytest.approx(probfit_nll, rel=1e-9)
    gap = float(re.search(r"gap \(lean − probfit\): (\S+)\.$", text, re.M).group(1))
    assert abs(gap) < 1e-12


@pytest.mark.skipif(not (machine.CACHE_DIR / "index0").exists(),
                    reason="no cache sizes in sysfs")
def test_machine_line_names_the_cache_sizes():
    text = machine.describe()
    sizes = re.findall(r"\bL([123]) (\d+)[KMG]B \(cores [0-9,-]+\)", text)
    assert sizes and all(int(size) > 0 for _, size in sizes), text
