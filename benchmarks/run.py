"""Run the peer-comparison suite: ``python -m benchmarks.run [--quick] [--problems ...]``.

Installs nothing: peers come from the ``bench`` extra (``pip install -e '.[bench]'``); a peer
that is not installed is skipped (and listed under its table). Every library sees identical
data; runs are interleaved (library order rotates each repeat) and the median time is reported
with its ratio to probfit, the final objective (computed by probfit at each library's
solution), the gap to the best objective, the peak resident-memory growth of the fit (measured
in a separate pass, one fresh process per library: :mod:`benchmarks.memory`), the library's
iterations and probfit's time as a multiple of its floor. Results go to stdout and to
``benchmarks/RESULTS.md`` (a full run rewrites it; ``--problems`` replaces only those sections).
See ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

from benchmarks import glm, gmm_em, lasso_path, machine, memory, ridge, vi_meanfield
from benchmarks.harness import Problem, Row, time_problem, to_markdown

#: Modules that contribute problems, in table order; each has ``problems(size)``.
MODULES = (glm, ridge, lasso_path, gmm_em, vi_meanfield)

SIZES = ("quick", "medium", "full")

RESULTS = Path(__file__).parent / "RESULTS.md"

HEADER = """# Benchmark results

Written by `python -m benchmarks.run` (see `benchmarks/README.md` for what every column means and
how each floor is defined). Peak memory is the growth of the resident set during one fit in a
fresh process (after one warm-up fit), above the data and the imported libraries
(`benchmarks/memory.py`); timings come from a separate pass, all libraries interleaved in one
process.
"""


def all_problems(size: str) -> list[Problem]:
    """Every problem of the suite at ``size``."""
    return [p for mod in MODULES for p in mod.problems(size)]


def run_problem(problem: Problem, repeats: int, measure_memory: bool
                ) -> tuple[list[Row], list[str]]:
    """Time every installed runner (interleaved), then measure each one's peak memory."""
    data = problem.data()
    extras = problem.extras(data)
    rows, skipped = time_problem(problem, repeats, {**data, **extras})
    del data
    gc.collect()
    if measure_memory:
        for row in rows:
            try:
                row.peak_mb = memory.peak_growth(problem, row.library, extras)
            except Exception as err:
                skipped.append(f"peak memory of {row.library} (failed: "
                               f"{type(err).__name__}: {err})")
    return rows, skipped


def section(problem: Problem, rows: list[Row], skipped: list[str], command: str,
            memory_note: str) -> str:
    """The Markdown section of one problem."""
    floors = [f"{r.library}: {r.floor_note}" for r in rows if r.floor_note]
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    parts = [problem.describe(), f"Command: `{command}` ({when}).",
             f"Machine: {machine.describe()}", memory_note, to_markdown(rows)]
    if floors:
        parts.append("Floors: " + "; ".join(floors) + ".")
    verdict = problem.verdict(rows)
    if verdict:
        parts.append(verdict)
    if skipped:
        parts.append("Skipped: " + "; ".join(skipped) + ".")
    return "\n\n".join(parts) + "\n"


def write_section(path: Path, title: str, body: str) -> None:
    """Replace (or append) the ``## title`` section of a Markdown results file."""
    text = path.read_text() if path.exists() else HEADER
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
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes, one repeat, no memory pass (the CI smoke run)")
    parser.add_argument("--size", choices=SIZES, default=None,
                        help="problem sizes (default full; medium divides n by about 10)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed runs per library (default 3, 1 with --quick)")
    parser.add_argument("--problems", default=None,
                        help="comma-separated problem names to run (default: all)")
    parser.add_argument("--memory", action=argparse.BooleanOptionalAction, default=None,
                        help="measure peak memory in fresh processes (default: on, off "
                             "with --quick)")
    parser.add_argument("--out", default=None, help="where to write the Markdown results "
                        "(default benchmarks/RESULTS.md for full-size runs; none otherwise)")
    args = parser.parse_args(argv)
    size = args.size or ("quick" if args.quick else "full")
    repeats = args.repeats or (1 if size == "quick" else 3)
    measure = (size != "quick") if args.memory is None else args.memory
    if measure and not memory.supported():
        measure = False
    problems = all_problems(size)
    if args.problems is not None:
        chosen = args.problems.split(",")
        unknown = sorted(set(chosen) - {p.name for p in problems})
        if unknown:
            parser.error(f"unknown problems {unknown}; at size {size!r} the problems are "
                         f"{[p.name for p in problems]}")
        problems = [p for p in problems if p.name in chosen]
    command = " ".join(["python -m benchmarks.run", *(sys.argv[1:] if argv is None else argv)])
    memory_note = ("Peak memory: resident-set growth of one fit in a fresh process, after a "
                   "warm-up fit except for the peers that run once (`benchmarks/memory.py`)."
                   if measure else
                   "Peak memory: not measured in this run.")
    out = Path(args.out) if args.out else (RESULTS if size == "full" else None)
    if out is not None and args.problems is None:
        out.write_text(HEADER)
    for problem in problems:
        rows, skipped = run_problem(problem, repeats, measure)
        body = section(problem, rows, skipped, command, memory_note)
        print(f"## {problem.name}\n\n{body}", flush=True)
        if out is not None:
            write_section(out, problem.name, body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
