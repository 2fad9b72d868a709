"""Membership-inference statistics on released allele frequencies and Beacon answers.

Every statistic is a score per target person where **higher means "more likely in the
pool"**, so one ROC convention serves all (members are the positives).

Frequencies used by the likelihood-ratio statistics are never 0 or 1: from counts they are
``(AC + 1/2) / (AN + 1)`` (:func:`shrunk_frequency`, the add-one-half estimate), which keeps every
log finite and changes a frequency from n alleles by less than 1/(2n).

References
----------
- Homer N et al. (2008) Resolving individuals contributing trace amounts of DNA to highly
  complex mixtures using high-density SNP genotyping microarrays. PLoS Genet 4:e1000167.
- Sankararaman S, Obozinski G, Jordan MI, Halperin E (2009) Genomic privacy and limits of
  individual detection in a pool. Nat Genet 41:965-967.
- Shringarpure SS, Bustamante CD (2015) Privacy risks from genomic data-sharing beacons.
  Am J Hum Genet 97:631-646.
"""

import numpy as np

from genshare_widgets._errors import GenShareError

_TINY = 1e-12


def shrunk_frequency(allele_count, allele_number) -> np.ndarray:
    """ALT frequency ``(AC + 1/2) / (AN + 1)``: strictly between 0 and 1, also when AN = 0.

    Examples
    --------
    >>> shrunk_frequency(np.array([0, 10]), np.array([10, 10])).round(4).tolist()
    [0.0455, 0.9545]
    """
    ac = np.asarray(allele_count, dtype=np.float64)
    an = np.asarray(allele_number, dtype=np.float64)
    return (ac + 0.5) / (an + 1.0)


def _check(dosages, *vectors) -> np.ndarray:
    x = np.atleast_2d(np.asarray(dosages, dtype=np.float64))
    for v in vectors:
        if np.shape(v) != (x.shape[1],):
            raise GenShareError(
                f"dosages have {x.shape[1]} variants but a frequency vector has shape {np.shape(v)}"
            )
    return x


def homer_statistic(
    dosages: np.ndarray,
    pool_frequency: np.ndarray,
    reference_frequency: np.ndarray,
    *,
    released: np.ndarray | None = None,
) -> np.ndarray:
    """Homer et al. (2008)'s test statistic T per person.

    For SNP j with the person's allele frequency ``Y_j = dosage_j / 2``, the reference
    population's frequency ``Pop_j`` and the pool's (mixture's) released frequency ``Mix_j``::

        D_j = |Y_j - Pop_j| - |Y_j - Mix_j|
        T   = mean(D) / (sd(D) / sqrt(M))

    over the M SNPs that are released and called in the person (``sd`` with M - 1 degrees of
    freedom). T > 0: the person is closer to the pool than to the population. NaN when
    M < 2 or sd(D) = 0.

    Parameters
    ----------
    dosages
        persons × SNPs ALT dosages (0, 1, 2; NaN missing).
    pool_frequency, reference_frequency
        Per-SNP ALT frequencies (the released pool's, the attacker's reference panel's).
    released
        Per-SNP mask of the SNPs whose pool frequency is shown (default: all).

    Examples
    --------
    >>> homer_statistic(np.array([[2.0, 0.0, 1.0]]), np.array([0.9, 0.1, 0.6]),
    ...                 np.array([0.5, 0.5, 0.5])).round(3).tolist()
    [1.4]
    """
    x = _check(dosages, pool_frequency, reference_frequency)
    y = x / 2.0
    d = np.abs(y - reference_frequency) - np.abs(y - pool_frequency)
    use = ~np.isnan(d)
    if released is not None:
        use &= np.asarray(released, dtype=bool)[None, :]
    d = np.where(use, d, np.nan)
    m = use.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nanmean(np.where(m[:, None] > 0, d, 0.0), axis=1)
        sd = np.sqrt(np.nansum((d - mean[:, None]) ** 2, axis=1) / (m - 1))
        t = mean / (sd / np.sqrt(m))
    return np.where((m >= 2) & (sd > 0), t, np.nan)


def likelihood_ratio_statistic(
    dosages: np.ndarray,
    pool_frequency: np.ndarray,
    reference_frequency: np.ndarray,
    *,
    released: np.ndarray | None = None,
) -> np.ndarray:
    """Sankararaman et al. (2009)'s log-likelihood ratio Λ per person.

    With dosage ``x_j``, the pool's released frequency ``p̂_j`` and the reference frequency
    ``p_j`` (genotype ~ Binomial(2, ·) under each hypothesis)::

        Λ = Σ_j  x_j log(p̂_j / p_j) + (2 - x_j) log((1 - p̂_j) / (1 - p_j))

    over the SNPs that are released and called in the person. Frequencies must be strictly
    inside (0, 1): pass :func:`shrunk_frequency` of the counts. Λ > 0 favours "in the pool".

    Examples
    --------
    >>> likelihood_ratio_statistic(np.array([[2.0, 0.0]]), np.array([0.8, 0.2]),
    ...                            np.array([0.5, 0.5])).round(4).tolist()
    [1.88]
    """
    x = _check(dosages, pool_frequency, reference_frequency)
    ph = np.asarray(pool_frequency, dtype=np.float64)
    p = np.asarray(reference_frequency, dtype=np.float64)
    if np.any((ph <= 0) | (ph >= 1) | (p <= 0) | (p >= 1)):
        raise GenShareError(
            "the likelihood ratio needs frequencies strictly between 0 and 1; "
            "use shrunk_frequency(AC, AN)"
        )
    term = x * np.log(ph / p) + (2 - x) * np.log((1 - ph) / (1 - p))
    use = ~np.isnan(term)
    if released is not None:
        use &= np.asarray(released, dtype=bool)[None, :]
    return np.where(use, term, 0.0).sum(axis=1)


def beacon_answers(allele_count: np.ndarray, *, min_count: int = 1) -> np.ndarray:
    """A Beacon's answers: "yes" for a SNP when its ALT count is >= ``min_count``.

    ``min_count=1`` is a Beacon as is (any carrier); ``min_count=k`` a Beacon under the
    minimum cell count k, which answers "no" for alleles seen 1..k-1 times (an answer "<k"
    would be a count); for a DP release pass the noisy counts.

    Examples
    --------
    >>> beacon_answers(np.array([0, 1, 19, 20]), min_count=20).tolist()
    [False, False, False, True]
    """
    return np.asarray(allele_count) >= min_count


def beacon_yes_probabilities(
    reference_frequency: np.ndarray,
    *,
    n_individuals: int,
    min_count: int = 1,
    noise_parameter_a: float = 0.0,
    delta: float = 1e-6,
    noise: dict | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """P("yes") per SNP when the target is out of the Beacon, and when in with dosage 1 or 2.

    The Beacon holds N individuals (2N alleles) and answers "yes" when ``C + Z >= k`` (C its
    ALT count, k = ``min_count``, Z the release's noise: ``noise`` is its ``attrs["dp"]``
    (discrete Gaussian or Laplace), or ``noise_parameter_a`` a discrete-Laplace parameter; no
    noise without either).
    With the ALT frequency p (the attacker's reference panel)::

        out:  C ~ Binomial(2N, p)
        in:   C = x + C',  C' ~ Binomial(2N - 2, p); with probability delta the target's
              allele is missed (sequencing error, mismatch), so C = C'

    With noise the released AC is also clamped to the noisy AN (``2N + Z'``, all calls
    present), so a "yes" needs ``2N + Z' >= 1`` too. Without noise and k = 1 these are
    Shringarpure & Bustamante (2015)'s
    ``1 - D_N`` and ``1 - delta D_{N-1}`` with ``D_N = (1 - p)^{2N}``, the probability that
    none of N individuals carries the allele (their D_N averages over a Beta allele
    frequency spectrum; the lab gives the attacker per-SNP reference frequencies, a stronger
    attacker).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``p_out`` (SNPs,) and ``p_in`` (SNPs, 2): columns for dosage 1 and 2.

    Examples
    --------
    >>> out, inside = beacon_yes_probabilities(np.array([0.1]), n_individuals=2)
    >>> print(round(1 - out[0], 4), round(1 - inside[0, 0], 10))  # D_2 and delta * D_1
    0.6561 8.1e-07
    """
    from scipy.stats import binom

    from genshare_widgets.disclosure._dp import noise_at_least

    if n_individuals < 1:
        raise GenShareError(f"a Beacon needs at least one individual (got {n_individuals})")
    p = np.asarray(reference_frequency, dtype=np.float64)[:, None]
    n2 = 2 * n_individuals
    grid = np.arange(n2 + 3)
    if noise is None and noise_parameter_a > 0:
        noise = {"mechanism": "laplace", "noise_parameter_a": noise_parameter_a}
    yes_given = noise_at_least(min_count - grid, noise)  # P(yes | C = c)
    if noise is not None:  # the noisy AC is clamped to the noisy AN = 2N + Z' (>= 1 needed)
        yes_given = yes_given * noise_at_least(np.array(1 - n2), noise)
    out = binom.pmf(grid[None, : n2 + 1], n2, p) @ yes_given[: n2 + 1]
    pmf_rest = binom.pmf(grid[None, : n2 - 1], n2 - 2, p)
    missed = pmf_rest @ yes_given[: n2 - 1]
    inside = np.stack(
        [(1 - delta) * (pmf_rest @ yes_given[x : x + n2 - 1]) + delta * missed for x in (1, 2)],
        axis=1,
    )
    return out, inside


def beacon_likelihood_ratio(
    dosages: np.ndarray,
    answers: np.ndarray,
    p_out: np.ndarray,
    p_in: np.ndarray,
    *,
    order: np.ndarray | None = None,
    max_queries: int | None = None,
) -> np.ndarray:
    """Shringarpure & Bustamante (2015)'s Beacon log-likelihood ratio per person (in vs out).

    The attacker queries the Beacon at the person's ALT-carrying SNPs (dosage >= 1) and gets
    answers ``y_j`` (1 = yes). With the answer probabilities of
    :func:`beacon_yes_probabilities`::

        L = Σ_j  y_j log(p_in_j / p_out_j) + (1 - y_j) log((1 - p_in_j) / (1 - p_out_j))

    Their Λ is ``-L`` (H0: not in the Beacon; small Λ rejects it). Without noise and k = 1 a
    "no" costs ``log(delta D_{N-1} / D_N)``, a strong vote against membership, and a "yes"
    gains ``log((1 - delta D_{N-1}) / (1 - D_N))``, large at rare alleles.

    Parameters
    ----------
    dosages
        persons × SNPs.
    answers
        bool per SNP: the Beacon's answer for the ALT allele.
    p_out, p_in
        From :func:`beacon_yes_probabilities`.
    order, max_queries
        Query at most ``max_queries`` SNPs per person, taken in ``order`` (an argsort of the
        SNPs, e.g. rarest reference allele first); default: every ALT-carrying SNP.

    Examples
    --------
    >>> out, inside = beacon_yes_probabilities(np.array([0.1, 0.1]), n_individuals=2)
    >>> beacon_likelihood_ratio(np.array([[1.0, 0.0]]), np.array([True, False]), out,
    ...                         inside).round(3).tolist()
    [1.067]
    """
    x = _check(dosages, answers, p_out)
    y = np.asarray(answers, dtype=bool)[None, :]
    pin = np.clip(np.where(x >= 2, p_in[:, 1][None, :], p_in[:, 0][None, :]), _TINY, 1 - _TINY)
    pout = np.clip(np.asarray(p_out)[None, :], _TINY, 1 - _TINY)
    term = np.where(y, np.log(pin / pout), np.log((1 - pin) / (1 - pout)))
    query = np.nan_to_num(x) >= 1
    if max_queries is not None:
        idx = np.arange(x.shape[1]) if order is None else np.asarray(order)
        ranked = np.cumsum(query[:, idx], axis=1) <= max_queries
        limit = np.zeros_like(query)
        limit[:, idx] = ranked
        query &= limit
    return np.where(query, term, 0.0).sum(axis=1)
