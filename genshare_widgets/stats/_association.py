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


def empty_fit(n_var: int) -> dict[str, np.ndarray]:
    """Per-variant result arrays (``beta, se, stat, p, n, note``) with nothing fitted yet."""
    return {
        "beta": np.full(n_var, np.nan),
        "se": np.full(n_var, np.nan),
        "stat": np.full(n_var, np.nan),
        "p": np.full(n_var, np.nan),
        "n": np.zeros(n_var, dtype=np.int64),
        "note": np.full(n_var, "", dtype=object),
    }


def design(covariates: np.ndarray | None, n_samples: int) -> np.ndarray:
    """``[1, covariates]`` (samples, k) float64."""
    ones = np.ones((n_samples, 1))
    if covariates is None:
        return ones
    cov = np.asarray(covariates, dtype=np.float64).reshape(n_samples, -1)
    return np.hstack([ones, cov])


def _filled(dosage) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(x, gaps, missing)``: dosage with missing calls as 0, the rows with a missing call,
    and where (bool (len(gaps), samples)). ``dosage`` is a NaN-coded matrix (variants,
    samples), or a block that already has that form (``.x``, ``.gaps``, ``.missing``, as the
    association pass reads it from the store)."""
    if hasattr(dosage, "gaps"):
        return dosage.x, np.asarray(dosage.gaps, dtype=np.int64), dosage.missing
    d = np.asarray(dosage, dtype=np.float64)
    nan = np.isnan(d)
    gaps = np.flatnonzero(nan.any(axis=1))
    return np.where(nan, 0.0, d), gaps, nan[gaps]


def _called_count(n_var: int, n_samples: int, gaps: np.ndarray, missing: np.ndarray):
    n = np.full(n_var, n_samples, dtype=np.int64)
    if len(gaps):
        n[gaps] -= missing.sum(axis=1)
    return n


def _outer_upper(c: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Products c_i c_j of the upper triangle (samples, k(k+1)/2) and its (i, j) indices."""
    iu = np.triu_indices(c.shape[1])
    return c[:, iu[0]] * c[:, iu[1]], iu


def _symmetric(upper: np.ndarray, iu, k: int) -> np.ndarray:
    """(rows, k, k) from upper-triangle values (rows, k(k+1)/2)."""
    out = np.empty((upper.shape[0], k, k))
    out[:, iu[0], iu[1]] = upper
    out[:, iu[1], iu[0]] = upper
    return out


def linear_sums(dosage, y: np.ndarray, covariates: np.ndarray | None) -> LinearSums:
    """Sufficient statistics of every variant of ``dosage`` (variants, samples; NaN = missing
    call; or a block in the store's filled form, see :func:`_filled`) for phenotype ``y``
    (samples,) and ``covariates`` (samples, m) or None.

    Samples whose phenotype or covariates are missing must be left out by the caller."""
    x, gaps, missing = _filled(dosage)
    y = np.asarray(y, dtype=np.float64)
    n_var, n_samples = x.shape
    c = design(covariates, n_samples)
    k = c.shape[1]
    # The covariate block (CᵀC, Cᵀy, yᵀy) is the same for every variant called in all samples;
    # only variants with a missing call need their own sums over the called samples.
    xtx = np.empty((n_var, k + 1, k + 1))
    xty = np.empty((n_var, k + 1))
    yty = np.empty(n_var)
    xtx[:, :k, :k] = c.T @ c
    xty[:, :k] = c.T @ y
    yty[:] = y @ y
    if len(gaps):
        m = (~missing).astype(np.float64)
        upper, iu = _outer_upper(c)
        xtx[gaps, :k, :k] = _symmetric(m @ upper, iu, k)
        xty[gaps, :k] = m @ (c * y[:, None])
        yty[gaps] = m @ (y * y)
    products = x @ np.hstack([c, y[:, None]])  # one pass over the block: xᵀC and xᵀy
    xtx[:, :k, k] = products[:, :k]
    xtx[:, k, :k] = products[:, :k]
    xtx[:, k, k] = np.einsum("vs,vs->v", x, x)
    xty[:, k] = products[:, k]
    return LinearSums(xtx=xtx, xty=xty, yty=yty, n=_called_count(n_var, n_samples, gaps, missing))


def regression_weights(y: np.ndarray, covariates: np.ndarray | None):
    """Per-sample rows for the bit-plane pass (:func:`linear_sums_from_products`):
    ``weights`` (samples, k + 1) = ``[1, covariates, y]`` and ``moments`` (samples, q) =
    the upper triangle of ``c cᵀ``, then ``c y``, then ``y²`` (c = ``[1, covariates]``)."""
    y = np.asarray(y, dtype=np.float64)
    c = design(covariates, len(y))
    upper, _iu = _outer_upper(c)
    weights = np.hstack([c, y[:, None]])
    moments = np.hstack([upper, c * y[:, None], (y * y)[:, None]])
    return weights, moments


def linear_sums_from_products(
    xw: np.ndarray,
    xx: np.ndarray,
    n_missing: np.ndarray,
    missing_moments: np.ndarray,
    y: np.ndarray,
    covariates: np.ndarray | None,
) -> LinearSums:
    """:class:`LinearSums` from the bit-plane pass's per-variant sums over the analysed
    samples: ``xw`` = Σ x·[c, y], ``xx`` = Σ x², and the missing calls' count and moments
    (:func:`regression_weights`), which are taken off the all-samples covariate block.
    Equal to :func:`linear_sums` on the same genotypes up to float64 rounding."""
    y = np.asarray(y, dtype=np.float64)
    c = design(covariates, len(y))
    k = c.shape[1]
    n_var = len(xx)
    upper, iu = _outer_upper(c)
    q = upper.shape[1]
    xtx = np.empty((n_var, k + 1, k + 1))
    xty = np.empty((n_var, k + 1))
    xtx[:, :k, :k] = c.T @ c
    xty[:, :k] = c.T @ y
    yty = np.full(n_var, y @ y)
    gaps = np.flatnonzero(n_missing)
    if len(gaps):
        xtx[gaps, :k, :k] -= _symmetric(missing_moments[gaps, :q], iu, k)
        xty[gaps, :k] -= missing_moments[gaps, q : q + k]
        yty[gaps] -= missing_moments[gaps, q + k]
    xtx[:, :k, k] = xw[:, :k]
    xtx[:, k, :k] = xw[:, :k]
    xtx[:, k, k] = xx
    xty[:, k] = xw[:, k]
    n = len(y) - np.asarray(n_missing, dtype=np.int64)
    return LinearSums(xtx=xtx, xty=xty, yty=yty, n=n)


def _inverse(a: np.ndarray) -> np.ndarray:
    """Inverse of a covariate block (k, k) or of each of a stack (rows, k, k)."""
    try:
        return np.linalg.inv(a)
    except np.linalg.LinAlgError:
        return np.linalg.pinv(a)


def _fwl(sums: LinearSums, rows: np.ndarray, inv: np.ndarray, beta, se, note, df) -> None:
    """The dosage coefficient of ``rows`` by partitioned least squares (see
    :func:`linear_fit`), ``inv`` the inverse of their covariate block: one (k, k) shared by
    all of them, or one per row (rows, k, k). Fills ``beta``, ``se`` and ``note``."""
    k = sums.xtx.shape[1] - 1
    b = sums.xtx[rows, :k, k]
    xx = sums.xtx[rows, k, k]
    cy = sums.xty[rows, :k]
    if inv.ndim == 2:
        inv_b, inv_cy = b @ inv, cy @ inv
    else:
        inv_b, inv_cy = np.einsum("vij,vj->vi", inv, b), np.einsum("vij,vj->vi", inv, cy)
    schur = xx - np.einsum("vi,vi->v", b, inv_b)
    # the dosage must vary once the covariates are accounted for
    flat = schur <= 1e-10 * np.maximum(xx, 1e-300)
    note[rows[flat]] = "dosage constant given the covariates"
    ok = ~flat
    good = rows[ok]
    if not len(good):
        return
    s = schur[ok]
    b_hat = (sums.xty[good, k] - np.einsum("vi,vi->v", inv_b[ok], cy[ok])) / s
    fitted0 = np.einsum("vi,vi->v", cy[ok], inv_cy[ok])
    rss = sums.yty[good] - fitted0 - b_hat * b_hat * s
    sigma2 = np.maximum(rss, 0.0) / df[good]
    beta[good] = b_hat
    se[good] = np.sqrt(sigma2 / s)


def linear_fit(sums: LinearSums) -> dict[str, np.ndarray]:
    """β, SE, t, P and n of the dosage term per variant from :class:`LinearSums`; NaN and a
    ``note`` where the fit is undefined.

    The dosage coefficient by partitioned least squares (Frisch–Waugh–Lovell): with
    ``A = CᵀC``, ``b = Cᵀx``, ``s = xᵀx − bᵀA⁻¹b`` (the dosage's residual sum of squares
    given the covariates), ``β = (xᵀy − bᵀA⁻¹Cᵀy) / s``, ``RSS = yᵀy − (Cᵀy)ᵀA⁻¹Cᵀy − β²s``,
    ``SE = √(RSS / (n − p) / s)``: the same numbers as solving the full normal equations."""
    from scipy import special

    n_var, p, _ = sums.xtx.shape
    k = p - 1
    beta = np.full(n_var, np.nan)
    se = np.full(n_var, np.nan)
    note = np.full(n_var, "", dtype=object)
    df = sums.n - p
    few = df < 1
    note[few] = "too few samples"
    # Variants called in the same samples share their covariate block CᵀC (most share the
    # block of the variants called in every sample): each such group is solved with one
    # inverse and matrix products; the others (a missing call each of their own) in a batch.
    todo = ~few
    while todo.any():
        ref = np.flatnonzero(todo)[np.argmax(sums.n[todo])]
        rows = todo & (sums.n == sums.n[ref])
        rows[rows] = (sums.xtx[rows, :k, :k] == sums.xtx[ref, :k, :k]).all(axis=(1, 2))
        if rows.sum() < 2:
            break
        _fwl(sums, np.flatnonzero(rows), _inverse(sums.xtx[ref, :k, :k]), beta, se, note, df)
        todo &= ~rows
    rest = np.flatnonzero(todo)
    if len(rest):
        _fwl(sums, rest, _inverse(sums.xtx[rest, :k, :k]), beta, se, note, df)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = beta / se
    pval = np.full(n_var, np.nan)
    fin = np.isfinite(t)
    pval[fin] = 2 * special.stdtr(df[fin], -np.abs(t[fin]))  # Student t
    return {"beta": beta, "se": se, "stat": t, "p": pval, "n": sums.n, "note": note}


#: Newton steps of the logistic fit before a variant is reported as not converging.
MAX_ITER = 50

#: A dosage coefficient beyond this (an odds ratio of e^30 per allele) is a fit running to
#: infinity: the dosage (quasi-)separates cases from controls.
MAX_ABS_BETA = 30.0

SEPARATING = "did not converge (the dosage may separate cases from controls)"

#: The note of a variant whose ALT or REF allele is absent from the cases or the controls:
#: the likelihood has no finite maximum (PLINK 2's SEPARATION error code).
SEPARATED = "separation: an allele is absent from the cases or from the controls"


#: Step halvings of one Newton step before a variant is reported as not converging.
MAX_HALVINGS = 30


class NewtonFit:
    """Newton's method with step halving for many logistic fits at once, whoever evaluates
    the terms: :func:`logistic_fit` on its own samples, the federation coordinator on the
    sums of its sites' answers (one algorithm for both, so federated equals pooled).

    Each round the caller evaluates, at ``coef[rows]`` for ``rows = pending()``, the summed
    Hessian, score and log-likelihood and passes them to :meth:`update`. A point whose
    log-likelihood is below that of the last accepted point is not accepted: the step to it
    is halved (pure Newton can overshoot and run away on a variant with a couple of carriers,
    where the maximum is finite). An accepted point takes the full Newton step ``H⁻¹g``; a fit
    is converged when that step is below ``tol`` relative to the coefficients (the error left
    is of the order of that step squared), its standard errors come from ``hessian``, the
    Hessian of that last accepted point (one step below ``tol`` away), and a fit stops with
    the note :data:`SEPARATING` when the dosage coefficient passes :data:`MAX_ABS_BETA`, after
    :data:`MAX_ITER` rounds or :data:`MAX_HALVINGS` halvings in a row. A singular Hessian at
    the first round means the dosage is constant given the covariates.
    """

    def __init__(self, coef: np.ndarray, active: np.ndarray, note: np.ndarray, *, tol: float):
        self.coef = np.array(coef, dtype=np.float64, copy=True)
        self.note = note
        self.tol = tol
        self.k = self.coef.shape[1] - 1
        n_var = len(self.coef)
        self.base = self.coef.copy()  # the last accepted point
        self.base_loglik = np.full(n_var, -np.inf)
        self.step = np.zeros_like(self.coef)
        self.halvings = np.zeros(n_var, dtype=np.int64)
        self.rounds = np.zeros(n_var, dtype=np.int64)
        self.converged = np.zeros(n_var, dtype=bool)
        p = self.coef.shape[1]
        self.hessian = np.full((n_var, p, p), np.nan)  # at the last accepted point
        self._rows = np.flatnonzero(active)

    def pending(self) -> np.ndarray:
        """The fits that need the terms at their current ``coef`` (empty: all done)."""
        return self._rows

    def stop(self, rows: np.ndarray, why: str | None = None) -> None:
        """End ``rows`` without a fit (e.g. a site withheld them), noting ``why`` (None: keep
        the note the caller wrote)."""
        if why is not None:
            self.note[rows] = why
        self._rows = np.setdiff1d(self._rows, rows)

    def update(self, rows: np.ndarray, h: np.ndarray, g: np.ndarray, loglik: np.ndarray) -> None:
        """Take the terms at ``coef[rows]``: halve the step of a fit that got worse, take a
        Newton step from the others."""
        rows = np.asarray(rows, dtype=np.int64)
        self.rounds[rows] += 1
        first = self.rounds[rows] == 1
        scale = 1e-12 * (1.0 + np.abs(self.base_loglik[rows]))
        worse = ~(loglik >= self.base_loglik[rows] - np.where(np.isfinite(scale), scale, 0.0))
        ended = np.zeros(len(rows), dtype=bool)
        if worse.any():
            w = rows[worse]
            self.halvings[w] += 1
            gave_up = self.halvings[w] > MAX_HALVINGS
            self.note[w[gave_up]] = SEPARATING
            ended[np.flatnonzero(worse)[gave_up]] = True
            keep = w[~gave_up]
            self.step[keep] /= 2
            self.coef[keep] = self.base[keep] + self.step[keep]
        ok = np.flatnonzero(~worse)
        if len(ok):
            a = rows[ok]
            self.base[a] = self.coef[a]
            self.base_loglik[a] = loglik[ok]
            self.halvings[a] = 0
            step = _solve_steps(h[ok], g[ok])
            bad = ~np.isfinite(step).all(axis=1)
            self.note[a[bad & first[ok]]] = "dosage constant given the covariates"
            self.note[a[bad & ~first[ok]]] = SEPARATING
            self.coef[a[~bad]] += step[~bad]
            self.step[a[~bad]] = step[~bad]
            diverged = ~bad & (np.abs(self.coef[a, self.k]) > MAX_ABS_BETA)
            self.note[a[diverged]] = SEPARATING
            size = np.abs(step).max(axis=1)
            done = ~bad & ~diverged & (size <= self.tol * (1 + np.abs(self.coef[a]).max(axis=1)))
            self.converged[a[done]] = True
            self.hessian[a[done]] = h[ok][done]
            ended[ok] = bad | diverged | done
        out_of_rounds = ~ended & (self.rounds[rows] >= MAX_ITER)
        self.note[rows[out_of_rounds]] = SEPARATING
        ended |= out_of_rounds
        self._rows = np.setdiff1d(self._rows, rows[ended])


def _solve_steps(h: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Newton steps ``h⁻¹ g`` per variant (NaN where ``h`` is singular)."""
    try:
        return np.linalg.solve(h, g[:, :, None])[:, :, 0]
    except np.linalg.LinAlgError:  # a singular Hessian in the block: one at a time
        step = np.full_like(g, np.nan)
        for i in range(len(g)):
            with contextlib.suppress(np.linalg.LinAlgError):
                step[i] = np.linalg.solve(h[i], g[i])
        return step


def _null_logistic(c: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Coefficients of the covariates-only logistic model (the Newton start of every variant)."""
    gamma = np.zeros(c.shape[1])
    for _ in range(MAX_ITER):
        mu = 1.0 / (1.0 + np.exp(-(c @ gamma)))
        w = mu * (1 - mu)
        try:
            step = np.linalg.solve((c * w[:, None]).T @ c, c.T @ (y - mu))
        except np.linalg.LinAlgError:
            return np.zeros(c.shape[1])
        gamma += step
        if np.abs(step).max() <= 1e-12 * (1 + np.abs(gamma).max()):
            break
    return gamma if np.isfinite(gamma).all() else np.zeros(c.shape[1])


def logistic_fit(
    dosage,
    y: np.ndarray,
    covariates: np.ndarray | None,
    *,
    tol: float = 1e-8,
) -> dict[str, np.ndarray]:
    """Logistic regression of a 0/1 ``y`` on ``[1, covariates, dosage]`` per variant by
    Newton's method (IRLS), all variants of the block at once: β, SE (from the inverse Hessian
    at the maximum), ``z = β / SE``, two-sided normal P, n; NaN and a ``note`` for a variant
    that does not converge, has too few samples, or a dosage constant given the covariates.

    Every variant starts from the covariates-only fit (β = 0) and stops when a Newton step is
    below ``tol`` relative to the coefficients. A variant whose ALT or REF allele is absent
    from the cases or from the controls has no finite maximum (the dosage separates them,
    PLINK 2's ``SEPARATION``): it is reported without iterating, as is a fit whose dosage
    coefficient passes :data:`MAX_ABS_BETA`. ``dosage``: NaN-coded (variants, samples) or a
    block in the store's filled form (see :func:`_filled`)."""
    from scipy import special

    x, gaps, missing = _filled(dosage)
    y = np.asarray(y, dtype=np.float64)
    n_var, n_samples = x.shape
    c = design(covariates, n_samples)
    k = c.shape[1]
    p = k + 1
    n = _called_count(n_var, n_samples, gaps, missing)
    called = np.ones((n_var, 2))  # called samples among controls, cases
    called[:, 1] = y.sum()
    called[:, 0] = n_samples - called[:, 1]
    if len(gaps):
        m = ~missing
        called[gaps, 1] = m @ y
        called[gaps, 0] = m.sum(axis=1) - called[gaps, 1]
    alt = np.empty((n_var, 2))
    alt[:, 1] = x @ y
    alt[:, 0] = x.sum(axis=1) - alt[:, 1]
    note = np.full(n_var, "", dtype=object)
    few = n <= p
    constant = ~few & ((alt.sum(axis=1) == 0) | (alt.sum(axis=1) == 2 * called.sum(axis=1)))
    separated = ~few & ~constant & ((alt == 0) | (alt == 2 * called)).any(axis=1)
    note[few] = "too few samples"
    note[constant] = "dosage constant given the covariates"
    note[separated] = SEPARATED
    coef = np.zeros((n_var, p))
    coef[:, :k] = _null_logistic(c, y)
    upper, iu = _outer_upper(c)
    weights = None if not len(gaps) else np.ones((n_var, n_samples))
    if weights is not None:
        weights[gaps] = ~missing

    newton = NewtonFit(coef, ~few & ~constant & ~separated, note, tol=tol)

    def hessian_and_gradient(rows: np.ndarray):
        return _logistic_terms(
            c, upper, iu, x[rows], None if weights is None else weights[rows], y, newton.coef[rows]
        )

    while len(rows := newton.pending()):
        h, g, loglik = hessian_and_gradient(rows)
        newton.update(rows, h, g, loglik)
    coef, converged = newton.coef, newton.converged
    fitted = np.flatnonzero(converged)
    beta = np.full(n_var, np.nan)
    se = np.full(n_var, np.nan)
    if len(fitted):
        var = np.linalg.inv(newton.hessian[fitted])[:, k, k]
        sane = (var > 0) & np.isfinite(var)
        beta[fitted[sane]] = coef[fitted[sane], k]
        se[fitted[sane]] = np.sqrt(var[sane])
        note[fitted[~sane]] = SEPARATING
    with np.errstate(invalid="ignore", divide="ignore"):
        z = beta / se
    pval = np.full(n_var, np.nan)
    fin = np.isfinite(z)
    pval[fin] = 2 * special.ndtr(-np.abs(z[fin]))
    return {"beta": beta, "se": se, "stat": z, "p": pval, "n": n, "note": note}


def _logistic_terms(c, upper, iu, x, weights, y, coef):
    """Hessian (variants, p, p), score (variants, p) and log-likelihood (variants,) of the
    logistic model at ``coef`` over the called samples (``weights`` 1/0 per variant and
    sample, None = all) of dosage ``x`` (missing calls 0)."""
    n_var = x.shape[0]
    k = c.shape[1]
    p = k + 1
    eta = coef[:, :k] @ c.T
    eta += coef[:, k][:, None] * x
    # log-likelihood Σ y·η − log(1 + e^η) = Σ (y − 1)·η − log(1 + e^−η): the linear part
    # from sums over samples (no pass over η), the rest from t = 1 + e^−η, needed for μ anyway
    ym1 = y - 1.0
    if weights is None:
        linear = coef[:, :k] @ (c.T @ ym1)
    else:
        linear = np.einsum("vj,vj->v", coef[:, :k], weights @ (c * ym1[:, None]))
    linear += coef[:, k] * (x @ ym1)  # x is 0 at missing calls
    with np.errstate(over="ignore"):
        np.negative(eta, out=eta)
        np.exp(eta, out=eta)
    eta += 1.0  # t = 1 + e^−η
    log_t = np.log(eta)
    if weights is not None:
        log_t *= weights
    loglik = linear - log_t.sum(axis=1)
    del log_t
    mu = np.reciprocal(eta, out=eta)  # the fitted probabilities, in place
    r = y[None, :] - mu
    w = mu
    w *= 1.0 - mu  # μ(1 − μ), in place of μ
    if weights is not None:
        w *= weights
        r *= weights
    h = np.empty((n_var, p, p))
    h[:, :k, :k] = _symmetric(w @ upper, iu, k)
    wx = w * x
    h[:, :k, k] = h[:, k, :k] = wx @ c
    h[:, k, k] = np.einsum("vs,vs->v", wx, x)
    g = np.empty((n_var, p))
    g[:, :k] = r @ c
    g[:, k] = np.einsum("vs,vs->v", r, x)
    return h, g, loglik


def logistic_terms(
    dosage,
    y: np.ndarray,
    covariates: np.ndarray | None,
    coef: np.ndarray,
    *,
    with_loglik: bool = False,
):
    """Hessian of the negative log-likelihood (the Fisher information, (variants, p, p)) and
    the score (gradient of the log-likelihood, (variants, p)) of the logistic model at ``coef``
    (variants, p; order: intercept, covariates, dosage) per variant of ``dosage`` (variants,
    samples; NaN = missing call, or the filled form); with ``with_loglik`` also the
    log-likelihood (variants,). All are sums over samples, so sites' terms add up to the
    pooled ones: a federated fit runs :class:`NewtonFit` on the summed terms."""
    x, gaps, missing = _filled(dosage)
    y = np.asarray(y, dtype=np.float64)
    n_var, n_samples = x.shape
    c = design(covariates, n_samples)
    k = c.shape[1]
    weights = None
    if len(gaps):
        weights = np.ones((n_var, n_samples))
        weights[gaps] = ~missing
    upper, iu = _outer_upper(c)
    coef = np.asarray(coef, dtype=np.float64).reshape(n_var, k + 1)
    h, g, loglik = _logistic_terms(c, upper, iu, x, weights, y, coef)
    return (h, g, loglik) if with_loglik else (h, g)


def allelic_chisq(
    ac_case: np.ndarray, an_case: np.ndarray, ac_control: np.ndarray, an_control: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Allelic association test per variant (the quick look of ``plink --assoc``): Pearson's
    chi-square without continuity correction on the 2 × 2 table of ALT and REF allele counts
    in cases and controls, 1 degree of freedom → ``(chi2, p)``; NaN where a margin is 0.

    Computed from per-group counts only (what ``allele_counts_by_group`` gives with a
    case/control grouping), so federated counts give it exactly."""
    from scipy import special

    a = np.asarray(ac_case, dtype=np.float64)
    b = np.asarray(an_case, dtype=np.float64) - a
    c = np.asarray(ac_control, dtype=np.float64)
    d = np.asarray(an_control, dtype=np.float64) - c
    total = a + b + c + d
    margins = (a + b) * (c + d) * (a + c) * (b + d)
    with np.errstate(invalid="ignore", divide="ignore"):
        chi2 = np.where(margins > 0, total * (a * d - b * c) ** 2 / margins, np.nan)
    p = np.where(np.isfinite(chi2), special.chdtrc(1, chi2), np.nan)
    return chi2, p


def genomic_control_lambda(p: np.ndarray) -> float:
    """Genomic-control inflation factor λ: the median 1-df chi-square implied by the P values
    over its expectation under the null (0.4549...); NaN without a defined P value. The chi-
    square is a decreasing function of P, so only the middle P values are transformed."""
    from scipy import special

    p = np.asarray(p, dtype=np.float64)
    p = p[np.isfinite(p)]
    if not len(p):
        return float("nan")
    half = len(p) // 2
    middle = np.partition(p, [half - 1, half] if len(p) % 2 == 0 else [half])
    mid = middle[[half - 1, half]] if len(p) % 2 == 0 else middle[[half]]
    return float(np.mean(special.chdtri(1, mid)) / special.chdtri(1, 0.5))


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
