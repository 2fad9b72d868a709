"""Who is in the data: samples per group, flagging groups too small for stable estimates."""

from collections.abc import Mapping
from typing import Any

import numpy as np

from genshare_widgets._errors import GenShareError
from genshare_widgets.plots._colors import group_colors
from genshare_widgets.plots._provenance import stamp
from genshare_widgets.plots._style import apply_style

MIN_SAMPLES = 20


def _sample_counts(data) -> tuple[list[str], np.ndarray, dict[str, str]]:
    """(groups, samples per group, group → description) from counts or a populations table."""
    if hasattr(data, "data_vars"):
        groups = [str(g) for g in data["groups"].values]
        return groups, np.asarray(data["group_n_samples"].values, dtype=np.int64), {}
    if "n_samples" not in getattr(data, "columns", []):
        raise GenShareError(
            "representation_panel needs the counts Dataset or a table with an n_samples column "
            "(e.g. cohort.populations())"
        )
    key = next(c for c in data.columns if c not in ("name", "superpopulation"))
    groups = [str(g) for g in data[key]]
    names = {}
    if "name" in data.columns:
        names = {
            str(g): str(n)
            for g, n in zip(data[key], data["name"], strict=True)
            if isinstance(n, str)
        }
    return groups, data["n_samples"].to_numpy(dtype=np.int64), names


def representation_panel(
    data,
    *,
    min_samples: int = MIN_SAMPLES,
    min_count: int | None = None,
    colors: Mapping[str, str] | None = None,
    provenance: Mapping[str, Any] | None = None,
    title: str | None = None,
):
    """Samples per group as horizontal bars; groups below ``min_samples`` are flagged.

    A flagged group is drawn hatched, labelled "n < threshold" and explained in its hover
    text: with n samples the standard error of an allele frequency can reach
    0.5 / sqrt(2n) (at frequency 0.5), so frequencies, Fst and heterozygosity of small groups
    are imprecise. A dashed line marks the threshold.

    Parameters
    ----------
    data
        The counts Dataset (``group_n_samples``) or a table with a group column and
        ``n_samples`` (``cohort.populations()``, whose ``name`` column goes into hover).
    min_count
        The disclosure policy's minimum cell count k: a group with 1..k-1 samples is drawn
        without a bar and labelled ``<k`` (its size, its standard error and the cohort total
        are not shown).
    min_samples
        Threshold for stable estimates (default 20).
    colors, provenance, title
        As for every builder.

    Examples
    --------
    >>> representation_panel(cohort.populations(), min_samples=20)  # doctest: +SKIP
    """
    import plotly.graph_objects as go

    groups, n, names = _sample_counts(data)
    order = np.argsort(groups)
    groups = [groups[i] for i in order]
    n = n[order]
    palette = dict(colors or group_colors(groups))
    hidden = (n >= 1) & (n < min_count) if min_count else np.zeros(len(n), dtype=bool)
    n = np.where(hidden, 0, n)
    marker = f"<{min_count}"
    small = (n < min_samples) | hidden
    se = 0.5 / np.sqrt(2 * np.maximum(n, 1))
    hover = []
    for g, k, s, flag, secret in zip(groups, n, se, small, hidden, strict=True):
        line = f"<b>{g}</b>" + (f" ({names[g]})" if g in names else "")
        if secret:
            hover.append(
                line + f"<br>{marker} samples: the exact number is suppressed "
                f"(disclosure policy: counts below {min_count} are not shown)"
            )
            continue
        line += f"<br>{k:,} samples"
        if flag:
            line += (
                f"<br><b>below {min_samples}</b>: estimates unstable"
                f"<br>(SE of an allele frequency up to {s:.3f})"
            )
        else:
            line += f"<br>SE of an allele frequency ≤ {s:.3f}"
        hover.append(line)
    fig = go.Figure(
        go.Bar(
            x=n,
            y=groups,
            orientation="h",
            marker={
                "color": [palette.get(g, "#999999") for g in groups],
                "pattern": {"shape": ["x" if f else "" for f in small], "solidity": 0.5},
            },
            text=[
                marker if secret else f"{k:,}" + (f"  n < {min_samples}" if f else "")
                for k, f, secret in zip(n, small, hidden, strict=True)
            ],
            textposition="outside",
            cliponaxis=False,
            hovertext=hover,
            hovertemplate="%{hovertext}<extra></extra>",
            showlegend=False,
        )
    )
    fig.add_vline(x=min_samples, line={"color": "#D55E00", "dash": "dash", "width": 1.5})
    flagged = int(small.sum())
    note = f"{flagged} below {min_samples}" if flagged else f"all ≥ {min_samples}"
    # With a suppressed group the total would give its size away (total - the others).
    total = f"{n.sum():,} samples" if not hidden.any() else f"{int(hidden.sum())} with {marker}"
    apply_style(fig, title=title or f"Samples per group ({len(groups)} groups, {total}; {note})")
    fig.update_xaxes(
        title_text=f"samples (dashed line: {min_samples}, the minimum for stable estimates;"
        " hatched bars are below it)",
        rangemode="tozero",
        range=[0, max(float(n.max(initial=0)), min_samples) * 1.18],
    )
    fig.update_yaxes(autorange="reversed", title_text="")
    fig.update_layout(height=max(360, 140 + 24 * len(groups)))
    return stamp(fig, builder="representation_panel", provenance=provenance)
