"""`genshare figure`: build one figure from a source and export it, with a recipe sidecar.

The sidecar ``FILE.provenance.json`` records the kind, source, every option, the cohort's
identity (catalog and entry versions, store key, input file hashes), package versions and the
exact ``genshare figure ...`` command; ``genshare figure --from FILE.provenance.json`` rebuilds
the identical figure (same figure JSON, same HTML bytes). Figures hold no time stamps; the HTML
has a fixed div id and embeds plotly.js (and, for maps, the world outline), so it is
self-contained and byte-stable. Every file is written to a temporary name beside its target and
renamed into place only when complete.
"""

import hashlib
import json
import os
import re
import shlex
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from genshare_widgets._errors import GenShareError
from genshare_widgets._hashing import sha256_file

KINDS = (
    "pca",
    "fst",
    "fst-windows",
    "af-compare",
    "het",
    "sfs",
    "joint-sfs",
    "shared",
    "representation",
    "who-is-missing",
    "variant",
    "manhattan",
    "qq",
    "famous",
    "ld-decay",
    "ld-heatmap",
    # selection scans (genshare_widgets.scan_figures)
    "scan",
    "haplotype-spectrum",
    "projection",
)
#: Kinds drawn from an association (``--pheno``; no ``--by`` grouping).
ASSOCIATION_KINDS = ("manhattan", "qq")
FORMATS = ("png", "svg", "pdf", "html", "json")
EXPORT_TIMEOUT = 120.0  # s for one PNG/SVG/PDF export by kaleido (a few seconds is usual)
HTML_DIV_ID = "genshare-figure"
RECIPE_VERSION = 1
#: Export size (px) per kind; PNG is rendered at twice this for sharpness.
SIZES = {
    "pca": (900, 650),
    "fst": (760, 650),
    "fst-windows": (1000, 520),
    "af-compare": (760, 720),
    "het": (900, 560),
    "sfs": (900, 560),
    "joint-sfs": (780, 700),
    "shared": (1000, 560),
    "representation": (900, 560),
    "who-is-missing": (1000, 600),
    "variant": (1000, 720),
    "manhattan": (1100, 560),
    "qq": (760, 680),
    "famous": (1000, 640),
    "ld-decay": (900, 560),
    "ld-heatmap": (820, 760),
    "scan": (1100, 520),
    "haplotype-spectrum": (900, 560),
    "projection": (900, 650),
}
#: Every option of the command with its default: the recipe always records all of them.
DEFAULT_OPTIONS: dict[str, Any] = {
    "samples": None,
    "by": "population",
    "region": None,
    "min_maf": None,
    "snps_only": False,
    "groups": None,
    "variant": None,
    "pca_k": 4,
    "color_by": None,
    "dims": 2,
    "fst_window": 500_000,
    "folded": False,
    "min_samples": 20,
    "keep_groups": None,
    "min_count": None,
    "epsilon": None,
    "pheno": None,
    "covar": None,
    "pcs": 0,
    "binary": None,
    "ld_prune": None,
    "ld_max_kb": 100,
    # selection scans (--kind scan, haplotype-spectrum)
    "stat": None,
    "window": None,
    "step": None,
    "window_unit": "variants",
    "top": 5,
    "reference": None,
    "oadp": True,
    "threshold": 0.8,
}
_POSITION = re.compile(r"^[^:\s]+:[\d,]+$")
_ASSETS = Path(__file__).resolve().parent / "plots" / "_assets"


def _two_groups(options: Mapping[str, Any], kind: str) -> tuple[str, str]:
    groups = options.get("groups")
    names = [g.strip() for g in groups.split(",")] if groups else []
    if len(names) != 2 or not all(names):
        raise GenShareError(
            f"--kind {kind} needs --groups A,B (two groups of --by {options['by']}), got {groups!r}"
        )
    return names[0], names[1]


def check_options(kind: str, options: Mapping[str, Any]) -> None:
    """Refuse option combinations that cannot make the figure, naming the option."""
    if kind not in KINDS:
        raise GenShareError(f"--kind {kind!r} is not one of {', '.join(KINDS)}")
    if kind in ("af-compare", "joint-sfs"):
        _two_groups(options, kind)
    if kind in ASSOCIATION_KINDS and not options.get("pheno"):
        raise GenShareError(
            f"--kind {kind} needs --pheno COL (a numeric column of the sample table)"
        )
    if (options.get("pcs") or 0) < 0:
        raise GenShareError(f"--pcs must be 0 or more, not {options.get('pcs')}")
    if kind == "projection" and not options.get("reference"):
        raise GenShareError(
            "--kind projection needs --reference REF (a file `genshare reference` wrote, or a "
            "catalog id with one)"
        )
    if kind == "variant" and not options.get("variant"):
        raise GenShareError("--kind variant needs --variant CHR:POS or --variant rsID")
    if kind == "scan" and not (options.get("stat") and options.get("groups")):
        raise GenShareError("--kind scan needs --stat pbs|h12|ihs|xpehh and --groups")
    if kind == "haplotype-spectrum" and not (options.get("groups") and options.get("region")):
        raise GenShareError(
            "--kind haplotype-spectrum needs --groups A (one group) and --region CHR:START-END"
        )
    if options.get("dims") not in (2, 3):
        raise GenShareError(f"--dims must be 2 or 3, not {options.get('dims')}")
    if kind == "pca" and options["pca_k"] < options["dims"]:
        raise GenShareError(f"--pca-k {options['pca_k']} is smaller than --dims {options['dims']}")
    if kind == "ld-heatmap" and not options.get("region"):
        raise GenShareError(
            "--kind ld-heatmap needs --region CHR:START-END (a few hundred variants)"
        )
    if options.get("ld_prune") is not None:
        from genshare_widgets.ld import as_settings

        as_settings(options["ld_prune"])
    if options.get("fst_window") is not None and options["fst_window"] <= 0:
        raise GenShareError(
            f"--fst-window must be a positive number of bp, not {options['fst_window']}"
        )


def covariate_names(options: Mapping[str, Any]) -> list[str]:
    """``--covar C1,C2`` as a list (empty: none)."""
    value = options.get("covar")
    return [c.strip() for c in str(value).split(",") if c.strip()] if value else []


def kept_groups(options: Mapping[str, Any]) -> list[str] | None:
    """``--keep-groups A,B,C`` as a list (None: every group)."""
    value = options.get("keep_groups")
    if not value:
        return None
    names = [g.strip() for g in str(value).split(",") if g.strip()]
    return names or None


def build_figure(
    cohort,
    kind: str,
    options: Mapping[str, Any],
    *,
    counts=None,
    budget=None,
    association=None,
):
    """The figure of ``kind`` for ``cohort`` with the command's ``options`` (a plain dict).

    ``counts``: unfiltered counts of ``cohort`` for ``options``' grouping, region and SNP
    filter, when the caller already has them (the explorer); otherwise one genotype pass runs.
    ``--keep-groups`` and ``--min-maf`` are applied to them with
    :func:`~genshare_widgets.counts.select_groups`.

    Every aggregate goes through the disclosure policy of the cohort's access tier and the
    options ``min_count``/``epsilon`` (:func:`genshare_widgets.disclosure.policy_for`);
    ``budget`` is the privacy budget charged under an epsilon (default: the session's).

    ``manhattan`` and ``qq`` draw the released table of
    :func:`genshare_widgets.association.association` for ``options``' phenotype, covariates,
    PCs, model and variant filters (``association``: that result, when the caller already has
    it, as the explorer does).
    """
    from genshare_widgets import disclosure, plots
    from genshare_widgets._outputs import group_sizes as _group_sizes
    from genshare_widgets.counts import allele_counts_by_group, with_variant_ids
    from genshare_widgets.disclosure._publishing import ReleaseLog, min_difference
    from genshare_widgets.disclosure._release import release_group_sizes

    check_options(kind, options)
    from genshare_widgets.disclosure._gate import check_use

    check_use(cohort, f"a {kind} figure")  # the entry's terms (DUO modifiers, labels)
    if kind in ASSOCIATION_KINDS:
        return _association_figure(cohort, kind, options, result=association)
    if kind in ("scan", "haplotype-spectrum"):
        from genshare_widgets.scan_figures import scan_figure

        return scan_figure(cohort, kind, options, command=_release_command(cohort, kind, options))
    if kind == "projection":  # issue 19: the samples over a reference PCA's cloud
        from genshare_widgets._projection_views import projection_figure

        return projection_figure(cohort, options["reference"], options=options)
    by = options["by"]
    if by not in cohort.samples.columns:
        raise GenShareError(
            f"--by {by!r}: the cohort's sample table has columns {list(cohort.samples.columns)}"
        )
    policy = disclosure.policy_for(
        cohort.entry, min_count=options.get("min_count"), epsilon=options.get("epsilon")
    )
    policy_record = policy.to_dict()
    colors = plots.cohort_colors(cohort, by=by)
    if kind == "pca":
        return _pca_figure(cohort, options, policy=policy, policy_record=policy_record)
    if kind in ("ld-decay", "ld-heatmap"):
        from genshare_widgets._ld_figures import ld_figure

        return ld_figure(
            cohort,
            kind,
            options,
            policy=policy,
            policy_record=policy_record,
            keep_groups=kept_groups(options),
            command=_release_command(cohort, kind, options),
        )
    if kind == "representation":
        table = cohort.populations(by=by)
        keep = kept_groups(options)
        if keep is not None:
            table = table[table[by].astype(str).isin(keep)].reset_index(drop=True)
        prov = plots.figure_provenance(cohort, by=by, disclosure_policy=policy_record)
        prov["groups"] = release_group_sizes(_group_sizes(cohort, by), policy)
        return plots.representation_panel(
            table,
            min_samples=options["min_samples"],
            min_count=policy.min_count if policy.suppresses else None,
            colors=colors,
            provenance=prov,
        )
    if kind == "who-is-missing":
        return _who_is_missing_figure(cohort, options, policy=policy, policy_record=policy_record)
    if kind == "famous" or (kind == "variant" and _is_panel_rsid(options["variant"])):
        # the panel's sites only, released as famous_variants() releases them
        from genshare_widgets.famous import famous_card, famous_table, released_famous_counts

        released, build = released_famous_counts(
            cohort,
            by=by,
            min_count=options.get("min_count"),
            epsilon=options.get("epsilon"),
            budget=budget,
            counts=counts,
            command=_release_command(cohort, kind, options),
        )
        prov = plots.figure_provenance(cohort, released, disclosure_policy=policy_record)
        if kind == "variant":
            rsid = str(options["variant"]).strip()
            return famous_card(cohort, released, build, rsid, by=by, provenance=prov)
        return plots.famous_panel(famous_table(released, build=build), provenance=prov)
    from genshare_widgets.counts import select_groups

    if counts is None:
        counts = allele_counts_by_group(
            cohort, by=by, region=options["region"], snps_only=options["snps_only"]
        )
    # Under a policy the MAF filter runs on released values only (in the disclosure door).
    counts = select_groups(
        counts, groups=kept_groups(options), min_maf=None if policy.active else options["min_maf"]
    )
    log_sets = None
    if policy.active:  # rule 6: refuse a near-copy of a released group before releasing
        log_sets = _released_sets(cohort, by, counts, policy)
        ReleaseLog.for_cohort(cohort).check(
            log_sets, k=min_difference(policy), region=options["region"]
        )
    variant = str(options["variant"]).strip()
    by_position = bool(_POSITION.match(variant))
    if kind == "variant" and not by_position:
        counts = with_variant_ids(counts, cohort)
    released = disclosure.release_counts(
        counts,
        policy,
        budget=budget,
        min_maf=options["min_maf"] if policy.active else None,
        what=f"figure {kind} of {cohort.id} by {by}",
    )
    hidden = released.attrs.get("withheld_groups", {})
    if log_sets is not None:
        ReleaseLog.for_cohort(cohort).record(
            log_sets,
            k=min_difference(policy),
            command=_release_command(cohort, kind, options),
            region=options["region"],
        )
    for group in _two_groups(options, kind) if kind in ("af-compare", "joint-sfs") else ():
        if group in hidden:
            raise GenShareError(
                f"group {group!r} is withheld under this cohort's disclosure policy "
                f"({hidden[group]}; {policy.describe()}); choose another group"
            )
    view = disclosure.usable_counts(released)
    prov = plots.figure_provenance(cohort, released, disclosure_policy=policy_record)
    if kind == "fst":
        return plots.fst_heatmap(view, colors=colors, provenance=prov)
    if kind == "fst-windows":
        windows = disclosure.fst_windows(released, size=options["fst_window"])
        if windows.empty:
            raise GenShareError(f"--kind fst-windows needs at least two groups of --by {by}")
        prov = {**prov, "fst_window": options["fst_window"]}
        return plots.fst_windows_plot(windows, provenance=prov)
    if kind == "af-compare":
        a, b = _two_groups(options, kind)
        return plots.af_compare(view, a, b, colors=colors, provenance=prov)
    if kind == "het":
        return plots.heterozygosity_plot(
            disclosure.heterozygosity(released), colors=colors, provenance=prov
        )
    if kind == "sfs":
        return plots.sfs_plot(
            disclosure.sfs(released, folded=options["folded"]), colors=colors, provenance=prov
        )
    if kind == "joint-sfs":
        a, b = _two_groups(options, kind)
        return plots.joint_sfs_heatmap(released, a, b, folded=options["folded"], provenance=prov)
    if kind == "shared":
        return plots.shared_private_plot(
            disclosure.shared_private(released), colors=colors, provenance=prov
        )
    # variant
    populations = (
        cohort.entry.populations if cohort.entry is not None and by == "population" else None
    )
    return plots.variant_card(
        released,
        position=variant if by_position else None,
        rsid=None if by_position else variant,
        populations=populations,
        colors=colors,
        provenance=prov,
    )


def _is_panel_rsid(variant) -> bool:
    """Whether ``--variant`` names a variant of the famous-variants panel (its card draws
    the allele of interest and the published values)."""
    from genshare_widgets.catalog._famous import load_famous_panel

    return variant is not None and str(variant).strip() in load_famous_panel().rsids


def _who_is_missing_figure(cohort, options: Mapping[str, Any], *, policy, policy_record):
    """The cohort's samples per world region against UN WPP 2024 shares (who is missing).

    Samples are counted from the opened cohort's sample table (so withdrawn samples and a
    ``--samples`` table count as they are), per ``--by`` group, and released through the
    door: under a policy, a group with 1..k-1 samples is left out of every bar and only named
    as withheld (the region totals then never give its size away).
    """
    from genshare_widgets import plots
    from genshare_widgets._outputs import group_sizes
    from genshare_widgets.catalog._representation import populations_audit
    from genshare_widgets.disclosure._release import release_group_sizes

    by = options["by"]
    sizes = group_sizes(cohort, by)
    keep = kept_groups(options)
    if keep is not None:
        sizes = {g: n for g, n in sizes.items() if g in keep}
    released = release_group_sizes(sizes, policy)
    shown = {g: int(n) for g, n in released.items() if not isinstance(n, str)}
    withheld = sorted(g for g, n in released.items() if isinstance(n, str))
    sup: dict[str, str | None] = {}
    names: dict[str, str] = {}
    if cohort.entry is not None and by == "population":
        sup = {p.code: p.superpopulation for p in cohort.entry.populations}
        names = {p.code: p.name or "" for p in cohort.entry.populations}
    if "superpopulation" in cohort.samples.columns and by in cohort.samples.columns:
        table = cohort.samples[[by, "superpopulation"]].dropna()
        for group, first in table.groupby(by)["superpopulation"].first().items():
            sup.setdefault(str(group), str(first))
    audit = populations_audit(shown, superpopulations=sup, names=names, title=cohort.id)
    prov = plots.figure_provenance(cohort, by=by, disclosure_policy=policy_record)
    prov["groups"] = released
    return plots.who_is_missing_plot(
        audit, withheld=withheld, marker=policy.marker, provenance=prov
    )


def _released_sets(cohort, by: str, counts, policy) -> dict[str, list[str]]:
    """{group: sample ids} of the groups of ``counts`` the policy releases (not withheld),
    plus their union: what the release log records."""
    from genshare_widgets._outputs import group_sizes as _group_sizes
    from genshare_widgets.disclosure._publishing import group_sample_sets, with_union
    from genshare_widgets.disclosure._release import withheld_groups

    hidden = withheld_groups(_group_sizes(cohort, by), policy)
    groups = [str(g) for g in counts["groups"].values if str(g) not in hidden]
    return with_union(group_sample_sets(cohort.samples, by, groups))


def _release_command(cohort, kind: str, options: Mapping[str, Any]) -> str:
    """The ``genshare figure`` command of a release (without ``--out``), for the release log."""
    words = recipe_command(figure_source(cohort), kind, options, Path("OUT"))
    return words.removesuffix(" --out OUT")


def association_result(cohort, options: Mapping[str, Any], *, kind: str = "manhattan"):
    """The released association of ``options`` (``pheno``, ``covar``, ``pcs``, ``binary``,
    ``region``, ``min_maf``, ``snps_only``) under the cohort's policy and ``min_count``/
    ``epsilon``. Under an active policy the analysed sample set(s) are checked against the
    cohort's release log (rule 6) before the genotype pass and recorded after it, as
    ``genshare assoc`` does."""
    from genshare_widgets import disclosure
    from genshare_widgets.association import released_association

    policy = disclosure.policy_for(
        cohort.entry, min_count=options.get("min_count"), epsilon=options.get("epsilon")
    )
    return released_association(
        cohort,
        options["pheno"],
        command=_release_command(cohort, kind, options),
        covar=covariate_names(options),
        pcs=int(options["pcs"] or 0),
        binary=options["binary"],
        region=options["region"],
        min_maf=options["min_maf"],
        snps_only=bool(options["snps_only"]),
        policy=policy,
    )


def _association_figure(cohort, kind: str, options: Mapping[str, Any], *, result=None):
    """The Manhattan or QQ plot of the released association table (every number in it is
    the table's; λ is the table's P values' genomic-control λ)."""
    from genshare_widgets import plots

    if result is None:
        result = association_result(cohort, options, kind=kind)
    policy = result.policy
    prov = plots.figure_provenance(
        cohort,
        filters=result.filters,
        disclosure_policy=policy.to_dict() if policy is not None else None,
        extra={"association": result.provenance()},
    )
    builder = plots.manhattan_plot if kind == "manhattan" else plots.qq_plot
    return builder(result.table, trait=result.pheno, model=result.model, provenance=prov)


def _pca_figure(cohort, options: Mapping[str, Any], *, policy, policy_record):
    """The PCA figure: every sample (no policy), or group centroids (under a policy, rule 5)."""
    import dataclasses

    from genshare_widgets import plots
    from genshare_widgets.disclosure._publishing import (
        ReleaseLog,
        centroid_min_group,
        group_sample_sets,
        min_difference,
        with_union,
    )
    from genshare_widgets.samples import (
        check_pca_grouping,
        group_centroids,
        principal_components,
    )

    by = options["by"]
    color_by = options["color_by"]
    if color_by is not None and color_by not in cohort.samples.columns:
        raise GenShareError(
            f"--color-by {color_by!r}: the sample table has {list(cohort.samples.columns)}"
        )
    check_pca_grouping(cohort, by)
    if color_by is not None and color_by != by:
        check_pca_grouping(cohort, color_by)
    if policy.epsilon is not None:
        raise GenShareError(
            "--epsilon covers counts only: a PCA (even as group centroids) has no "
            "differentially private release here; drop --epsilon"
        )
    min_maf = 0.05 if options["min_maf"] is None else options["min_maf"]
    label = color_by or by
    log, sets = None, {}
    if policy.active:  # rule 6 before the genotype pass
        min_size = centroid_min_group(policy)
        keep = kept_groups(options)
        members = cohort.samples
        if keep is not None:
            members = members[members[by].astype(str).isin(keep)]
        sets = {
            g: ids for g, ids in group_sample_sets(members, label).items() if len(ids) >= min_size
        }
        log = ReleaseLog.for_cohort(cohort)
        log.check(with_union(sets), k=min_difference(policy), region=options["region"])
    result = principal_components(
        cohort,
        k=options["pca_k"],
        by=by,
        keep_groups=kept_groups(options),
        region=options["region"],
        snps_only=options["snps_only"],
        min_maf=min_maf,
        ld_prune=options.get("ld_prune"),
    )
    if not policy.active:
        prov = plots.figure_provenance(
            cohort,
            by=by,
            filters=result.filters,
            disclosure_policy=policy_record,
            extra={"pca": {"method": result.method}, "withheld_groups": {}},
        )
        return plots.pca_scatter(
            result,
            samples=cohort.samples,
            color_by=None if color_by == by else color_by,
            dims=options["dims"],
            colors=plots.cohort_colors(cohort, by=label),
            provenance=prov,
        )
    labels = cohort.samples[label].reindex(result.coordinates.index)
    centroids, too_small = group_centroids(
        result.coordinates.drop(columns=["group"], errors="ignore"),
        labels,
        min_size=centroid_min_group(policy),
    )
    result = dataclasses.replace(result, coordinates=result.coordinates.iloc[:0])  # none kept
    if centroids.empty:
        raise GenShareError(
            f"no group of --{'color-by' if color_by else 'by'} {label!r} has "
            f"{centroid_min_group(policy)} samples or more: under this cohort's disclosure "
            f"policy ({policy.describe()}) the PCA figure draws only centroids of such groups"
        )
    log = log if log is not None else ReleaseLog.for_cohort(cohort)
    log.record(
        with_union({g: ids for g, ids in sets.items() if g in set(centroids["group"])}),
        k=min_difference(policy),
        command=_release_command(cohort, "pca", options),
        region=options["region"],
    )
    withheld = {g: f"fewer than {centroid_min_group(policy)} samples" for g in too_small}
    prov = plots.figure_provenance(
        cohort,
        by=by,
        filters=result.filters,
        disclosure_policy=policy_record,
        extra={
            "pca": {"method": result.method, "shown": "group centroids (rule 5)"},
            "withheld_groups": withheld,
        },
    )
    prov["groups"] = {
        str(g): int(n) for g, n in zip(centroids["group"], centroids["n_samples"], strict=True)
    }
    return plots.pca_centroids(
        centroids,
        result.eigenvalues,
        n_variants=result.n_variants,
        legend=label,
        dims=options["dims"],
        colors=plots.cohort_colors(cohort, by=label),
        provenance=prov,
    )


def figure_json(fig) -> str:
    """The figure's JSON, compact and deterministic (standard-library encoder)."""
    import plotly.io as pio

    return pio.to_json(fig, validate=False, pretty=False, engine="json")


def figure_html(fig) -> str:
    """Self-contained, byte-stable HTML: plotly.js inline, a fixed div id, and for maps the
    world outline (``window.PlotlyGeoAssets``) so nothing is fetched when it is opened."""
    html = fig.to_html(
        include_plotlyjs=True,
        full_html=True,
        div_id=HTML_DIV_ID,
        config={"responsive": True, "displaylogo": False},
    )
    if any(getattr(trace, "type", "") == "scattergeo" for trace in fig.data):
        topo = (_ASSETS / "world_110m.json").read_text()
        assets = (
            "<script>window.PlotlyGeoAssets = window.PlotlyGeoAssets || {topojson: {}};"
            f"window.PlotlyGeoAssets.topojson['world_110m'] = {topo};</script>"
        )
        html = html.replace("<body>", "<body>\n" + assets, 1)
    return html


def _kaleido_scope():
    """plotly's kaleido scope, offline: no MathJax, the bundled world outline for maps."""
    import plotly.io as pio

    try:
        import kaleido  # noqa: F401
    except ImportError:
        raise GenShareError(
            'PNG/SVG/PDF export needs kaleido 0.2.1: pip install "genshare_widgets[lab]" '
            "(or write .html / .json)"
        ) from None
    scope = pio.kaleido.scope
    scope.mathjax = None
    scope.topojson = _ASSETS.as_uri() + "/"
    return scope


def figure_bytes(fig, fmt: str, *, kind: str) -> bytes:
    """The exported file's content in format ``fmt`` (one of :data:`FORMATS`)."""
    if fmt == "json":
        return figure_json(fig).encode()
    if fmt == "html":
        return figure_html(fig).encode()
    scope = _kaleido_scope()
    width, height = SIZES.get(kind, (900, 600))
    height = int(fig.layout.height or height)
    try:
        return _bounded_export(
            fig, scope, format=fmt, width=width, height=height, scale=2 if fmt == "png" else 1
        )
    except ValueError as exc:
        raise GenShareError(f"kaleido could not export the {fmt.upper()} ({exc})") from None


def _bounded_export(fig, scope, **image_options: Any) -> bytes:
    """``fig.to_image(**image_options)`` in a worker thread, stopped after
    :data:`EXPORT_TIMEOUT` s: kaleido's Chromium once hung for 600 s with no message. On
    timeout its process is killed (which ends the worker's read; the next export starts a
    new one) and the error says what to do."""
    import threading

    outcome: dict[str, Any] = {}

    def export() -> None:
        try:
            outcome["image"] = fig.to_image(**image_options)
        except BaseException as exc:  # handed to the caller's thread below
            outcome["error"] = exc

    worker = threading.Thread(target=export, name="genshare-kaleido", daemon=True)
    worker.start()
    worker.join(EXPORT_TIMEOUT)
    if worker.is_alive():
        process = getattr(scope, "_proc", None)  # kaleido 0.2.1's Chromium
        if process is not None and process.poll() is None:
            process.kill()  # not scope._shutdown_kaleido(): the hung export holds its lock
        fmt = str(image_options.get("format", "")).upper()
        raise GenShareError(
            f"kaleido did not finish the {fmt} export in {EXPORT_TIMEOUT:g} s and was stopped; "
            "try again, or write .html or .json (no kaleido needed) and save the image from "
            "the browser"
        )
    if "error" in outcome:
        raise outcome["error"]
    return outcome["image"]


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # not a context manager: the file must outlive the handle to be renamed into place
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115
        dir=path.parent, prefix=f".{path.name}.", suffix=".part", delete=False
    )
    try:
        with handle:
            handle.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(handle.name, 0o666 & ~umask)  # temp files are 0600; results are not secret
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


def output_format(out: Path) -> str:
    """The export format named by ``out``'s suffix, or a clear error."""
    fmt = out.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise GenShareError(
            f"--out {out}: unknown format {out.suffix or '(no suffix)'!r}; "
            f"use one of {', '.join('.' + f for f in FORMATS)}"
        )
    return fmt


def sidecar_path(out: Path) -> Path:
    """``fig.png`` → ``fig.png.provenance.json``."""
    return out.with_name(out.name + ".provenance.json")


def recipe_command(source: list[str], kind: str, options: Mapping[str, Any], out: Path) -> str:
    """The exact ``genshare figure`` command line for a recipe (options that differ from the
    defaults, in a fixed order)."""
    words = ["genshare", "figure", *source, "--kind", kind]
    for key, default in DEFAULT_OPTIONS.items():
        value = options.get(key, default)
        if value == default:
            continue
        flag = "--" + key.replace("_", "-")
        if key == "binary":  # three states: None (from the values), --binary, --quantitative
            words.append("--binary" if value else "--quantitative")
        elif isinstance(value, bool):
            words.append(flag)
        else:
            words += [flag, str(value)]
    words += ["--out", str(out)]
    return shlex.join(words)


def run_figure(
    source: list[str],
    *,
    kind: str,
    out: Path,
    options: Mapping[str, Any],
    withdrawn: list[str] | None = None,
    since: Mapping[str, Any] | None = None,
) -> dict[str, Path]:
    """Open ``source``, build the figure, write ``out`` and its sidecar; → {role: path}.

    ``withdrawn``: withdrawal list files added to the entry's (and ``$GENSHARE_WITHDRAWN``'s);
    ``since``: what a rebuild from a recipe says about samples withdrawn since (recorded)."""
    from genshare_widgets.cohort import open_cohort

    out = Path(out)
    output_format(out)  # refuse an unknown extension before any work
    opts = {**DEFAULT_OPTIONS, **{k: v for k, v in options.items() if k in DEFAULT_OPTIONS}}
    check_options(kind, opts)
    src: str | list[str] = source[0] if len(source) == 1 else list(source)
    cohort = open_cohort(src, samples=opts["samples"], withdrawn=withdrawn)
    from genshare_widgets.disclosure._modifiers import check_export

    check_export(cohort, what=f"the figure {out}")  # MOR, before any work
    budget = None
    if opts["epsilon"] is not None:
        from genshare_widgets.disclosure._policy import cohort_budget

        budget = cohort_budget(cohort)
    fig = build_figure(cohort, kind, opts, budget=budget)
    return export_figure(
        fig, cohort, source=list(source), kind=kind, out=out, options=opts, since=since
    )


def export_figure(
    fig,
    cohort,
    *,
    source: list[str],
    kind: str,
    out: Path,
    options: Mapping[str, Any],
    since: Mapping[str, Any] | None = None,
) -> dict[str, Path]:
    """Write ``fig`` (built by :func:`build_figure` with ``options``) to ``out`` and its recipe
    sidecar; → {"figure": path, "provenance": path}. Used by the CLI and the export widget."""
    from genshare_widgets._outputs import package_versions
    from genshare_widgets.disclosure._modifiers import (
        check_export,
        data_use_record,
        return_to,
        write_return_manifest,
    )

    out = Path(out)
    check_export(cohort, what=f"the figure {out}")  # MOR: viewing yes, writing to disk no
    fmt = output_format(out)
    opts = with_sample_table(
        cohort, {**DEFAULT_OPTIONS, **{k: v for k, v in options.items() if k in DEFAULT_OPTIONS}}
    )
    content = figure_bytes(fig, fmt, kind=kind)
    prov = cohort.provenance
    samples_hash = sha256_file(Path(opts["samples"])) if opts["samples"] else None
    recipe = {
        "recipe_version": RECIPE_VERSION,
        "kind": kind,
        "source": list(source),
        "options": opts,
        "output": out.name,
        "format": fmt,
        "command": recipe_command(list(source), kind, opts, out),
        "cohort": {
            "id": cohort.id,
            "catalog_version": prov.get("catalog_version"),
            "entry_version": prov.get("entry_version"),
            "store_key": prov.get("store_key"),
            "store_content_sha256": prov.get("store_content_sha256"),
            "files": prov.get("files"),
            "samples_sha256": samples_hash,
        },
        "figure_json_sha256": hashlib.sha256(figure_json(fig).encode()).hexdigest(),
        "package_versions": {**package_versions(), **_plot_versions()},
    }
    data_use = data_use_record(prov.get("access"))
    if data_use is not None:  # obligations, labels, warnings travel with the figure
        recipe["data_use"] = data_use
    back = return_to(prov.get("access"))
    if back is not None:
        recipe["return_to"] = back
    withdrawals = getattr(cohort, "withdrawals", None)
    if withdrawals is not None:  # list versions, hashes and counts; the ids never
        cohort_record: dict[str, Any] = recipe["cohort"]  # type: ignore[assignment]
        cohort_record["withdrawals"] = {
            **withdrawals.record(),
            # the --withdrawn files, re-read by --from (a list only ever grows)
            "withdrawn_files": [w.path for w in withdrawals.lists if w.origin != "catalog"],
        }
    if since is not None:
        recipe["withdrawals_since_recipe"] = dict(since)
    atomic_write(out, content)
    side = sidecar_path(out)
    written = {"figure": out, "provenance": side}
    try:
        atomic_write(side, (json.dumps(recipe, indent=2, default=str) + "\n").encode())
        if back is not None:  # RTN: FIGURE.RETURN.md lists the figure and its recipe
            record = {**recipe, "cohort_id": cohort.id, "access": prov.get("access")}
            record["entry_version"] = prov.get("entry_version")
            target = out.with_name(out.name + ".RETURN.md")
            if write_return_manifest(target, record, [out, side]) is not None:
                written["return"] = target
    except BaseException:
        out.unlink(missing_ok=True)  # a figure without its recipe is half a result
        side.unlink(missing_ok=True)
        raise
    return written


def _plot_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("plotly", "kaleido"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def withdrawals_since(then: Mapping[str, Any] | None, cohort) -> dict[str, Any]:
    """How many samples were withdrawn since a recipe (its ``cohort.withdrawals`` record,
    None for a recipe made before any list) given the cohort opened now."""
    then = dict(then or {})
    now = cohort.withdrawals.record() if getattr(cohort, "withdrawals", None) else {}
    n_then, n_now = int(then.get("n_withdrawn", 0)), int(now.get("n_withdrawn", 0))

    def versions(record: Mapping[str, Any]) -> list[Any]:
        return [(w.get("file"), w.get("version"), w.get("sha256")) for w in record.get("lists", [])]

    return {
        "n_withdrawn_then": n_then,
        "n_withdrawn_now": n_now,
        "n_left_since_recipe": n_now - n_then,
        "lists_then": versions(then),
        "lists_now": versions(now),
    }


def run_from_recipe(recipe_path: Path, *, out: Path | None = None, report=None) -> dict[str, Path]:
    """Rebuild the figure of a sidecar; refuses when the source data changed.

    Withdrawals are the one change a rebuild follows rather than refuses: the rebuilt figure
    leaves out every sample withdrawn now (the entry's current list, the recipe's
    ``--withdrawn`` files read again), and ``report`` (default: a
    :class:`~genshare_widgets._errors.GenShareWarning`) says how many samples left since the
    recipe; the new sidecar records it in ``withdrawals_since_recipe``.
    """
    from genshare_widgets.cohort import open_cohort

    recipe_path = Path(recipe_path)
    try:
        recipe = json.loads(recipe_path.read_text())
    except json.JSONDecodeError as exc:
        raise GenShareError(
            f"--from {recipe_path}: line {exc.lineno}: not valid JSON ({exc.msg}); give the "
            "FILE.provenance.json written beside a figure"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise GenShareError(
            f"--from {recipe_path}: not a readable recipe ({exc}); give the "
            "FILE.provenance.json written beside a figure"
        ) from None
    if not isinstance(recipe, dict):
        raise GenShareError(
            f"--from {recipe_path}: a recipe is a JSON object, not a JSON "
            f"{_json_kind(recipe)}; give the FILE.provenance.json written beside a figure"
        )
    missing = {"kind", "source", "options", "output", "cohort"} - set(recipe)
    if missing or recipe.get("recipe_version") != RECIPE_VERSION:
        raise GenShareError(
            f"--from {recipe_path}: not a genshare figure recipe (missing {sorted(missing)} or "
            f"recipe_version {recipe.get('recipe_version')!r} ≠ {RECIPE_VERSION}); give the "
            "FILE.provenance.json written beside a figure"
        )
    shapes = {"options": dict, "cohort": dict, "source": list, "kind": str, "output": str}
    for key, kind in shapes.items():
        if not isinstance(recipe[key], kind):
            raise GenShareError(
                f"--from {recipe_path}: field {key!r} is a JSON {_json_kind(recipe[key])}, not "
                f"a JSON {_json_kind(kind())}; the recipe was edited: draw the figure again"
            )
    options = recipe["options"]
    if "samples" not in options:  # null when the catalog's table was used; never absent
        raise GenShareError(
            f"--from {recipe_path}: field options.samples is missing (recipes record the "
            "sample table, null for the catalog's); the recipe was edited: draw the figure again"
        )
    target = Path(out) if out is not None else recipe_path.parent / recipe["output"]
    if options.get("epsilon") is not None:
        raise GenShareError(
            f"--from {recipe_path}: a differentially private figure cannot be rebuilt "
            "identically: its noise was drawn once, and drawing again would spend the privacy "
            "budget again (and averaging draws weakens the guarantee)"
        )
    if options.get("samples"):
        samples = Path(options["samples"])
        if not samples.is_file():
            raise GenShareError(f"--from: the recipe's sample table {samples} is missing")
        if sha256_file(samples) != recipe["cohort"].get("samples_sha256"):
            raise GenShareError(f"--from: the sample table {samples} changed since the figure")
    source = recipe["source"]
    then = recipe["cohort"].get("withdrawals")
    if then is not None and not isinstance(then, dict):
        raise GenShareError(
            f"--from {recipe_path}: field cohort.withdrawals is a JSON {_json_kind(then)}, not "
            "a JSON object; the recipe was edited: draw the figure again"
        )
    withdrawn = [str(p) for p in (then or {}).get("withdrawn_files", [])]
    cohort = open_cohort(
        source[0] if len(source) == 1 else source,
        samples=options["samples"],
        withdrawn=withdrawn or None,
    )
    recorded = [(f["name"], f["sha256"]) for f in recipe["cohort"].get("files") or []]
    now = [(f["name"], f["sha256"]) for f in cohort.provenance.get("files") or []]
    if recorded != now:
        raise GenShareError(
            f"--from: the source data of {recipe['cohort']['id']!r} changed since the figure "
            f"(recorded files {recorded}, now {now}); the figure cannot be reproduced"
        )
    _check_store_content(recipe_path, recipe["cohort"], cohort)
    since = withdrawals_since(then, cohort)
    if (
        since["n_withdrawn_now"] != since["n_withdrawn_then"]
        or since["lists_now"] != since["lists_then"]
    ):
        message = (
            f"--from {recipe_path}: {since['n_left_since_recipe']} sample(s) withdrawn since the "
            f"recipe ({since['n_withdrawn_then']} then, {since['n_withdrawn_now']} now); the "
            "figure is rebuilt without them, so it differs from the recorded one"
        )
        if report is None:
            import warnings

            from genshare_widgets._errors import GenShareWarning

            warnings.warn(message, GenShareWarning, stacklevel=2)
        else:
            report(message)
    return run_figure(
        source,
        kind=recipe["kind"],
        out=target,
        options=options,
        withdrawn=withdrawn or None,
        since=since,
    )


def _check_store_content(recipe_path: Path, recorded: Mapping[str, Any], cohort) -> None:
    """Refuse a recipe whose store content hash differs from the store's now: the data behind
    the figure changed (a rebuilt or edited store, another store at the same URL). Recipes
    written before content hashes (no field) are compared by their files only."""
    if "store_content_sha256" not in recorded:
        return
    then = recorded["store_content_sha256"]
    now = cohort.provenance.get("store_content_sha256")
    if then != now:
        store = cohort.provenance.get("store")
        raise GenShareError(
            f"--from {recipe_path}: the data of {recorded.get('id')!r} changed since the figure: "
            f"store {store} has content sha256 {now}, the recipe recorded {then}; the figure "
            "cannot be reproduced from this data. Restore the data the figure was drawn from, "
            "or draw the figure again from the current data (the recipe's 'command')."
        )


def _json_kind(value: Any) -> str:
    """The JSON name of a parsed value's type (for messages)."""
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def _options(options: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(options) - set(DEFAULT_OPTIONS))
    if unknown:
        raise GenShareError(
            f"unknown figure option(s) {unknown}; the options are {sorted(DEFAULT_OPTIONS)} "
            "(those of `genshare figure`, with _ for -)"
        )
    return {**DEFAULT_OPTIONS, **options}


def figure(cohort, kind: str, **options: Any):
    """The figure ``genshare figure SOURCE --kind KIND [options]`` draws, for an opened cohort.

    ``options`` are the command's options with ``_`` for ``-`` (``by``, ``region``,
    ``min_maf``, ``groups="CEU,YRI"``, ``variant``, ``keep_groups``, ``min_count``,
    ``epsilon``; for ``manhattan``/``qq``: ``pheno``, ``covar="C1,C2"``, ``pcs``,
    ``binary``...). The cohort's disclosure policy applies as on the command line.

    Examples
    --------
    >>> fig = figure(open_cohort("sim-ooa"), "fst", region="1")  # doctest: +SKIP
    """
    return build_figure(cohort, kind, _options(options))


def figure_command(cohort, kind: str, *, out: str | Path = "figure.png", **options: Any) -> str:
    """The ``genshare figure`` command that draws :func:`figure`'s figure into ``out`` (the
    "reproduce this figure" line of a notebook).

    Examples
    --------
    >>> figure_command(open_cohort("sim-ooa"), "pca", out="pca.png")  # doctest: +SKIP
    'genshare figure sim-ooa --kind pca --out pca.png'
    """
    opts = with_sample_table(cohort, _options(options))
    check_options(kind, opts)
    return recipe_command(figure_source(cohort), kind, opts, Path(out))


def with_sample_table(cohort, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` with ``samples`` set to the ``--samples`` table the cohort was opened with
    (``open_cohort(..., samples=)``) when the options name none: a recipe or a "reproduce"
    command then analyses the same samples, not the whole cohort."""
    table = cohort.provenance.get("samples_table")
    if options.get("samples") is None and table is not None:
        return {**options, "samples": str(table)}
    return options


def figure_source(cohort) -> list[str]:
    """The SOURCE words of ``genshare figure`` for an opened cohort: its catalog id, or the
    path(s) or URL it was opened from."""
    src = cohort.provenance.get("source")
    return [str(s) for s in src] if isinstance(src, list) else [str(src)]
