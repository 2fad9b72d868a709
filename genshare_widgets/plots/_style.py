"""The house style shared by every figure: template, fonts, title placement."""

from typing import Any

TEMPLATE = "plotly_white"
FONT = {"family": "Arial, Helvetica, sans-serif", "size": 13, "color": "#222222"}


_VALIDATED: dict[str, object] = {}


def _set_template(fig) -> None:
    """``fig.update_layout(template=TEMPLATE)`` without validating the template every time.

    Assigning a template by name re-checks every one of its properties (~25 ms a figure, most
    of an explorer update). The template is validated once here (the same coercion, so the
    same keys in the same order) and then stored as a copy of its JSON with validation off,
    as plotly sets its own default template (``BaseFigure._initialize_layout_template``):
    the figure's JSON is byte-identical to ``template=TEMPLATE``.
    """
    import plotly.graph_objects as go

    template = _VALIDATED.get(TEMPLATE)
    if template is None:
        template = _VALIDATED[TEMPLATE] = go.Layout(template=TEMPLATE).template
    layout = fig.layout
    layout._validate = False
    try:
        layout.template = template  # stores template.to_plotly_json(): a deep copy
    finally:
        layout._validate = fig._validate


def apply_style(fig, *, title: str, legend_title: str | None = None):
    """Set the common template, font and a left-aligned title; return ``fig``."""
    _set_template(fig)
    fig.update_layout(
        font=FONT,
        title={"text": title, "x": 0.01, "xanchor": "left", "font": {"size": 16}},
        legend_title_text=legend_title,
        margin={"l": 70, "r": 30, "t": 60},
    )
    return fig


def check_groups(wanted, available, *, what: str = "group") -> None:
    """Refuse a group name that is not in the data, naming the ones that are."""
    from genshare_widgets._errors import GenShareError

    available = [str(a) for a in available]
    for name in wanted:
        if str(name) not in available:
            raise GenShareError(f"no {what} {name!r} in these data; choose from {available}")


_SUBPLOT_GRIDS: dict[str, tuple[dict, Any, Any]] = {}


def subplots(**kwargs):
    """``plotly.subplots.make_subplots(**kwargs)``, from a cached copy of the empty grid.

    ``make_subplots`` validates every axis it lays out (~25 ms, most of the shared/private
    figure); the empty grid depends only on ``kwargs``, so it is built once and each call gets
    a deep copy of its layout JSON (stored as is, as the validated layout was) and of its
    subplot grid. The figure validates everything added afterwards as usual, and its JSON is
    byte-identical to one from ``make_subplots``.
    """
    import copy

    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    key = repr(sorted(kwargs.items()))
    if key not in _SUBPLOT_GRIDS:
        empty = make_subplots(**kwargs)
        _SUBPLOT_GRIDS[key] = (empty.layout.to_plotly_json(), empty._grid_ref, empty._grid_str)
    layout, grid_ref, grid_str = _SUBPLOT_GRIDS[key]
    fig = go.Figure(layout=copy.deepcopy(layout), _validate=False)
    fig._validate = True
    fig.layout._validate = True
    fig._grid_ref = copy.deepcopy(grid_ref)
    fig._grid_str = grid_str
    return fig
