"""The house style shared by every figure: template, fonts, title placement."""

TEMPLATE = "plotly_white"
FONT = {"family": "Arial, Helvetica, sans-serif", "size": 13, "color": "#222222"}


def apply_style(fig, *, title: str, legend_title: str | None = None):
    """Set the common template, font and a left-aligned title; return ``fig``."""
    fig.update_layout(
        template=TEMPLATE,
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
