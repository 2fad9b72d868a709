"""The coordinator: query sites, combine their released counts, compute, write the files.

:func:`federate` asks every site in parallel (``GET /`` then ``POST /counts``), validates each
answer, excludes a site that is down, slow, refuses or sends malformed data (by name, with the
reason), combines the rest (:mod:`genshare_widgets.federation._combine`), applies the MAF
filter to the COMBINED counts, and computes the ``genshare stats`` tables with the same
functions — so with no disclosure policy at any site the files are byte-identical to
``genshare stats --out`` on the pooled cohort.
"""

import json
import shutil
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from genshare_widgets._errors import GenShareError
from genshare_widgets.federation._client import (
    SiteFailure,
    describe_exclusion,
    make_client,
    request_json,
    site_label,
)
from genshare_widgets.federation._protocol import PROTOCOL, MalformedPayload, decode_counts

COMBINATION_RULE = (
    "counts add over sites per group name (group sizes too); variants aligned on (contig, "
    "position, ref, alt), union over sites, a variant absent at a site contributes nothing "
    "there; a combined cell is released only when every contributing site released it, '<k' "
    "when exactly one site suppressed it and the others released 0, else withheld (NA)"
)


@dataclass
class FederatedResult:
    """What :func:`federate` returns.

    Attributes
    ----------
    tables
        {file name: DataFrame}, the ``genshare stats`` tables (``freq.tsv``, ``fst.tsv``...).
    counts
        The combined counts Dataset (released form when any site applied a policy).
    included, excluded
        Per site: ``{"site", "url", ...}``; excluded ones carry ``"reason"``.
    provenance
        The ``provenance.json`` record (sites, their policies, what was excluded).
    files
        {file name: path} when ``out`` was given.
    """

    tables: dict[str, Any]
    counts: Any
    included: list[dict[str, Any]]
    excluded: list[dict[str, Any]]
    provenance: dict[str, Any]
    files: dict[str, Path] = field(default_factory=dict)

    def __repr__(self) -> str:
        names = ", ".join(s["site"] for s in self.included) or "none"
        gone = "; ".join(describe_exclusion(s) for s in self.excluded) or "none"
        return f"<FederatedResult {len(self.tables)} tables from sites [{names}]; excluded: {gone}>"


def _query_site(url: str, body: dict[str, Any], *, by: str, timeout: float, token, verify):
    base = url.rstrip("/")
    with make_client(timeout=timeout, token=token, verify=verify) as client:
        info = request_json(client, "GET", base + "/")
        if not isinstance(info, dict) or info.get("protocol") != PROTOCOL:
            raise SiteFailure(
                f"not a protocol-{PROTOCOL} federation site (GET / said "
                f"protocol={info.get('protocol') if isinstance(info, dict) else info!r})"
            )
        name = info.get("site")
        try:
            offered = info.get("groupings")
            if isinstance(offered, dict) and by not in offered:
                raise SiteFailure(
                    f"does not offer grouping {by!r}: it serves only {sorted(offered)} (fixed "
                    f"by its custodian's --by); ask for --by {' or '.join(sorted(offered))} or "
                    "leave this site out"
                )
            payload = request_json(client, "POST", base + "/counts", json=body)
            try:
                counts = decode_counts(payload, by=by)
            except MalformedPayload as exc:
                raise SiteFailure(f"malformed counts: {exc}") from None
        except SiteFailure as exc:  # after the handshake: report the name it gave too
            exc.site_name = str(name) if isinstance(name, str) and name else None
            raise
    return info, counts


def query_sites(sites: list[str], body: dict[str, Any], *, by: str, timeout, token, verify):
    """Ask every site at once → (answers [(url, info, counts)], excluded [{site, url, reason}]
    plus ``name`` when the site answered ``GET /`` before failing)."""
    answers, excluded = [], []
    with ThreadPoolExecutor(max_workers=min(8, len(sites))) as pool:
        futures = {
            url: pool.submit(
                _query_site, url, body, by=by, timeout=timeout, token=token, verify=verify
            )
            for url in sites
        }
        for url, future in futures.items():
            try:
                info, counts = future.result()
            except SiteFailure as exc:
                entry = {"site": site_label(url), "url": url, "reason": str(exc)}
                if exc.site_name:
                    entry["name"] = exc.site_name
                excluded.append(entry)
                continue
            answers.append((url, info, counts))
    return answers, excluded


def _site_names(answers) -> list[str]:
    names: list[str] = []
    for url, info, _ in answers:
        name = str(info.get("site") or site_label(url))
        names.append(name if name not in names else f"{name} ({site_label(url)})")
    return names


def disclosure_note(site_counts: list, combined) -> dict[str, Any]:
    """How far the federated numbers can be from a pooled analysis, in words and numbers."""
    import numpy as np

    policies = [ds.attrs.get("policy") or {} for ds in site_counts]
    if not any(p.get("min_count") or p.get("epsilon") for p in policies):
        return {"exact": True, "text": "no site applied suppression or noise: equal to pooled"}
    note: dict[str, Any] = {"exact": False}
    if "allele_usable" in combined:
        usable = combined["allele_usable"].values
        note["allele_cells_not_usable"] = int((~usable).sum())
        note["allele_cells_total"] = int(usable.size)
    noise = {
        ds.attrs.get("site", ""): (ds.attrs.get("dp") or {}).get("noise_sd")
        for ds in site_counts
        if ds.attrs.get("dp")
    }
    if noise:
        note["dp_noise_sd_per_count"] = noise
        sd = float(np.sqrt(sum(v**2 for v in noise.values() if v is not None)))
        note["dp_noise_sd_per_combined_count_at_most"] = sd
    note["text"] = (
        "federated values differ from a pooled analysis: cells a site suppressed are left out "
        "of combined frequencies, Fst and heterozygosity"
        + (", and every count carries each site's DP noise" if noise else "")
        + "; see README 'Federated analysis' for measured errors"
    )
    return note


def federate(
    sites: list[str],
    *,
    stats: list[str] | tuple[str, ...] = ("freq", "fst", "het", "sfs", "shared"),
    by: str | None = None,
    out: str | Path | None = None,
    region: str | None = None,
    min_maf: float | None = None,
    snps_only: bool = False,
    folded: bool = False,
    timeout: float = 30.0,
    token: str | None = None,
    verify: Any = True,
    pca_k: int | None = None,
    pca_reference: Any = None,
    min_sites: int = 1,
    command: list[str] | None = None,
    pheno: str | None = None,
    covar: list[str] | None = None,
    binary: bool = False,
    meta: bool = False,
) -> FederatedResult:
    """Federated statistics over several sites (see :mod:`genshare_widgets.federation`).

    Parameters
    ----------
    sites
        Site base URLs (``http://host:5060``).
    stats
        Any of ``freq, fst, het, sfs, shared``; or ``assoc`` alone (federated association,
        :mod:`genshare_widgets.federation._assoc_client`: ``assoc.tsv``, ``provenance.json``).
    by
        The grouping column every site offers (not used by ``assoc``).
    pheno, covar, binary, meta
        ``assoc`` only: the phenotype and covariates (each served by every site; a site
        lacking one is excluded by name), a logistic fit for a binary trait, and
        ``assoc_meta.tsv`` (inverse-variance meta-analysis of per-site fits) beside it.
    out
        When given, write the ``genshare stats`` files and ``provenance.json`` there.
    region, min_maf, snps_only, folded
        As in ``genshare stats``; the MAF filter runs on the combined counts.
    timeout
        Seconds per HTTP request (connect, read); at most two retries on connection failures.
    token
        Bearer token sent to every site.
    verify
        TLS verification for ``https://`` sites: True (system CAs), a CA bundle path, or False.
    pca_k, pca_reference
        Also run :func:`federated_pca` on the first ``pca_k`` components (writes
        ``pca_groups.tsv``); ``pca_reference`` is a site URL serving its approved reference, a
        reference file or a :class:`PCAReference` (default: the first site advertising one).
        Sites project only onto the reference their custodian approved (same sha256).
    min_sites
        Fewest sites whose counts must be combined (default 1). A site that is down, killed
        mid-run, hangs past ``timeout``, refuses or answers malformed data is excluded by
        name with the reason and the run goes on with the rest; when fewer than
        ``min_sites`` remain the run stops with an error naming every excluded site and
        nothing is written. A smaller run reveals nothing a site does not release on its
        own: each site's answer went through its own disclosure policy, and a combined cell
        is released only when every contributing site released it, so the difference of two
        runs over different sets of sites is at most what the left-out site releases to any
        querier directly.

    Examples
    --------
    >>> result = federate(["http://127.0.0.1:5061", "http://127.0.0.1:5062"],
    ...                   stats=["fst", "freq"], by="superpopulation")  # doctest: +SKIP
    >>> result.tables["fst.tsv"]  # doctest: +SKIP
    """
    from genshare_widgets._outputs import (
        STATISTICS,
        count_tables,
        package_versions,
        publish,
        write_tsv,
    )
    from genshare_widgets.counts import check_min_maf, select_groups
    from genshare_widgets.federation._combine import combine_counts

    wanted = [s.strip() for s in stats if s.strip()]
    if "assoc" in wanted:
        if min_maf is not None or snps_only or folded:
            raise GenShareError(
                "--stats assoc tests every biallelic variant the sites serve (in --region): "
                "--min-maf, --snps-only and --folded do not apply; filter assoc.tsv afterwards"
            )
        return _federate_association(
            sites, wanted=wanted, pheno=pheno, covar=covar, binary=binary, meta=meta,
            region=region, out=out, timeout=timeout, token=token, verify=verify,
            min_sites=min_sites, pca_k=pca_k, command=command,
        )  # fmt: skip
    if by is None:
        raise GenShareError("give the grouping column every site offers: --by COLUMN")
    unknown = [s for s in wanted if s not in STATISTICS]
    if unknown or not (wanted or pca_k):
        raise GenShareError(
            f"--stats {','.join(unknown) or '(none)'}: choose from {','.join(STATISTICS)}"
        )
    if not sites:
        raise GenShareError("give at least one site: --site URL")
    if not 1 <= int(min_sites) <= len(sites):
        raise GenShareError(
            f"--min-sites {min_sites}: give 1..{len(sites)} (the number of --site URLs)"
        )
    check_min_maf(min_maf)
    body = {"by": by, "region": region, "snps_only": bool(snps_only), "variants": "all"}
    answers, excluded = query_sites(
        list(sites), body, by=by, timeout=timeout, token=token, verify=verify
    )
    if len(answers) < min_sites:
        reasons = "; ".join(describe_exclusion(e) for e in excluded)
        if not answers:
            raise GenShareError(f"no site could be used ({reasons})")
        raise GenShareError(
            f"only {len(answers)} of {len(sites)} sites could be used and --min-sites is "
            f"{min_sites}; nothing was written (excluded: {reasons}). Bring them back or "
            "lower --min-sites"
        )
    names = _site_names(answers)
    site_counts = [counts for _, _, counts in answers]
    combined = combine_counts(site_counts, names=names, by=by)
    if min_maf is not None:
        combined = select_groups(combined, min_maf=min_maf)
    tables = count_tables(combined, wanted, folded, None)
    included = [
        {
            "site": name,
            "url": url,
            "cohort": info.get("cohort"),
            "entry_version": info.get("entry_version"),
            "genome_build": info.get("genome_build"),
            "policy": counts.attrs.get("policy"),
            "groups": dict(
                zip(
                    counts["groups"].values.tolist(),
                    counts["group_n_samples"].values.tolist(),
                    strict=True,
                )
            ),
            "withheld_groups": counts.attrs.get("withheld_groups", {}),
            "n_variants": int(counts.sizes["variants"]),
        }
        for name, (url, info, counts) in zip(names, answers, strict=True)
    ]
    pca_info = None
    if pca_k:
        from genshare_widgets.federation._pca_client import federated_pca

        pca_result = federated_pca(
            [url for url, _, _ in answers],
            reference=pca_reference,
            by=by,
            k=pca_k,
            timeout=timeout,
            token=token,
            verify=verify,
        )
        by_url = {url: name for name, (url, _, _) in zip(names, answers, strict=True)}
        for entry in pca_result.excluded:  # named as in the counts step's handshake
            entry.setdefault("name", by_url.get(entry["url"]))
        if len(pca_result.included) < min_sites:
            reasons = "; ".join(describe_exclusion(e) for e in pca_result.excluded)
            raise GenShareError(
                f"only {len(pca_result.included)} of {len(sites)} sites answered the PCA step "
                f"and --min-sites is {min_sites}; nothing was written (excluded: {reasons}). "
                "Bring them back or lower --min-sites"
            )
        tables["pca_groups.tsv"] = pca_result.table
        excluded += [e for e in pca_result.excluded if e not in excluded]
        pca_info = pca_result.describe()
    provenance = {
        "federation": {
            "protocol": PROTOCOL,
            "sites": included,
            "excluded": excluded,
            "combination": COMBINATION_RULE,
            "disclosure_note": disclosure_note(site_counts, combined),
            "partial_groups": combined.attrs.get("partial_groups", {}),
        },
        "by": by,
        "statistics": sorted(tables),
        "filters": {
            "multiallelic": "split per ALT allele (bcftools norm -m-)",
            "region": region,
            "min_maf": min_maf,
            "min_maf_on": "combined counts",
            "snps_only": snps_only,
            "folded_sfs": folded,
            **combined.attrs.get("filters", {}),
        },
        "groups": dict(
            zip(
                combined["groups"].values.tolist(),
                combined["group_n_samples"].values.tolist(),
                strict=True,
            )
        ),
        "withheld_groups": combined.attrs.get("withheld_groups", {}),
        "pca": pca_info,
        "package_versions": package_versions(),
        "command": command or sys.argv,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    files: dict[str, Path] = {}
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".genshare-federate-", dir=out))
        try:
            for name, table in tables.items():
                write_tsv(table, tmp / name)
            (tmp / "provenance.json").write_text(json.dumps(provenance, indent=2, default=str))
            files = publish(tmp, out)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return FederatedResult(
        tables=tables,
        counts=combined,
        included=included,
        excluded=excluded,
        provenance=provenance,
        files=files,
    )


def _federate_association(sites, *, wanted, pheno, covar, binary, meta, region, out, timeout,
                          token, verify, min_sites, pca_k, command) -> FederatedResult:  # fmt: skip
    """``federate(stats=["assoc"])``: see :func:`federated_association`."""
    from genshare_widgets.federation._assoc_client import federated_association, write_association

    if len(wanted) > 1 or pca_k:
        raise GenShareError(
            f"--stats {','.join(wanted)}: assoc runs alone (no other statistic or --pca in the "
            "same run); run federate twice"
        )
    if not pheno:
        raise GenShareError("--stats assoc needs --pheno COLUMN (a phenotype every site serves)")
    if not sites:
        raise GenShareError("give at least one site: --site URL")
    if not 1 <= int(min_sites) <= len(sites):
        raise GenShareError(
            f"--min-sites {min_sites}: give 1..{len(sites)} (the number of --site URLs)"
        )
    result = federated_association(
        list(sites), pheno=pheno, covar=covar, binary=binary, region=region, meta=meta,
        timeout=timeout, token=token, verify=verify, min_sites=min_sites,
    )  # fmt: skip
    provenance, files = write_association(result, out, command=command)
    return FederatedResult(
        tables=result["tables"],
        counts=None,
        included=result["included"],
        excluded=result["excluded"],
        provenance=provenance,
        files=files,
    )
