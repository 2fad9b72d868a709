"""A plotly figure as a widget: the one conversion every explorer tab uses."""

from html import escape


def _widget_safe(trace: dict) -> dict:
    """Make a trace (its plotly JSON dict) sendable to a ``FigureWidget``: its n-d arrays
    (n > 1) travel as JSON lists, where NaN is not allowed (jupyter_client warns, the browser
    drops the message), so non-finite values become None — plotly draws those cells as gaps,
    as it does for NaN."""
    import numpy as np

    safe = dict(trace)
    for key, value in trace.items():
        if (
            isinstance(value, np.ndarray)
            and value.ndim > 1
            and value.dtype.kind == "f"
            and not np.isfinite(value).all()
        ):
            cells = value.astype(object)
            cells[~np.isfinite(value)] = None
            safe[key] = cells
    return safe


def _figure_widget(fig):
    """A new ``FigureWidget`` showing ``fig`` (not changed), ready to be sent in one message.

    ``fig`` is already a validated figure, so it is copied without validating it again (that
    is most of the Python time of an update). The widget is as wide as the page: a square
    heatmap (scaleanchor) would float away from its axis labels; shrinking the axis domain
    keeps labels beside cells (constrain only acts on axes tied by scaleanchor, so other
    figures are unchanged).
    """
    import plotly.graph_objects as go

    data = [_widget_safe(trace.to_plotly_json()) for trace in fig.data]
    layout = go.Layout(fig.layout.to_plotly_json(), _validate=False)
    for name in list(layout):
        if name.startswith(("xaxis", "yaxis")) and layout[name] is not None:
            layout[name].constrain = "domain"
    for name in ("xaxis", "yaxis"):  # present in every figure, as update_xaxes finds them
        layout[name].constrain = "domain"
    return go.FigureWidget(data=data, layout=layout, _validate=False)


def _error_html(exc: Exception) -> str:
    return f'<span style="color:#b00020">{escape(str(exc))}</span>'
