"""The least a numpy Newton fit of logistic regression does, timed beside probfit's.

``python -m benchmarks.lean_newton [--n N] [--p P] [--repeats R] [--out FILE]``

Issue #7 asks for probfit's logistic MLE at n = 1,000,000, p = 50 within 2× of its floor
(iterations × one ``XᵀWX`` by :func:`probfit.contract.weighted_gram`). This module measures how
close a numpy + OpenBLAS implementation can come at all: :func:`lean_fit` is Newton's method
stripped to its hot loop — the intercept-only MLE as start, one pass over ``X`` per iteration
with the same blocks, threads and BLAS limit as probfit (:func:`probfit.contract.over_row_ranges`)
that forms ``η``, the logistic terms, ``Xᵀs`` and ``Xᵀw`` by ``gemv`` and ``XᵀWX`` by one ``syrk``
of the ``√w``-scaled rows, always the full step, then one value-and-gradient pass at the end.
It has no line search, no data checks, no separation check and no model compilation, so it is a
bound, not a solver to use.

probfit's fit, the lean fit and the floor's kernel run interleaved in one process. The report
gives each fit's least time as a multiple of the least kernel time, as the suite does, and the
two fits' objective gap. It goes to stdout and to ``--out`` (by default
``benchmarks/results/lean_newton.md``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from scipy import linalg

from benchmarks.glm import glm_model, simulate
from benchmarks.machine import describe
from probfit.contract import block_rows, over_row_ranges, weighted_gram

OUT = Path(__file__).parent / "results" / "lean_newton.md"


def _pass(x: np.ndarray, sign: np.ndarray, beta: np.ndarray, b: float, hessian: bool
          ) -> tuple[float, np.ndarray, float, np.ndarray, np.ndarray, float]:
    """``(Σ log p, Xᵀs, Σs, XᵀWX, Xᵀw, Σw)`` at ``(β, b)``, with ``s`` the score and ``w`` the
    curvature (negated) per row; without ``hessian`` the last three are zero."""
    n, k = x.shape
    rows = min(n, block_rows(k))

    def part(lo: int, hi: int) -> tuple:
        total = sum_s = sum_w = 0.0
        xs = np.zeros(k)
        gram, xw = np.zeros((k, k)), np.zeros(k)
        work = np.empty((rows, k))
        eta = np.empty(rows)
        for start in range(lo, hi, rows):
            stop = min(hi, start + rows)
            block, sg, e = x[start:stop], sign[start:stop], eta[: stop - start]
            np.matmul(block, beta, out=e)
            e += b
            t = sg * e  # σ·η with σ = 2y − 1: log p = min(t, 0) − log1p(exp(−|η|))
            a = np.abs(e)
            np.negative(a, out=a)
            np.exp(a, out=a)
            u = 1.0 + a
            total += float(np.minimum(t, 0.0).sum() - np.log1p(a).sum())
            s = np.maximum(a, t <= 0.0)
            s /= u
            s *= sg
            sum_s += float(s.sum())
            if not hessian:
                xs += block.T @ s
                continue
            r = np.sqrt(a)
            r /= u
            w = r * r
            scaled = work[: stop - start]
            np.multiply(block, r[:, None], out=scaled)
            xs += block.T @ s
            xw += block.T @ w
            sum_w += float(w.sum())
            gram += scaled.T @ scaled
        return total, xs, sum_s, gram, xw, sum_w

    parts = over_row_ranges(x, part)
    return tuple(sum(q[j] for q in parts) for j in range(6))


def lean_fit(x: np.ndarray, y: np.ndarray, tol: float = 1e-10
             ) -> tuple[np.ndarray, float, int, float]:
    """``(β, b, iterations, −Σ log p)`` by full Newton steps until half the Newton decrement
    is at most ``tol · |f|`` (probfit's rule); the last step is taken and its point evaluated.
    Without a line search it can diverge; it gives up after 100 steps."""
    k = x.shape[1]
    sign = 2.0 * y - 1.0
    p0 = float(np.mean(y))
    beta, b = np.zeros(k), float(np.log(p0 / (1.0 - p0)))
    iterations = 0
    while True:
        total, xs, sum_s, gram, xw, sum_w = _pass(x, sign, beta, b, True)
        hess = np.empty((k + 1, k + 1))
        hess[:k, :k] = gram
        hess[:k, k] = hess[k, :k] = xw
        hess[k, k] = sum_w
        grad = np.append(xs, sum_s)
        step = linalg.cho_solve(linalg.cho_factor(hess), grad)
        beta, b = beta + step[:k], b + float(step[k])
        iterations += 1
        if grad @ step / 2.0 <= tol * abs(total):
            # value and score at the last point, as probfit's last evaluation forms them
            total = _pass(x, sign, beta, b, False)[0]
            return beta, b, iterations, -total
        if iterations == 100:
            raise RuntimeError("the lean Newton fit did not converge in 100 full steps")


def compare(n: int, p: int, repeats: int) -> str:
    """Run probfit, the lean fit and the kernel ``repeats`` times, interleaved; the report."""
    data = simulate("logistic", n, p)
    x, y = data["X"], np.asarray(data["y"], dtype=float)
    model = glm_model("logistic_mle", "logistic")
    h = np.full(n, 0.25)
    times: dict[str, list[float]] = {"probfit": [], "lean": [], "kernel": []}
    fit = lean = None
    for _ in range(repeats):
        t = time.perf_counter()
        fit = model.fit({"X": x, "y": data["y"]}, method="mle", engine="newton")
        times["probfit"].append(time.perf_counter() - t)
        t = time.perf_counter()
        lean = lean_fit(x, y)
        times["lean"].append(time.perf_counter() - t)
        t = time.perf_counter()
        weighted_gram(x, h)
        times["kernel"].append(time.perf_counter() - t)
    kernel = min(times["kernel"])
    nll = -fit.loglik
    gap = (lean[3] - nll) / max(1.0, abs(nll))
    lines = [f"# Lean numpy Newton beside probfit: logistic MLE, n = {n:,}, p = {p}", "",
             f"Command: `python -m benchmarks.lean_newton --n {n} --p {p} --repeats {repeats}` "
             f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}).", "",
             f"Machine: {describe()}", "",
             f"One `XᵀWX` (`weighted_gram`): least {kernel:.3f} s, median "
             f"{np.median(times['kernel']):.3f} s over {repeats} runs.", "",
             "| fit | iterations | least time (s) | median time (s) | least time / floor | "
             "−Σ log p |", "|---|---:|---:|---:|---:|---:|"]
    for name, its, value, ts in (("probfit newton", fit.n_iter, nll, times["probfit"]),
                                 ("lean numpy Newton", lean[2], lean[3], times["lean"])):
        lines.append(f"| {name} | {its} | {min(ts):.3f} | {np.median(ts):.3f} | "
                     f"{min(ts) / (its * kernel):.2f} | {value:.10g} |")
    lines += ["", f"Relative objective gap (lean − probfit): {gap:.1e}.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--p", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    report = compare(args.n, args.p, args.repeats)
    print(report)
    args.out.write_text(report)


if __name__ == "__main__":
    main()
