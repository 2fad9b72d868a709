"""Coordinator side of federated PCA (method in :mod:`genshare_widgets.federation._pca`)."""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from genshare_widgets._errors import GenShareError
from genshare_widgets.federation._client import SiteFailure, make_client, request_json, site_label
from genshare_widgets.federation._pca import PCAReference, combine_projection_summaries


@dataclass
class FederatedPCA:
    """Group-level result of :func:`federated_pca`.

    ``table``: ``group, n_samples, n_sites, PC1..PCk`` (centroids); ``covariance``: {group:
    k × k covariance of its samples' projections}; ``reference``: the weights used;
    ``included``/``excluded`` sites; ``withheld``: {site: {group: reason}}.
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
            "method": "projection onto reference SNP weights; group summaries only",
            "reference": self.reference_source,
            "k": self.reference.k,
            "n_reference_variants": len(self.reference.variants),
            "sites": self.included,
            "excluded": self.excluded,
            "withheld_groups": self.withheld,
        }


def fetch_reference(
    url: str,
    *,
    k: int,
    min_maf: float,
    region: str | None,
    snps_only: bool,
    timeout: float,
    token: str | None,
    verify: Any = True,
) -> PCAReference:
    """``POST /pca/reference`` on one site → its :class:`PCAReference`."""
    body = {"k": k, "min_maf": min_maf, "region": region, "snps_only": snps_only}
    with make_client(timeout=timeout, token=token, verify=verify) as client:
        payload = request_json(client, "POST", url.rstrip("/") + "/pca/reference", json=body)
    try:
        return PCAReference.from_json(payload)
    except GenShareError as exc:
        raise SiteFailure(str(exc)) from None


def federated_pca(
    sites: list[str],
    *,
    reference: "str | PCAReference",
    by: str,
    k: int = 4,
    min_maf: float = 0.05,
    region: str | None = None,
    snps_only: bool = False,
    timeout: float = 60.0,
    token: str | None = None,
    verify: Any = True,
) -> FederatedPCA:
    """Project every site's samples onto reference SNP weights; combine group summaries.

    ``reference`` is a :class:`PCAReference` the coordinator computed
    (:func:`~genshare_widgets.federation.pca_reference` on data it holds) or the URL of the
    site that computes it from its own samples. Sites return n, mean and covariance per group
    of at least max(k, 10) samples; never a sample's coordinates.

    Examples
    --------
    >>> result = federated_pca(urls, reference=urls[0], by="superpopulation", k=4)  # doctest: +SKIP
    >>> result.table  # doctest: +SKIP
    """
    if isinstance(reference, str):
        try:
            ref = fetch_reference(
                reference,
                k=k,
                min_maf=min_maf,
                region=region,
                snps_only=snps_only,
                timeout=timeout,
                token=token,
                verify=verify,
            )
        except SiteFailure as exc:
            raise GenShareError(f"PCA reference site {site_label(reference)}: {exc}") from None
        source = f"site {site_label(reference)}"
    else:
        ref, source = reference, "given by the coordinator"
    body = {"by": by, "reference": ref.to_json()}

    def ask(url: str):
        with make_client(timeout=timeout, token=token, verify=verify) as client:
            answer = request_json(client, "POST", url.rstrip("/") + "/pca/project", json=body)
        _check_summary(answer, k=ref.k)
        return answer

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
            if answer.get("withheld_groups"):
                withheld[name] = dict(answer["withheld_groups"])
    if not summaries:
        raise GenShareError(
            "no site returned PCA summaries ("
            + "; ".join(f"{e['site']}: {e['reason']}" for e in excluded)
            + ")"
        )
    table = combine_projection_summaries(summaries, k=ref.k)
    return FederatedPCA(
        table=table,
        covariance=table.attrs.pop("covariance"),
        reference=ref,
        reference_source=source,
        included=included,
        excluded=excluded,
        withheld=withheld,
    )


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
