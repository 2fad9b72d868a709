"""Names of the human reference assemblies and their chromosomes: one alias table.

A query may name GRCh37 as ``GRCh37``, ``GRCh37.p13``, ``hg19``, ``b37`` or its NCBI assembly
accession (``GCF_000001405.25``, ``GCA_000001405.14``, any patch release), and chromosome 1 as
``1``, ``chr1``, ``NC_000001.10`` (RefSeq; the Beacon v2 examples write ``refseq:NC_...``) or
``CM000663.1`` (GenBank). :func:`canonical_build` and :func:`canonical_sequence` map all of
them to the GRC names (``GRCh37``; ``1`` … ``22``, ``X``, ``Y``, ``MT``), so a store whose
contigs are ``chr1`` and a query for ``NC_000001.10`` meet on ``1``.

The accessions come from ``_assets/assemblies.json``, made from the NCBI assembly reports that
biocommons' ``bioutils`` 0.6.2 ships (every GRCh37 and GRCh38 release it carries, assembled
molecules only); tests/test_assemblies.py rebuilds it from bioutils and compares. A RefSeq or
GenBank accession is versioned per build (``NC_000001.10`` is GRCh37's chromosome 1,
``NC_000001.11`` GRCh38's): :func:`canonical_sequence` reports the build an accession belongs
to, so a GRCh38 accession is not answered from GRCh37 coordinates.

UCSC's ``hg19`` ``chrM`` is not the rCRS mitochondrion of GRCh37 (``MT``, NC_012920.1); the
table follows the NCBI reports, which list ``chrM`` as an alias of ``MT``.

This module imports the standard library only, so every layer may use it.

Examples
--------
>>> canonical_build("GCF_000001405.25")
'GRCh37'
>>> canonical_sequence("refseq:NC_000001.10")
('1', 'GRCh37')
>>> canonical_sequence("chrX")
('X', None)
"""

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

_TABLE = Path(__file__).parent / "_assets" / "assemblies.json"
#: Build synonyms beside the GRC names and accessions (case-insensitive).
_BUILD_SYNONYMS = {
    "grch37": "GRCh37",
    "hg19": "GRCh37",
    "b37": "GRCh37",
    "hs37d5": "GRCh37",
    "grch38": "GRCh38",
    "hg38": "GRCh38",
    "b38": "GRCh38",
}
_PATCH = re.compile(r"^(grch3[78])\.p\d+$", re.IGNORECASE)
_PREFIX = re.compile(r"^(refseq|genbank|insdc|ncbi):", re.IGNORECASE)


@cache
def _table() -> dict[str, Any]:
    return json.loads(_TABLE.read_text())["builds"]


@cache
def _sequence_index() -> dict[str, tuple[str, str | None]]:
    """lower-cased alias → (GRC name, build or None when the alias holds in every build)."""
    index: dict[str, tuple[str, str | None]] = {}
    for build, table in _table().items():
        for name, seq in table["sequences"].items():
            index[name.lower()] = (name, None)
            for alias in seq["aliases"]:
                index[alias.lower()] = (name, None)
            for key in ("refseq", "genbank"):
                accession = seq[key].lower()
                known = index.get(accession)
                # the mitochondrion keeps NC_012920.1 in both builds: build-free
                index[accession] = (name, None if known and known[1] != build else build)
    return index


def canonical_build(name: str | None) -> str | None:
    """``GRCh37`` or ``GRCh38`` for any name or NCBI accession of those builds (patch
    releases included); None for anything else (another organism, a typo)."""
    if name is None:
        return None
    text = _PREFIX.sub("", str(name).strip())
    lowered = text.lower()
    if lowered in _BUILD_SYNONYMS:
        return _BUILD_SYNONYMS[lowered]
    patch = _PATCH.match(text)
    if patch:
        return _BUILD_SYNONYMS[patch.group(1).lower()]
    for build, table in _table().items():
        if text.upper() in table["assemblies"]:
            return build
    return None


def canonical_sequence(name: str) -> tuple[str, str | None] | None:
    """``(GRC name, build)`` of a chromosome name or accession: ``("1", "GRCh37")`` for
    ``NC_000001.10``, ``("1", None)`` for ``chr1`` (a name that holds in both builds); None
    for a name that is not a GRCh37/GRCh38 assembled molecule (e.g. a simulated contig)."""
    text = _PREFIX.sub("", str(name).strip())
    return _sequence_index().get(text.lower())


def same_sequence(query: str, contig: str, *, build: str | None = None) -> bool:
    """True when the query's reference name denotes the store's ``contig`` of a dataset on
    ``build``: the same GRC chromosome (and, for a versioned accession, the same build), or
    the same text when either is not a human chromosome name."""
    q, c = canonical_sequence(query), canonical_sequence(contig)
    if q is None or c is None:
        return _PREFIX.sub("", str(query).strip()) == str(contig)
    if q[0] != c[0]:
        return False
    have = canonical_build(build)
    return q[1] is None or have is None or q[1] == have


def accession_build(name: str) -> str | None:
    """The build a versioned RefSeq/GenBank chromosome accession belongs to, else None."""
    found = canonical_sequence(name)
    return found[1] if found else None


def refseq_accession(contig: str, build: str | None) -> str | None:
    """The RefSeq accession of chromosome ``contig`` (any alias) in ``build``, else None."""
    found = canonical_sequence(contig)
    table = _table().get(canonical_build(build) or "")
    if found is None or table is None or found[0] not in table["sequences"]:
        return None
    return str(table["sequences"][found[0]]["refseq"])
