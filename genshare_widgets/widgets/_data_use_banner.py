"""The data-use banner of the widgets: Local Contexts labels and notices, DUO modifier terms
and warnings (BC Consent Non-Verified), as HTML with every value escaped.

Used by the catalog browser (an entry's details) and the cohort explorer (above its tabs).
"""

from html import escape
from typing import Any

_WARNING_STYLE = (
    "background:#fff4e5;border-left:4px solid #e08a00;padding:4px 8px;margin:4px 0;color:#5a3800"
)


def warning_banner_html(warnings: "list[str] | tuple[str, ...]") -> str:
    """An orange banner per warning (empty text when there is none)."""
    return "".join(
        f'<div class="genshare-data-use-warning" style="{_WARNING_STYLE}">⚠ {escape(w)}</div>'
        for w in warnings
    )


def labels_html(entry) -> str:
    """The entry's Local Contexts labels and notices: type, community, text and link."""
    if not entry.local_contexts:
        return ""
    items = []
    for label in entry.local_contexts:
        record = label.record()
        text = f": {escape(label.text)}" if label.text else f" — {escape(label.kind.meaning)}"
        items.append(
            f"<li><b>{escape(label.describe())}</b>{text} "
            f'<a href="{escape(str(record["url"]))}" target="_blank">(Local Contexts)</a>'
            + (f" project {escape(label.project_id)}" if label.project_id else "")
            + "</li>"
        )
    return "<p><b>Local Contexts labels and notices:</b></p><ul>" + "".join(items) + "</ul>"


def duo_terms_html(entry) -> str:
    """The parameters of the entry's DUO modifiers (GS regions, TS end, MOR date, RTN, COL)."""
    from genshare_widgets.disclosure._modifiers import modifier_requirements, review_modifiers

    lines = modifier_requirements(entry)
    terms = review_modifiers(entry, None)[2]
    if "return_to" in terms:
        back = terms["return_to"]
        lines.append(f"return derived data to {back['name']} ({back['contact']}) (RTN)")
    if "collaborators" in terms:
        lines.append(f"collaborate with {terms['collaborators']} (COL)")
    if not lines:
        return ""
    return (
        "<p><b>Terms of the consent codes:</b></p><ul>"
        + "".join(f"<li>{escape(line)}</li>" for line in lines)
        + "</ul>"
    )


def data_use_banner_html(access: "dict[str, Any] | None") -> str:
    """The explorer's banner for an opened cohort's access record: warnings, then one small
    line naming the labels and obligations that travel with every figure."""
    from genshare_widgets.disclosure._modifiers import data_use_record

    record = data_use_record(access)
    if record is None:
        return ""
    rest = [line for line in record["footer"] if not line.startswith("⚠")]
    small = "".join(
        f'<div style="color:#555555;font-size:90%">{escape(line)}</div>' for line in rest
    )
    return warning_banner_html(record["warnings"]) + small
