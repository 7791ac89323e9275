"""Closed-form M-steps for the component families EM recognises.

A *block* covers one complete-data factor whose parameters enter only as ``p[z]`` (one value
per component) or, for a scale or covariance, as one shared ``p`` (tied). It gives the factor's
``(n, k)`` log densities for the E-step and the exact maximiser of the expected complete-data
log-likelihood for its parameters given the responsibilities.

Covariance regularization is an explicit penalty ``½·reg·Σ tr(Σ⁻¹)`` over the distinct
covariance matrices (for Normal scales ``½·reg·Σ 1/σ²``), the log of an inverse-Wishart-type
prior: its exact M-step is ``Σ_k = (S_k + reg·I) / N_k``, so EM stays monotone in
``loglik + log prior - penalty``, the objective it reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import gammaln, log_softmax, xlogy

from probfit.distributions import Dirichlet
from probfit.dsl.expr import Param
from probfit.errors import SpecError
from probfit.latent.problem import LatentProblem

__all__ = ["COVARIANCES", "Block", "find_blocks"]

COVARIANCES = ("full", "diag", "spherical", "tied")
_LOG_2PI = float(np.log(2.0 * np.pi))
_TINY_N = 10.0 * np.finfo(float).eps
_FLOOR = 1e-300


@dataclass
class Block:
    """A closed-form M-step for the parameters of one complete-data factor."""

    factor: str
    family: str
    params: tuple[str, ...]
    args: dict[str, str | None]
    x: np.ndarray | None = None
    covariance: str = "full"
    reg: float = 0.0
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def fast(self) -> bool:
        """Whether :meth:`logdens` is available (else the E-step enumerates generically)."""
        return self.family != "normal_linear"

    # ---------------------------------------------------------------- E-step
    def logdens(self, values: dict[str, np.ndarray], k: int) -> np.ndarray:
        """Log density of this factor with ``z = j`` in column ``j``: ``(n, k)``, or ``(k,)``."""
        return getattr(self, f"_logdens_{self.family}")(values, k)

    def _logdens_latent(self, values, k):
        v = values[self.params[0]]
        kind = self.extra["kind"]
        if kind == "probs":
            return np.log(np.maximum(v, _FLOOR))
        if kind == "logits":
            return log_softmax(v)
        return np.log(np.maximum(np.array([1.0 - v, v]).reshape(2), _FLOOR))

    def _logdens_normal(self, values, k):
        mu = values[self.args["loc"]]
        scale = self._scale(values, k, mu.shape[1:])
        r = self.x[:, None] - mu[None]
        lp = -0.5 * _LOG_2PI - np.log(scale)[None] - 0.5 * (r / scale[None]) ** 2
        return lp.reshape(lp.shape[0], k, -1).sum(axis=2)

    def _scale(self, values, k, rest):
        name = self.args["scale"]
        if name is None:
            return np.broadcast_to(np.asarray(self.extra["scale_value"], float), (k, *rest))
        s = np.asarray(values[name], dtype=float)
        if self.extra["scale_indexed"]:
            s = s.reshape(s.shape + (1,) * (len(rest) + 1 - s.ndim))
        return np.broadcast_to(s, (k, *rest))

    def _logdens_mvn(self, values, k):
        mu = values[self.args["loc"]]
        covs = self._covs(values, k)
        n, d = self.x.shape
        chols = np.linalg.cholesky(covs)
        precs = np.swapaxes(np.linalg.inv(chols), -1, -2)  # (k, d, d): Σ_j⁻¹ = P_j P_jᵀ
        sol = self.x @ np.concatenate(list(precs), axis=1)  # one product for all components
        sol = sol.reshape(n, k, d) - np.einsum("jd,jde->je", mu, precs)[None]
        half_logdet = np.sum(np.log(np.diagonal(chols, axis1=1, axis2=2)), axis=1)
        return -0.5 * d * _LOG_2PI - half_logdet[None] - 0.5 * np.einsum("njd,njd->nj", sol,
                                                                          sol)

    def _covs(self, values, k):
        c = values[self.args["cov"]]
        return c if self.extra["cov_indexed"] else np.broadcast_to(c, (k, *c.shape))

    def _logdens_poisson(self, values, k):
        lam = values[self.args["rate"]]
        x = self.x[:, None]
        lp = xlogy(x, lam[None]) - lam[None] - gammaln(x + 1.0)
        return lp.reshape(lp.shape[0], k, -1).sum(axis=2)

    def _logdens_bernoulli(self, values, k):
        p = values[self.args["p"]]
        x = self.x[:, None]
        lp = xlogy(x, p[None]) + xlogy(1.0 - x, 1.0 - p[None])
        return lp.reshape(lp.shape[0], k, -1).sum(axis=2)

    def _logdens_categorical(self, values, k):
        logp = log_softmax(values[self.args["logits"]], axis=-1)
        return logp[:, self.x.astype(np.intp)].T

    # ---------------------------------------------------------------- M-step
    def update(self, values: dict[str, np.ndarray], resp: np.ndarray, nk: np.ndarray,
               method: str) -> dict[str, np.ndarray]:
        """New constrained values of this block's parameters (others in ``values`` fixed)."""
        return getattr(self, f"_update_{self.family}")(values, resp, nk, method)

    def _update_latent(self, values, resp, nk, method):
        name = self.params[0]
        n = resp.shape[0]
        kind = self.extra["kind"]
        alpha = self.extra.get("alpha")
        if kind == "probs":
            if method == "map" and alpha is not None:
                a = np.broadcast_to(alpha, nk.shape)
                w = (nk + a - 1.0) / (n + a.sum() - nk.size)
            else:
                w = nk / n
            w = np.maximum(w, _FLOOR)
            return {name: w / w.sum()}
        if kind == "logits":
            return {name: np.log(np.maximum(nk / n, _FLOOR))}
        return {name: np.clip(nk[1] / n, 1e-12, 1.0 - 1e-12)}

    def _update_normal(self, values, resp, nk, method):
        x = self.x
        k = resp.shape[1]
        rest = x.shape[1:]
        nkr = (nk + _TINY_N).reshape((k,) + (1,) * len(rest))
        mu = np.tensordot(resp, x, axes=(0, 0)) / nkr
        out = {self.args["loc"]: mu}
        name = self.args["scale"]
        if name is None:
            return out
        sq = np.stack([np.tensordot(resp[:, j], (x - mu[j]) ** 2, axes=(0, 0))
                       for j in range(k)])
        shape = values[name].shape
        if self.extra["scale_indexed"]:
            if shape == (k, *rest):
                var = (sq + self.reg) / nkr
            else:
                dim = int(np.prod(rest, dtype=int))
                var = (sq.reshape(k, -1).sum(1) + self.reg) / ((nk + _TINY_N) * dim)
        else:
            n = x.shape[0]
            if shape == rest:
                var = (sq.sum(0) + self.reg) / n
            else:
                var = np.full(shape, (sq.sum() + self.reg) / (n * max(sq[0].size, 1)))
        out[name] = np.sqrt(np.maximum(var, _FLOOR))
        return out

    def _update_normal_linear(self, values, resp, nk, method):
        problem: LatentProblem = self.extra["problem"]
        layout = problem.objective.layout
        theta = layout.pack(values)
        idx = np.concatenate([np.arange(layout[p].start, layout[p].stop)
                              for p in self.args["loc_params"]])
        _, g, h = problem.q_evaluate(theta, resp, 2)
        theta[idx] -= np.linalg.solve(h[np.ix_(idx, idx)], g[idx])
        out = {p: layout[p].bijector.forward(theta[layout[p].slice])
               for p in self.args["loc_params"]}
        name = self.args["scale"]
        if name is None:
            return out
        loc = self.extra["loc_expr"]
        sq = np.array([
            resp[:, j] @ (self.x - loc.value(problem.objective.data_context(
                theta, problem.data_with(j)))) ** 2 for j in range(resp.shape[1])])
        if self.extra["scale_indexed"]:
            var = (sq + self.reg) / (nk + _TINY_N)
        else:
            var = np.full(values[name].shape, (sq.sum() + self.reg) / self.x.shape[0])
        out[name] = np.sqrt(np.maximum(var, _FLOOR))
        return out

    def _update_mvn(self, values, resp, nk, method):
        x = self.x
        n, d = x.shape
        k = resp.shape[1]
        nkt = nk + _TINY_N
        if "center" not in self.extra:  # scatter about the data mean keeps S_j accurate
            self.extra["center"] = x.mean(axis=0)
            self.extra["xc"] = x - self.extra["center"]
        xc = self.extra["xc"]
        mc = (resp.T @ xc) / nkt[:, None]
        mu = mc + self.extra["center"]
        scat = np.empty((k, d, d))
        for j in range(k):
            scat[j] = (xc * resp[:, j, None]).T @ xc - nk[j] * np.outer(mc[j], mc[j])
        eye = np.eye(d)
        cov_type = self.covariance
        if cov_type == "full":
            covs = (scat + self.reg * eye) / nkt[:, None, None]
        elif cov_type == "diag":
            dg = np.diagonal(scat, axis1=1, axis2=2)
            covs = ((dg + self.reg) / nkt[:, None])[:, :, None] * eye
        elif cov_type == "spherical":
            s2 = (np.trace(scat, axis1=1, axis2=2) / d + self.reg) / nkt
            covs = s2[:, None, None] * eye
        else:
            tied = (scat.sum(0) + self.reg * eye) / n
            covs = np.broadcast_to(tied, (k, d, d))
        covs = 0.5 * (covs + np.swapaxes(covs, 1, 2))
        name = self.args["cov"]
        cov_value = covs if self.extra["cov_indexed"] else covs[0]
        return {self.args["loc"]: mu, name: np.array(cov_value)}

    def _update_poisson(self, values, resp, nk, method):
        k = resp.shape[1]
        rest = self.x.shape[1:]
        lam = np.tensordot(resp, self.x, axes=(0, 0)) / (nk + _TINY_N).reshape(
            (k,) + (1,) * len(rest))
        return {self.args["rate"]: np.maximum(lam, _FLOOR)}

    def _update_bernoulli(self, values, resp, nk, method):
        k = resp.shape[1]
        rest = self.x.shape[1:]
        p = np.tensordot(resp, self.x, axes=(0, 0)) / (nk + _TINY_N).reshape(
            (k,) + (1,) * len(rest))
        return {self.args["p"]: np.clip(p, 1e-12, 1.0 - 1e-12)}

    def _update_categorical(self, values, resp, nk, method):
        n_cat = values[self.args["logits"]].shape[-1]
        onehot = self.x.astype(np.intp)[:, None] == np.arange(n_cat)
        counts = resp.T @ onehot
        freq = counts / (nk + _TINY_N)[:, None]
        return {self.args["logits"]: np.log(np.maximum(freq, _FLOOR))}

    # ---------------------------------------------------------------- bookkeeping
    def penalty(self, values: dict[str, np.ndarray]) -> float:
        """The regularization penalty ``½·reg·Σ tr(Σ⁻¹)`` (0 without a covariance/scale)."""
        if self.reg == 0.0:
            return 0.0
        if self.family == "mvn":
            c = values[self.args["cov"]]
            mats = c if self.extra["cov_indexed"] else c[None]
            if self.covariance == "tied" and self.extra["cov_indexed"]:
                mats = mats[:1]
            return 0.5 * self.reg * float(sum(np.trace(np.linalg.inv(m)) for m in mats))
        if self.family in ("normal", "normal_linear") and self.args["scale"] is not None:
            s = values[self.args["scale"]]
            return 0.5 * self.reg * float(np.sum(1.0 / s**2))
        return 0.0

    def n_free(self, values: dict[str, np.ndarray], k: int) -> int:
        """Free parameters this block estimates (covariance structure taken into account)."""
        if self.family == "latent":
            return k - 1 if self.extra["kind"] in ("probs", "logits") else 1
        if self.family == "mvn":
            d = values[self.args["loc"]].shape[-1]
            per = {"full": d * (d + 1) // 2, "diag": d, "spherical": 1}
            if self.covariance == "tied" or not self.extra["cov_indexed"]:
                cov = d * (d + 1) // 2
            else:
                cov = k * per[self.covariance]
            return int(values[self.args["loc"]].size + cov)
        if self.family == "categorical":
            v = values[self.args["logits"]]
            return int(v.shape[0] * (v.shape[1] - 1))
        return int(sum(values[p].size for p in self.params))

    def describe_component(self, j: int) -> str:
        """``mu[2], cov[2]``: this block's parameters of component ``j``."""
        return ", ".join(f"{p}[{j}]" if self.extra.get("indexed", {}).get(p, True) else p
                         for p in self.params)


# -------------------------------------------------------------------- recognition
def find_blocks(problem: LatentProblem, covariance: str = "full", reg: float = 1e-6
                ) -> tuple[list[Block], list[str]]:
    """Closed-form blocks, and the names of factors left to the generalized M-step.

    Raises
    ------
    SpecError
        If ``covariance`` is unknown, or asks for a structure the model cannot take.
    """
    if covariance not in COVARIANCES:
        raise SpecError(f"covariance must be one of {COVARIANCES}, got {covariance!r}")
    if not (isinstance(reg, (int, float)) and reg >= 0.0 and np.isfinite(reg)):
        raise SpecError(f"reg_covar must be a finite number >= 0, got {reg!r}")
    obj = problem.objective
    uses: dict[str, int] = {}
    for f in obj.factors:
        for a in f.args.values():
            for p in getattr(a, "params", ()):
                uses[p] = uses.get(p, 0) + 1
    blocks, generic = [], []
    for f in obj.obs_factors():
        block = None if obj.jacobian else _recognise(problem, f, covariance, float(reg), uses)
        if block is None:
            generic.append(f.name)
        else:
            blocks.append(block)
    if covariance != "full" and not any(b.family == "mvn" for b in blocks):
        raise SpecError(f"covariance={covariance!r} needs a MultivariateNormal component with "
                        "a closed-form M-step (loc=mu[z], cov=cov[z])")
    return blocks, generic


def _free_of_prior(problem: LatentProblem, name: str) -> bool:
    return problem.method != "map" or problem.model.param_decls[name].prior is None


def _recognise(problem: LatentProblem, f, covariance: str, reg: float,
               uses: dict[str, int]) -> Block | None:
    family = type(f.dist).__name__
    if f.name == problem.latent:
        return _latent_block(problem, f, uses)
    x = problem.objective.data[f.name]
    args = {k: v for k, v in f.args.items() if not isinstance(v, np.ndarray)}
    layout = problem.objective.layout
    k = problem.k

    def indexed(arg: str) -> str | None:
        name = problem.indexed_param(args.get(arg))
        if name is None or uses.get(name) != 1 or not _free_of_prior(problem, name):
            return None
        if layout[name].shape[:1] != (k,):
            return None
        return name

    def shared(arg: str) -> str | None:
        e = args.get(arg)
        if isinstance(e, Param) and uses.get(e.name) == 1 and _free_of_prior(problem, e.name):
            return e.name
        return None

    if family == "Normal" and set(args) <= {"loc", "scale"} and indexed("loc"):
        loc = indexed("loc")
        if layout[loc].shape[1:] != x.shape[1:]:
            return None
        if "scale" not in args:
            return Block(f.name, "normal", (loc,), {"loc": loc, "scale": None}, x, reg=reg,
                         extra={"scale_indexed": False,
                                "scale_value": f.args["scale"]})
        scale = indexed("scale") or shared("scale")
        if scale is None:
            return None
        is_idx = scale == indexed("scale")
        shape, rest = layout[scale].shape, x.shape[1:]
        ok = shape in ((k, *rest), (k,)) if is_idx else shape in (rest, ())
        if not ok:
            return None
        return Block(f.name, "normal", (loc, scale), {"loc": loc, "scale": scale}, x, reg=reg,
                     extra={"scale_indexed": is_idx,
                            "indexed": {loc: True, scale: is_idx}})
    if family == "Normal" and set(args) <= {"loc", "scale"} and "loc" in args and x.ndim == 1:
        block = _linear_normal(problem, f, args, indexed, shared, uses, reg)
        if block is not None:
            return block
    if family == "MultivariateNormal" and set(args) == {"loc", "cov"} and indexed("loc"):
        loc = indexed("loc")
        cov = indexed("cov") or shared("cov")
        if cov is None or x.ndim != 2:
            return None
        is_idx = cov == indexed("cov")
        if not is_idx and covariance in ("diag", "spherical"):
            raise SpecError(f"covariance={covariance!r} needs one covariance per component, "
                            f"but {cov!r} is shared (tied) in the model")
        return Block(f.name, "mvn", (loc, cov), {"loc": loc, "cov": cov}, x,
                     covariance=covariance if is_idx else "tied", reg=reg,
                     extra={"cov_indexed": is_idx, "indexed": {loc: True, cov: is_idx}})
    if family == "Poisson" and set(args) == {"rate"} and indexed("rate"):
        rate = indexed("rate")
        if layout[rate].shape[1:] == x.shape[1:]:
            return Block(f.name, "poisson", (rate,), {"rate": rate}, x)
    if family == "Bernoulli" and set(args) == {"p"} and indexed("p"):
        p = indexed("p")
        if layout[p].shape[1:] == x.shape[1:]:
            return Block(f.name, "bernoulli", (p,), {"p": p}, x)
    if family == "Categorical" and set(args) == {"logits"} and indexed("logits"):
        logits = indexed("logits")
        if x.ndim == 1 and len(layout[logits].shape) == 2:
            return Block(f.name, "categorical", (logits,), {"logits": logits}, x)
    return None


def _linear_normal(problem: LatentProblem, f, args, indexed, shared, uses, reg
                   ) -> Block | None:
    """Mixture of regressions: a Normal whose ``loc`` is linear in its own parameters."""
    loc = args["loc"]
    layout = problem.objective.layout
    names = sorted(loc.params)
    if not loc.linear or not names or problem.latent not in {
            getattr(n, "name", None) for n in loc.walk()}:
        return None
    for p in names:
        if uses.get(p) != 1 or not _free_of_prior(problem, p) \
                or not layout[p].bijector.is_identity():
            return None
    scale = None
    is_idx = False
    if "scale" in args:
        scale = indexed("scale") or shared("scale")
        if scale is None:
            return None
        is_idx = scale == indexed("scale")
        if layout[scale].shape != ((problem.k,) if is_idx else ()):
            return None
    x = problem.objective.data[f.name]
    return Block(f.name, "normal_linear", (*names, *((scale,) if scale else ())),
                 {"loc_params": tuple(names), "scale": scale}, x, reg=reg,
                 extra={"problem": problem, "loc_expr": loc, "scale_indexed": is_idx,
                        "indexed": {**{p: layout[p].dims[:1] == (problem.category_dim,)
                                       for p in names}, scale: is_idx}})


def _latent_block(problem: LatentProblem, f, uses: dict[str, int]) -> Block | None:
    args = dict(f.args)
    (kind, e), = args.items()
    if not isinstance(e, Param) or uses.get(e.name) != 1:
        return None
    decl = problem.model.param_decls[e.name]
    support = decl.support.name
    alpha = None
    if problem.method == "map" and decl.prior is not None:
        conc = decl.prior.args.get("concentration")
        if not isinstance(decl.prior, Dirichlet) or not isinstance(conc, np.ndarray) \
                or np.any(conc < 1.0):
            return None
        alpha = conc
    if kind == "probs" and support == "simplex":
        return Block(f.name, "latent", (e.name,), {}, extra={"kind": "probs", "alpha": alpha})
    if kind == "logits" and support == "real" and alpha is None and (
            decl.prior is None or problem.method != "map"):
        return Block(f.name, "latent", (e.name,), {}, extra={"kind": "logits"})
    if kind == "p" and support == "unit_interval" and alpha is None and (
            decl.prior is None or problem.method != "map"):
        return Block(f.name, "latent", (e.name,), {}, extra={"kind": "p"})
    return None
