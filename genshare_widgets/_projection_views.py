"""The projection figure of a cohort (``genshare figure --kind projection --reference REF``,
the explorer's projection tab): project, assign when the reference has labelled samples, and
draw the samples over the reference cloud (:func:`~genshare_widgets.plots.projection_scatter`).
"""

from collections.abc import Mapping
from typing import Any


def projection_figure(cohort, reference, *, options: Mapping[str, Any] | None = None):
    """The projection figure of ``cohort`` onto ``reference`` (a file, catalog id or
    :class:`~genshare_widgets._pca_reference.PCAReference`): samples coloured by their
    assigned super-population when the reference stores labelled samples, the reference's
    samples grey behind them. Refused like :func:`~genshare_widgets.projection.project`
    (consent; per-person output under a disclosure policy).

    Examples
    --------
    >>> fig = projection_figure(open_cohort("my.vcf.gz"), "1kg-ref.json")  # doctest: +SKIP
    """
    from genshare_widgets import plots
    from genshare_widgets.projection import load_reference, project

    options = dict(options or {})
    ref = load_reference(reference)
    stored = ref.sample_pcs
    labelled = stored is not None
    result = project(
        cohort,
        ref,
        oadp=bool(options.get("oadp", True)),
        assign=labelled,
        threshold=float(options.get("threshold", 0.8)),
        min_matched=float(options.get("min_matched", 0.5)),
    )
    prov = plots.figure_provenance(cohort, by=None)
    prov["projection"] = {"reference_sha256": ref.sha256, "matching": result.report}
    color = options.get("color_by") or "superpopulation"
    reference_color = color if stored is not None and color in stored.columns else None
    return plots.projection_scatter(
        result.coordinates,
        stored,
        color_by="assigned_group",
        reference_color_by=reference_color,
        provenance=prov,
    )
