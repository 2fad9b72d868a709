"""The selection value (genshare_widgets._selection) and the import layers around it.

The engines, the consent gate and the selection module sit below ``counts`` and ``cohort``:
an import of either from them (at module level or inside a function) would close the import
circle issue 14 removed. The compact allele arrays a store may carry (``n_alleles``,
``is_snv``) select exactly the variants the allele strings select.
"""

import ast
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import genshare_widgets
from genshare_widgets._errors import GenShareError
from genshare_widgets._selection import Selection, allele_flags, select_variants

PACKAGE = Path(genshare_widgets.__file__).parent

# --- import layers ---------------------------------------------------------------------------


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, module: str, *, is_package: bool = False) -> set[str]:
    """Every module an import statement of ``source`` names (module level, in functions, under
    ``if TYPE_CHECKING``), relative imports resolved against ``module``; ``from X import y``
    gives both ``X`` and ``X.y`` (``y`` may be a submodule), and a literal
    ``import_module("...")``/``__import__("...")`` counts too."""
    found: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0]
            if name in {"import_module", "__import__"} and isinstance(first, ast.Constant):
                found.add(str(first.value))
    return found


def _imports_of(path: Path) -> set[str]:
    return imported_modules(
        path.read_text(), _module_name(path), is_package=path.name == "__init__.py"
    )


LOW_MODULES = sorted(
    [
        PACKAGE / "_selection.py",
        PACKAGE / "_sample_tables.py",
        PACKAGE / "_cache_paths.py",
        PACKAGE / "disclosure" / "_gate.py",
        *(PACKAGE / "engines").glob("*.py"),
    ]
)
HIGH = ("genshare_widgets.counts", "genshare_widgets.cohort")


def test_the_import_walker_sees_every_form():
    """The checker itself: each way of importing counts is caught (else the tests below pass
    for nothing)."""
    forms = [
        "import genshare_widgets.counts",
        "from genshare_widgets.counts import resolve_groups",
        "from genshare_widgets import counts",
        "from .. import cohort",
        "from ..counts import parse_region",
        "def f():\n    from genshare_widgets.cohort import _read_sample_table\n",
        "import importlib\nimportlib.import_module('genshare_widgets.counts')",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from genshare_widgets import cohort\n",
    ]
    for form in forms:
        names = imported_modules(form, "genshare_widgets.engines.hail_engine")
        assert names & set(HIGH), form
    assert not imported_modules("from . import _store", "genshare_widgets.engines._integrity") & set(
        HIGH
    )


@pytest.mark.parametrize("path", LOW_MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_engines_gate_and_selection_never_import_counts_or_cohort(path):
    """An engine, the consent gate or a low module importing counts or cohort (even inside a
    function) brings back the counts → engines → counts circle."""
    names = _imports_of(path)
    assert not names & set(HIGH), f"{path.name} imports {sorted(names & set(HIGH))}"


def test_selection_imports_only_errors_from_the_package():
    names = {n for n in _imports_of(PACKAGE / "_selection.py") if n.startswith("genshare_widgets")}
    assert names <= {"genshare_widgets._errors", "genshare_widgets._errors.GenShareError"}, names


def test_store_integrity_does_not_import_the_store_builder():
    """engines/_integrity.py (manifests) under engines/_store.py (builds): not the reverse."""
    names = _imports_of(PACKAGE / "engines" / "_integrity.py")
    assert not {n for n in names if n.startswith("genshare_widgets.engines._store")}, names


# --- the compact allele arrays select what the strings select -------------------------------

_ALLELES = ["A", "C", "G", "T", "a", "t", "N", "*", "AC", "GTT", "<DEL>", "<INS:ME>", "-", "AT"]


def _random_table(rng: np.random.Generator, n: int, width: int) -> np.ndarray:
    table = np.full((n, width), "", dtype=object)
    n_alleles = rng.choice([1, 2, 2, 2, 2, 3, 4], size=n)
    for i, k in enumerate(n_alleles):
        k = min(int(k), width)
        table[i, :k] = rng.choice(_ALLELES, size=k)
    return table


def _every_alt_is_a_base(alleles: np.ndarray) -> np.ndarray:
    """Ingest's ``variant_snv`` rule (REF and every ALT single bases, at least one ALT): it
    differs from "REF and the first ALT" on multi-allelic records only."""
    out = []
    for row in alleles:
        present = [str(a) for a in row if str(a) != ""]
        out.append(len(present) >= 2 and all(a.upper() in {"A", "C", "G", "T"} for a in present))
    return np.array(out, dtype=bool)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("region", [None, "1", "chr2:100-900"])
@pytest.mark.parametrize("snps_only", [False, True])
def test_compact_allele_arrays_select_what_the_strings_select(seed, region, snps_only):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 400))
    alleles = _random_table(rng, n, width=int(rng.integers(2, 5)))
    where = {
        "contig_ids": np.array(["1", "2", "X"]),
        "variant_contig": rng.integers(0, 3, size=n),
        "variant_position": np.sort(rng.integers(1, 1000, size=n)),
    }
    kw = {**where, "region": region, "snps_only": snps_only}
    want_index, want_info = select_variants(alleles=alleles, **kw)
    fixed = alleles.astype(str)  # fixed-width unicode, as counts._strings gives
    n_alleles, is_snv = allele_flags(fixed)
    compact = [
        (n_alleles.astype(np.uint8), is_snv),  # the store's uint8 / bool arrays
        (n_alleles.astype(np.uint8), _every_alt_is_a_base(alleles)),  # ingest's rule
    ]
    for n_al, snv in compact:
        index, info = select_variants(n_alleles=n_al, is_snv=snv, **kw)  # no strings
        np.testing.assert_array_equal(index, want_index)
        assert info == want_info
    index, info = select_variants(alleles=fixed, **kw)
    np.testing.assert_array_equal(index, want_index)
    assert info == want_info
    selection = Selection(region=region, snps_only=snps_only)
    index, info = selection.select(n_alleles=n_alleles, is_snv=is_snv, **where)
    np.testing.assert_array_equal(index, want_index)
    assert info == want_info


def test_compact_path_needs_strings_only_when_it_has_no_arrays():
    where = {
        "contig_ids": np.array(["1"]),
        "variant_contig": np.zeros(2, dtype=int),
        "variant_position": np.array([5, 9]),
    }
    with pytest.raises(ValueError, match="needs alleles"):
        select_variants(snps_only=True, n_alleles=np.array([2, 2]), **where)
    index, info = select_variants(n_alleles=np.array([2, 3], dtype=np.uint8), **where)
    assert index.tolist() == [0] and info["n_multiallelic_excluded"] == 1


# --- the Selection value ---------------------------------------------------------------------


def test_selection_is_built_once_and_frozen():
    samples = pd.DataFrame(
        {"pop": ["B", "A", None, "B"], "sex": ["f", "m", "f", "m"]},
        index=pd.Index(["s1", "s2", "s3", "s4"], name="sample"),
    )
    given = np.array([0, 1, -1, 0])
    sel = Selection.build(samples, "pop", region="1:1-10", snps_only=True, min_maf=0.05)
    assert sel.names == ("A", "B") and sel.by == "pop"
    assert sel.codes.tolist() == [1, 0, -1, 1] and sel.group_n.tolist() == [1, 2]
    with pytest.raises(AttributeError):
        sel.region = None  # type: ignore[misc]
    held = Selection(codes=given, names=("x", "y"))
    given[0] = 1
    assert held.codes.tolist() == [0, 1, -1, 0]  # a copy: the caller's array may change
    with pytest.raises(GenShareError, match="--min-maf must be between 0 and 0.5, not 0.7"):
        Selection.build(samples, "pop", min_maf=0.7)
    with pytest.raises(GenShareError, match="no sample column 'age' to group by"):
        Selection.build(samples, "age")
    with pytest.raises(ValueError, match="group codes up to 2"):
        Selection(codes=np.array([0, 2]), names=("a", "b"))
