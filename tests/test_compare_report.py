"""pf.compare: tables, notes, the self-contained HTML report (every figure a real PNG), CLI."""

from __future__ import annotations

import base64
import io
import re
from html.parser import HTMLParser
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from PIL import Image

import probfit as pf
from probfit.errors import DataError

ROOT = Path(__file__).resolve().parent.parent


class _Images(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images: list[tuple[str, str]] = []
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.images.append((a.get("alt", ""), a.get("src", "")))
        if tag in ("link", "script") and (a.get("href") or a.get("src")):
            self.links.append(a.get("href") or a.get("src"))


def _pngs(html_text: str) -> dict[str, Image.Image]:
    parser = _Images()
    parser.feed(html_text)
    assert not parser.links, "the report must not load external files"
    out = {}
    for alt, src in parser.images:
        assert src.startswith("data:image/png;base64,"), alt
        raw = base64.b64decode(src.split(",", 1)[1], validate=True)
        assert raw[:8] == b"\x89PNG\r\n\x1a\n", alt
        img = Image.open(io.BytesIO(raw))
        img.load()
        assert img.size[0] > 100 and img.size[1] > 100, alt
        arr = np.asarray(img.convert("L"))
        assert arr.min() < 128 < arr.max(), f"{alt} is blank"
        out[alt] = img
    return out


@pytest.fixture(scope="module")
def fits():
    ds = pf.datasets.load("breast_cancer")
    cols = ["radius_mean", "texture_mean", "smoothness_mean"]
    X = np.column_stack([ds[c] for c in cols])
    X = (X - X.mean(0)) / X.std(0)
    y = ds["malignant"]
    test = np.arange(len(y)) % 3 == 0
    m = pf.Model("bc")
    Xh, yh = m.data("X", dims=("n", "p")), m.data("y", dims=("n",))
    w = m.param("w", dims=("p",), prior=pf.Normal(0.0, 0.5))
    b = m.param("b")
    m.observe(yh, pf.Bernoulli(logit=Xh @ w + b))
    train = {"X": X[~test], "y": y[~test]}
    held = {"X": X[test], "y": y[test]}
    mle = m.fit(train, method="mle", coords={"p": cols})
    map_ = m.fit(train, method="map", coords={"p": cols})
    return mle, map_, held


@pytest.fixture(scope="module")
def report(fits):
    mle, map_, held = fits
    return pf.compare([mle, map_], test=held, n_draws=150)


def test_table_has_estimates_uncertainty_intervals_and_shrinkage(report, fits):
    mle, map_, _ = fits
    rows = {r["param"]: r["fits"] for r in report.rows}
    assert set(rows) == {"w[radius_mean]", "w[texture_mean]", "w[smoothness_mean]", "b"}
    cell = rows["w[radius_mean]"]["MAP"]
    assert cell["estimate"] == pytest.approx(map_.params["w"][0])
    assert cell["uncertainty"] == pytest.approx(map_.se["w"][0])
    assert cell["kind"] == "Laplace posterior sd"
    assert cell["shrinkage"] == pytest.approx(1 - map_.params["w"][0] / mle.params["w"][0])
    assert 0 < cell["shrinkage"] < 1
    assert rows["b"]["MLE"]["kind"].startswith("Wald SE")
    assert "shrinkage" not in rows["b"]["MLE"]


def test_scores_loo_and_notes(report):
    scores = report.scores()
    for entry in report.entries:
        s = scores[entry.label]
        assert s["log_score"] < 0 and 0 <= s["brier"] <= 1 and 0 <= s["ece_pav"] <= 1
        assert np.isfinite(s["loo_elpd"]) and s["loo_se"] > 0
        # elpd_loo ~ loglik - p_eff, with p_eff about the number of parameters (4)
        assert entry.fit.loglik - 10 < s["loo_elpd"] < entry.fit.loglik
    notes = " ".join(report.all_notes())
    assert "not comparable" in notes and "held-out" in notes
    assert report.scored_on == "held-out test data"


def test_markdown_has_every_table(report):
    md = report.to_markdown()
    for head in ("## Fits", "## Parameters", "## Predictive scores", "## Convergence",
                 "## Notes"):
        assert head in md
    assert "Laplace posterior sd" in md and "shrinkage vs MLE" in md
    for block in md.split("\n## ")[1:5]:
        lines = [ln for ln in block.splitlines() if ln.startswith("|")]
        assert len(lines) >= 3 and len({ln.count("|") for ln in lines}) == 1, block


def test_html_report_is_self_contained_with_every_figure(report, tmp_path):
    path = report.to_html(tmp_path / "r.html")
    text = path.read_text(encoding="utf-8")
    images = _pngs(text)
    assert set(images) == {"forest", "calibration", "residuals_MLE", "residuals_MAP", "traces"}
    assert "<table>" in text and "Notes" in text
    out = tmp_path / "figs"
    out.mkdir()
    for name, img in images.items():
        img.save(out / f"{name}.png")


def test_regularization_path_figure_from_pf_path(fits, tmp_path):
    mle, map_, held = fits
    path = pf.path(map_.model, map_.objective.data, "w", n=8)
    rep = pf.compare([mle, map_], test=held, n_draws=30, paths={"ridge path": path})
    figs = rep.figures()
    assert "path_ridge path" in figs
    html = rep.to_html(tmp_path / "p.html").read_text()
    assert html.count("data:image/png") == len(figs)
    with pytest.raises(DataError, match=r"must be a result of pf\.path"):
        pf.compare([mle, map_], paths={"bad": {"lambda": [1.0]}})


def test_compare_errors(fits, tmp_path):
    mle, map_, _ = fits
    with pytest.raises(DataError, match="labels"):
        pf.compare([mle, map_], labels=["a"])
    other = pf.Model("o")
    yh = other.data("z", dims=("n",))
    other.observe(yh, pf.Normal(other.param("mu"), 1.0))
    ofit = other.fit({"z": np.arange(5.0)})
    with pytest.raises(DataError, match="different variables"):
        pf.compare([mle, ofit])
    rep = pf.compare([mle], n_draws=30)
    with pytest.raises(pf.ProbfitError, match="does not exist"):
        rep.to_html(tmp_path / "no" / "such" / "r.html")


def test_cli_compare_writes_report_and_rejects_unknown_methods(tmp_path, run_cli):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 2))
    y = (rng.random(120) < 1 / (1 + np.exp(-X @ [1.0, -1.0]))).astype(int)
    csv = tmp_path / "d.csv"
    csv.write_text("X_1,X_2,y\n" + "\n".join(f"{a},{b},{c}" for (a, b), c in zip(X, y,
                                                                               strict=True)))
    r = run_cli("compare", "specs/logistic.yaml", "--data", str(csv), "--methods", "mle,map",
                "--report", str(tmp_path / "rep.html"), "--draws", "60")
    assert r.returncode == 0, r.stderr
    assert "comparison report written to" in r.stdout
    images = _pngs((tmp_path / "rep.html").read_text())
    assert {"forest", "calibration", "traces"} <= set(images)


def test_cli_rejects_unavailable_methods_and_commands_in_one_line(tmp_path, capsys):
    from probfit.cli import main

    csv = tmp_path / "d.csv"
    csv.write_text("X_1,X_2,y\n0.1,0.2,1\n0.3,-0.1,0\n")
    assert main(["compare", "specs/logistic.yaml", "--data", str(csv), "--methods",
                 "mle,bayes"]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "available methods: mle, map, vi" in err
    assert "bayes" in err
    with pytest.raises(SystemExit) as exc:
        main(["nosuchcommand"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("probfit: error:") and err.strip().count("\n") == 0
    assert re.search(r"invalid choice", err)


def test_cli_in_process_errors_and_progress(tmp_path, capsys):
    from probfit.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["compare", "specs/logistic.yaml", "--data", "x.csv", "--draws", "zero"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("probfit: error:") and err.strip().count("\n") == 0
    assert "positive integer" in err
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 2))
    y = (rng.random(60) < 0.5).astype(int)
    csv = tmp_path / "d.csv"
    csv.write_text("X_1,X_2,y\n" + "\n".join(f"{a},{b},{c}" for (a, b), c in zip(X, y,
                                                                               strict=True)))
    assert main(["--progress", "fit", str(ROOT / "specs" / "logistic.yaml"), "--data",
                 str(csv), "--method", "map"]) == 0
    captured = capsys.readouterr()
    assert "probfit:" in captured.err and ("it/s" in captured.err or "s/it" in captured.err)
    assert "Convergence report" in captured.out
    assert main(["compare", str(ROOT / "specs" / "logistic.yaml"), "--data", str(csv),
                 "--report", str(tmp_path / "r.txt")]) == 2
    assert ".html" in capsys.readouterr().err
