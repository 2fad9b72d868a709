"""ROC curves and power of a membership test: members are positives, non-members negatives.

A person is flagged "member" when their score is >= a threshold. The curve has one point per
distinct score (plus the all-negative start (0, 0)); a NaN score is never flagged.
"""

import numpy as np
import pandas as pd

from genshare_widgets._errors import GenShareError


def _scores(values, what: str) -> np.ndarray:
    s = np.asarray(values, dtype=np.float64).ravel()
    if not len(s):
        raise GenShareError(f"no {what} scores")
    return np.where(np.isnan(s), -np.inf, s)


def roc_curve(member_scores, nonmember_scores) -> pd.DataFrame:
    """The ROC curve of a membership test: ``threshold, fpr, tpr`` from (0, 0) to (1, 1).

    Rows go by decreasing threshold; ``fpr`` is the fraction of non-members, ``tpr`` of
    members, with score >= threshold (the first row has threshold +inf).

    Examples
    --------
    >>> roc_curve([3.0, 2.0], [1.0, 2.0])[["fpr", "tpr"]].values.tolist()
    [[0.0, 0.0], [0.0, 0.5], [0.5, 1.0], [1.0, 1.0]]
    """
    pos, neg = _scores(member_scores, "member"), _scores(nonmember_scores, "non-member")
    thresholds = np.unique(np.concatenate([pos, neg]))[::-1]
    thresholds = thresholds[np.isfinite(thresholds)]
    pos_sorted, neg_sorted = np.sort(pos), np.sort(neg)
    tp = len(pos) - np.searchsorted(pos_sorted, thresholds, side="left")
    fp = len(neg) - np.searchsorted(neg_sorted, thresholds, side="left")
    table = pd.DataFrame(
        {
            "threshold": np.concatenate([[np.inf], thresholds, [-np.inf]]),
            "fpr": np.concatenate([[0.0], fp / len(neg), [1.0]]),
            "tpr": np.concatenate([[0.0], tp / len(pos), [1.0]]),
        }
    )
    return table.drop_duplicates(subset=["fpr", "tpr"], keep="first", ignore_index=True)


def roc_auc(member_scores, nonmember_scores) -> float:
    """Area under the ROC curve: P(member score > non-member score) + P(tie) / 2.

    Examples
    --------
    >>> roc_auc([3.0, 2.0], [1.0, 2.0])
    0.875
    """
    curve = roc_curve(member_scores, nonmember_scores)
    return float(np.trapezoid(curve["tpr"], curve["fpr"]))


def power_at_fpr(member_scores, nonmember_scores, *, fpr: float = 0.05) -> float:
    """True-positive rate at the lowest threshold whose false-positive rate is <= ``fpr``.

    The threshold is set on the non-members (no more than ``fpr`` of them flagged); the power
    is the fraction of members flagged at it.

    Examples
    --------
    >>> power_at_fpr([3.0, 2.0, 0.5], [1.0, 0.0], fpr=0.05)
    0.6666666666666666
    """
    if not 0 <= fpr <= 1:
        raise GenShareError(f"fpr must be between 0 and 1 (got {fpr})")
    curve = roc_curve(member_scores, nonmember_scores)
    return float(curve.loc[curve["fpr"] <= fpr + 1e-12, "tpr"].max())


def bootstrap_power(
    member_scores,
    nonmember_scores,
    *,
    fpr: float = 0.05,
    n_boot: int = 1000,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap replicates of (:func:`power_at_fpr`, :func:`roc_auc`): members and
    non-members resampled with replacement, separately (a stratified bootstrap).

    The threshold is re-set on each replicate's non-members, as the attacker would. Percentiles
    of the replicates give confidence intervals (:func:`percentile_interval`).

    Examples
    --------
    >>> tpr, auc = bootstrap_power([3.0, 2.0], [1.0, 0.0], n_boot=50,
    ...                            rng=np.random.default_rng(0))
    >>> tpr.shape, float(auc.min())
    ((50,), 1.0)
    """
    if not 0 <= fpr <= 1:
        raise GenShareError(f"fpr must be between 0 and 1 (got {fpr})")
    pos, neg = _scores(member_scores, "member"), _scores(nonmember_scores, "non-member")
    pos_b = pos[rng.integers(0, len(pos), size=(n_boot, len(pos)))]
    neg_b = np.sort(neg[rng.integers(0, len(neg), size=(n_boot, len(neg)))], axis=1)[:, ::-1]
    allowed = int(np.floor(fpr * len(neg) + 1e-9))  # non-members a threshold may flag
    if allowed >= len(neg):
        tpr = np.ones(n_boot)
    else:
        # the lowest threshold flagging at most `allowed` non-members lies just above the
        # (allowed + 1)-th highest non-member score: members strictly above it are flagged
        cut = neg_b[:, allowed][:, None]
        tpr = (pos_b > cut).mean(axis=1)
    greater = (pos_b[:, :, None] > neg_b[:, None, :]).mean(axis=(1, 2))
    ties = (pos_b[:, :, None] == neg_b[:, None, :]).mean(axis=(1, 2))
    return tpr, greater + ties / 2


def percentile_interval(replicates, *, level: float = 0.95) -> tuple[float, float]:
    """The percentile bootstrap interval of ``replicates`` at ``level``.

    Examples
    --------
    >>> tuple(round(x, 9) for x in percentile_interval(np.arange(101.0)))
    (2.5, 97.5)
    """
    values = np.asarray(replicates, dtype=np.float64)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)
