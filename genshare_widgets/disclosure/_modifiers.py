"""DUO modifiers with parameters: geography (GS), time limit (TS), publication moratorium
(MOR), return of derived data (RTN) and collaboration (COL).

The DUOS v2 matching rules (Broad Institute, DataBiosphere/consent-ontology,
https://github.com/DataBiosphere/consent-ontology/blob/develop/docs/Algorithms.md and
``DataUseMatchCasesV4.java``) decide a purpose against the *primary* permissions (GRU, HMB,
DS-X, POA, MDS) and the commercial/not-for-profit restriction; the other modifiers
(``ethicsApprovalRequired``, ``collaboratorRequired``, ``geographicalRestrictions``,
``publicationResults``, ``publicationMoratorium`` in DUOS's ``DataUseV4``) are left to the data
access committee's review. GenShare carries that review out where a machine can, from the
parameters the catalog gives next to the codes (``duo_terms``,
:class:`genshare_widgets.catalog.DuoTerms`):

====  =============================================  ==========================================
code  enforced                                       reported (provenance, footer, RETURN.md)
====  =============================================  ==========================================
GS    use refused unless the purpose declares        the allowed regions and the declared one
      ``geo=WHERE`` among ``geographic_restriction``
TS    use refused after ``time_limit``               the last day of use
MOR   exports (files, figures on disk) refused       the moratorium date; viewing is allowed
      before ``publication_moratorium``
RTN   --                                             ``return_to`` in provenance; ``--out``
                                                     writes RETURN.md (files + sha256 + address)
COL   --                                             the investigators to collaborate with
====  =============================================  ==========================================

A code without its parameter keeps today's behaviour: a reported obligation. Texts here hold
no time stamps and no day counts, so the same inputs give the same figure on any day.
"""

from datetime import date
from pathlib import Path
from typing import Any

from genshare_widgets._errors import GenShareError
from genshare_widgets.catalog._duo import duo_term

RETURN_MANIFEST = "RETURN.md"


class ExportRefused(GenShareError):  # noqa: N818 (reads as the verdict it reports)
    """Writing results to disk is not permitted yet (a publication moratorium, MOR)."""


def _code(shorthand: str) -> str:
    return f"{shorthand} ({duo_term(shorthand).id})"


def _codes(entry) -> set[str]:
    return {duo_term(c).shorthand for c in entry.duo}


def review_modifiers(
    entry, purpose, *, today: date | None = None
) -> tuple[list[str], dict[str, str], dict[str, Any]]:
    """Check the parameterised DUO modifiers of ``entry`` for ``purpose`` (None: nothing
    declared) on ``today``.

    Returns
    -------
    reasons
        Refusals, each quoting its code (``TS (DUO:0000025): ...``).
    obligations
        {shorthand: text}: the obligation of each modifier that has parameters (it replaces
        the generic text of that code).
    record
        The JSON-ready ``duo_terms`` record for provenance (empty without parameters).

    Examples
    --------
    >>> from genshare_widgets.catalog import get_entry
    >>> review_modifiers(get_entry("sim-ooa"), None)
    ([], {}, {})
    """
    terms = entry.duo_terms
    if terms is None:
        return [], {}, {}
    today = today or date.today()
    codes = _codes(entry)
    reasons: list[str] = []
    said: dict[str, str] = {}
    record: dict[str, Any] = {}
    regions = terms.geographic_restriction
    if regions and "GS" in codes:
        where = (getattr(purpose, "geo", None) or "").strip().upper() or None
        allowed = ", ".join(regions)
        record["geographic_restriction"] = {"allowed": list(regions), "declared": where}
        if where is None:
            reasons.append(
                f"{_code('GS')}: use is restricted to {allowed}; declare where you work "
                "(geo=WHERE in the purpose, e.g. 'GRU;geo=" + regions[0] + "')"
            )
        elif where not in regions:
            reasons.append(
                f"{_code('GS')}: use is restricted to {allowed}; the purpose declares geo={where}"
            )
        said["GS"] = f"{_code('GS')}: use the data only in {allowed}" + (
            f" (declared: {where})" if where else ""
        )
    if terms.time_limit is not None and "TS" in codes:
        end = terms.time_limit.isoformat()
        record["time_limit"] = end
        if today > terms.time_limit:
            reasons.append(
                f"{_code('TS')}: the approved time for using this data ended on {end}; ask the "
                "data access committee to extend it"
            )
        said["TS"] = f"{_code('TS')}: use the data only until {end}"
    if terms.publication_moratorium is not None and "MOR" in codes:
        until = terms.publication_moratorium.isoformat()
        record["publication_moratorium"] = until
        said["MOR"] = (
            f"{_code('MOR')}: no publication before {until}: results are not written to disk "
            "(files, figures) before then; viewing them interactively is allowed"
        )
    if terms.return_to is not None and "RTN" in codes:
        back = terms.return_to
        record["return_to"] = back.model_dump(mode="json")
        said["RTN"] = (
            f"{_code('RTN')}: return {back.what} to {back.name} ({back.contact}); every --out "
            f"carries a {RETURN_MANIFEST} manifest for it"
        )
    if terms.collaborators and "COL" in codes:
        record["collaborators"] = terms.collaborators
        said["COL"] = f"{_code('COL')}: collaborate with {terms.collaborators}"
        if not getattr(purpose, "collaboration", False):
            said["COL"] += "; declare 'collaboration' to acknowledge it"
    return reasons, said, record


def modifier_requirements(entry) -> list[str]:
    """``requires:`` lines of ``genshare catalog show`` for the enforced modifiers."""
    terms = review_modifiers(entry, None)[2]
    lines = []
    if "geographic_restriction" in terms:
        where = ", ".join(terms["geographic_restriction"]["allowed"])
        lines.append(f"requires: working in {where} ({_code('GS')}; declare geo=WHERE)")
    if "time_limit" in terms:
        lines.append(f"requires: use until {terms['time_limit']} ({_code('TS')}); refused after")
    if "publication_moratorium" in terms:
        lines.append(
            f"requires: no export (files, figures) before {terms['publication_moratorium']} "
            f"({_code('MOR')}); viewing allowed"
        )
    return lines


def moratorium_of(entry) -> date | None:
    """The publication moratorium date of an entry (MOR with its parameter), or None."""
    if entry is None or entry.duo_terms is None or "MOR" not in _codes(entry):
        return None
    return entry.duo_terms.publication_moratorium


def check_export(cohort, *, what: str, today: date | None = None) -> None:
    """Refuse (:class:`ExportRefused`) writing ``what`` to disk before the entry's
    publication moratorium (MOR, DUO:0000024) ends. Viewing (figures in a notebook, the
    explorer) is not an export and is never refused here.

    Examples
    --------
    >>> check_export(open_cohort("sim-ooa"), what="fst.tsv")  # doctest: +SKIP
    """
    until = moratorium_of(getattr(cohort, "entry", None))
    if until is None:
        return
    if (today or date.today()) < until:
        raise ExportRefused(
            f"cohort {cohort.entry.id!r} refuses to write {what}: {_code('MOR')}: publication "
            f"moratorium until {until.isoformat()}. Results may be viewed in the notebook or "
            "the explorer, but not written to files or exported as figures before then."
        )


def return_to(access: dict[str, Any] | None) -> dict[str, Any] | None:
    """The RTN return address of an access record (``provenance["access"]``), or None."""
    return ((access or {}).get("duo_terms") or {}).get("return_to")


def write_return_manifest(
    target: Path, provenance: dict[str, Any], files: "list[Path]"
) -> Path | None:
    """Write the RTN return manifest ``target`` (``--out/RETURN.md``, or
    ``FIGURE.RETURN.md`` beside a figure) when the cohort's terms ask for derived data to be
    returned; → its path, or None (no RTN return address: nothing written).

    The manifest is the return bundle's table of contents: ``files`` with their sha256, the
    cohort and entry version, the command, the return address, and the obligations and
    labels that travel with the data. ``provenance`` is the run's provenance record (with
    ``access`` as :meth:`AccessDecision.record` writes it).
    """
    from genshare_widgets._hashing import sha256_file

    access = provenance.get("access") or {}
    back = return_to(access)
    if back is None:
        return None
    command = provenance.get("command")
    if isinstance(command, list):
        command = " ".join(str(c) for c in command)
    lines = [
        f"# Return of derived data: {provenance.get('cohort_id')}",
        "",
        f"The consent of cohort `{provenance.get('cohort_id')}` (entry version "
        f"{provenance.get('entry_version')}) carries RTN (DUO:0000029): {back['what']} go back "
        "to the resource.",
        "",
        f"- return to: {back['name']}",
        f"- contact: {back['contact']}",
        f"- made by: `{command}`" if command else "- made by: (command not recorded)",
        "",
        "## Files (sha256)",
        "",
    ]
    for path in sorted(Path(f) for f in files):
        lines.append(f"- `{path.name}` {sha256_file(path)}")
    obligations = access.get("obligations") or []
    if obligations:
        lines += ["", "## Obligations", "", *(f"- {o}" for o in obligations)]
    labels = access.get("local_contexts") or []
    if labels:
        lines += ["", "## Local Contexts labels and notices", ""]
        lines += [
            f"- {lab['type']}"
            + (f", {lab['community']}" if lab.get("community") else "")
            + (f": {lab['text']}" if lab.get("text") else "")
            + f" <{lab['url']}>"
            for lab in labels
        ]
    target = Path(target)
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


def data_use_record(access: dict[str, Any] | None) -> dict[str, Any] | None:
    """What a figure carries of an access record: obligations, DUO parameters, Local
    Contexts labels and warnings, plus the footer lines (None when there is nothing)."""
    access = access or {}
    record = {
        "obligations": list(access.get("obligations") or []),
        "duo_terms": dict(access.get("duo_terms") or {}),
        "local_contexts": list(access.get("local_contexts") or []),
        "warnings": list(access.get("warnings") or []),
    }
    if not any(record.values()):
        return None
    record["footer"] = footer_lines(record)
    return record


def footer_lines(record: dict[str, Any]) -> list[str]:
    """The short lines a figure footer adds for its data-use terms (no dates of today)."""
    lines = [f"⚠ {w}" for w in record.get("warnings") or []]
    by_community: dict[str, list[str]] = {}  # "" for Notices naming no community
    for lab in record.get("local_contexts") or []:
        by_community.setdefault(lab.get("community") or "", []).append(
            lab.get("code") or lab["type"]
        )
    if by_community:
        lines.append(
            "Local Contexts: "
            + "; ".join(
                (f"{community}: " if community else "") + ", ".join(codes)
                for community, codes in by_community.items()
            )
        )
    terms = record.get("duo_terms") or {}
    codes = []
    for text in record.get("obligations") or []:
        code = text.split(" ", 1)[0]
        if not text.startswith(f"{code} (DUO:"):
            continue  # a label's obligation (listed under Local Contexts)
        if code == "GS" and "geographic_restriction" in terms:
            code += f" ({', '.join(terms['geographic_restriction']['allowed'])})"
        elif code == "TS" and "time_limit" in terms:
            code += f" (until {terms['time_limit']})"
        elif code == "MOR" and "publication_moratorium" in terms:
            code += f" (not before {terms['publication_moratorium']})"
        elif code == "RTN" and "return_to" in terms:
            code += f" (to {terms['return_to']['name']})"
        if code not in codes:
            codes.append(code)
    if codes:
        lines.append("DUO obligations: " + ", ".join(codes))
    return lines
