"""Run the peer-comparison suite: ``python -m benchmarks.run [--quick] [--repeats N]``.

Installs nothing: peers come from the ``bench`` extra (``pip install -e '.[bench]'``); a peer
that is not installed is skipped. Every library sees identical data; runs are interleaved
(library order rotates each repeat) and the median time is reported with its ratio to probfit,
the final objective (probfit's negative log-likelihood at each library's solution), the gap to
the best objective, the numpy-traced peak memory, and probfit's time as a multiple of its floor
(iterations × one ``XᵀWX``). Results go to stdout and ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import tracemalloc
from pathlib import Path

import numpy as np

from benchmarks import glm


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    blas = "unknown"
    try:
        from threadpoolctl import threadpool_info

        info = [f"{i['internal_api']} {i.get('version')} ({i.get('num_threads')} threads)"
                for i in threadpool_info()]
        blas = "; ".join(info) or blas
    except ImportError:
        pass
    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"numpy {np.__version__}, BLAS {blas}")


def _timed(fn, data):
    tracemalloc.start()
    t0 = time.perf_counter()
    out = fn(data)
    elapsed = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return elapsed, peak, out


def run_problem(problem, repeats: int) -> list[dict]:
    """Time every runner on ``problem``; return one row per library."""
    data = problem.data()
    runners = problem.runners()
    names = list(runners)
    times = {k: [] for k in names}
    peaks, results = {}, {}
    for r in range(repeats):
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order:
            elapsed, peak, out = _timed(runners[name], data)
            times[name].append(elapsed)
            peaks[name] = max(peaks.get(name, 0), peak)
            results[name] = out
    objectives = {k: problem.objective(data, v[0], v[1]) for k, v in results.items()}
    best = min(objectives.values())
    base = float(np.median(times["probfit newton"]))
    rows = []
    for name in names:
        t = float(np.median(times[name]))
        row = {"problem": problem.name, "library": name, "time_s": t, "ratio": t / base,
               "objective": objectives[name],
               "gap": (objectives[name] - best) / max(1.0, abs(best)),
               "peak_mb": peaks[name] / 2**20, "iterations": results[name][2]}
        if name == "probfit newton":
            row["floor_multiple"] = t / problem.floor(data, results[name][2])
        rows.append(row)
    rows[0]["x_mb"] = data["X"].nbytes / 2**20
    return rows


def to_markdown(rows: list[dict]) -> str:
    head = ("| problem | library | time (s) | ratio to probfit | final objective | relative gap "
            "to best | peak memory (MB) | iterations | probfit time / floor |")
    lines = [head, "|" + "---|" * 9]
    for r in rows:
        floor = f"{r['floor_multiple']:.2f}" if "floor_multiple" in r else ""
        lines.append(f"| {r['problem']} | {r['library']} | {r['time_s']:.3f} | {r['ratio']:.2f} "
                     f"| {r['objective']:.10g} | {r['gap']:.1e} | {r['peak_mb']:.0f} | "
                     f"{r['iterations']} | {floor} |")
    return "\n".join(lines)


def write_section(path: Path, title: str, body: str) -> None:
    """Replace (or append) the ``## title`` section of a Markdown results file."""
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    head = f"## {title}\n"
    start = text.find(head)
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + head + "\n" + body
    else:
        end = text.find("\n## ", start + len(head))
        rest = "" if end < 0 else text[end:]
        text = text[:start] + head + "\n" + body + rest
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a CI smoke run)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed runs per library (default 3, 1 with --quick)")
    parser.add_argument("--out", default=None, help="where to write the Markdown results "
                        "(default benchmarks/RESULTS.md; not written with --quick)")
    parser.add_argument("--problems", default=None,
                        help="comma-separated problem names to run (default: all)")
    args = parser.parse_args(argv)
    repeats = args.repeats or (1 if args.quick else 3)
    rows = []
    chosen = None if args.problems is None else set(args.problems.split(","))
    for problem in glm.problems(args.quick):
        if chosen is None or problem.name in chosen:
            rows.extend(run_problem(problem, repeats))
    table = to_markdown(rows)
    print(table)
    out = args.out or (None if args.quick else str(Path(__file__).parent / "RESULTS.md"))
    if out:
        body = (f"Command: `python -m benchmarks.run{' --quick' if args.quick else ''}"
                f"{' --problems ' + args.problems if args.problems else ''}"
                f"{' --repeats ' + str(args.repeats) if args.repeats else ''}` "
                f"(median of {repeats} interleaved run(s)).\n\nMachine: {_machine()}\n\n"
                "Peak memory is what numpy allocations traced during the fit (tracemalloc); "
                "the design matrix itself is allocated before and counted in none of them. "
                "The floor is probfit's iterations × one `XᵀWX` (a dense `gemm`).\n\n"
                + table + "\n")
        write_section(Path(out), "GLM maximum likelihood (`python -m benchmarks.run`)", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
