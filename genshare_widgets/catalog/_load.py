"""Load, validate and search the cohort catalog.

Validation errors name the file, the line, the entry id and the field at fault, e.g.::

    data_catalog.yaml:57: entry 'sim-ooa' field files[0].sha256: sha256 'abc' is not 64 ...
"""

import difflib
import functools
import os
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from genshare_widgets._errors import CatalogError
from genshare_widgets.catalog._schema import Catalog, CohortEntry

# libyaml's parser when PyYAML was built with it (10x faster on the 2,000-line catalog).
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def default_catalog_path() -> Path:
    """The catalog shipped with the package (``GENSHARE_CATALOG`` overrides it).

    In a source checkout (editable install) this is the repository's top-level
    ``data_catalog.yaml``; in a wheel the same file is packaged beside the code.
    """
    override = os.environ.get("GENSHARE_CATALOG")
    if override:
        return Path(override)
    packaged = resources.files("genshare_widgets").joinpath("data_catalog.yaml")
    if packaged.is_file():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "data_catalog.yaml"


def _node_at(node: yaml.Node | None, loc: Iterable[Any]) -> yaml.Node | None:
    """The deepest YAML node reachable along a pydantic error location."""
    for key in loc:
        if isinstance(node, yaml.MappingNode) and isinstance(key, str):
            match = [v for k, v in node.value if getattr(k, "value", None) == key]
            if not match:
                return node
            node = match[0]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int):
            if key >= len(node.value):
                return node
            node = node.value[key]
        else:
            return node
    return node


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for key in loc:
        if isinstance(key, int):
            out += f"[{key}]"
        else:
            out += ("." if out else "") + str(key)
    return out


def _explain(path: Path, raw: Any, root: yaml.Node | None, exc: ValidationError) -> CatalogError:
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        where = f"{path.name}"
        node = _node_at(root, loc)
        if node is not None:
            where += f":{node.start_mark.line + 1}"
        what = "catalog"
        field_loc = loc
        if len(loc) >= 2 and loc[0] == "cohorts" and isinstance(loc[1], int):
            entry = raw["cohorts"][loc[1]] if isinstance(raw, dict) else None
            entry_id = entry.get("id") if isinstance(entry, dict) else None
            what = f"entry {entry_id!r}" if entry_id else f"entry #{loc[1] + 1}"
            field_loc = loc[2:]
        msg = err["msg"].removeprefix("Value error, ")
        field = f" field {_format_loc(field_loc)}" if field_loc else ""
        lines.append(f"{where}: {what}{field}: {msg}")
    if len(lines) == 1:  # one problem: one line (the CLI prints it as one error line)
        return CatalogError(f"{path} does not follow the catalog schema: {lines[0]}")
    return CatalogError(
        f"{path} does not follow the catalog schema ({len(lines)} problems):\n  "
        + "\n  ".join(lines)
    )


def _check_duplicate_ids(path: Path, raw: dict, text: str) -> None:
    items = raw.get("cohorts")
    if not isinstance(items, list):
        return
    ids = [item.get("id") for item in items if isinstance(item, dict)]
    if len(ids) == len(set(ids)):
        return
    root = yaml.compose(text, Loader=_FAST_LOADER)
    cohorts = _node_at(root, ["cohorts"])
    if not isinstance(cohorts, yaml.SequenceNode):
        return
    first_line: dict[str, int] = {}
    for item in cohorts.value:
        id_node = _node_at(item, ["id"])
        if not isinstance(id_node, yaml.ScalarNode) or id_node is item:
            continue
        line = id_node.start_mark.line + 1
        if id_node.value in first_line:
            raise CatalogError(
                f"{path}:{line}: duplicate cohort id {id_node.value!r} "
                f"(first defined at line {first_line[id_node.value]}); ids must be unique"
            )
        first_line[id_node.value] = line


def parse_catalog(text: str, *, path: Path | str = "<catalog>") -> Catalog:
    """Parse and validate catalog YAML text.

    Examples
    --------
    >>> parse_catalog("catalog_version: '1'\\ncohorts: []\\n").cohorts
    []
    """
    path = Path(path)
    try:
        raw = yaml.load(text, Loader=_FAST_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise CatalogError(f"{where}: not valid YAML: {problem}. Fix the syntax there.") from None
    if not isinstance(raw, dict):
        raise CatalogError(
            f"{path}: the catalog must be a mapping with 'catalog_version' and 'cohorts', "
            f"not {type(raw).__name__}"
        )
    # Line numbers are only needed to explain a problem: compose the node tree lazily.
    _check_duplicate_ids(path, raw, text)
    try:
        return Catalog.model_validate(raw)
    except ValidationError as exc:
        raise _explain(path, raw, yaml.compose(text, Loader=_FAST_LOADER), exc) from None


@functools.lru_cache(maxsize=8)
def _load_cached(path: str, mtime_ns: int) -> Catalog:
    return parse_catalog(Path(path).read_text(encoding="utf-8"), path=path)


def load_catalog(path: Path | str | None = None) -> Catalog:
    """Load and validate a catalog file (default: the packaged ``data_catalog.yaml``).

    Examples
    --------
    >>> cat = load_catalog()
    >>> "sim-ooa" in [c.id for c in cat.cohorts]
    True
    """
    p = Path(path) if path is not None else default_catalog_path()
    try:
        stat = p.stat()
    except FileNotFoundError:
        raise CatalogError(f"catalog file {p} does not exist") from None
    return _load_cached(str(p.resolve()), stat.st_mtime_ns)


def get_entry(cohort_id: str, *, catalog: Catalog | None = None) -> CohortEntry:
    """The catalog entry with this id; an unknown id suggests the closest ones.

    Examples
    --------
    >>> get_entry("sim-ooa").kind
    'simulated'
    """
    cat = catalog if catalog is not None else load_catalog()
    for entry in cat.cohorts:
        if entry.id == cohort_id:
            return entry
    ids = [e.id for e in cat.cohorts]
    close = difflib.get_close_matches(cohort_id, ids, n=3, cutoff=0.4)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise CatalogError(
        f"unknown cohort id {cohort_id!r}.{hint} Run 'genshare catalog list' to see all "
        f"{len(ids)} ids."
    )


def search_catalog(
    catalog: Catalog | None = None,
    *,
    text: str | None = None,
    access: str | None = None,
    population: str | None = None,
    kind: str | None = None,
    duo: str | None = None,
) -> list[CohortEntry]:
    """Entries matching every given filter (case-insensitive).

    ``text`` matches id, title, description and population codes/names; ``population`` a
    population or super-population code or name; ``duo`` a DUO id or shorthand.

    Examples
    --------
    >>> [e.id for e in search_catalog(access="open", population="CEU")][:1]
    ['sim-ooa']
    """
    from genshare_widgets.catalog._duo import duo_term

    cat = catalog if catalog is not None else load_catalog()
    out = []
    for entry in cat.cohorts:
        if access and entry.access != access.lower():
            continue
        if kind and entry.kind != kind.lower():
            continue
        if duo and duo_term(duo).id not in entry.duo:
            continue
        if population:
            wanted = population.lower()
            names = {
                str(v).lower()
                for p in entry.populations
                for v in (p.code, p.name, p.superpopulation)
                if v
            }
            if wanted not in names:
                continue
        if text:
            needle = text.lower()
            hay = " ".join(
                [entry.id, entry.title, entry.description]
                + [f"{p.code} {p.name or ''}" for p in entry.populations]
            ).lower()
            if needle not in hay:
                continue
        out.append(entry)
    return out


def catalog_table(entries: list[CohortEntry] | None = None):  # -> pandas.DataFrame
    """One row per cohort: id, title, kind, access, consent codes, samples, populations.

    Examples
    --------
    >>> catalog_table().loc[0, "id"]
    'sim-ooa'
    """
    import pandas as pd

    from genshare_widgets.catalog._duo import duo_term

    rows = entries if entries is not None else load_catalog().cohorts
    table = pd.DataFrame(
        [
            {
                "id": e.id,
                "title": e.title,
                "kind": e.kind,
                "build": e.genome_build,
                "access": e.access,
                "consent": ", ".join(duo_term(c).shorthand for c in e.duo),
                "n_samples": e.n_samples,
                "n_populations": len(e.populations),
            }
            for e in rows
        ]
    )
    table["n_samples"] = table["n_samples"].astype("Int64")  # unknown stays <NA>, not NaN
    return table
