"""Ancestry assignment from projected PCs: a classifier trained on a reference's own samples.

The reference file (:class:`~genshare_widgets._pca_reference.PCAReference`, open-tier
references only) stores its samples' PCs — exactly what projecting them gives — and labels
(population, super-population, the ``--by`` column). :func:`assign_ancestry` trains a
scikit-learn classifier on them (PCs standardised, then quadratic discriminant analysis
with a small covariance regulariser: one Gaussian per group in PC space, which gives
calibrated-looking probabilities on clusters of this shape; deterministic) and gives each projected
sample the most probable group and its probability; below ``threshold`` (default 0.8) the
sample is ``"unassigned"``.

What it can and cannot say: the probability is that of the reference's groups given where
the sample falls in the reference's PC space — a person whose ancestry is not among the
reference's groups (or is admixed, as many in the 1000 Genomes AMR populations) is still
placed among them; "unassigned" is the honest answer for such points. Probabilities alone do
not give it: a point far from every group still has one most probable group (QDA's widest
Gaussian wins far away; South Asian samples projected on an AFR/EUR/EAS reference came out
"AFR" with p ≥ 0.8). So a sample is also ``"unassigned"`` when it lies **outside the
reference**: its squared Mahalanobis distance to the chosen group's Gaussian (the model's
own, regularised covariance) exceeds the χ² quantile ``outlier_level`` (default 0.999) with
k degrees of freedom — what a sample of that group exceeds once in a thousand.
"""

from typing import Any

import numpy as np
import pandas as pd

from genshare_widgets._errors import GenShareError

DEFAULT_THRESHOLD = 0.8
DEFAULT_OUTLIER_LEVEL = 0.999  # χ² quantile of a group's Mahalanobis distance: "outside"
UNASSIGNED = "unassigned"
REG = 0.01  # QDA covariance regulariser (on standardised PCs)


def _label_column(reference, label: str | None) -> str:
    labels = (reference.samples or {}).get("labels", {})
    if not labels:
        raise GenShareError(
            "this PCA reference stores no labelled samples (references of non-open data, or "
            "fitted with keep_samples=False); assignment needs an open-tier reference with "
            "its samples' PCs and labels"
        )
    if label is None:
        for name in ("superpopulation", "population", *labels):
            if name in labels:
                return name
    if label not in labels:
        raise GenShareError(
            f"the PCA reference has no sample label {label!r}; it has {sorted(labels)}"
        )
    return str(label)


def train_classifier(pcs: np.ndarray, labels: np.ndarray, *, seed: int = 0):
    """The classifier :func:`assign_ancestry` uses, fitted on ``pcs`` (n × k) and ``labels``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = np.r_[rng.normal(0, 0.1, (20, 2)), rng.normal(1, 0.1, (20, 2))]
    >>> model = train_classifier(x, np.array(["A"] * 20 + ["B"] * 20))
    >>> model.predict([[1.0, 1.0]]).tolist()
    ['B']
    """
    from sklearn.discriminant_analysis import QuadraticDiscriminantAnalysis
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    del seed  # QDA is deterministic; kept so another model can be swapped in seeded
    # PCs standardised first: the regulariser adds REG to each group's (unit-scale) variances
    model = make_pipeline(StandardScaler(), QuadraticDiscriminantAnalysis(reg_param=REG))
    model.fit(np.asarray(pcs, dtype=np.float64), np.asarray(labels).astype(str))
    return model


def assign_ancestry(
    coordinates: pd.DataFrame,
    reference,
    *,
    label: str | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    outlier_level: float | None = DEFAULT_OUTLIER_LEVEL,
) -> pd.DataFrame:
    """Assign projected samples to the reference's groups of ``label`` (default:
    super-population, else population).

    ``coordinates``: projected ``PC1..PCk`` per sample (e.g. ``project(...).coordinates``).
    Returns ``assigned_group`` (``"unassigned"`` below ``threshold`` or outside the
    reference), ``probability`` (of the most probable group), ``mahalanobis_d2`` (to that
    group's Gaussian), ``outside_reference`` (``d2`` above the χ² quantile, k degrees of freedom,
    ``outlier_level``; ``outlier_level=None`` checks nothing) and ``p_<group>`` per group;
    ``attrs["model"]`` describes the classifier.

    Examples
    --------
    >>> table = assign_ancestry(result.coordinates, ref, threshold=0.8)  # doctest: +SKIP
    """
    if not 0 < threshold <= 1:
        raise GenShareError(f"the assignment threshold is a probability in (0, 1]; got {threshold}")
    if outlier_level is not None and not 0 < outlier_level < 1:
        raise GenShareError(f"outlier_level is a probability in (0, 1); got {outlier_level}")
    column = _label_column(reference, label)
    train = reference.sample_pcs
    pcs = [f"PC{i + 1}" for i in range(reference.k)]
    y = train[column].astype(str).to_numpy()
    use = y != ""
    groups, sizes = np.unique(y[use], return_counts=True)
    small = groups[sizes < reference.k + 2]
    use &= ~np.isin(y, small)  # a Gaussian per group needs more samples than dimensions
    if len(np.unique(y[use])) < 2:
        raise GenShareError(f"assignment needs at least two groups of {column!r} in the reference")
    model = train_classifier(train.loc[use, pcs].to_numpy(), y[use])
    x = coordinates[pcs].to_numpy(np.float64)
    proba = model.predict_proba(x)
    best = proba.argmax(axis=1)
    top = proba[np.arange(len(x)), best]
    names = np.asarray(model.classes_).astype(str)
    d2 = group_distances(model, x, best)
    outside = np.zeros(len(x), dtype=bool)
    if outlier_level is not None:
        from scipy.stats import chi2

        outside = d2 > chi2.ppf(outlier_level, df=len(pcs))
    assigned = np.where((top >= threshold) & ~outside, names[best], UNASSIGNED)
    table = pd.DataFrame(
        {
            "assigned_group": assigned,
            "probability": top,
            "mahalanobis_d2": d2,
            "outside_reference": outside,
        },
        index=coordinates.index,
    )
    for j, name in enumerate(names):
        table[f"p_{name}"] = proba[:, j]
    model_info: dict[str, Any] = {
        "classifier": f"sklearn StandardScaler + QuadraticDiscriminantAnalysis(reg_param={REG})",
        "label": column,
        "threshold": float(threshold),
        "outlier_level": None if outlier_level is None else float(outlier_level),
        "n_outside_reference": int(outside.sum()),
        "groups": names.tolist(),
        "groups_left_out_too_small": small.tolist(),
        "n_training_samples": int(use.sum()),
    }
    table.attrs["model"] = model_info
    return table


def group_distances(model, x: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Squared Mahalanobis distance of each row of ``x`` to the Gaussian of its group
    (``groups``: class indices) in a :func:`train_classifier` model: the standardised point
    rotated into the group's principal axes, each axis divided by its regularised variance —
    the distance the model's own likelihood uses."""
    scaler, qda = model[0], model[-1]
    z = scaler.transform(np.asarray(x, dtype=np.float64))
    d2 = np.zeros(len(z))
    for j in np.unique(groups):
        rows = groups == j
        centred = (z[rows] - qda.means_[j]) @ qda.rotations_[j]
        d2[rows] = (centred**2 / qda.scalings_[j]).sum(axis=1)
    return d2
