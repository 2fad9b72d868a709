"""Beacon network widget: one query form, many Beacons, the merged table and the exclusions.

The work is :func:`genshare_widgets.beacon.beacon_network` (parallel, bounded, every failing
Beacon named); this module wires ipywidgets to it. :func:`network_arguments` turns the form's
text into that function's arguments (plain Python, tested on its own) and
:func:`network_result_html` renders a result, every value escaped (a Beacon's strings are
untrusted). A mistake in the form shows in the status line, never as a traceback.
"""

from html import escape
from typing import Any

from genshare_widgets._errors import GenShareError
from genshare_widgets.widgets._catalog_browser import _require_ipywidgets

SHOWN_COLUMNS = [
    "beacon",
    "beacon_id",
    "status",
    "exists",
    "count",
    "granularity",
    "variant",
    "population",
    "allele_frequency",
    "allele_count",
    "allele_number",
]


def network_arguments(
    *,
    beacons: str,
    reference_name: str,
    start: str,
    end: str = "",
    reference_bases: str = "",
    alternate_bases: str = "",
    granularity: str = "record",
    timeout: float = 10.0,
) -> dict[str, Any]:
    """The form's fields (text) → keyword arguments of ``beacon_network``.

    ``beacons`` holds one URL per line (or separated by spaces/commas); empty optional fields
    are left out.

    Examples
    --------
    >>> args = network_arguments(beacons="http://a:5050\\nhttp://b:5050", reference_name="1",
    ...                          start="16", alternate_bases="T")
    >>> args["beacons"], args["start"], "end" in args
    (['http://a:5050', 'http://b:5050'], 16, False)
    """
    urls = [u for u in beacons.replace(",", " ").split() if u]
    if not urls:
        raise GenShareError("give at least one Beacon URL (one per line)")
    args: dict[str, Any] = {
        "beacons": urls,
        "reference_name": reference_name.strip(),
        "start": _integer("start", start),
        "granularity": granularity,
        "timeout": float(timeout),
    }
    if end.strip():
        args["end"] = _integer("end", end)
    for name, value in (("reference_bases", reference_bases), ("alternate_bases", alternate_bases)):
        if value.strip():
            args[name] = value.strip().upper()
    return args


def _integer(name: str, text: str) -> int:
    try:
        return int(str(text).strip())
    except ValueError:
        raise GenShareError(f"{name} must be a whole number (0-based), got {text!r}") from None


def network_result_html(result) -> str:
    """A :class:`~genshare_widgets.beacon.NetworkResult` as HTML: the merged table (answered
    Beacons) and a list of the excluded ones with their reasons; every value escaped."""
    table = result.table
    answered = table[table["status"] == "answered"]
    columns = [c for c in SHOWN_COLUMNS if c in answered and answered[c].notna().any()]
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_cell(row[c])}</td>" for c in columns) + "</tr>"
        for _, row in answered.iterrows()
    )
    n_answered = int((result.beacons["status"] == "answered").sum())
    parts = [
        f"<p><b>{escape(result.query.describe())}</b>: {n_answered} of "
        f"{len(result.beacons)} Beacons answered</p>"
    ]
    if body:
        parts.append(f'<table class="genshare-beacon-network"><tr>{head}</tr>{body}</table>')
    if result.excluded:
        items = "".join(
            f"<li><code>{escape(e['beacon'])}</code>: {escape(e['reason'])}</li>"
            for e in result.excluded
        )
        parts.append(f'<p style="color:#b35806">Excluded:</p><ul>{items}</ul>')
    return "".join(parts)


def _cell(value: Any) -> str:
    import pandas as pd

    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return escape(str(value))


class BeaconNetworkWidget:
    """Query form (Beacon URLs, referenceName, 0-based start, optional end and bases,
    granularity, timeout), a *Query* button, the merged table and the exclusions.

    ``.result`` holds the last :class:`~genshare_widgets.beacon.NetworkResult`; ``.widget``
    is the ipywidgets box to display.

    Examples
    --------
    >>> urls = ["http://127.0.0.1:5050", "http://127.0.0.1:5051"]
    >>> net = BeaconNetworkWidget(urls)  # doctest: +SKIP
    >>> net.start.value, net.alternate_bases.value = "16", "T"  # doctest: +SKIP
    >>> net.query_button.click()  # doctest: +SKIP
    >>> net.result.table  # doctest: +SKIP
    """

    def __init__(self, beacons: list[str] | tuple[str, ...] = (), **query: Any) -> None:
        w = _require_ipywidgets()
        self.result: Any = None  # the last NetworkResult
        self.beacons = w.Textarea(
            value="\n".join(beacons),
            description="Beacons",
            placeholder="one URL per line",
            layout=w.Layout(width="36em", height="6em"),
        )
        self.reference_name = w.Text(
            value=str(query.get("reference_name", "1")), description="Chrom"
        )
        self.start = w.Text(value=str(query.get("start", "")), description="Start (0-based)")
        self.end = w.Text(value=str(query.get("end", "") or ""), description="End (range)")
        self.reference_bases = w.Text(
            value=str(query.get("reference_bases", "") or ""), description="Ref"
        )
        self.alternate_bases = w.Text(
            value=str(query.get("alternate_bases", "") or ""), description="Alt"
        )
        self.granularity = w.Dropdown(
            options=["boolean", "count", "record"],
            value=query.get("granularity", "record"),
            description="Granularity",
        )
        self.timeout = w.BoundedFloatText(
            value=float(query.get("timeout", 10.0)), min=0.1, max=600, description="Timeout (s)"
        )
        self.query_button = w.Button(description="Query", button_style="primary", icon="search")
        self.status = w.HTML()
        self.output = w.HTML()
        self.query_button.on_click(self._query)
        form = w.VBox(
            [
                self.beacons,
                w.HBox([self.reference_name, self.start, self.end]),
                w.HBox([self.reference_bases, self.alternate_bases]),
                w.HBox([self.granularity, self.timeout, self.query_button]),
            ]
        )
        self.widget = w.VBox([form, self.status, self.output])

    def _query(self, _button=None) -> None:
        from genshare_widgets.beacon import beacon_network

        self.status.value = "<i>asking the Beacons…</i>"
        try:
            args = network_arguments(
                beacons=self.beacons.value,
                reference_name=self.reference_name.value,
                start=self.start.value,
                end=self.end.value,
                reference_bases=self.reference_bases.value,
                alternate_bases=self.alternate_bases.value,
                granularity=self.granularity.value,
                timeout=self.timeout.value,
            )
            self.result = beacon_network(**args)
        except GenShareError as exc:
            self.status.value = f'<span style="color:#b00020">{escape(str(exc))}</span>'
            return
        self.status.value = ""
        self.output.value = network_result_html(self.result)

    def _ipython_display_(self) -> None:  # pragma: no cover - needs a front end
        from IPython.display import display

        display(self.widget)
