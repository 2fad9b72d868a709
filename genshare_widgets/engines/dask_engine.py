"""Open a VCF-Zarr store lazily as an xarray Dataset backed by Dask (sgkit variable names).

A store is a local folder or a URL that fsspec understands (``https://``, ``s3://``,
``gs://``, ``file://``...). A remote store is read in place: opening fetches its metadata
(``.zgroup``, ``.zattrs``, ``.zarray`` files, or one ``.zmetadata`` when the store has
consolidated metadata; then the small variant arrays when a statistic needs them); a genotype
pass fetches only the ``call_genotype`` chunks it touches. Without consolidated metadata the
store's folder must be listable (object stores are; a plain HTTP server must list folders).
"""

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from genshare_widgets._errors import GenShareError, InputFormatError

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_REQUIRED = ("call_genotype", "sample_id", "variant_position")


def is_url(source: object) -> bool:
    """True for a URL with a scheme (``https://host/x.vcz``, ``s3://bucket/x.vcz``).

    Examples
    --------
    >>> is_url("https://example.org/cohort.vcz"), is_url("data/cohort.vcz")
    (True, False)
    """
    return isinstance(source, str) and bool(_URL.match(source))


def _check_offline(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme == "file" or os.environ.get("GENSHARE_OFFLINE") != "1":
        return
    if parts.hostname not in _LOOPBACK:
        raise GenShareError(
            f"{url}: GENSHARE_OFFLINE=1 forbids reading a store from another machine. "
            "Unset GENSHARE_OFFLINE to read it over the network, or copy the store here."
        )


def _remote_errors() -> tuple[type[BaseException], ...]:
    errors: tuple[type[BaseException], ...] = (OSError, KeyError, ValueError, TimeoutError)
    try:
        import aiohttp
    except ImportError:
        return errors
    return (*errors, aiohttp.ClientError)


def _open_remote(url: str, storage_options: dict[str, Any] | None, kwargs: dict[str, Any]):
    import xarray as xr
    import zarr
    from zarr.storage import FsspecStore

    _check_offline(url)
    try:
        store = FsspecStore.from_url(
            url.rstrip("/"), storage_options=storage_options or {}, read_only=True
        )
    except ImportError as exc:  # fsspec names the package: "Install s3fs to access S3"
        raise GenShareError(f"{url}: this kind of URL needs another package ({exc})") from None
    errors = _remote_errors()
    try:
        # A few metadata requests tell a store from anything else. With consolidated
        # metadata (.zmetadata) the arrays are known at once; without it xarray lists the
        # folder, which an HTTP server must then allow (python -m http.server does).
        group = zarr.open_group(store, mode="r", zarr_format=2)
        consolidated = group.metadata.consolidated_metadata is not None
        ds = xr.open_zarr(store, consolidated=consolidated, **kwargs)
    except errors as exc:
        raise InputFormatError(
            f"{url}: not a reachable VCF-Zarr store ({type(exc).__name__}: {exc}). Check the "
            "URL (it must name the store's root folder, the one holding .zgroup) and that "
            "this machine can reach it; a public bucket may need storage options such as "
            "{'anon': True} (s3) or {'token': 'anon'} (gs)."
        ) from None
    if not ds.data_vars and not consolidated:
        raise InputFormatError(
            f"{url}: the store's root answers but no array could be found: the server does not "
            "list folders. Serve the store with folder listings, or consolidate its metadata "
            "once where it is written (zarr.consolidate_metadata(STORE, zarr_format=2))."
        )
    return ds


def open_store(path: Path | str, *, storage_options: dict[str, Any] | None = None):
    """Open a VCF-Zarr store (ours or vcf2zarr's) without reading any genotype chunk.

    ``path`` is a local folder or a URL (``https://``, ``s3://``, ``gs://``: see the module
    docstring); ``storage_options`` go to the fsspec file system of a URL (e.g.
    ``{"anon": True}`` for a public S3 bucket). ``call_genotype`` stays int8 with -1 for
    missing and -2 for "no allele" (haploid padding); ``call_genotype_mask`` is derived lazily
    (``call_genotype < 0``).

    Examples
    --------
    >>> ds = open_store("cohort.vcz")  # doctest: +SKIP
    >>> ds.call_genotype.dims
    ('variants', 'samples', 'ploidy')
    """
    import xarray as xr

    kwargs: dict[str, Any] = {
        "mask_and_scale": False,
        "concat_characters": False,
        "decode_times": False,
    }
    if is_url(path):
        where = str(path)
        ds = _open_remote(where, storage_options, kwargs)
    else:
        where = str(Path(path))
        try:
            ds = xr.open_zarr(where, consolidated=False, **kwargs)
        except (FileNotFoundError, KeyError, ValueError) as exc:
            raise InputFormatError(
                f"{where}: not a readable VCF-Zarr store ({exc}). Convert VCFs with "
                "'genshare prepare FILE.vcf.gz' (or bio2zarr's vcf2zarr)."
            ) from None
    missing = [v for v in _REQUIRED if v not in ds]
    if missing:
        raise InputFormatError(
            f"{where}: a VCF-Zarr store needs {missing}; this store has {sorted(ds.data_vars)}"
        )
    if "call_genotype_mask" not in ds:
        ds["call_genotype_mask"] = ds["call_genotype"] < 0
    return ds
