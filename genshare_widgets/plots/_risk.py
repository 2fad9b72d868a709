"""Risk-lab figures: ROC curves of membership attacks, power and utility versus epsilon.

Inputs are the tables of :mod:`genshare_widgets.disclosure.risk`: :func:`roc_table`,
:func:`attack_power` and :func:`utility_vs_epsilon`. Attacks keep one colour in every figure
(Okabe-Ito, in the order of ``ATTACK_NAMES``); protections are told apart by dash style.
"""

from collections.abc import Mapping
from typing import Any

import numpy as np

from genshare_widgets._errors import GenShareError
from genshare_widgets.plots._colors import LIGHT, NEUTRAL, OKABE_ITO
from genshare_widgets.plots._provenance import stamp
from genshare_widgets.plots._style import apply_style

ATTACK_NAMES = {
    "homer": "Homer et al. 2008 (distance)",
    "lrt": "Sankararaman et al. 2009 (LRT)",
    "beacon": "Beacon LRT (Shringarpure & Bustamante 2015)",
}
ATTACK_COLORS = dict(zip(ATTACK_NAMES, OKABE_ITO, strict=False))
_DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")


def _need(table, columns: set[str], what: str) -> None:
    if not columns <= set(table.columns):
        raise GenShareError(
            f"the {what} table needs {sorted(columns)}; it has {list(table.columns)}"
        )


def _attack_order(attacks) -> list[str]:
    known = [a for a in ATTACK_NAMES if a in set(attacks)]
    return known + sorted(set(attacks) - set(known))


def roc_plot(
    roc,
    *,
    fpr: float = 0.05,
    provenance: Mapping[str, Any] | None = None,
    title: str | None = None,
):
    """ROC curves of membership attacks: one curve per attack × protection.

    Parameters
    ----------
    roc
        The table of :func:`~genshare_widgets.disclosure.risk.roc_table`
        (``attack, label, fpr, tpr``).
    fpr
        Where a vertical dotted line and a marker per curve show the power (TPR at this FPR).
    provenance, title
        As for every builder.

    Examples
    --------
    >>> roc_plot(risk.roc_table(risk.attack_scores(data)))  # doctest: +SKIP
    """
    import plotly.graph_objects as go

    _need(roc, {"attack", "label", "fpr", "tpr"}, "ROC")
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=[0, 1],
            y=[0, 1],
            mode="lines",
            name="chance",
            line={"color": LIGHT, "dash": "dot", "width": 1},
            hoverinfo="skip",
        )
    )
    labels = list(dict.fromkeys(roc["label"]))
    dash = {label: _DASHES[i % len(_DASHES)] for i, label in enumerate(labels)}
    for attack in _attack_order(roc["attack"].unique()):
        for label in labels:
            part = roc[(roc["attack"] == attack) & (roc["label"] == label)]
            if part.empty:
                continue
            x, y = part["fpr"].to_numpy(float), part["tpr"].to_numpy(float)
            color = ATTACK_COLORS.get(attack, NEUTRAL)
            name = f"{attack} · {label}"
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=y,
                    mode="lines",
                    name=name,
                    legendgroup=name,
                    line={"color": color, "dash": dash[label], "width": 2, "shape": "hv"},
                    hovertemplate=(
                        f"<b>{ATTACK_NAMES.get(attack, attack)}</b><br>{label}"
                        "<br>FPR %{x:.2f}, TPR %{y:.2f}<extra></extra>"
                    ),
                )
            )
            power = float(y[x <= fpr + 1e-12].max())
            fig.add_trace(
                go.Scatter(
                    x=[fpr],
                    y=[power],
                    mode="markers",
                    name=f"{name} at FPR {fpr:g}",
                    legendgroup=name,
                    showlegend=False,
                    marker={"color": color, "size": 8, "symbol": "circle"},
                    hovertemplate=f"{name}<br>TPR at FPR {fpr:g}: %{{y:.2f}}<extra></extra>",
                )
            )
    fig.add_vline(x=fpr, line={"color": NEUTRAL, "dash": "dot", "width": 1})
    apply_style(fig, title=title or "Membership attacks: ROC", legend_title="attack · protection")
    fig.update_xaxes(title_text="false-positive rate (non-members flagged)", range=[0, 1])
    fig.update_yaxes(title_text="true-positive rate (members flagged)", range=[0, 1.02])
    return stamp(fig, builder="roc_plot", provenance=provenance, details={"fpr": fpr})


def power_vs_epsilon_plot(
    power,
    *,
    provenance: Mapping[str, Any] | None = None,
    title: str | None = None,
):
    """Attack power (TPR at the table's FPR) versus DP epsilon, one line per attack.

    Horizontal lines in the attack's colour give the power without protection (solid) and
    under suppression at k (dashed); the x axis is log epsilon.

    Parameters
    ----------
    power
        The table of :func:`~genshare_widgets.disclosure.risk.attack_power`
        (``attack, protection, epsilon, min_count, tpr_at_fpr, fpr``).
    provenance, title
        As for every builder.

    Examples
    --------
    >>> power_vs_epsilon_plot(risk.attack_power(data))  # doctest: +SKIP
    """
    import plotly.graph_objects as go

    _need(power, {"attack", "protection", "epsilon", "tpr_at_fpr"}, "attack power")
    fpr = float(power["fpr"].iloc[0]) if "fpr" in power else 0.05
    dp = power[power["protection"] == "dp"].sort_values("epsilon")
    fig = go.Figure()
    for attack in _attack_order(power["attack"].unique()):
        color = ATTACK_COLORS.get(attack, NEUTRAL)
        part = dp[dp["attack"] == attack]
        fig.add_trace(
            go.Scatter(
                x=part["epsilon"].to_numpy(float),
                y=part["tpr_at_fpr"].to_numpy(float),
                mode="lines+markers",
                name=f"{attack} · DP",
                line={"color": color, "width": 2},
                hovertemplate=(
                    f"<b>{ATTACK_NAMES.get(attack, attack)}</b><br>ε %{{x:g}}"
                    f"<br>TPR at FPR {fpr:g}: %{{y:.2f}}<extra></extra>"
                ),
            )
        )
        for protection, dash, what in (
            ("none", "solid", "no protection"),
            ("suppression", "dash", "suppression"),
        ):
            rows = power[(power["attack"] == attack) & (power["protection"] == protection)]
            if rows.empty:
                continue
            value = float(rows["tpr_at_fpr"].iloc[0])
            if protection == "suppression" and "min_count" in rows:
                what = f"suppression k={int(rows['min_count'].iloc[0])}"
            xs = dp["epsilon"].to_numpy(float)
            span = [xs.min(), xs.max()] if len(xs) else [1, 10]
            fig.add_trace(
                go.Scatter(
                    x=span,
                    y=[value, value],
                    mode="lines",
                    name=f"{attack} · {what}",
                    line={"color": color, "dash": dash, "width": 1},
                    opacity=0.7,
                    hovertemplate=f"{attack} · {what}: TPR {value:.2f}<extra></extra>",
                )
            )
    fig.add_hline(y=fpr, line={"color": LIGHT, "dash": "dot", "width": 1})
    apply_style(fig, title=title or "Attack power versus epsilon", legend_title="attack")
    fig.update_xaxes(title_text="ε of the pool's release (log)", type="log")
    fig.update_yaxes(title_text=f"TPR at FPR {fpr:g}", range=[-0.02, 1.02])
    return stamp(fig, builder="power_vs_epsilon_plot", provenance=provenance, details={"fpr": fpr})


def utility_vs_epsilon_plot(
    utility,
    *,
    provenance: Mapping[str, Any] | None = None,
    title: str | None = None,
):
    """Utility cost of DP: mean |AF error| and mean |Fst error| over pairs, versus epsilon.

    Two panels (log-log); a dashed line in the Fst panel gives the Fst error of suppression
    at k (its AF error is 0: suppression withholds, it does not perturb).

    Parameters
    ----------
    utility
        The table of :func:`~genshare_widgets.disclosure.risk.utility_vs_epsilon`.
    provenance, title
        As for every builder.

    Examples
    --------
    >>> utility_vs_epsilon_plot(risk.utility_vs_epsilon(counts))  # doctest: +SKIP
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    _need(utility, {"protection", "epsilon", "af_abs_error", "fst_abs_error"}, "utility")
    dp = (
        utility[utility["protection"] == "dp"]
        .groupby("epsilon", as_index=False)[["af_abs_error", "fst_abs_error"]]
        .mean()
        .sort_values("epsilon")
    )
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=("allele frequency: mean |error|", "Hudson Fst: mean |error| over pairs"),
        horizontal_spacing=0.12,
    )
    for col, column, color in (
        (1, "af_abs_error", OKABE_ITO[0]),
        (2, "fst_abs_error", OKABE_ITO[1]),
    ):
        fig.add_trace(
            go.Scatter(
                x=dp["epsilon"].to_numpy(float),
                y=dp[column].to_numpy(float),
                mode="lines+markers",
                name=f"DP · {column.split('_')[0].upper()}",
                line={"color": color, "width": 2},
                hovertemplate="ε %{x:g}<br>mean |error| %{y:.3g}<extra></extra>",
            ),
            row=1,
            col=col,
        )
    supp = utility[utility["protection"] == "suppression"]
    if not supp.empty and len(dp):
        value = float(supp["fst_abs_error"].mean())
        k = int(supp["min_count"].iloc[0])
        fig.add_trace(
            go.Scatter(
                x=[dp["epsilon"].min(), dp["epsilon"].max()],
                y=[max(value, 1e-12), max(value, 1e-12)],
                mode="lines",
                name=f"suppression k={k} · Fst",
                line={"color": NEUTRAL, "dash": "dash", "width": 1},
                hovertemplate=f"suppression k={k}: mean |Fst error| {value:.3g}<extra></extra>",
            ),
            row=1,
            col=2,
        )
    apply_style(fig, title=title or "Utility cost of differential privacy")
    fig.update_xaxes(title_text="ε (log)", type="log")
    fig.update_yaxes(type="log")
    fig.update_yaxes(title_text="mean absolute error", row=1, col=1)
    details = {"epsilons": np.asarray(dp["epsilon"], dtype=float).tolist()}
    return stamp(fig, builder="utility_vs_epsilon_plot", provenance=provenance, details=details)
