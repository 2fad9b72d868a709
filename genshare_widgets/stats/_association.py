"""Per-variant association with covariates: linear and logistic regression on additive ALT
dosage (issue 16, first part: the numerical core; the CLI, phenotypes, federation and figures
build on it).

For each variant the model is ``y = C γ + x β + ε`` over the samples with a called genotype at
that variant (a missing call drops the sample for that variant only, as ``plink2 --glm`` does):
``C`` holds an intercept and the covariates, ``x`` the ALT dosage (0, 1, 2). β, its standard
error, ``t = β / SE`` and the two-sided P value (Student's t, ``n - k - 1`` degrees of freedom)
are reported per variant.

Everything is computed from each variant's *sufficient statistics* — ``XᵀX``, ``Xᵀy``,
``yᵀy`` and ``n`` with ``X = [C, x]`` — which add up over any partition of the samples. So a
federated fit (each site sends its sums) gives the pooled answer, and the pooled fit here is
that same computation with one site. A variant where the fit is undefined (too few samples, a
constant dosage, a covariate collinear with it) gets NaN and a ``note`` saying why.
"""

import contextlib
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LinearSums:
    """Per-variant sufficient statistics of the linear model (predictors: covariates, then
    dosage). ``xtx`` (variants, p, p), ``xty`` (variants, p), ``yty`` and ``n`` (variants,)."""

    xtx: np.ndarray
    xty: np.ndarray
    yty: np.ndarray
    n: np.ndarray

    def __add__(self, other: "LinearSums") -> "LinearSums":
        return LinearSums(
            self.xtx + other.xtx, self.xty + other.xty, self.yty + other.yty, self.n + other.n
        )


def design(covariates: np.ndarray | None, n_samples: int) -> np.ndarray:
    """``[1, covariates]`` (samples, k) float64."""
    ones = np.ones((n_samples, 1))
    if covariates is None:
        return ones
    cov = np.asarray(covariates, dtype=np.float64).reshape(n_samples, -1)
    return np.hstack([ones, cov])


def linear_sums(dosage: np.ndarray, y: np.ndarray, covariates: np.ndarray | None) -> LinearSums:
    """Sufficient statistics of every variant of ``dosage`` (variants, samples; NaN = missing
    call) for phenotype ``y`` (samples,) and ``covariates`` (samples, m) or None.

    Samples whose phenotype or covariates are missing must be left out by the caller."""
    dosage = np.asarray(dosage, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n_var, n_samples = dosage.shape
    c = design(covariates, n_samples)
    k = c.shape[1]
    called = ~np.isnan(dosage)
    x = np.where(called, dosage, 0.0)
    # The covariate block (CᵀC, Cᵀy, yᵀy) is the same for every variant called in all samples;
    # only variants with a missing call need their own sums over the called samples.
    xtx = np.empty((n_var, k + 1, k + 1))
    xty = np.empty((n_var, k + 1))
    yty = np.empty(n_var)
    xtx[:, :k, :k] = c.T @ c
    xty[:, :k] = c.T @ y
    yty[:] = y @ y
    gaps = np.flatnonzero(~called.all(axis=1))
    if len(gaps):
        m = called[gaps].astype(np.float64)
        outer = (c[:, :, None] * c[:, None, :]).reshape(n_samples, k * k)
        xtx[gaps, :k, :k] = (m @ outer).reshape(len(gaps), k, k)
        xty[gaps, :k] = m @ (c * y[:, None])
        yty[gaps] = m @ (y * y)
    cx = x @ c  # (variants, k)
    xtx[:, :k, k] = cx
    xtx[:, k, :k] = cx
    xtx[:, k, k] = np.einsum("vs,vs->v", x, x)
    xty[:, k] = x @ y
    return LinearSums(xtx=xtx, xty=xty, yty=yty, n=called.sum(axis=1).astype(np.int64))


def linear_fit(sums: LinearSums) -> dict[str, np.ndarray]:
    """β, SE, t, P and n of the dosage term per variant from :class:`LinearSums`; NaN and a
    ``note`` where the fit is undefined."""
    from scipy import stats as sps

    n_var, p, _ = sums.xtx.shape
    beta = np.full(n_var, np.nan)
    se = np.full(n_var, np.nan)
    note = np.full(n_var, "", dtype=object)
    df = sums.n - p
    few = df < 1
    note[few] = "too few samples"
    # the dosage must vary once the covariates are accounted for: its residual sum of squares
    # (the Schur complement of the covariate block) must not vanish relative to its scale
    ok = ~few
    idx = np.flatnonzero(ok)
    if len(idx):
        a = sums.xtx[idx]
        try:
            inv_cc = np.linalg.inv(a[:, : p - 1, : p - 1])
        except np.linalg.LinAlgError:
            inv_cc = np.linalg.pinv(a[:, : p - 1, : p - 1])
        b = a[:, : p - 1, p - 1]
        schur = a[:, p - 1, p - 1] - np.einsum("vi,vij,vj->v", b, inv_cc, b)
        scale = np.maximum(a[:, p - 1, p - 1], 1e-300)
        flat = schur <= 1e-10 * scale
        note[idx[flat]] = "dosage constant given the covariates"
        good = idx[~flat]
        if len(good):
            coef = np.linalg.solve(sums.xtx[good], sums.xty[good][:, :, None])[:, :, 0]
            rss = sums.yty[good] - np.einsum("vi,vi->v", coef, sums.xty[good])
            sigma2 = np.maximum(rss, 0.0) / df[good]
            var_beta = sigma2 / schur[~flat]
            beta[good] = coef[:, p - 1]
            se[good] = np.sqrt(var_beta)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = beta / se
    pval = np.where(np.isfinite(t), 2 * sps.t.sf(np.abs(t), np.maximum(df, 1)), np.nan)
    return {"beta": beta, "se": se, "stat": t, "p": pval, "n": sums.n, "note": note}


#: Newton steps of the logistic fit before a variant is reported as not converging.
MAX_ITER = 50


def logistic_fit(
    dosage: np.ndarray,
    y: np.ndarray,
    covariates: np.ndarray | None,
    *,
    tol: float = 1e-10,
) -> dict[str, np.ndarray]:
    """Logistic regression of a 0/1 ``y`` on ``[1, covariates, dosage]`` per variant by
    Newton's method (IRLS), all variants of the block at once: β, SE (from the inverse Hessian
    at the maximum), ``z = β / SE``, two-sided normal P, n; NaN and a ``note`` for a variant
    that does not converge (e.g. a dosage that separates cases from controls), has too few
    samples, or a dosage constant given the covariates."""
    from scipy import stats as sps

    dosage = np.asarray(dosage, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n_var, n_samples = dosage.shape
    c = design(covariates, n_samples)
    k = c.shape[1]
    p = k + 1
    called = ~np.isnan(dosage)
    m = called.astype(np.float64)
    x = np.where(called, dosage, 0.0)
    outer = (c[:, :, None] * c[:, None, :]).reshape(n_samples, k * k)
    n = called.sum(axis=1).astype(np.int64)
    coef = np.zeros((n_var, p))
    note = np.full(n_var, "", dtype=object)
    active = n > p
    note[~active] = "too few samples"
    converged = np.zeros(n_var, dtype=bool)

    def hessian_and_gradient(rows: np.ndarray):
        return _logistic_terms(c, outer, x[rows], m[rows], y, coef[rows])

    rows = np.flatnonzero(active)
    separating = "did not converge (the dosage may separate cases from controls)"
    for iteration in range(MAX_ITER):
        if not len(rows):
            break
        h, g = hessian_and_gradient(rows)
        try:
            step = np.linalg.solve(h, g[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:  # a singular Hessian in the block: one at a time
            step = np.full_like(g, np.nan)
            for i in range(len(rows)):
                with contextlib.suppress(np.linalg.LinAlgError):
                    step[i] = np.linalg.solve(h[i], g[i])
        bad = ~np.isfinite(step).all(axis=1)
        # singular at the start (coefficients 0, equal weights): the design itself is; later:
        # the fitted probabilities ran to 0 or 1, the maximum is at infinity
        note[rows[bad]] = "dosage constant given the covariates" if iteration == 0 else separating
        coef[rows[~bad]] += step[~bad]
        done = ~bad & (np.abs(step).max(axis=1) <= tol * (1 + np.abs(coef[rows]).max(axis=1)))
        converged[rows[done]] = True
        rows = rows[~bad & ~done]
    note[rows] = separating
    fitted = np.flatnonzero(converged)
    beta = np.full(n_var, np.nan)
    se = np.full(n_var, np.nan)
    if len(fitted):
        h, _g = hessian_and_gradient(fitted)
        inv = np.linalg.inv(h)
        var = inv[:, k, k]
        sane = (var > 0) & np.isfinite(var) & (np.abs(coef[fitted, k]) < 30)
        beta[fitted[sane]] = coef[fitted[sane], k]
        se[fitted[sane]] = np.sqrt(var[sane])
        note[fitted[~sane]] = separating
    with np.errstate(invalid="ignore", divide="ignore"):
        z = beta / se
    pval = np.where(np.isfinite(z), 2 * sps.norm.sf(np.abs(z)), np.nan)
    return {"beta": beta, "se": se, "stat": z, "p": pval, "n": n, "note": note}


def _logistic_terms(c, outer, x, m, y, coef):
    """Hessian (variants, p, p) and gradient (variants, p) of the log-likelihood at ``coef``
    over the called samples (``m``) of dosage ``x`` (missing set to 0)."""
    from scipy.special import expit

    n_var = x.shape[0]
    k = c.shape[1]
    p = k + 1
    eta = coef[:, :k] @ c.T + coef[:, k][:, None] * x
    mu = expit(eta)
    w = m * mu * (1 - mu)
    r = m * (y[None, :] - mu)
    h = np.empty((n_var, p, p))
    h[:, :k, :k] = (w @ outer).reshape(n_var, k, k)
    wx = w * x
    h[:, :k, k] = h[:, k, :k] = wx @ c
    h[:, k, k] = np.einsum("vs,vs->v", wx, x)
    g = np.empty((n_var, p))
    g[:, :k] = r @ c
    g[:, k] = np.einsum("vs,vs->v", r, x)
    return h, g


def logistic_terms(
    dosage: np.ndarray, y: np.ndarray, covariates: np.ndarray | None, coef: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Hessian of the negative log-likelihood (the Fisher information, (variants, p, p)) and
    the score (gradient of the log-likelihood, (variants, p)) of the logistic model at ``coef``
    (variants, p; order: intercept, covariates, dosage) per variant of ``dosage`` (variants,
    samples; NaN = missing call). Both are sums over samples, so sites' terms add up to the
    pooled ones: one Newton round of a federated fit is ``coef += solve(ΣH, Σg)``."""
    dosage = np.asarray(dosage, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n_samples = dosage.shape[1]
    c = design(covariates, n_samples)
    k = c.shape[1]
    called = ~np.isnan(dosage)
    outer = (c[:, :, None] * c[:, None, :]).reshape(n_samples, k * k)
    coef = np.asarray(coef, dtype=np.float64).reshape(dosage.shape[0], k + 1)
    return _logistic_terms(
        c, outer, np.where(called, dosage, 0.0), called.astype(np.float64), y, coef
    )


def allelic_chisq(
    ac_case: np.ndarray, an_case: np.ndarray, ac_control: np.ndarray, an_control: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Allelic association test per variant (the quick look of ``plink --assoc``): Pearson's
    chi-square without continuity correction on the 2 × 2 table of ALT and REF allele counts
    in cases and controls, 1 degree of freedom → ``(chi2, p)``; NaN where a margin is 0.

    Computed from per-group counts only (what ``allele_counts_by_group`` gives with a
    case/control grouping), so federated counts give it exactly."""
    from scipy import stats as sps

    a = np.asarray(ac_case, dtype=np.float64)
    b = np.asarray(an_case, dtype=np.float64) - a
    c = np.asarray(ac_control, dtype=np.float64)
    d = np.asarray(an_control, dtype=np.float64) - c
    total = a + b + c + d
    margins = (a + b) * (c + d) * (a + c) * (b + d)
    with np.errstate(invalid="ignore", divide="ignore"):
        chi2 = np.where(margins > 0, total * (a * d - b * c) ** 2 / margins, np.nan)
    p = np.where(np.isfinite(chi2), sps.chi2.sf(chi2, 1), np.nan)
    return chi2, p


def genomic_control_lambda(p: np.ndarray) -> float:
    """Genomic-control inflation factor λ: the median 1-df chi-square implied by the P values
    over its expectation under the null (0.4549...); NaN without a defined P value."""
    from scipy import stats as sps

    p = np.asarray(p, dtype=np.float64)
    p = p[np.isfinite(p)]
    if not len(p):
        return float("nan")
    return float(np.median(sps.chi2.isf(p, 1)) / sps.chi2.ppf(0.5, 1))


def meta_analysis(
    beta: np.ndarray, se: np.ndarray, *, n: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Inverse-variance fixed-effects meta-analysis per variant (METAL's STDERR scheme) of
    per-study estimates ``beta`` and ``se`` (studies, variants): ``w = 1/SE²``,
    ``β = Σ w β / Σ w``, ``SE = 1/√Σw``, ``z = β/SE``, two-sided normal P. A study with a
    missing or non-positive SE for a variant is left out of that variant; none left → NaN and a
    ``note``. ``n`` (studies, variants): summed over the studies used.

    Examples
    --------
    >>> out = meta_analysis(np.array([[0.2], [0.4]]), np.array([[0.1], [0.2]]))
    >>> round(float(out["beta"][0]), 6), round(float(out["se"][0]), 6)
    (0.24, 0.089443)
    """
    from scipy import stats as sps

    beta = np.atleast_2d(np.asarray(beta, dtype=np.float64))
    se = np.atleast_2d(np.asarray(se, dtype=np.float64))
    ok = np.isfinite(beta) & np.isfinite(se) & (se > 0)
    w = np.where(ok, 1.0 / np.where(ok, se, 1.0) ** 2, 0.0)
    total = w.sum(axis=0)
    some = total > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        b = np.where(some, (w * np.where(ok, beta, 0.0)).sum(axis=0) / total, np.nan)
        s = np.where(some, 1.0 / np.sqrt(total), np.nan)
        z = b / s
    pval = np.where(some, 2 * sps.norm.sf(np.abs(np.where(some, z, 0.0))), np.nan)
    note = np.where(some, "", "no study estimate").astype(object)
    counts = np.where(ok, np.asarray(n), 0).sum(axis=0) if n is not None else ok.sum(axis=0)
    return {
        "beta": b,
        "se": s,
        "stat": z,
        "p": pval,
        "n": counts.astype(np.int64),
        "n_studies": ok.sum(axis=0).astype(np.int64),
        "note": note,
    }
