"""The house style shared by every figure: template, fonts, title placement."""

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
