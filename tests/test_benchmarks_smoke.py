"""The benchmark harness runs end to end on tiny sizes (it asserts nothing about speed)."""

from __future__ import annotations

from benchmarks import run


def test_quick_suite_runs(capsys):
    assert run.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "| logistic_mle_quick | probfit newton |" in out
    assert "| poisson_mle_quick | probfit newton |" in out
