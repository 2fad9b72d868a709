"""Coordinator side of federated PCA (method in :mod:`genshare_widgets.federation._pca`): one
reference, named to every site by its sha256."""

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genshare_widgets._errors import GenShareError
from genshare_widgets.federation._client import SiteFailure, make_client, request_json, site_label
from genshare_widgets.federation._pca import PCAReference, combine_projection_summaries


@dataclass
class FederatedPCA:
    """Group-level result of :func:`federated_pca`.

    ``table``: ``group, n_samples, n_sites, PC1..PCk`` (centroids); ``covariance``: {group:
    k × k covariance of its samples' projections}; ``reference``: the weights used (its
    ``sha256`` is what every site checked); ``included``/``excluded`` sites.
    """

    table: Any
    covariance: dict[str, Any]
    reference: PCAReference
    reference_source: str
    included: list[str]
    excluded: list[dict[str, Any]]
    withheld: dict[str, dict[str, str]]

    def describe(self) -> dict[str, Any]:
        """The provenance record."""
        return {
            "method": "projection onto one approved reference (sha256); group summaries only",
            "reference": self.reference_source,
            "reference_sha256": self.reference.sha256,
            "k": int(len(self.table.columns) - 3),
            "n_reference_variants": len(self.reference.variants),
            "sites": self.included,
            "excluded": self.excluded,
            "withheld_groups": self.withheld,
        }


def fetch_reference(
    url: str, *, timeout: float, token: str | None, verify: Any = True
) -> PCAReference:
    """``GET /pca/reference`` on one site → its :class:`PCAReference`, checked against the
    sha256 the site states."""
    with make_client(timeout=timeout, token=token, verify=verify) as client:
        payload = request_json(client, "GET", url.rstrip("/") + "/pca/reference")
    try:
        ref = PCAReference.from_json(
            payload.get("reference") if isinstance(payload, dict) else None
        )
    except GenShareError as exc:
        raise SiteFailure(str(exc)) from None
    if payload.get("sha256") != ref.sha256:
        raise SiteFailure(
            f"the reference's sha256 is {ref.sha256}, not {payload.get('sha256')} as the site says"
        )
    return ref


def advertised_reference(sites: list[str], *, timeout: float, token, verify) -> str:
    """The first site whose ``GET /`` advertises a PCA reference."""
    reasons = []
    for url in sites:
        try:
            with make_client(timeout=timeout, token=token, verify=verify) as client:
                info = request_json(client, "GET", url.rstrip("/") + "/")
        except SiteFailure as exc:
            reasons.append(f"{site_label(url)}: {exc}")
            continue
        pca = info.get("pca") if isinstance(info, dict) else None
        if isinstance(pca, dict) and pca.get("reference_sha256"):
            return url
        reasons.append(f"{site_label(url)}: no PCA reference")
    raise GenShareError(
        "no site advertises a PCA reference (" + "; ".join(reasons) + "); give one with "
        "--pca-reference URL|FILE (a site's custodian approves one with site serve "
        "--pca-reference FILE --pca-reference-sha256 HEX, or fits one on open-tier data "
        "with --pca-k K)"
    )


def resolve_reference(
    reference: "str | Path | PCAReference | None",
    sites: list[str],
    *,
    timeout: float,
    token: str | None,
    verify: Any,
) -> tuple[PCAReference, str]:
    """(reference, where it came from) for :func:`federated_pca`'s ``reference``."""
    if isinstance(reference, PCAReference):
        return reference, "given by the coordinator"
    if reference is None:
        reference = advertised_reference(sites, timeout=timeout, token=token, verify=verify)
    text = str(reference)
    if text.startswith(("http://", "https://")):
        try:
            ref = fetch_reference(text, timeout=timeout, token=token, verify=verify)
        except SiteFailure as exc:
            raise GenShareError(f"PCA reference site {site_label(text)}: {exc}") from None
        return ref, f"site {site_label(text)}"
    path = Path(text)
    try:
        payload = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise GenShareError(
            f"--pca-reference {text}: neither a site URL (http[s]://...) nor a readable "
            f"reference file ({exc})"
        ) from None
    return PCAReference.from_json(payload), f"file {path}"


def federated_pca(
    sites: list[str],
    *,
    reference: "str | Path | PCAReference | None" = None,
    by: str,
    k: int | None = None,
    timeout: float = 60.0,
    token: str | None = None,
    verify: Any = True,
) -> FederatedPCA:
    """Project every site's samples onto one approved reference; combine group summaries.

    ``reference`` is the URL of a site serving its reference (``GET /pca/reference``), a
    reference file (:meth:`PCAReference.save`), a :class:`PCAReference`, or None (the first
    site that advertises one). The coordinator sends only the reference's sha256: each site
    projects onto its own approved copy and refuses any other reference, so a site whose
    custodian did not approve this one is excluded with the reason. Sites return n, mean and
    covariance per group of at least max(k, 10) samples; never a sample's coordinates.
    ``k`` keeps the first k components (default: all of the reference's).

    Examples
    --------
    >>> result = federated_pca(urls, reference="ref.json", by="superpopulation")  # doctest: +SKIP
    >>> result.table  # doctest: +SKIP
    """
    ref, source = resolve_reference(
        reference, list(sites), timeout=timeout, token=token, verify=verify
    )
    if k is None:
        k = ref.k
    if not isinstance(k, int) or not 1 <= k <= ref.k:
        raise GenShareError(
            f"the PCA reference ({source}) has {ref.k} components; ask for 1..{ref.k} (got {k})"
        )
    body = {"by": by, "reference_sha256": ref.sha256}

    def ask(url: str):
        with make_client(timeout=timeout, token=token, verify=verify) as client:
            answer = request_json(client, "POST", url.rstrip("/") + "/pca/project", json=body)
        _check_summary(answer, k=ref.k)
        if answer.get("sha256", ref.sha256) != ref.sha256:
            raise SiteFailure("projected onto another reference than the one asked")
        return _first_components(answer, k)

    summaries, included, excluded, withheld = [], [], [], {}
    with ThreadPoolExecutor(max_workers=min(8, len(sites))) as pool:
        futures = {url: pool.submit(ask, url) for url in sites}
        for url, future in futures.items():
            try:
                answer = future.result()
            except SiteFailure as exc:
                excluded.append({"site": site_label(url), "url": url, "reason": f"PCA: {exc}"})
                continue
            summaries.append(answer)
            name = str(answer.get("site") or site_label(url))
            included.append(name)
            if answer.get("min_group"):
                withheld[name] = {"groups not listed": f"fewer than {answer['min_group']} samples"}
    if not summaries:
        raise GenShareError(
            "no site returned PCA summaries ("
            + "; ".join(f"{e['site']}: {e['reason']}" for e in excluded)
            + ")"
        )
    table = combine_projection_summaries(summaries, k=k)
    return FederatedPCA(
        table=table,
        covariance=table.attrs.pop("covariance"),
        reference=ref,
        reference_source=source,
        included=included,
        excluded=excluded,
        withheld=withheld,
    )


def _first_components(answer: dict[str, Any], k: int) -> dict[str, Any]:
    """The summary restricted to the first ``k`` components (projections are per column)."""
    groups = [
        {
            **item,
            "mean": list(item["mean"])[:k],
            "cov": [list(row)[:k] for row in item["cov"]][:k],
        }
        for item in answer["groups"]
    ]
    return {**answer, "groups": groups}


def _check_summary(answer: Any, *, k: int) -> None:
    """Refuse a /pca/project answer that is malformed or carries per-sample data."""
    import numpy as np

    if not isinstance(answer, dict) or not isinstance(answer.get("groups"), list):
        raise SiteFailure("malformed PCA summary: no 'groups' list")
    for item in answer["groups"]:
        try:
            n = item["n"]
            mean = np.asarray(item["mean"], dtype=np.float64)
            cov = np.asarray(item["cov"], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as exc:
            raise SiteFailure(f"malformed PCA summary ({exc})") from None
        if type(n) is not int or n < 1 or mean.shape != (k,) or cov.shape != (k, k):
            raise SiteFailure("malformed PCA summary: n, mean (k) and cov (k × k) expected")
        if not (np.isfinite(mean).all() and np.isfinite(cov).all()):
            raise SiteFailure("malformed PCA summary: non-finite values")
