"""Wire format of the federation protocol (version 1): counts to JSON and back, validated.

A ``POST /counts`` answer carries one site's *released* per-group counts (see
:mod:`genshare_widgets.federation` for the whole protocol)::

    {"protocol": 1, "site": "site-a", "by": "superpopulation",
     "groups": ["AFR", "EUR"], "group_n_samples": [220, 168],
     "withheld_groups": {"AMR": "fewer than 20 samples"},
     "variants": {"contig": [...], "position": [...], "ref": [...], "alt": [...]},
     "counts": {"allele_count": [[...AFR...], [...EUR...]], "allele_number": ..., ...},
     "status": {"allele_count": [[...]], ...} | null,
     "observed_het": [0.12, 0.09] | null,
     "policy": {...}, "min_count": 20 | null, "dp": {...} | null, "filters": {...}}

Count arrays are per group (groups × variants) lists of non-negative integers; ``status`` (only
when the site's policy is active) holds 0 released, 1 ``<k``, 2 withheld for each cell, and a
cell that is not released is sent as 0 — a suppressed value never travels. :func:`decode_counts`
checks every field (presence, type, lengths, ranges) and raises :class:`MalformedPayload` naming
the first problem, so the coordinator can exclude that site with the reason.
"""

from typing import Any

import numpy as np

from genshare_widgets._errors import GenShareError

PROTOCOL = 1
COUNT_FIELDS = ("allele_count", "allele_number", "het_count", "hom_alt_count", "called_count")


class MalformedPayload(GenShareError):  # noqa: N818 -- reads as the fault it reports
    """A site's answer does not follow the federation protocol."""


def encode_counts(released, *, site: str, by: str, policy) -> dict[str, Any]:
    """The ``/counts`` answer for a released counts Dataset (``release_counts`` output).

    Examples
    --------
    >>> payload = encode_counts(released, site="a", by="population", policy=p)  # doctest: +SKIP
    """
    has_status = "allele_usable" in released
    groups = [str(g) for g in released["groups"].values]

    def per_group(name: str) -> list[list[int]]:
        return np.asarray(released[name].values, dtype=np.int64).T.tolist()

    dp = released.attrs.get("dp")
    return {
        "protocol": PROTOCOL,
        "site": site,
        "by": by,
        "groups": groups,
        "group_n_samples": [int(n) for n in released["group_n_samples"].values],
        "withheld_groups": dict(released.attrs.get("withheld_groups", {})),
        "variants": {
            "contig": [str(c) for c in released["variant_contig"].values],
            "position": [int(p) for p in released["variant_position"].values],
            "ref": [str(a) for a in released["variant_ref"].values],
            "alt": [str(a) for a in released["variant_alt"].values],
        },
        "counts": {name: per_group(name) for name in COUNT_FIELDS},
        "status": (
            {name: per_group(f"{name}_status") for name in COUNT_FIELDS} if has_status else None
        ),
        "observed_het": (
            [float(x) if np.isfinite(x) else None for x in released["observed_het"].values]
            if has_status and "observed_het" in released
            else None
        ),
        "policy": policy.to_dict(),
        "min_count": released.attrs.get("min_count"),
        "dp": {k: v for k, v in dp.items() if k != "noised"} if dp else None,
        "filters": _jsonable(released.attrs.get("filters", {})),
    }


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _require(payload: dict, key: str, kind: type | tuple[type, ...]):
    if key not in payload:
        raise MalformedPayload(f"field {key!r} is missing")
    value = payload[key]
    if not isinstance(value, kind):
        raise MalformedPayload(f"field {key!r} is {type(value).__name__}, not the expected type")
    return value


def _int_matrix(value, *, name: str, rows: int, cols: int, upper: int | None = None) -> np.ndarray:
    if not isinstance(value, list) or len(value) != rows:
        got = len(value) if isinstance(value, list) else type(value).__name__
        raise MalformedPayload(f"{name}: expected {rows} group arrays, got {got}")
    for row in value:
        if not isinstance(row, list) or len(row) != cols:
            got = len(row) if isinstance(row, list) else type(row).__name__
            raise MalformedPayload(f"{name}: expected {cols} values per group, got {got}")
    try:
        arr = np.array(value, dtype=object).reshape(rows, cols) if rows else np.zeros((0, cols))
        if rows and not all(type(v) is int for v in arr.ravel()):  # bool, float, str all refused
            raise TypeError
        out = np.asarray(arr, dtype=np.int64).T
    except (TypeError, ValueError, OverflowError):
        raise MalformedPayload(f"{name}: values must be whole numbers") from None
    if (out < 0).any() or (upper is not None and (out > upper).any()):
        raise MalformedPayload(f"{name}: values outside the allowed range")
    return out


def decode_counts(payload: Any, *, by: str):
    """A validated counts Dataset (released form when the site sent statuses) from a
    ``/counts`` answer; raises :class:`MalformedPayload` naming what is wrong.

    Examples
    --------
    >>> counts = decode_counts(response.json(), by="population")  # doctest: +SKIP
    """
    import xarray as xr

    if not isinstance(payload, dict):
        raise MalformedPayload(f"the answer is {type(payload).__name__}, not a JSON object")
    if _require(payload, "protocol", int) != PROTOCOL:
        raise MalformedPayload(f"protocol {payload['protocol']} (this client speaks {PROTOCOL})")
    if _require(payload, "by", str) != by:
        raise MalformedPayload(f"grouped by {payload['by']!r}, not {by!r} as asked")
    groups = _require(payload, "groups", list)
    if not all(isinstance(g, str) for g in groups) or len(set(groups)) != len(groups):
        raise MalformedPayload("groups must be distinct names")
    sizes = _require(payload, "group_n_samples", list)
    if len(sizes) != len(groups) or not all(type(n) is int and n >= 0 for n in sizes):
        raise MalformedPayload("group_n_samples must hold one whole number per group")
    variants = _require(payload, "variants", dict)
    columns = {}
    for key, kind in (("contig", str), ("position", int), ("ref", str), ("alt", str)):
        col = _require(variants, key, list)
        if not all(type(v) is kind for v in col):
            raise MalformedPayload(f"variants.{key} must hold {kind.__name__} values")
        columns[key] = col
    n = len(columns["contig"])
    if any(len(c) != n for c in columns.values()):
        raise MalformedPayload("variants.contig/position/ref/alt differ in length")
    counts = _require(payload, "counts", dict)
    data = {
        name: _int_matrix(
            _require(counts, name, list), name=f"counts.{name}", rows=len(groups), cols=n
        )
        for name in COUNT_FIELDS
    }
    status = payload.get("status")
    statuses = {}
    if status is not None:
        if not isinstance(status, dict):
            raise MalformedPayload("status must be an object of status arrays")
        for name in COUNT_FIELDS:
            statuses[name] = _int_matrix(
                _require(status, name, list),
                name=f"status.{name}",
                rows=len(groups),
                cols=n,
                upper=2,
            ).astype(np.int8)
    min_count = payload.get("min_count")
    if min_count is not None and (type(min_count) is not int or min_count < 1):
        raise MalformedPayload("min_count must be a whole number >= 1 or null")
    observed = payload.get("observed_het")
    if observed is not None and (
        not isinstance(observed, list)
        or len(observed) != len(groups)
        or not all(x is None or isinstance(x, (int, float)) for x in observed)
    ):
        raise MalformedPayload("observed_het must hold one number per group")
    variables: dict[str, Any] = {
        name: (("variants", "groups"), values.astype(np.int32)) for name, values in data.items()
    }
    variables.update(
        {f"{name}_status": (("variants", "groups"), s) for name, s in statuses.items()}
    )
    ds = xr.Dataset(
        {
            **variables,
            "group_n_samples": (("groups",), np.asarray(sizes, dtype=np.int64)),
            "variant_contig": (("variants",), np.asarray(columns["contig"], dtype=str)),
            "variant_position": (("variants",), np.asarray(columns["position"], dtype=np.int64)),
            "variant_ref": (("variants",), np.asarray(columns["ref"], dtype=str)),
            "variant_alt": (("variants",), np.asarray(columns["alt"], dtype=str)),
        },
        coords={"groups": np.asarray(groups, dtype=str)},
        attrs={
            "by": by,
            "site": str(payload.get("site", "")),
            "min_count": min_count,
            "withheld_groups": dict(payload.get("withheld_groups") or {}),
            "policy": payload.get("policy"),
            "dp": payload.get("dp"),
            "filters": payload.get("filters") or {},
        },
    )
    if observed is not None:
        values = [np.nan if x is None else float(x) for x in observed]
        ds["observed_het"] = (("groups",), np.asarray(values, dtype=np.float64))
    return ds
