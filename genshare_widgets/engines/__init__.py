"""Genotype engines: conversion into VCF-Zarr stores and lazy opening (Dask/xarray), and the
Hail engine beside it (:mod:`genshare_widgets.engines.hail_engine`, imported only when used:
``open_cohort(..., engine="hail")``), whose passes return the same counts.

The names below load on first use: the CLI's direct hot path (``engines._direct``) must not
pay for zarr, pandas or dask when it imports a sibling module.
"""

from typing import TYPE_CHECKING

from genshare_widgets._lazy import lazy_exports

if TYPE_CHECKING:
    from genshare_widgets.engines._ingest_plink import ingest_plink, read_bim, read_fam
    from genshare_widgets.engines._ingest_vcf import (
        check_compression,
        ingest_vcfs,
        vcf_samples,
    )
    from genshare_widgets.engines._store import (
        INGEST_FORMAT_VERSION,
        build_store,
        ensure_owner_only,
        file_sha256_cached,
        is_complete,
        make_owner_only,
        store_key,
        store_path,
        store_provenance,
    )
    from genshare_widgets.engines.dask_engine import is_url, open_store

_LAZY = {
    "ingest_plink": "_ingest_plink",
    "read_bim": "_ingest_plink",
    "read_fam": "_ingest_plink",
    "check_compression": "_ingest_vcf",
    "ingest_vcfs": "_ingest_vcf",
    "vcf_samples": "_ingest_vcf",
    "INGEST_FORMAT_VERSION": "_store",
    "build_store": "_store",
    "ensure_owner_only": "_store",
    "make_owner_only": "_store",
    "file_sha256_cached": "_store",
    "is_complete": "_store",
    "store_key": "_store",
    "store_path": "_store",
    "store_provenance": "_store",
    "open_store": "dask_engine",
    "is_url": "dask_engine",
}

__all__ = [
    "INGEST_FORMAT_VERSION",
    "build_store",
    "check_compression",
    "ensure_owner_only",
    "file_sha256_cached",
    "ingest_plink",
    "ingest_vcfs",
    "is_complete",
    "is_url",
    "make_owner_only",
    "open_store",
    "read_bim",
    "read_fam",
    "store_key",
    "store_path",
    "store_provenance",
    "vcf_samples",
]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
