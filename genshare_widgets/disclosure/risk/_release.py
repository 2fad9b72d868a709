"""What the attacker sees: the pool's counts released as is, under a minimum count, or with DP.

The risk lab models exactly what GenShare releases:

- **none**: the pool's exact ALT count (AC) and allele number (AN) per SNP;
- **suppression at k** (:func:`suppressed_release`): ``disclosure.release_counts`` on the
  pool's one-group counts (:func:`released_under_min_count` is its allele rule). A cell
  (AC, AN, or the REF count AN - AC) in 1..k-1 is suppressed (shown ``<k``) and a SNP with
  any such cell is withheld: its frequency is not shown. The attacker sees AF = AC/AN only
  where AC, AN and AN - AC are each 0 or >= k. (The Beacon answers under k are
  :func:`beacon_answers`: "yes" only when AC >= k.)
- **DP at epsilon** (:func:`dp_release`): :func:`~genshare_widgets.disclosure.privatize_counts`
  on the pool's one-group counts Dataset exactly as a service releases it: the counts of
  :data:`~genshare_widgets.disclosure._dp.SERVICE_COUNTS` of that service (every service
  today: AC, AN, het, hom-alt, called) plus the group size, with the sensitivity of
  :func:`~genshare_widgets.disclosure.release_sensitivity` (L1 ``6V + 1``, L2
  ``sqrt(10V + 1)`` for V SNPs) and the default mechanism (discrete Gaussian) or the one
  asked for.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np

from genshare_widgets._errors import GenShareError


@dataclass(frozen=True)
class PoolRelease:
    """The pool's released counts over the lab's SNP panel.

    Attributes
    ----------
    allele_count, allele_number
        int64 per SNP (0 where not released).
    released
        bool per SNP: the frequency is shown.
    protection
        ``"none"``, ``"suppression"`` or ``"dp"``.
    min_count, epsilon
        The parameter of the protection (``None`` when it does not apply).
    noise_parameter_a
        The discrete-Laplace parameter ``a = exp(-epsilon / S)`` of a Laplace DP release
        (else 0).
    service
        Which service's release a DP release models (``"site"``, ``"beacon"``).
    dp
        The release's ``attrs["dp"]`` (mechanism, sensitivity, noise parameters), or ``None``.
    """

    allele_count: np.ndarray
    allele_number: np.ndarray
    released: np.ndarray
    protection: str
    min_count: int | None = None
    epsilon: float | None = None
    noise_parameter_a: float = 0.0
    service: str | None = None
    dp: dict[str, Any] | None = None

    @property
    def label(self) -> str:
        """``"none"``, ``"k=20"`` or ``"ε=1e+04"``: the protection in a table or a legend."""
        if self.protection == "suppression":
            return f"k={self.min_count}"
        if self.protection == "dp":
            return f"ε={self.epsilon:g}"
        return "none"


def released_under_min_count(
    allele_count: np.ndarray, allele_number: np.ndarray, *, min_count: int
) -> np.ndarray:
    """Which SNPs keep their frequency under minimum cell count k (one group).

    A SNP is released when AC, AN and the complementary REF count AN - AC are each 0 or
    >= k; otherwise one of its cells would be shown ``<k`` (or could be recovered from the
    others), and the SNP is withheld.

    Examples
    --------
    >>> released_under_min_count(np.array([0, 3, 25, 50]), np.array([60, 60, 60, 60]),
    ...                          min_count=20).tolist()
    [True, False, True, False]
    """
    if min_count < 1:
        raise GenShareError(f"min_count must be >= 1 (got {min_count})")
    from genshare_widgets.disclosure._suppress import hidden_rows

    return ~hidden_rows(allele_count, allele_number, k=min_count)


def pool_counts(dosages: np.ndarray):  # -> xarray.Dataset
    """One-group counts Dataset (``allele_count`` ... ``called_count``) of a dosage matrix.

    Diploid calls: AN = 2 x called genotypes; NaN dosages are missing calls.

    Examples
    --------
    >>> ds = pool_counts(np.array([[0.0, 1.0], [2.0, np.nan]]))
    >>> ds["allele_count"].values[:, 0].tolist(), ds["allele_number"].values[:, 0].tolist()
    ([2, 1], [4, 2])
    """
    from genshare_widgets.counts import counts_dataset
    from genshare_widgets.engines._group_counts import FIELDS

    x = np.asarray(dosages, dtype=np.float64)
    called = ~np.isnan(x)
    fields = {
        "allele_count": np.nansum(x, axis=0),
        "allele_number": 2 * called.sum(axis=0),
        "hom_alt_count": (x == 2).sum(axis=0),
        "het_count": (x == 1).sum(axis=0),
        "called_count": called.sum(axis=0),
    }
    raw = np.stack([fields[f] for f in FIELDS], axis=-1).astype(np.int32)[:, None, :]
    n = x.shape[1]
    return counts_dataset(
        raw,
        index=np.arange(n),
        info={},
        names=["pool"],
        label="pool",
        group_n=np.array([x.shape[0]]),
        contig_ids=np.array(["."]),
        variant_contig=np.zeros(n, dtype=np.int64),
        variant_position=np.arange(1, n + 1),
        alleles=np.full((n, 2), "N"),
        cohort_id="risk-lab pool",
    )


def exact_release(dosages: np.ndarray) -> PoolRelease:
    """The pool's counts as they are (no protection).

    Examples
    --------
    >>> exact_release(np.array([[0.0, 1.0], [2.0, 1.0]])).allele_count.tolist()
    [2, 2]
    """
    x = np.asarray(dosages, dtype=np.float64)
    ac = np.nansum(x, axis=0).astype(np.int64)
    an = 2 * (~np.isnan(x)).sum(axis=0).astype(np.int64)
    return PoolRelease(ac, an, an > 0, "none")


def suppressed_release(dosages: np.ndarray, *, min_count: int) -> PoolRelease:
    """The pool's counts under minimum cell count k (see :func:`released_under_min_count`).

    Examples
    --------
    >>> suppressed_release(np.ones((3, 2)), min_count=5).released.tolist()
    [False, False]
    """
    from genshare_widgets.disclosure import DisclosurePolicy, release_counts

    released = release_counts(pool_counts(dosages), DisclosurePolicy(min_count=min_count))
    n = np.asarray(dosages).shape[1]
    if released.sizes["groups"] == 0:  # a pool smaller than k is withheld whole
        zeros = np.zeros(n, dtype=np.int64)
        return PoolRelease(zeros, zeros, np.zeros(n, bool), "suppression", min_count=min_count)
    shown = released["allele_usable"].values[:, 0] & (released["allele_number"].values[:, 0] > 0)
    return PoolRelease(
        np.where(shown, released["allele_count"].values[:, 0], 0).astype(np.int64),
        np.where(shown, released["allele_number"].values[:, 0], 0).astype(np.int64),
        shown,
        "suppression",
        min_count=min_count,
    )


def dp_release(
    dosages: np.ndarray,
    *,
    epsilon: float,
    rng: np.random.Generator,
    service: str = "site",
    mechanism: str | None = None,
) -> PoolRelease:
    """The pool's counts with GenShare's DP noise, as ``service`` releases them
    (:func:`privatize_counts` with that service's counts and the group size).

    Examples
    --------
    >>> rel = dp_release(np.ones((3, 2)), epsilon=1e3, rng=np.random.default_rng(0))
    >>> rel.protection, rel.allele_number.tolist(), rel.dp["mechanism"]
    ('dp', [6, 6], 'gaussian')
    """
    from genshare_widgets.disclosure._dp import SERVICE_COUNTS, privatize_counts

    if service not in SERVICE_COUNTS:
        raise GenShareError(f"unknown service {service!r}; choose from {sorted(SERVICE_COUNTS)}")
    noisy = privatize_counts(
        pool_counts(dosages),
        epsilon=epsilon,
        rng=rng,
        variables=SERVICE_COUNTS[service],
        mechanism=mechanism,
    )
    dp = dict(noisy.attrs["dp"])
    ac = noisy["allele_count"].values[:, 0].astype(np.int64)
    an = noisy["allele_number"].values[:, 0].astype(np.int64)
    return PoolRelease(
        ac,
        an,
        an > 0,
        "dp",
        epsilon=float(epsilon),
        noise_parameter_a=float(dp.get("noise_parameter_a", 0.0)),
        service=service,
        dp=dp,
    )
