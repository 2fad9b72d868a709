"""Differential privacy of released counts: the mechanism and the privacy budget.

Mechanism
---------
Neighbouring cohorts differ by **replacing one participant's genotypes** (bounded DP: the
samples per group are public). For one variant, one participant changes

=====================  ======================  =========================================
count                  sensitivity (per site)  why
=====================  ======================  =========================================
``allele_count``       2                       0..2 ALT copies (haploid: 0..1)
``allele_number``      2                       0..2 called alleles
``het_count``          1                       one genotype
``hom_alt_count``      1                       one genotype
``called_count``       1                       one genotype
=====================  ======================  =========================================

and every variant of the release at once. Groups are disjoint, so a participant touches one
group's cells (parallel composition). The L1 sensitivity of a release of V variants is therefore
``S = V x sum(sensitivities of the released counts)``, and adding two-sided geometric noise
(discrete Laplace, ``P(z) = (1-a)/(1+a) a^|z|`` with ``a = exp(-epsilon / S)``) to every released
count makes the whole release epsilon-differentially private (Ghosh, Roughgarden & Sundararajan
2009; the vector Laplace mechanism of Dwork et al. 2006). Clamping (``0 <= AN``,
``0 <= AC <= AN``, genotype counts between 0 and the called count) and every statistic computed
from the noisy counts are post-processing and cost nothing more.

The price is honest: the noise scale grows with the number of variants released, so a
whole-region table needs a large epsilon to stay useful (the risk lab measures that trade-off).

Budget
------
:class:`PrivacyBudget` adds up the epsilon of every release of a session (basic sequential
composition) and refuses a release that would exceed its total. It lives in memory (a notebook
session, a widget, a server) or in a ledger file (the CLI: one ledger per cohort under
``$GENSHARE_CACHE/privacy``), updated under a lock and replaced atomically.
"""

import json
import math
import os
import tempfile
from collections.abc import Iterable
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from genshare_widgets._errors import GenShareError

COUNT_SENSITIVITY: dict[str, int] = {
    "allele_count": 2,
    "allele_number": 2,
    "het_count": 1,
    "hom_alt_count": 1,
    "called_count": 1,
}

DEFAULT_BUDGET = 100_000.0
"""Session budget when neither the caller nor ``GENSHARE_EPSILON_BUDGET`` sets one: room for a
handful of whole-region releases at epsilon ~ 10^4 (the scale at which allele frequencies of
~10^4 variants stay useful; see the risk lab)."""


class PrivacyBudgetExceeded(GenShareError):  # noqa: N818 -- reads as the event it reports
    """A release would spend more epsilon than the session has left."""


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
    if not (epsilon > 0 and math.isfinite(epsilon)):
        raise GenShareError(f"epsilon must be a positive number (got {epsilon!r})")
    if sensitivity <= 0:
        raise GenShareError(f"sensitivity must be positive (got {sensitivity!r})")
    p = -math.expm1(-epsilon / sensitivity)  # 1 - a, accurate when a is close to 1
    g1 = rng.geometric(p, size=shape) - 1
    g2 = rng.geometric(p, size=shape) - 1
    return (g1 - g2).astype(np.int64)


def discrete_laplace_pmf(z: np.ndarray, *, epsilon: float, sensitivity: float) -> np.ndarray:
    """The probability of each noise value ``z`` under :func:`discrete_laplace`."""
    a = math.exp(-epsilon / sensitivity)
    return (1 - a) / (1 + a) * a ** np.abs(np.asarray(z, dtype=np.float64))


def release_sensitivity(n_variants: int, variables: Iterable[str]) -> int:
    """L1 sensitivity of releasing ``variables`` at ``n_variants`` sites (see module doc)."""
    unknown = [v for v in variables if v not in COUNT_SENSITIVITY]
    if unknown:
        raise GenShareError(f"no DP sensitivity is defined for {unknown}")
    return max(1, int(n_variants)) * sum(COUNT_SENSITIVITY[v] for v in variables)


def privatize_counts(counts, *, epsilon: float, rng: np.random.Generator, variables=None):
    """A copy of a counts Dataset with discrete-Laplace noise on every released count.

    ``variables`` defaults to every count variable present (``allele_count``,
    ``allele_number``, ``het_count``, ``hom_alt_count``, ``called_count``). Noisy values are
    clamped to a consistent table: ``0 <= allele_number``, ``0 <= allele_count <=
    allele_number``, genotype counts in ``0..called_count`` with ``het + hom_alt <= called``.
    ``attrs["dp"]`` records epsilon, the sensitivity and the noise parameter.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> noisy = privatize_counts(counts, epsilon=1e4, rng=rng)  # doctest: +SKIP
    """
    names = [v for v in (variables or COUNT_SENSITIVITY) if v in counts]
    n_variants = int(counts.sizes["variants"])
    sens = release_sensitivity(n_variants, names)
    out = counts.copy(deep=False)  # variables are replaced, never written in place
    noisy: dict[str, np.ndarray] = {}
    for name in names:
        values = np.asarray(counts[name].values, dtype=np.int64)
        noisy[name] = values + discrete_laplace(
            values.shape, epsilon=epsilon, sensitivity=sens, rng=rng
        )
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
    out.attrs["dp"] = {
        "epsilon": float(epsilon),
        "mechanism": "two-sided geometric (discrete Laplace)",
        "neighbouring": "replace one participant's genotypes (group sizes public)",
        "noised": names,
        "l1_sensitivity": sens,
        "noise_parameter_a": math.exp(-epsilon / sens),
        "noise_sd": math.sqrt(2 * math.exp(-epsilon / sens)) / -math.expm1(-epsilon / sens),
    }
    return out


def _default_total() -> float:
    env = os.environ.get("GENSHARE_EPSILON_BUDGET")
    if env is None:
        return DEFAULT_BUDGET
    try:
        value = float(env)
    except ValueError:
        raise GenShareError(
            f"GENSHARE_EPSILON_BUDGET={env!r} is not a number; set it to a positive epsilon"
        ) from None
    if not value > 0:
        raise GenShareError(f"GENSHARE_EPSILON_BUDGET={env!r} must be positive")
    return value


class PrivacyBudget:
    """The epsilon a session may spend, and what it has spent (basic composition).

    Parameters
    ----------
    total
        Total epsilon of the session (default ``$GENSHARE_EPSILON_BUDGET`` or
        :data:`DEFAULT_BUDGET`).
    ledger
        A JSON file that keeps the spending across processes (the CLI uses one per cohort);
        ``None`` keeps it in memory.

    Examples
    --------
    >>> budget = PrivacyBudget(10.0)
    >>> budget.charge(4.0, "freq chr1")
    6.0
    >>> budget.remaining
    6.0
    """

    def __init__(self, total: float | None = None, *, ledger: Path | None = None) -> None:
        self.total = float(total) if total is not None else _default_total()
        if not self.total > 0:
            raise GenShareError(f"a privacy budget must be positive (got {total!r})")
        self.ledger = Path(ledger) if ledger is not None else None
        self._history: list[dict[str, Any]] = []
        #: Releases already answered by this object, keyed by (policy, filter, counts
        #: digest): asked again, the same noisy answer comes back and nothing is charged.
        self.answered: dict[tuple, Any] = {}

    @contextmanager
    def _locked(self):
        if self.ledger is None:
            yield
            return
        import fcntl

        self.ledger.parent.mkdir(parents=True, exist_ok=True)
        with open(self.ledger.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _load(self) -> list[dict[str, Any]]:
        if self.ledger is None:
            return self._history
        if not self.ledger.is_file():
            return []
        try:
            record = json.loads(self.ledger.read_text())
            return list(record["releases"])
        except (ValueError, KeyError, TypeError) as exc:
            raise GenShareError(
                f"privacy ledger {self.ledger} is unreadable ({exc}); it records the epsilon "
                "already spent, so it is never reset silently: ask the data custodian"
            ) from None

    def _save(self, history: list[dict[str, Any]]) -> None:
        if self.ledger is None:
            self._history = history
            return
        fd, tmp = tempfile.mkstemp(prefix=".ledger-", dir=self.ledger.parent)
        with os.fdopen(fd, "w") as handle:
            json.dump({"total": self.total, "releases": history}, handle, indent=1)
        os.replace(tmp, self.ledger)

    @property
    def history(self) -> list[dict[str, Any]]:
        """Every release charged so far: ``{"epsilon", "what", "when"}``."""
        return list(self._load())

    @property
    def spent(self) -> float:
        """Epsilon spent so far."""
        return float(sum(r["epsilon"] for r in self._load()))

    @property
    def remaining(self) -> float:
        """Epsilon left."""
        return self.total - self.spent

    def charge(self, epsilon: float, what: str = "") -> float:
        """Spend ``epsilon`` on one release, or raise :class:`PrivacyBudgetExceeded`.

        Returns the epsilon left. Nothing is charged when the release is refused.
        """
        if not (epsilon > 0 and math.isfinite(epsilon)):
            raise GenShareError(f"epsilon must be a positive number (got {epsilon!r})")
        with self._locked():
            history = self._load()
            spent = sum(r["epsilon"] for r in history)
            if spent + epsilon > self.total * (1 + 1e-12):
                where = f" (ledger {self.ledger})" if self.ledger else ""
                raise PrivacyBudgetExceeded(
                    f"refused: this release needs epsilon {epsilon:g} but only "
                    f"{self.total - spent:g} of the session's {self.total:g} is left{where}. "
                    "Every answer computed with noise spends budget; a bigger budget is the "
                    "data custodian's decision (GENSHARE_EPSILON_BUDGET)."
                )
            history = [
                *history,
                {
                    "epsilon": float(epsilon),
                    "what": what,
                    "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                },
            ]
            self._save(history)
        return self.total - spent - epsilon

    def __repr__(self) -> str:
        return f"PrivacyBudget(total={self.total:g}, spent={self.spent:g})"


def ledger_for(key: str) -> Path:
    """The CLI's ledger file of one cohort (by its store key or id)."""
    from genshare_widgets.fetch import cache_dir

    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in key)
    return cache_dir() / "privacy" / f"{safe}.json"
