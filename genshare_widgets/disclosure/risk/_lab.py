"""The lab's two measurements: attack power per protection, and the utility it costs.

:func:`attack_power` runs every attack against every protection of one split and returns a
tidy table; :func:`attack_scores` keeps the per-person scores (for :func:`roc_table` and the
ROC figure); :func:`utility_vs_epsilon` measures the error DP and suppression put into allele
frequencies and Hudson Fst.

Protections (the same release feeds every attack):

- ``none``: the pool's exact counts;
- ``suppression`` at k: frequencies shown only for SNPs whose AC, AN and REF counts are 0 or
  >= k; the Beacon says "yes" only when AC >= k;
- ``dp`` at each epsilon: one draw of GenShare's DP noise on the pool's counts as each
  service releases them, with the service's own sensitivity
  (:func:`~genshare_widgets.disclosure.release_sensitivity` over
  :data:`~genshare_widgets.disclosure._dp.SERVICE_COUNTS`): the frequency attacks (Homer,
  LRT) see a federation site's / ``genshare stats`` release, the Beacon attack the Beacon's
  (today both: AC, AN, het, hom-alt, called and the group size); the Beacon
  answers from the noisy AC (post-processing: no epsilon beyond the release's, for any number
  of queries by anyone).

Power comes with 95 % percentile-bootstrap intervals (members and non-members resampled
separately, :func:`~genshare_widgets.disclosure.risk._roc.bootstrap_power`); over several
splits the point value and every bootstrap replicate are averaged across splits.

The attacker knows the protection: the Beacon test uses the answer probabilities under k and
under the DP noise (:func:`beacon_yes_probabilities`); the frequency tests use the released
frequencies as they are.
"""

from collections.abc import Sequence

import numpy as np
import pandas as pd

from genshare_widgets._errors import GenShareError
from genshare_widgets.disclosure.risk._attacks import (
    beacon_answers,
    beacon_likelihood_ratio,
    beacon_yes_probabilities,
    homer_statistic,
    likelihood_ratio_statistic,
    shrunk_frequency,
)
from genshare_widgets.disclosure.risk._genotypes import SplitGenotypes
from genshare_widgets.disclosure.risk._release import (
    PoolRelease,
    dp_release,
    exact_release,
    released_under_min_count,
    suppressed_release,
)
from genshare_widgets.disclosure.risk._roc import (
    bootstrap_power,
    percentile_interval,
    power_at_fpr,
    roc_auc,
    roc_curve,
)

ATTACKS = ("homer", "lrt", "beacon")
"""``homer``: Homer et al. 2008 distance test; ``lrt``: Sankararaman et al. 2009 likelihood
ratio on frequencies; ``beacon``: Shringarpure & Bustamante 2015 Beacon likelihood ratio."""
ATTACK_SERVICE = {"homer": "site", "lrt": "site", "beacon": "beacon"}
"""Which service's DP release each attack is run against."""
DEFAULT_EPSILONS = (1e2, 1e3, 1e4, 1e5, 1e6)
_SCORE_COLUMNS = (
    "attack",
    "protection",
    "min_count",
    "epsilon",
    "label",
    "sample",
    "member",
    "score",
    "n_snps_released",
)


def _releases(
    data: SplitGenotypes,
    *,
    min_count: int | None,
    epsilons: Sequence[float],
    seed: int,
    services: Sequence[str],
    mechanism: str | None = None,
) -> list[PoolRelease]:
    rng = np.random.default_rng(seed)
    out = [exact_release(data.members)]
    if min_count is not None:
        out.append(suppressed_release(data.members, min_count=min_count))
    for e in epsilons:
        out.extend(
            dp_release(data.members, epsilon=float(e), rng=rng, service=s, mechanism=mechanism)
            for s in services
        )
    return out


def _attack(
    name: str,
    release: PoolRelease,
    targets: np.ndarray,
    *,
    exact: PoolRelease,
    reference: PoolRelease,
    n_members: int,
    delta: float,
    max_queries: int | None,
) -> tuple[np.ndarray, int]:
    """Scores of ``targets`` and the number of SNPs the attack saw released ("yes" answers
    for the Beacon)."""
    if name == "homer":
        with np.errstate(invalid="ignore", divide="ignore"):
            pool = np.where(release.released, release.allele_count / release.allele_number, np.nan)
            ref = reference.allele_count / np.where(
                reference.allele_number > 0, reference.allele_number, np.nan
            )
        return homer_statistic(targets, pool, ref, released=release.released), int(
            release.released.sum()
        )
    ref_shrunk = shrunk_frequency(reference.allele_count, reference.allele_number)
    if name == "lrt":
        pool = shrunk_frequency(release.allele_count, release.allele_number)
        scores = likelihood_ratio_statistic(targets, pool, ref_shrunk, released=release.released)
        return scores, int(release.released.sum())
    if name == "beacon":
        k = release.min_count if release.protection == "suppression" else 1
        counts = release.allele_count if release.protection == "dp" else exact.allele_count
        answers = beacon_answers(counts, min_count=k or 1)
        p_out, p_in = beacon_yes_probabilities(
            ref_shrunk,
            n_individuals=n_members,
            min_count=k or 1,
            noise=release.dp,
            delta=delta,
        )
        scores = beacon_likelihood_ratio(
            targets,
            answers,
            p_out,
            p_in,
            order=np.argsort(ref_shrunk, kind="stable"),
            max_queries=max_queries,
        )
        return scores, int(answers.sum())
    raise GenShareError(f"unknown attack {name!r}; choose from {ATTACKS}")


def attack_scores(
    data: SplitGenotypes,
    *,
    attacks: Sequence[str] = ATTACKS,
    min_count: int | None = 20,
    epsilons: Sequence[float] = DEFAULT_EPSILONS,
    seed: int = 0,
    delta: float = 1e-6,
    max_queries: int | None = None,
    mechanism: str | None = None,
) -> pd.DataFrame:
    """Every attack's score for every member and non-member, under every protection.

    Parameters
    ----------
    data
        The split's genotypes (:func:`split_genotypes`).
    attacks
        Any of :data:`ATTACKS`.
    min_count
        k of the suppression protection (``None``: leave it out).
    epsilons
        Epsilons of the DP protections (total epsilon of the pool's release).
    seed
        Seed of the DP noise (one draw per epsilon, shared by the attacks).
    delta
        The Beacon test's error rate (a target allele missed by the Beacon).
    max_queries
        Beacon queries per person (rarest reference allele first); default all ALT sites.
    mechanism
        The DP noise (``"gaussian"`` or ``"laplace"``; default the services' default).

    Returns
    -------
    pandas.DataFrame
        ``attack, protection, min_count, epsilon, label, sample, member, score,
        n_snps_released``; one row per attack × protection × person.

    Examples
    --------
    >>> scores = attack_scores(data, epsilons=[1e3, 1e5])  # doctest: +SKIP
    """
    unknown = [a for a in attacks if a not in ATTACKS]
    if unknown:
        raise GenShareError(f"unknown attacks {unknown}; choose from {ATTACKS}")
    targets = np.vstack([data.members, data.nonmembers])
    samples = [*data.split.members, *data.split.nonmembers]
    member = np.r_[np.ones(len(data.members), bool), np.zeros(len(data.nonmembers), bool)]
    exact = exact_release(data.members)
    reference = exact_release(data.reference)
    columns: dict[str, list] = {k: [] for k in _SCORE_COLUMNS}
    services = sorted({ATTACK_SERVICE[a] for a in attacks})
    for release in _releases(
        data,
        min_count=min_count,
        epsilons=epsilons,
        seed=seed,
        services=services,
        mechanism=mechanism,
    ):
        for name in attacks:
            if release.service is not None and release.service != ATTACK_SERVICE[name]:
                continue  # each attack sees the DP release of the service it attacks
            scores, n_released = _attack(
                name,
                release,
                targets,
                exact=exact,
                reference=reference,
                n_members=len(data.members),
                delta=delta,
                max_queries=max_queries,
            )
            n = len(samples)
            values = {
                "attack": [name] * n,
                "protection": [release.protection] * n,
                "min_count": [release.min_count] * n,
                "epsilon": [release.epsilon] * n,
                "label": [release.label] * n,
                "sample": samples,
                "member": member,
                "score": scores,
                "n_snps_released": [n_released] * n,
            }
            for key, value in values.items():
                columns[key].extend(np.asarray(value, dtype=object).tolist())
    table = pd.DataFrame(columns)
    table["member"] = table["member"].astype(bool)
    table["score"] = table["score"].astype(np.float64)
    table["n_snps_released"] = table["n_snps_released"].astype(np.int64)
    table["epsilon"] = table["epsilon"].astype(np.float64)
    table["min_count"] = table["min_count"].astype("Int64")
    return table


def _groups(scores: pd.DataFrame):
    keys = ["attack", "protection", "label"]
    return scores.groupby(keys, sort=False, dropna=False)


def attack_power(
    data: SplitGenotypes | None = None,
    *,
    fpr: float = 0.05,
    scores: pd.DataFrame | None = None,
    n_boot: int = 1000,
    level: float = 0.95,
    ci_seed: int = 0,
    **options,
) -> pd.DataFrame:
    """Power of each attack under each protection: TPR at a fixed FPR and AUC, with
    bootstrap confidence intervals, and the SNPs released.

    Parameters
    ----------
    data
        The split's genotypes (:func:`split_genotypes`); not needed with ``scores``.
    fpr
        The false-positive rate at which power is read (threshold set on non-members).
    scores
        Precomputed :func:`attack_scores` (else computed with ``options``). With a ``split``
        column (several splits stacked) the values are means over splits, and the interval is
        that of the mean (each bootstrap replicate averaged across splits).
    n_boot, level, ci_seed
        Bootstrap replicates, interval level and seed (percentile intervals of a bootstrap
        resampling members and non-members separately).
    **options
        Passed to :func:`attack_scores` (``attacks, min_count, epsilons, seed, delta,
        max_queries, mechanism``).

    Returns
    -------
    pandas.DataFrame
        ``attack, protection, min_count, epsilon, label, tpr_at_fpr, tpr_ci_low, tpr_ci_high,
        fpr, auc, auc_ci_low, auc_ci_high, n_snps_released, n_members, n_nonmembers,
        n_splits``; one row per attack × protection.

    Examples
    --------
    >>> attack_power(data, min_count=20, epsilons=[1e3, 1e5], seed=1)  # doctest: +SKIP
      attack protection  ...  tpr_at_fpr  tpr_ci_low  tpr_ci_high  auc ...
    """
    if scores is None:
        if data is None:
            raise GenShareError("attack_power needs the split's genotypes or precomputed scores")
        scores = attack_scores(data, **options)
    table = scores
    rng = np.random.default_rng(ci_seed)
    rows = []
    for (attack, protection, label), part in _groups(table):
        splits = part.groupby("split", sort=False) if "split" in part else [(None, part)]
        tprs, aucs, tpr_reps, auc_reps, n_pos, n_neg, n_snps = [], [], [], [], [], [], []
        for _, one in splits:
            pos = one.loc[one["member"], "score"].to_numpy()
            neg = one.loc[~one["member"], "score"].to_numpy()
            tprs.append(power_at_fpr(pos, neg, fpr=fpr))
            aucs.append(roc_auc(pos, neg))
            t, a = bootstrap_power(pos, neg, fpr=fpr, n_boot=n_boot, rng=rng)
            tpr_reps.append(t)
            auc_reps.append(a)
            n_pos.append(len(pos))
            n_neg.append(len(neg))
            n_snps.append(int(one["n_snps_released"].iloc[0]))
        tpr_low, tpr_high = percentile_interval(np.mean(tpr_reps, axis=0), level=level)
        auc_low, auc_high = percentile_interval(np.mean(auc_reps, axis=0), level=level)
        rows.append(
            {
                "attack": attack,
                "protection": protection,
                "min_count": part["min_count"].iloc[0],
                "epsilon": part["epsilon"].iloc[0],
                "label": label,
                "tpr_at_fpr": float(np.mean(tprs)),
                "tpr_ci_low": tpr_low,
                "tpr_ci_high": tpr_high,
                "fpr": fpr,
                "auc": float(np.mean(aucs)),
                "auc_ci_low": auc_low,
                "auc_ci_high": auc_high,
                "n_snps_released": round(float(np.mean(n_snps))),
                "n_members": int(np.mean(n_pos)),
                "n_nonmembers": int(np.mean(n_neg)),
                "n_splits": len(tprs),
            }
        )
    out = pd.DataFrame(rows)
    if data is not None:
        out.attrs = {
            "n_variants": data.n_variants,
            "cohort": data.cohort_id,
            "population": data.split.population,
            "seed": data.split.seed,
        }
    return out


def roc_table(scores: pd.DataFrame) -> pd.DataFrame:
    """ROC curves of :func:`attack_scores`: ``attack, protection, label, threshold, fpr, tpr``.

    Examples
    --------
    >>> roc_plot(roc_table(attack_scores(data)))  # doctest: +SKIP
    """
    frames = []
    for (attack, protection, label), part in _groups(scores):
        curve = roc_curve(part.loc[part["member"], "score"], part.loc[~part["member"], "score"])
        frames.append(curve.assign(attack=attack, protection=protection, label=label))
    columns = ["attack", "protection", "label", "threshold", "fpr", "tpr"]
    return pd.concat(frames, ignore_index=True)[columns]


def utility_vs_epsilon(
    counts,
    epsilons: Sequence[float] = DEFAULT_EPSILONS,
    *,
    seed: int = 0,
    n_repeats: int = 3,
    min_count: int | None = 20,
    mechanism: str | None = None,
    service: str = "stats",
) -> pd.DataFrame:
    """Error in allele frequencies and genome-wide Hudson Fst under DP and suppression.

    For each pair of groups of ``counts``, against the exact values:

    - ``af_abs_error``: mean |AF_released - AF_exact| over the pair's released cells
      (variant × group, AN > 0 in both);
    - ``fst_abs_error``: |Fst_released - Fst_exact| of :func:`~genshare_widgets.stats.hudson_fst`.

    DP (``protection="dp"``): :func:`privatize_counts` of the whole counts Dataset at each
    epsilon, as ``service`` releases it (its counts and the group sizes,
    :data:`~genshare_widgets.disclosure._dp.SERVICE_COUNTS`) with ``mechanism`` (default
    :data:`~genshare_widgets.disclosure._dp.DEFAULT_MECHANISM`), ``n_repeats`` draws, errors
    averaged over draws. Suppression at k: released
    frequencies are exact (AF error 0); what is lost is the ``fraction_withheld`` cells, and
    Fst is computed only over variants whose AC, AN and REF cells are released in both groups.
    ``protection="none"`` gives the zero row. Under DP, ``fraction_withheld`` is the share of
    cells whose noisy AN was clamped to 0 (no frequency to show).

    Returns
    -------
    pandas.DataFrame
        ``protection, epsilon, min_count, pop1, pop2, fst_exact, fst_released, fst_abs_error,
        af_abs_error, fraction_withheld, n_variants, n_repeats``.

    Examples
    --------
    >>> utility_vs_epsilon(counts, [1e3, 1e5], seed=0, n_repeats=2)  # doctest: +SKIP
    """
    from itertools import combinations

    from genshare_widgets.disclosure._dp import SERVICE_COUNTS, privatize_counts
    from genshare_widgets.stats._hudson import frequencies, hudson_ratio_of_averages

    if n_repeats < 1:
        raise GenShareError(f"n_repeats must be >= 1 (got {n_repeats})")
    groups = [str(g) for g in counts["groups"].values]
    pairs = [tuple(sorted(p)) for p in combinations(groups, 2)]
    if not pairs:
        raise GenShareError("utility needs at least two groups (Fst is between pairs)")
    col = {g: i for i, g in enumerate(groups)}
    ac = np.asarray(counts["allele_count"].values, dtype=np.int64)
    an = np.asarray(counts["allele_number"].values, dtype=np.int64)
    af = frequencies(ac, an)
    exact_fst = {
        (a, b): hudson_ratio_of_averages(ac[:, col[a]], an[:, col[a]], ac[:, col[b]], an[:, col[b]])
        for a, b in pairs
    }

    def measure(rac, ran, shown) -> dict:
        raf = frequencies(rac, ran)
        out = {}
        for a, b in pairs:
            i, j = col[a], col[b]
            both = shown[:, i] & shown[:, j]
            fst, n = hudson_ratio_of_averages(
                rac[both, i], ran[both, i], rac[both, j], ran[both, j]
            )
            cells = np.concatenate([raf[:, i] - af[:, i], raf[:, j] - af[:, j]])
            cell_shown = np.concatenate([shown[:, i], shown[:, j]]) & ~np.isnan(cells)
            out[(a, b)] = {
                "fst_released": fst,
                "fst_abs_error": abs(fst - exact_fst[(a, b)][0]),
                "af_abs_error": float(np.abs(cells[cell_shown]).mean())
                if cell_shown.any()
                else float("nan"),
                "fraction_withheld": float(
                    1
                    - (shown[:, [i, j]] & (an[:, [i, j]] > 0)).sum()
                    / max(1, (an[:, [i, j]] > 0).sum())
                ),
                "n_variants": n,
            }
        return out

    def rows(protection, epsilon, k, draws: list[dict]) -> list[dict]:
        result = []
        for a, b in pairs:
            values = pd.DataFrame([d[(a, b)] for d in draws]).mean()
            result.append(
                {
                    "protection": protection,
                    "epsilon": epsilon,
                    "min_count": k,
                    "pop1": a,
                    "pop2": b,
                    "fst_exact": exact_fst[(a, b)][0],
                    **values.to_dict(),
                    "n_repeats": len(draws),
                }
            )
        return result

    table = rows("none", None, None, [measure(ac, an, an > 0)])
    if min_count is not None:
        shown = np.stack(
            [
                released_under_min_count(ac[:, g], an[:, g], min_count=min_count)
                for g in range(len(groups))
            ],
            axis=1,
        ) & (an > 0)
        table += rows("suppression", None, min_count, [measure(ac, an, shown)])
    rng = np.random.default_rng(seed)
    for eps in epsilons:
        draws = []
        for _ in range(n_repeats):
            noisy = privatize_counts(
                counts,
                epsilon=float(eps),
                rng=rng,
                variables=SERVICE_COUNTS[service],
                mechanism=mechanism,
            )
            nac = np.asarray(noisy["allele_count"].values, dtype=np.int64)
            nan_ = np.asarray(noisy["allele_number"].values, dtype=np.int64)
            draws.append(measure(nac, nan_, (nan_ > 0) & (an > 0)))
        table += rows("dp", float(eps), None, draws)
    out = pd.DataFrame(table)
    out["n_variants"] = out["n_variants"].round().astype(int)
    out["min_count"] = out["min_count"].astype("Int64")
    out["epsilon"] = out["epsilon"].astype(np.float64)
    return out
