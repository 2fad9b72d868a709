"""Differential privacy of released counts: the mechanisms, the sensitivity, the budget.

Neighbouring cohorts
--------------------
Two cohorts are neighbours when one is the other **plus or minus one participant** (unbounded
DP, add/remove). Group sizes are released with noise, so whether a person is in a group (a case
group, a site) is protected as well as their genotypes. Replacing a participant is two steps
(remove, add) and costs at most twice the epsilon.

Sensitivity
-----------
At one (biallelic) variant a participant adds to their own group's counts one of these vectors
(``allele_count, allele_number, het_count, hom_alt_count, called_count``):

=============  =====================  ======  =======
genotype       vector                 L1      L2²
=============  =====================  ======  =======
missing        (0, 0, 0, 0, 0)        0       0
``0/0``        (0, 2, 0, 0, 1)        3       5
``0/1``        (1, 2, 1, 0, 1)        5       7
``1/1``        (2, 2, 0, 1, 1)        6       10
half call      (≤1, 1, 0, 0, 0)       ≤2      ≤2
=============  =====================  ======  =======

and they touch every variant of the release at once, and their group's size by 1. Groups are
disjoint, so no other group changes. Over V variants the sensitivity of a release is therefore
(:func:`release_sensitivity`, the one function every service and the risk lab use)::

    L1 = V x max_g |v_g restricted to the released counts|_1   (+ 1 with group sizes)
    L2 = sqrt(V x max_g |v_g restricted|_2^2                   (+ 1 with group sizes))

e.g. all five counts (every service: :data:`SERVICE_COUNTS`): L1 = 6V + 1, L2 = sqrt(10V +
1); AC and AN alone: L1 = 4V + 1, L2 = sqrt(8V + 1). (Until issue 13 the sum of the per-count
maxima, 7V, was used: a looser bound than the largest vector, 6V; the Beacon used 4V.)

Mechanisms (both on integers; :data:`DEFAULT_MECHANISM` is the one with less error, see
``benchmarks/dp_mechanisms.py``)
-----------------------------------------------------------------------------------------------
- ``"laplace"``: two-sided geometric noise (discrete Laplace, ``P(z) ∝ a^|z|`` with
  ``a = exp(-epsilon / L1)``) on every count: pure epsilon-DP (Ghosh, Roughgarden &
  Sundararajan 2009).
- ``"gaussian"``: discrete Gaussian noise (``P(z) ∝ exp(-z² / 2σ²)``, Canonne, Kamath & Steinke
  2020, sampled by their rejection from a discrete Laplace), ``σ² = L2² / (2ρ)``: ρ-zCDP,
  reported as (epsilon, delta)-DP at ``delta`` (default :data:`DEFAULT_DELTA` = 1e-6) with the
  conversion of Canonne, Kamath & Steinke 2020 (Prop. 12/Cor. 13), as OpenDP's
  ``make_zCDP_to_approxDP`` does: ``delta = inf_{α>1} exp((α-1)(αρ-ε)) / (α-1) ·
  (1-1/α)^α``; the largest ρ whose delta is at most the target is used.

Clamping (``0 <= AN``, ``0 <= AC <= AN``, genotype counts between 0 and the called count,
group sizes >= 0) and every statistic computed from the noisy counts are post-processing and
cost nothing more. What stays public: the list of variants (positions and alleles) of a release
is not protected (no DP partition selection): the variant list of a cohort is taken to be
public, as it is for every catalog entry here (sites lists are published).

Budget
------
:class:`PrivacyBudget` (in :mod:`~genshare_widgets.disclosure._budget`) adds up the epsilon
(and delta) of every release of a cohort (basic sequential composition) and refuses a release
that would exceed its total, or a single release above the per-release cap. Both numbers are
the data custodian's (:func:`~genshare_widgets.disclosure.custodian_settings`: the catalog
entry's ``disclosure:`` block, or the custodian config given at ``site serve`` / ``beacon
serve`` start), never the querier's. A budget lives in memory or in a **ledger file** keyed by
cohort id (:func:`ledger_for`: ``$GENSHARE_STATE/privacy/<cohort id>.json``, or the path in
the custodian config), written 0600 in a 0700 folder, updated under a lock and replaced
atomically. The ledger records its total and cap when it is created; a later process may only
lower them (the lower value is written back), never raise them: ``GENSHARE_EPSILON_BUDGET`` in
a caller's environment is an upper bound the caller puts on themself, nothing more.
"""

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from genshare_widgets._errors import GenShareError
from genshare_widgets.disclosure._budget import (  # noqa: F401 -- the budget's public names
    DEFAULT_BUDGET,
    PrivacyBudget,
    PrivacyBudgetExceeded,
    ledger_for,
)

COUNTS = ("allele_count", "allele_number", "het_count", "hom_alt_count", "called_count")

PARTICIPANT_CONTRIBUTIONS: tuple[tuple[int, int, int, int, int], ...] = (
    (0, 0, 0, 0, 0),  # missing
    (0, 1, 0, 0, 0),  # half call 0/. (or haploid REF)
    (1, 1, 0, 0, 0),  # half call 1/. (or haploid ALT)
    (0, 2, 0, 0, 1),  # 0/0 (or 2/2, 0/2: called, no first ALT)
    (1, 2, 1, 0, 1),  # 0/1 (or 1/2)
    (2, 2, 0, 1, 1),  # 1/1
)
"""What one participant adds at one variant to their group's counts, in the order of
:data:`COUNTS` (see the module doc)."""

COUNT_SENSITIVITY: dict[str, int] = {
    name: max(abs(v[i]) for v in PARTICIPANT_CONTRIBUTIONS) for i, name in enumerate(COUNTS)
}
"""Largest change of each count at one variant when one participant is added or removed."""

SERVICE_COUNTS: dict[str, tuple[str, ...]] = {
    "stats": COUNTS,
    "site": COUNTS,
    "explorer": COUNTS,
    "beacon": COUNTS,
}
"""The counts each kind of release noises (and the sensitivity is computed over): every
release goes through the one door (``release_counts``), which noises all five counts of the
Dataset — the Beacon too, since issue 13 (before, it noised AC and AN only, 4V) — and the
group sizes. Kept per service so the risk lab asks for exactly what each service releases."""

MECHANISMS = ("gaussian", "laplace")
DEFAULT_MECHANISM = "gaussian"
"""The mechanism with less error at equal epsilon on the real and simulated cohorts over
epsilon 1e2..1e6 (``benchmarks/dp_mechanisms.py``; the numbers are in its docstring)."""
DEFAULT_DELTA = 1e-6
"""The delta at which a zCDP release (discrete Gaussian) is reported as (epsilon, delta)-DP."""


def _check_epsilon(epsilon: float) -> None:
    if not (isinstance(epsilon, (int, float)) and epsilon > 0 and math.isfinite(epsilon)):
        raise GenShareError(f"epsilon must be a positive number (got {epsilon!r})")


# ---------------------------------------------------------------- sensitivity


def release_sensitivity(
    n_variants: int,
    variables: Iterable[str],
    *,
    norm: str = "l1",
    group_sizes: bool = False,
) -> float:
    """Sensitivity of releasing ``variables`` at ``n_variants`` sites (module doc).

    ``norm="l1"`` (discrete Laplace) gives an int; ``norm="l2"`` (discrete Gaussian) a float.
    ``group_sizes=True`` adds the group size (1 per participant).

    Examples
    --------
    >>> release_sensitivity(10, COUNTS), release_sensitivity(10, ["allele_count",
    ...     "allele_number"], group_sizes=True)
    (60, 41)
    >>> round(release_sensitivity(10, COUNTS, norm="l2") ** 2)
    100
    """
    names = list(variables)
    unknown = [v for v in names if v not in COUNTS]
    if unknown:
        raise GenShareError(f"no DP sensitivity is defined for {unknown}")
    idx = [COUNTS.index(v) for v in names]
    v = max(1, int(n_variants))
    if norm == "l1":
        per = max(sum(abs(c[i]) for i in idx) for c in PARTICIPANT_CONTRIBUTIONS)
        return v * per + (1 if group_sizes else 0)
    if norm == "l2":
        per2 = max(sum(c[i] ** 2 for i in idx) for c in PARTICIPANT_CONTRIBUTIONS)
        return math.sqrt(v * per2 + (1 if group_sizes else 0))
    raise GenShareError(f"norm must be 'l1' or 'l2' (got {norm!r})")


def service_sensitivity(
    service: str, n_variants: int, *, mechanism: str = DEFAULT_MECHANISM
) -> float:
    """The sensitivity a service's release has: :data:`SERVICE_COUNTS` of ``service`` plus
    group sizes, in the norm of ``mechanism`` (what the risk lab must use too).

    Examples
    --------
    >>> service_sensitivity("beacon", 100, mechanism="laplace")
    601
    """
    if service not in SERVICE_COUNTS:
        raise GenShareError(f"unknown service {service!r}; choose from {sorted(SERVICE_COUNTS)}")
    norm = "l1" if _mechanism(mechanism) == "laplace" else "l2"
    return release_sensitivity(n_variants, SERVICE_COUNTS[service], norm=norm, group_sizes=True)


# ---------------------------------------------------------------- discrete Laplace


def discrete_laplace(
    shape: int | tuple[int, ...], *, epsilon: float, sensitivity: float, rng: np.random.Generator
) -> np.ndarray:
    """Two-sided geometric noise: ``P(z) = (1 - a) / (1 + a) * a**|z|``, ``a = exp(-eps/S)``.

    Sampled as the difference of two independent geometric counts of failures with success
    probability ``1 - a``; its variance is ``2a / (1 - a)**2``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> discrete_laplace(3, epsilon=1.0, sensitivity=2, rng=rng).dtype
    dtype('int64')
    """
    _check_epsilon(epsilon)
    if sensitivity <= 0:
        raise GenShareError(f"sensitivity must be positive (got {sensitivity!r})")
    return _geometric_difference(shape, -math.expm1(-epsilon / sensitivity), rng)


def _geometric_difference(shape, p: float, rng: np.random.Generator) -> np.ndarray:
    """Discrete Laplace with ``1 - a = p``."""
    g1 = rng.geometric(p, size=shape) - 1
    g2 = rng.geometric(p, size=shape) - 1
    return (g1 - g2).astype(np.int64)


def discrete_laplace_pmf(z: np.ndarray, *, epsilon: float, sensitivity: float) -> np.ndarray:
    """The probability of each noise value ``z`` under :func:`discrete_laplace`."""
    a = math.exp(-epsilon / sensitivity)
    return (1 - a) / (1 + a) * a ** np.abs(np.asarray(z, dtype=np.float64))


# ---------------------------------------------------------------- discrete Gaussian, zCDP


def discrete_gaussian(
    shape: int | tuple[int, ...], *, sigma: float, rng: np.random.Generator
) -> np.ndarray:
    """Discrete Gaussian noise: ``P(z) ∝ exp(-z² / (2 sigma²))`` on the integers.

    Canonne, Kamath & Steinke (2020), Algorithm 3: draw ``Y`` from a discrete Laplace of scale
    ``t = floor(sigma) + 1`` and keep it with probability ``exp(-(|Y| - sigma²/t)² / (2
    sigma²))`` (at least ~0.5 on average), vectorised; floating-point acceptance (as numpy's
    own samplers), not the exact rational arithmetic of the paper.

    Examples
    --------
    >>> discrete_gaussian(4, sigma=2.0, rng=np.random.default_rng(0)).dtype
    dtype('int64')
    """
    if not (sigma > 0 and math.isfinite(sigma)):
        raise GenShareError(f"sigma must be a positive number (got {sigma!r})")
    n = int(np.prod(shape))
    t = math.floor(sigma) + 1
    p = -math.expm1(-1.0 / t)
    out = np.empty(n, dtype=np.int64)
    filled = 0
    while filled < n:
        want = n - filled
        y = _geometric_difference(int(want * 1.6) + 16, p, rng)
        keep = rng.random(len(y)) < np.exp(-((np.abs(y) - sigma**2 / t) ** 2) / (2 * sigma**2))
        y = y[keep][:want]
        out[filled : filled + len(y)] = y
        filled += len(y)
    return out.reshape(shape)


def discrete_gaussian_pmf(z: np.ndarray, *, sigma: float) -> np.ndarray:
    """The probability of each noise value ``z`` under :func:`discrete_gaussian`."""
    half = math.ceil(40 * sigma) + 10
    norm = np.exp(-(np.arange(-half, half + 1, dtype=np.float64) ** 2) / (2 * sigma**2)).sum()
    return np.exp(-(np.asarray(z, dtype=np.float64) ** 2) / (2 * sigma**2)) / norm


def zcdp_delta(rho: float, epsilon: float) -> float:
    """The delta at which rho-zCDP is (epsilon, delta)-DP (Canonne, Kamath & Steinke 2020):
    ``min over α > 1 of exp((α-1)(αρ-ε) + α log(1 - 1/α)) / (α-1)``.

    The exponent is convex in α: its minimum is where the derivative ``(2α-1)ρ - ε + log(1 -
    1/α)`` is 0, found by bisection on ``(1, (ε+1)/(2ρ) + 2]``.

    Examples
    --------
    >>> round(zcdp_delta(0.5 * (1 / 4) ** 2, 0.6880024554878086), 6)
    0.001
    """
    if rho <= 0 or math.isinf(epsilon):
        return 0.0
    lo, hi = 1.0 + 1e-9, (epsilon + 1) / (2 * rho) + 2
    for _ in range(200):
        mid = (lo + hi) / 2
        if (2 * mid - 1) * rho - epsilon + math.log1p(-1 / mid) < 0:
            lo = mid
        else:
            hi = mid
    a = hi
    exponent = (a - 1) * (a * rho - epsilon) + a * math.log1p(-1 / a)
    return min(1.0, math.exp(exponent) / (a - 1)) if exponent < 700 else 1.0


def zcdp_rho(epsilon: float, delta: float = DEFAULT_DELTA) -> float:
    """The largest rho whose rho-zCDP is (epsilon, delta)-DP (:func:`zcdp_delta` inverted).

    Examples
    --------
    >>> rho = zcdp_rho(1.0, 1e-6)
    >>> round(rho, 4), zcdp_delta(rho, 1.0) <= 1e-6
    (0.0244, True)
    """
    _check_epsilon(epsilon)
    if not 0 < delta < 1:
        raise GenShareError(f"delta must be between 0 and 1 (got {delta!r})")
    lo, hi = 0.0, epsilon  # rho = epsilon already has delta > 1e-1 for any useful delta
    while zcdp_delta(hi, epsilon) <= delta:  # pragma: no cover - defensive
        hi *= 2
    for _ in range(200):
        mid = (lo + hi) / 2
        if zcdp_delta(mid, epsilon) <= delta:
            lo = mid
        else:
            hi = mid
    return lo


def _mechanism(name: str | None) -> str:
    name = DEFAULT_MECHANISM if name is None else name
    if name not in MECHANISMS:
        raise GenShareError(f"unknown DP mechanism {name!r}; choose from {list(MECHANISMS)}")
    return name


def noise_scale(
    n_variants: int,
    variables: Iterable[str],
    *,
    epsilon: float,
    mechanism: str | None = None,
    delta: float = DEFAULT_DELTA,
    group_sizes: bool = True,
) -> dict[str, Any]:
    """The noise of a release: ``mechanism``, ``sensitivity``, the parameter (``a`` for
    Laplace, ``sigma`` and ``rho`` for Gaussian), ``noise_sd`` and ``delta``.

    Examples
    --------
    >>> noise_scale(1, COUNTS, epsilon=1.0, mechanism="laplace")["l1_sensitivity"]
    7
    """
    _check_epsilon(epsilon)
    mechanism = _mechanism(mechanism)
    names = list(variables)
    if mechanism == "laplace":
        sens = release_sensitivity(n_variants, names, group_sizes=group_sizes)
        a = math.exp(-epsilon / sens)
        return {
            "mechanism": "laplace",
            "l1_sensitivity": sens,
            "noise_parameter_a": a,
            "noise_sd": math.sqrt(2 * a) / -math.expm1(-epsilon / sens),
            "delta": 0.0,
        }
    sens2 = release_sensitivity(n_variants, names, norm="l2", group_sizes=group_sizes)
    rho = zcdp_rho(epsilon, delta)
    sigma = sens2 / math.sqrt(2 * rho)
    return {
        "mechanism": "gaussian",
        "l2_sensitivity": sens2,
        "rho": rho,
        "sigma": sigma,
        "noise_sd": sigma,  # the discrete Gaussian's sd is below sigma, within 1e-9 for σ ≥ 1
        "delta": float(delta),
    }


def noise_at_least(m: np.ndarray, dp: dict[str, Any] | None) -> np.ndarray:
    """``P(Z >= m)`` for the noise Z described by a release's ``attrs["dp"]`` (``None``: no
    noise). Used by attackers that know the mechanism (the risk lab's Beacon test).

    Examples
    --------
    >>> noise_at_least(np.array([0, 1]), None).tolist()
    [1.0, 0.0]
    """
    m = np.asarray(m, dtype=np.float64)
    if dp is None:
        return (m <= 0).astype(np.float64)
    if dp["mechanism"] == "laplace":
        a = float(dp["noise_parameter_a"])
        upper = a ** np.maximum(m, 1) / (1 + a)  # m >= 1
        lower = 1 - a ** np.maximum(1 - m, 1) / (1 + a)  # m <= 0
        return np.where(m >= 1, upper, lower)
    sigma = float(dp["sigma"])
    if sigma > 30:  # the discrete Gaussian's tail is the normal's with continuity correction
        from scipy.stats import norm

        return norm.sf((m - 0.5) / sigma)
    half = math.ceil(40 * sigma) + 10
    support = np.arange(-half, half + 1)
    pmf = discrete_gaussian_pmf(support, sigma=sigma)
    tail = np.concatenate([np.cumsum(pmf[::-1])[::-1], [0.0]])  # P(Z >= support[i])
    idx = np.clip(np.ceil(m).astype(np.int64) + half, 0, len(support))
    return tail[idx]


# ---------------------------------------------------------------- a release


def privatize_counts(
    counts,
    *,
    epsilon: float,
    rng: np.random.Generator,
    variables=None,
    mechanism: str | None = None,
    delta: float = DEFAULT_DELTA,
    group_sizes: bool = True,
):
    """A copy of a counts Dataset with DP noise on every released count and group size.

    ``variables`` defaults to every count variable present (:data:`COUNTS`); with
    ``group_sizes`` (default) ``group_n_samples`` is noised too when present. ``mechanism``
    is ``"gaussian"`` or ``"laplace"`` (default :data:`DEFAULT_MECHANISM`); ``delta`` is the
    Gaussian's. Noisy values are clamped to a consistent table: ``0 <= allele_number``,
    ``0 <= allele_count <= allele_number``, genotype counts in ``0..called_count`` with
    ``het + hom_alt <= called``, group sizes ``>= 0``. ``attrs["dp"]`` records epsilon, delta,
    the mechanism, the sensitivity, the neighbouring relation and the noise parameter.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> noisy = privatize_counts(counts, epsilon=1e4, rng=rng)  # doctest: +SKIP
    """
    names = [v for v in (variables or COUNTS) if v in counts]
    noise_groups = bool(group_sizes) and "group_n_samples" in counts
    n_variants = int(counts.sizes["variants"])
    scale = noise_scale(
        n_variants, names, epsilon=epsilon, mechanism=mechanism, delta=delta,
        group_sizes=noise_groups,
    )  # fmt: skip

    def noise(shape) -> np.ndarray:
        if scale["mechanism"] == "laplace":
            return _geometric_difference(shape, 1 - scale["noise_parameter_a"], rng)
        return discrete_gaussian(shape, sigma=scale["sigma"], rng=rng)

    out = counts.copy(deep=False)  # variables are replaced, never written in place
    noisy: dict[str, np.ndarray] = {}
    for name in names:
        values = np.asarray(counts[name].values, dtype=np.int64)
        noisy[name] = values + noise(values.shape)
    if noise_groups:
        sizes = np.asarray(counts["group_n_samples"].values, dtype=np.int64)
        noisy["group_n_samples"] = np.maximum(sizes + noise(sizes.shape), 0)
    if "allele_number" in noisy:
        noisy["allele_number"] = np.maximum(noisy["allele_number"], 0)
    if "allele_count" in noisy:
        an = noisy.get("allele_number", np.asarray(counts["allele_number"].values, np.int64))
        noisy["allele_count"] = np.clip(noisy["allele_count"], 0, an)
    if "called_count" in noisy:
        noisy["called_count"] = np.maximum(noisy["called_count"], 0)
    called = noisy.get("called_count")
    if called is None and "called_count" in counts:
        called = np.asarray(counts["called_count"].values, np.int64)
    for name in ("het_count", "hom_alt_count"):
        if name in noisy and called is not None:
            noisy[name] = np.clip(noisy[name], 0, called)
    if "het_count" in noisy and "hom_alt_count" in noisy and called is not None:
        noisy["hom_alt_count"] = np.minimum(noisy["hom_alt_count"], called - noisy["het_count"])
    for name, values in noisy.items():
        out[name] = counts[name].copy(data=values.astype(counts[name].dtype))
    out.attrs = dict(counts.attrs)
    label = {
        "laplace": "two-sided geometric (discrete Laplace), pure epsilon-DP",
        "gaussian": "discrete Gaussian, rho-zCDP reported as (epsilon, delta)-DP",
    }[scale["mechanism"]]
    out.attrs["dp"] = {
        "epsilon": float(epsilon),
        **scale,
        "mechanism_description": label,
        "neighbouring": "add or remove one participant (group sizes noised)",
        "noised": names + (["group_n_samples"] if noise_groups else []),
    }
    return out
