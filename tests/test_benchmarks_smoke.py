"""The benchmark harness runs end to end on tiny sizes (it asserts nothing about speed)."""

from __future__ import annotations

from benchmarks import run


def test_quick_suite_runs(capsys):
    assert run.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "| logistic_mle_quick | probfit newton |" in out
    assert "| poisson_mle_quick | probfit newton |" in out


def test_results_section_is_replaced_in_place(tmp_path):
    path = tmp_path / "R.md"
    path.write_text("# Benchmark results\n\n## other\n\nkeep me\n")
    run.write_section(path, "GLM", "first\n")
    run.write_section(path, "GLM", "second\n")
    text = path.read_text()
    assert "keep me" in text and "second" in text and "first" not in text
    assert text.count("## GLM") == 1
