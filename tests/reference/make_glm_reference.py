"""Generate tests/reference/glm_reference.json: GLM reference numbers from statsmodels.

NOT part of the test suite (the name does not start with ``test_``) and NOT run in CI: it needs
statsmodels, which is not a probfit dependency. Run it in a throwaway virtualenv:

    cd /tmp && python3.12 -m venv /tmp/refenv
    /tmp/refenv/bin/pip install statsmodels pandas
    /tmp/refenv/bin/python /path/to/probfit/tests/reference/make_glm_reference.py

It was last run with Python 3.12.1, statsmodels 0.15.0, numpy 2.5.5, scipy 1.18.1 and
patsy 1.0.3 (the versions are also written into the JSON under ``provenance``). The data are
read straight from the CSV files in ``probfit/datasets/`` (no probfit import).

Conventions (see tests/reference/README.md):

* ``se``: Wald standard errors = sqrt(diag(inverse OBSERVED information)) at the joint MLE of
  all parameters, i.e. sqrt(diag(inv(-model.hessian(params, scale=phi, observed=True)))).
  Binomial/Poisson have no dispersion (phi = 1). For the Gamma family the dispersion phi = 1/k
  is estimated by maximum likelihood (k = ML shape with the mean fixed at the fitted mu; the
  beta-MLE does not depend on k, and the beta-k cross information vanishes at the MLE, so this
  block of the inverse information is the joint-MLE Wald covariance of beta).
* ``se_expected``: sqrt(diag(inverse EXPECTED (Fisher) information)) at the same point and the
  same phi (= statsmodels' default IRLS standard errors computed with scale=phi).
* ``se_pearson`` (Gamma only): statsmodels' default summary SE (expected information, Pearson
  dispersion = what R's summary.glm prints).
* ``loglik``: model.loglike(params, scale=phi); full log-likelihood including all constants
  (binomial coefficients for grouped binomial data, log y! for Poisson, the Gamma
  normalising constant). Checked against sums of scipy.stats log-densities.
* ``aic`` = -2 loglik + 2 n_params; ``bic`` = -2 loglik + n_params log(n_obs), n_obs = number
  of rows; n_params counts every estimated parameter, including the Gamma dispersion.
* ``deviance``: statsmodels' (unscaled) deviance = R's "Residual deviance".
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import platform
import warnings
from pathlib import Path

import numpy as np
import scipy
import statsmodels
import statsmodels.api as sm
from scipy import optimize, special, stats
from statsmodels.tools.sm_exceptions import DomainWarning

# Gamma with the (canonical) inverse link: statsmodels warns that the link does not respect
# the domain; the fits here have all fitted means positive (checked below).
warnings.simplefilter("ignore", DomainWarning)

HERE = Path(__file__).resolve().parent
DATA_DIR = HERE.parent.parent / "probfit" / "datasets"
OUT = HERE / "glm_reference.json"

IRLS_KW = dict(method="IRLS", tol=1e-14, maxiter=1000)
NEWTON_KW = dict(method="newton", tol=1e-14, maxiter=100, disp=False)


def embedded_columns(name: str) -> dict[str, np.ndarray]:
    """Columns of a dataset no longer bundled with probfit, read back from the committed JSON.

    spector, scotland and cpunish were removed from ``probfit/datasets`` (their licences are
    neither public domain nor CC-BY); their design matrices and responses stay embedded in
    ``glm_reference.json``, so the reference fits can still be regenerated from there.
    """
    ref = json.loads((HERE / "glm_reference.json").read_text(encoding="utf-8"))
    out: dict[str, np.ndarray] = {}
    for case in ref["cases"].values():
        if case["dataset"] != name:
            continue
        X = np.array(case["X"], dtype=float)
        for j, col in enumerate(case["design_columns"]):
            if col.startswith("log(") and col.endswith(")"):
                out[col[4:-1]] = np.exp(X[:, j])
            elif col != "Intercept":
                out[col] = X[:, j]
        out[case["formula"].split("~")[0].strip()] = np.array(case["y"], dtype=float)
    if not out:
        raise SystemExit(f"dataset {name!r} is neither bundled nor embedded in the JSON")
    return out


def read_csv(name: str) -> dict[str, np.ndarray]:
    """Read probfit/datasets/<name>.csv with the column kinds of catalog.json."""
    catalog = json.loads((DATA_DIR / "catalog.json").read_text(encoding="utf-8"))
    if name not in catalog:
        return embedded_columns(name)
    kinds = {c: m["kind"] for c, m in catalog[name]["columns"].items()}
    with open(DATA_DIR / catalog[name]["file"], newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], [r for r in rows[1:] if r]
    assert header == list(kinds), (header, kinds)
    out: dict[str, np.ndarray] = {}
    for j, col in enumerate(header):
        vals = [r[j] for r in body]
        if kinds[col] == "float":
            out[col] = np.array([float(v) for v in vals])
        else:
            out[col] = np.array(vals)
    return out


def fl(a) -> list | float:
    """numpy -> plain Python floats (json writes the exact round-trip repr)."""
    return np.asarray(a, dtype=np.float64).tolist()


# --------------------------------------------------------------------------------------
# Independent log-likelihoods (scipy.stats) used to check statsmodels numerically
# --------------------------------------------------------------------------------------


def inv_link(link: str, eta: np.ndarray) -> np.ndarray:
    if link == "logit":
        return special.expit(eta)
    if link == "probit":
        return special.ndtr(eta)
    if link == "log":
        return np.exp(eta)
    if link == "inverse":
        return 1.0 / eta
    raise ValueError(link)


def scipy_loglik(family, link, X, y, trials, beta, shape=None) -> float:
    mu = inv_link(link, X @ beta)
    if family == "binomial":
        n = np.ones_like(y) if trials is None else trials
        return float(stats.binom.logpmf(y, n, mu).sum())
    if family == "poisson":
        return float(stats.poisson.logpmf(y, mu).sum())
    if family == "gamma":
        return float(stats.gamma.logpdf(y, a=shape, scale=mu / shape).sum())
    raise ValueError(family)


def num_hessian(f, x, h) -> np.ndarray:
    """Central-difference Hessian of f at x with steps h."""
    x = np.asarray(x, dtype=float)
    k = x.size
    H = np.empty((k, k))
    for i in range(k):
        for j in range(i, k):
            ei = np.zeros(k)
            ej = np.zeros(k)
            ei[i] = h[i]
            ej[j] = h[j]
            v = (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)) / (
                4 * h[i] * h[j]
            )
            H[i, j] = H[j, i] = v
    return H


# --------------------------------------------------------------------------------------
# One case
# --------------------------------------------------------------------------------------


def sm_family(family: str, link: str):
    links = {
        "logit": sm.families.links.Logit(),
        "probit": sm.families.links.Probit(),
        "log": sm.families.links.Log(),
        "inverse": sm.families.links.InversePower(),
    }
    cls = {
        "binomial": sm.families.Binomial,
        "poisson": sm.families.Poisson,
        "gamma": sm.families.Gamma,
    }[family]
    return cls(link=links[link])


def fit_case(
    key,
    dataset,
    family,
    link,
    formula,
    design_columns,
    X,
    y,
    trials=None,
    note=None,
    checks_log=None,
):
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n, p = X.shape
    assert len(design_columns) == p and np.all(X[:, 0] == 1.0)
    endog = y if trials is None else np.column_stack([y, trials - y])
    fam = sm_family(family, link)
    model = sm.GLM(endog, X, family=fam)
    res_irls = model.fit(**IRLS_KW)
    # Newton polish from the IRLS solution; keep whichever has the smaller score.
    res_newton = model.fit(start_params=res_irls.params, **NEWTON_KW)

    dispersion = family == "gamma"

    def score_at(params, scale):
        return model.score(params, scale=scale)

    if dispersion:
        # ML shape given mu: n (log k - digamma(k)) = sum(y/mu - log(y/mu) - 1) = D/2.
        def ml_shape(params):
            mu = model.predict(params)
            rhs = np.sum(y / mu - np.log(y / mu) - 1.0) / n

            def g(k):
                return np.log(k) - special.digamma(k) - rhs

            return optimize.brentq(
                g, 1e-8, 1e12, xtol=1e-300, rtol=4 * np.finfo(float).eps, maxiter=1000
            )

    def scale_of(params):
        return 1.0 / ml_shape(params) if dispersion else 1.0

    cand = []
    for label, r in (("IRLS", res_irls), ("newton", res_newton)):
        s = score_at(r.params, scale_of(r.params))
        cand.append((np.max(np.abs(s)), label, r))
    cand.sort(key=lambda t: t[0])
    _, chosen, res = cand[0]
    params = np.asarray(res.params, dtype=np.float64)
    assert np.all(model.predict(params) > 0)

    shape = ml_shape(params) if dispersion else None
    phi = 1.0 / shape if dispersion else 1.0
    score = score_at(params, phi)

    H_obs = model.hessian(params, scale=phi, observed=True)
    H_exp = model.hessian(params, scale=phi, observed=False)
    cov_obs = np.linalg.inv(-H_obs)
    cov_exp = np.linalg.inv(-H_exp)
    se = np.sqrt(np.diag(cov_obs))
    se_expected = np.sqrt(np.diag(cov_exp))
    # score scaled by SE: a unit-free measure of how far from the optimum we are
    rel_score = np.max(np.abs(score) * se)

    # statsmodels' IRLS SE recomputed with a fixed scale = phi must equal se_expected
    res_fixed = model.fit(start_params=params, scale=phi, **IRLS_KW)
    assert np.allclose(res_fixed.bse, se_expected, rtol=1e-8), (res_fixed.bse, se_expected)

    loglik = float(model.loglike(params, scale=phi))
    deviance = float(res.deviance)
    k_params = p + (1 if dispersion else 0)
    aic = -2.0 * loglik + 2.0 * k_params
    bic = -2.0 * loglik + k_params * np.log(n)

    # ---- independent checks with scipy.stats ----
    ll_scipy = scipy_loglik(family, link, X, y, trials, params, shape)
    assert abs(ll_scipy - loglik) <= 1e-9 * max(1.0, abs(loglik)), (ll_scipy, loglik)

    if dispersion:

        def f_joint(theta):
            return scipy_loglik(family, link, X, y, trials, theta[:p], np.exp(theta[p]))

        theta = np.append(params, np.log(shape))
        se_shape = 1.0 / np.sqrt(n * (special.polygamma(1, shape) - 1.0 / shape))
        # steps of 1e-3 standard errors (se(log k) = se(k) / k)
        Hn = num_hessian(f_joint, theta, h=1e-3 * np.append(se, se_shape / shape))
        cov_n = np.linalg.inv(-Hn)
        se_num = np.sqrt(np.diag(cov_n))[:p]
        # delta method: se(k) = k * se(log k)
        se_shape_num = shape * np.sqrt(cov_n[p, p])
        # the beta-k cross information is ~0 at the MLE
        cross = Hn[:p, p]
        rel_cross = np.max(np.abs(cross) / np.sqrt(np.abs(np.diag(Hn)[:p] * Hn[p, p])))
    else:

        def f_beta(b):
            return scipy_loglik(family, link, X, y, trials, b)

        Hn = num_hessian(f_beta, params, h=1e-3 * se)
        se_num = np.sqrt(np.diag(np.linalg.inv(-Hn)))
    rel_se_num = np.max(np.abs(se_num / se - 1.0))
    assert rel_se_num < 1e-5, (key, se_num, se)
    if dispersion:
        assert abs(se_shape_num / se_shape - 1.0) < 1e-5, (se_shape_num, se_shape)
        assert rel_cross < 1e-4, rel_cross  # finite-difference noise level

    canonical = (family, link) in {("binomial", "logit"), ("poisson", "log"), ("gamma", "inverse")}
    if canonical:
        # canonical link: observed == expected information
        assert np.allclose(se, se_expected, rtol=1e-10)
        if not dispersion:
            assert np.allclose(se, res_irls.bse, rtol=1e-8), (se, res_irls.bse)

    provenance = {
        "statsmodels": statsmodels.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "python": platform.python_version(),
        "date": _dt.date.today().isoformat(),
        "call": (
            f"res = sm.GLM({'np.column_stack([y, trials - y])' if trials is not None else 'y'}, "
            f"X, family=sm.families.{type(fam).__name__}(link=sm.families.links."
            f"{type(fam.link).__name__}())).fit(method='IRLS', tol=1e-14, maxiter=1000); "
            f"then .fit(start_params=res.params, method='newton', tol=1e-14, maxiter=100); "
            f"coef taken from the {chosen} fit (smaller max|score|)"
        ),
        "se_call": (
            "np.sqrt(np.diag(np.linalg.inv(-model.hessian(params, "
            f"scale={'phi' if dispersion else '1.0'}, observed=True))))"
        ),
        "se_expected_call": (
            f"model.fit(scale={'phi' if dispersion else '1.0'}, method='IRLS').bse "
            "(== sqrt(diag(inv(-model.hessian(params, scale=phi, observed=False)))))"
        ),
        "loglik_call": f"model.loglike(params, scale={'phi' if dispersion else '1.0'})",
    }

    case = {
        "dataset": dataset,
        "family": family,
        "link": link,
        "formula": formula,
        "design_columns": list(design_columns),
        "n_obs": n,
        "X": fl(X),
        "y": fl(y),
        "trials": None if trials is None else fl(trials),
        "coef": fl(params),
        "se": fl(se),
        "se_expected": fl(se_expected),
        "cov": fl(cov_obs),
        "loglik": loglik,
        "deviance": deviance,
        "aic": float(aic),
        "bic": float(bic),
        "n_params": k_params,
        "dispersion_estimated": dispersion,
        "max_abs_score": float(np.max(np.abs(score))),
        "max_abs_score_times_se": float(rel_score),
    }
    if dispersion:
        case.update(
            shape=float(shape),
            scale=float(phi),
            se_shape=float(se_shape),
            scale_pearson=float(res.scale),
            se_pearson=fl(res.bse),
        )
    if note:
        case["note"] = note
    case["provenance"] = provenance

    line = (
        f"{key:18s} conv={chosen:6s} max|score|={np.max(np.abs(score)):.3e} "
        f"max|score|*se={rel_score:.3e} |ll_sm-ll_scipy|={abs(ll_scipy - loglik):.2e} "
        f"max rel|se_numeric/se-1|={rel_se_num:.2e}"
    )
    if dispersion:
        line += (
            f" k={shape:.6g} se_k rel.err(numeric)={abs(se_shape_num / se_shape - 1):.1e}"
            f" cross-info(rel)={rel_cross:.1e}"
        )
    if canonical and not dispersion:
        line += " canonical: se == statsmodels default bse"
    elif canonical:
        line += " canonical: se == se_expected"
    else:
        line += f" max rel|se_obs/se_exp-1|={np.max(np.abs(se / se_expected - 1)):.2e}"
    print(line)
    if checks_log is not None:
        checks_log.append(line)
    return case


# --------------------------------------------------------------------------------------


def gamma_loglike_check() -> str:
    """statsmodels' Gamma loglike uses scale as dispersion: shape = 1/scale."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, 40)
    X = np.column_stack([np.ones_like(x), x])
    mu = np.exp(1.0 + 0.5 * x)
    k = 3.7
    y = rng.gamma(k, mu / k)
    model = sm.GLM(y, X, family=sm.families.Gamma(link=sm.families.links.Log()))
    params = np.array([1.0, 0.5])
    ll_sm = float(model.loglike(params, scale=1.0 / k))
    ll_sp = float(stats.gamma.logpdf(y, a=k, scale=mu / k).sum())
    assert abs(ll_sm - ll_sp) < 1e-9 * abs(ll_sp), (ll_sm, ll_sp)
    msg = (
        f"Gamma loglike check: model.loglike(params, scale=1/k) = {ll_sm!r}; "
        f"sum scipy.stats.gamma.logpdf(y, a=k, scale=mu/k) = {ll_sp!r} (k = {k}); "
        f"difference {abs(ll_sm - ll_sp):.2e}: statsmodels' scale is the dispersion 1/shape"
    )
    print(msg)
    return msg


def main() -> None:
    checks: list[str] = [gamma_loglike_check()]
    cases: dict[str, dict] = {}

    # a, b: spector ------------------------------------------------------------------
    s = read_csv("spector")
    Xs = np.column_stack([np.ones(32), s["GPA"], s["TUCE"], s["PSI"]])
    cols = ["Intercept", "GPA", "TUCE", "PSI"]
    for link, key in (("logit", "spector_logit"), ("probit", "spector_probit")):
        cases[key] = fit_case(
            key,
            "spector",
            "binomial",
            link,
            "GRADE ~ GPA + TUCE + PSI",
            cols,
            Xs,
            s["GRADE"],
            note="Bernoulli response (one trial per row; trials = null).",
            checks_log=checks,
        )

    # c: dobson ----------------------------------------------------------------------
    d = read_csv("dobson")
    Xd = np.column_stack(
        [
            np.ones(9),
            d["outcome"] == "2",
            d["outcome"] == "3",
            d["treatment"] == "2",
            d["treatment"] == "3",
        ]
    ).astype(float)
    cases["dobson_poisson"] = fit_case(
        "dobson_poisson",
        "dobson",
        "poisson",
        "log",
        "counts ~ outcome + treatment",
        ["Intercept", "outcome2", "outcome3", "treatment2", "treatment3"],
        Xd,
        d["counts"],
        note="Treatment (dummy) coding with level '1' as reference, as R's default "
        "contr.treatment. True treatment effects are exactly 0 in the MLE (R prints "
        "~1e-15); coef values for treatment2/3 here are floating-point noise.",
        checks_log=checks,
    )

    # d, e: clotting -----------------------------------------------------------------
    c = read_csv("clotting")
    Xc = np.column_stack([np.ones(9), np.log(c["u"])])
    for link, key in (("inverse", "clotting_gamma_inverse"), ("log", "clotting_gamma_log")):
        cases[key] = fit_case(
            key,
            "clotting",
            "gamma",
            link,
            "lot1 ~ log(u)",
            ["Intercept", "log(u)"],
            Xc,
            c["lot1"],
            checks_log=checks,
        )

    # f: budworm ---------------------------------------------------------------------
    b = read_csv("budworm")
    sexM = (b["sex"] == "M").astype(float)
    Xb = np.column_stack([np.ones(12), sexM, b["ldose"], sexM * b["ldose"]])
    cases["budworm_logit"] = fit_case(
        "budworm_logit",
        "budworm",
        "binomial",
        "logit",
        "cbind(numdead, 20 - numdead) ~ sex * ldose",
        ["Intercept", "sexM", "ldose", "sexM:ldose"],
        Xb,
        b["numdead"],
        trials=b["total"],
        note="sexM = 1 for males, 0 for females (F is the reference level, R's default "
        "alphabetical order). y = number dead out of trials = 20 per row; loglik includes "
        "the log binomial coefficients.",
        checks_log=checks,
    )

    # g: scotland (bonus) ------------------------------------------------------------
    sc = read_csv("scotland")
    scols = ["COUTAX", "UNEMPF", "MOR", "ACT", "GDP", "AGE", "COUTAX_FEMALEUNEMP"]
    Xsc = np.column_stack([np.ones(32)] + [sc[k] for k in scols])
    cases["scotland_gamma_inverse"] = fit_case(
        "scotland_gamma_inverse",
        "scotland",
        "gamma",
        "inverse",
        "YES ~ COUTAX + UNEMPF + MOR + ACT + GDP + AGE + COUTAX_FEMALEUNEMP",
        ["Intercept", *scols],
        Xsc,
        sc["YES"],
        note="As statsmodels' GLM documentation example (sm.families.Gamma(), default "
        "inverse-power link); COUTAX_FEMALEUNEMP = COUTAX * UNEMPF.",
        checks_log=checks,
    )

    # h: cpunish (bonus) -------------------------------------------------------------
    cp = read_csv("cpunish")
    pcols = ["INCOME", "PERPOVERTY", "PERBLACK", "log(VC100k96)", "SOUTH", "DEGREE"]
    Xcp = np.column_stack(
        [
            np.ones(17),
            cp["INCOME"],
            cp["PERPOVERTY"],
            cp["PERBLACK"],
            np.log(cp["VC100k96"]),
            cp["SOUTH"],
            cp["DEGREE"],
        ]
    )
    cases["cpunish_poisson"] = fit_case(
        "cpunish_poisson",
        "cpunish",
        "poisson",
        "log",
        "EXECUTIONS ~ INCOME + PERPOVERTY + PERBLACK + log(VC100k96) + SOUTH + DEGREE",
        ["Intercept", *pcols],
        Xcp,
        cp["EXECUTIONS"],
        note="As statsmodels' Poisson GLM documentation example (VC100k96 log-transformed).",
        checks_log=checks,
    )

    doc = {
        "description": "GLM maximum-likelihood reference values computed with statsmodels. "
        "See tests/reference/README.md.",
        "conventions": {
            "se": "Wald SE = sqrt(diag(inverse OBSERVED information)) at the joint MLE of all "
            "parameters; for Gamma the information is evaluated at the ML dispersion "
            "scale = 1/shape (beta-shape cross information vanishes at the MLE).",
            "cov": "inverse observed information of the coefficients (se = sqrt(diag(cov))).",
            "se_expected": "sqrt(diag(inverse EXPECTED (Fisher) information)) at the same "
            "coefficients and the same dispersion (statsmodels' IRLS SE with "
            "scale fixed at 1 or at the ML phi). Equals se for canonical links.",
            "se_pearson": "Gamma only: statsmodels' default SE (expected information, Pearson "
            "dispersion scale_pearson) = R's summary.glm.",
            "shape": "Gamma only: ML shape k (mean fixed at fitted mu): solves "
            "n (log k - digamma(k)) = sum(y/mu - log(y/mu) - 1); scale = 1/k.",
            "se_shape": "Gamma only: 1/sqrt(n (trigamma(k) - 1/k)).",
            "loglik": "full log-likelihood incl. constants = model.loglike(params, scale=phi) "
            "with phi = 1 (binomial, Poisson) or the ML dispersion 1/shape (Gamma).",
            "deviance": "unscaled residual deviance (R's 'Residual deviance').",
            "aic": "-2 loglik + 2 n_params",
            "bic": "-2 loglik + n_params log(n_obs); n_obs = number of rows (grouped binomial: "
            "rows, not trials)",
            "n_params": "all estimated parameters: coefficients, plus 1 for the Gamma dispersion",
            "trials": "binomial trials per row; null means Bernoulli (one trial per row) or "
            "not binomial",
            "X": "full design matrix, rows = observations, intercept column first",
            "max_abs_score": "max |d loglik / d beta| at coef (statsmodels model.score)",
            "max_abs_score_times_se": "max |score_j| * se_j: a unit-free convergence measure",
            "numbers": "floats are written with Python's shortest exactly-round-tripping repr "
            "(at most 17 significant digits)",
        },
        "checks": checks,
        "provenance": {
            "statsmodels": statsmodels.__version__,
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "python": platform.python_version(),
            "date": _dt.date.today().isoformat(),
            "script": "tests/reference/make_glm_reference.py",
        },
        "cases": cases,
    }
    OUT.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes, {len(cases)} cases)")


if __name__ == "__main__":
    main()
