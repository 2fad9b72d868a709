"""Genotype engines: conversion into VCF-Zarr stores and lazy opening (Dask/xarray), and the
Hail engine beside it (:mod:`genshare_widgets.engines.hail_engine`, imported only when used:
``open_cohort(..., engine="hail")``), whose passes return the same counts.
"""

from genshare_widgets.engines._ingest_plink import ingest_plink, read_bim, read_fam
from genshare_widgets.engines._ingest_vcf import check_compression, ingest_vcfs, vcf_samples
from genshare_widgets.engines._store import (
    INGEST_FORMAT_VERSION,
    build_store,
    file_sha256_cached,
    is_complete,
    store_key,
    store_path,
    store_provenance,
)
from genshare_widgets.engines.dask_engine import open_store

__all__ = [
    "INGEST_FORMAT_VERSION",
    "build_store",
    "check_compression",
    "file_sha256_cached",
    "ingest_plink",
    "ingest_vcfs",
    "is_complete",
    "open_store",
    "read_bim",
    "read_fam",
    "store_key",
    "store_path",
    "store_provenance",
    "vcf_samples",
]
