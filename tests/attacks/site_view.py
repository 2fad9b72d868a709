"""What a federation site's ``/counts`` answer shows, as arrays, and the referee's truth for it."""

import numpy as np
from solver import LESS_THAN_K, NOT_SHOWN, SHOWN

FIELDS = {
    "ac": "allele_count",
    "an": "allele_number",
    "het": "het_count",
    "hom_alt": "hom_alt_count",
    "called": "called_count",
}


def shown_view(payload: dict) -> dict:
    """``{keys, groups, sizes, values{cell: variants × groups}, status{...}}`` of an answer.

    Cells without a status (no policy) are shown. REF count and hom-REF are implied cells:
    shown (as a number) exactly when their parts are shown, else not shown.
    """
    v = payload["variants"]
    keys = list(zip(v["contig"], v["position"], v["ref"], v["alt"], strict=True))
    values, status = {}, {}
    for cell, name in FIELDS.items():
        values[cell] = np.asarray(payload["counts"][name], dtype=np.int64).T
        if payload.get("status"):
            status[cell] = np.asarray(payload["status"][name], dtype=np.int64).T
        else:
            status[cell] = np.zeros_like(values[cell])
    both = (status["an"] == SHOWN) & (status["ac"] == SHOWN)
    values["ref"] = np.where(both, values["an"] - values["ac"], 0)
    status["ref"] = np.where(both, SHOWN, NOT_SHOWN)
    parts = (status["called"] == SHOWN) & (status["het"] == SHOWN) & (status["hom_alt"] == SHOWN)
    values["hom_ref"] = np.where(parts, values["called"] - values["het"] - values["hom_alt"], 0)
    status["hom_ref"] = np.where(parts, SHOWN, NOT_SHOWN)
    return {
        "keys": keys,
        "groups": list(payload["groups"]),
        "sizes": np.asarray(payload["group_n_samples"], dtype=np.int64),
        "values": values,
        "status": status,
        "k": payload.get("min_count") or 1,
    }


def truth_view(counts, keys, groups) -> dict[str, np.ndarray]:
    """The true cells (variants × groups) of ``counts`` at ``keys`` and ``groups``."""
    index = {
        (str(c), int(p), str(r), str(a)): i
        for i, (c, p, r, a) in enumerate(
            zip(
                counts["variant_contig"].values,
                counts["variant_position"].values,
                counts["variant_ref"].values,
                counts["variant_alt"].values,
                strict=True,
            )
        )
    }
    rows = np.array([index[(str(c), int(p), str(r), str(a))] for c, p, r, a in keys])
    names = [str(g) for g in counts["groups"].values]
    cols = np.array([names.index(g) for g in groups])
    out = {
        cell: np.asarray(counts[name].values, dtype=np.int64)[np.ix_(rows, cols)]
        for cell, name in FIELDS.items()
    }
    out["ref"] = out["an"] - out["ac"]
    out["hom_ref"] = out["called"] - out["het"] - out["hom_alt"]
    return out


def directly_shown_small(view: dict, k: int) -> int:
    """Cells shown as a number (or implied exactly by shown numbers) that lie in 1..k-1."""
    total = 0
    for cell, values in view["values"].items():
        shown = view["status"][cell] == SHOWN
        total += int((shown & (values >= 1) & (values < k)).sum())
    return total


STATUS_NAMES = {SHOWN: "shown", LESS_THAN_K: "<k", NOT_SHOWN: "NA"}


def linked_model(tables, view: dict, rows: np.ndarray, k: int, *, cols=None) -> dict:
    """Variables of the linked cells of ``rows`` × ``cols`` (default all groups) of a view,
    constrained to what the view shows (:func:`solver.genotype_rows`, diploid)."""
    from solver import apply_shown, genotype_rows

    cols = np.arange(len(view["groups"])) if cols is None else np.asarray(cols)
    n = np.broadcast_to(view["sizes"][cols], (len(rows), len(cols)))
    cells = genotype_rows(tables, n)
    for cell, variables in cells.items():
        sub = np.ix_(rows, cols)
        apply_shown(tables, variables, view["status"][cell][sub], view["values"][cell][sub], k)
    return cells


def audit_cells(tables, cells: dict, status: dict, truth: dict, k: int, batches) -> dict:
    """Criterion violations of the hidden cells, by cell name.

    ``cells``/``status``/``truth``: {cell: rows × cols}; ``batches``: lists of column indices
    whose cells are independent of each other for a fixed row (one solve per batch).
    Only hidden cells whose true value is in 1..k-1 are optimised (the criterion concerns no
    other cell).
    """
    from solver import criterion_violations

    found = {}
    for cell, variables in cells.items():
        count = 0
        for batch in batches:
            sub_status = status[cell][:, batch]
            sub_truth = truth[cell][:, batch]
            target = (sub_status != SHOWN) & (sub_truth >= 1) & (sub_truth < k)
            if not target.any():
                continue
            chosen = variables[:, batch][target]
            lo, hi = tables.ranges(chosen, independent=True)
            count += int(
                criterion_violations(sub_truth[target], sub_status[target], lo, hi, k).sum()
            )
        found[cell] = count
    return found
