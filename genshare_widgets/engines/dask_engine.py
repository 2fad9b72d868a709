"""Open a VCF-Zarr store lazily as an xarray Dataset backed by Dask (sgkit variable names)."""

from pathlib import Path

from genshare_widgets._errors import InputFormatError


def open_store(path: Path | str):  # -> xarray.Dataset
    """Open a VCF-Zarr store (ours or vcf2zarr's) without reading any genotype chunk.

    ``call_genotype`` stays int8 with -1 for missing and -2 for "no allele" (haploid padding);
    ``call_genotype_mask`` is derived lazily (``call_genotype < 0``).

    Examples
    --------
    >>> ds = open_store("cohort.vcz")  # doctest: +SKIP
    >>> ds.call_genotype.dims
    ('variants', 'samples', 'ploidy')
    """
    import xarray as xr

    path = Path(path)
    try:
        ds = xr.open_zarr(
            str(path),
            consolidated=False,
            mask_and_scale=False,
            concat_characters=False,
            decode_times=False,
        )
    except (FileNotFoundError, KeyError, ValueError) as exc:
        raise InputFormatError(
            f"{path}: not a readable VCF-Zarr store ({exc}). Convert VCFs with "
            "'genshare prepare FILE.vcf.gz' (or bio2zarr's vcf2zarr)."
        ) from None
    missing = [v for v in ("call_genotype", "sample_id", "variant_position") if v not in ds]
    if missing:
        raise InputFormatError(
            f"{path}: a VCF-Zarr store needs {missing}; this store has {sorted(ds.data_vars)}"
        )
    if "call_genotype_mask" not in ds:
        ds["call_genotype_mask"] = ds["call_genotype"] < 0
    return ds
