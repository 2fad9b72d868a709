"""Federated analysis: sites share released counts only; a coordinator combines them.

Protocol (version 1, JSON over HTTP; every endpoint may require ``Authorization: Bearer
<token>``; serve TLS with ``--ssl-certfile/--ssl-keyfile`` or behind a TLS-terminating proxy).
What a site serves is fixed by its custodian at start (issue 13, "Serving"): one grouping, a
minimum group size max(k, 5) in every tier, its disclosure policy, one PCA reference; nothing
from the client is trusted. A refused request answers 4xx ``{"detail", "rule"}``.

``GET /``
    Site info: ``protocol``, ``site`` (name), ``cohort``, ``entry_version``, ``genome_build``,
    ``grouping``, ``groupings`` ({grouping: {group: released size}}, groups of at least
    ``min_group_size`` only; smaller ones are not named), ``policy`` (the disclosure record),
    ``pca`` (``reference_sha256``, ``k``, ``n_variants``, ``min_maf``, ``source``,
    ``min_group``; null without a reference), ``pca_min_group``, ``endpoints``.
``POST /counts`` ``{"by", "region", "snps_only", "variants": "all" | [[contig, pos, ref, alt]]}``
    Per-group released counts on the variant set as compact per-group arrays: ``allele_count,
    allele_number, het_count, hom_alt_count, called_count`` plus, under a policy, ``status``
    arrays (0 released, 1 ``<k``, 2 withheld; non-released cells are sent as 0) and group-level
    ``observed_het`` (:mod:`~genshare_widgets.federation._protocol`). Biallelic variants only;
    no MAF filter at the site (the coordinator filters on the combined counts). ``by`` must be
    the site's grouping; any other key is refused.
``GET /pca/reference``
    The site's one PCA reference (``sha256`` and ``reference``): a custodian-approved file, or
    one fitted on the site's own data only when that data is open-tier (k <= 10, min_maf >=
    0.05). Other sites answer 403: they never release frequencies or SNP weights of their own
    samples.
``POST /assoc`` ``{"pheno", "covar", "model", "region", "page", "coef"}``
    One page (``assoc.page_size`` biallelic variants in store order) of per-variant sufficient
    statistics over the site's fixed sample set: linear ``xtx`` (upper triangles), ``xty``,
    ``yty``, ``n`` with ``X = [1, covar..., dosage]``; logistic ``hessian`` and ``score`` at
    ``coef`` (base64 float64, rows x p). ``status`` per variant (0 released; withheld rows
    carry zeros): rules in :mod:`~genshare_widgets.federation._assoc_site` (min n, derivable
    counts in 1..k-1, nfilter.glm 0.33, logistic weight concentration, round limit; refused
    under DP). ``GET /`` ``assoc`` lists the served phenotypes and covariates (or null).
``POST /pca/project`` ``{"by", "reference_sha256"}``
    n, mean and covariance of the projections onto the site's approved reference per group
    with at least max(k, 10) samples; a reference whose sha256 is not the approved one is
    refused (403), as is a grouping the consent gate refuses.

No endpoint returns sample ids, genotypes or per-sample values. Under differential privacy
each site charges its own budget once per distinct request.

Coordinator: :func:`federate` (the ``genshare federate`` files, byte-identical to ``genshare
stats`` on the pooled cohort when no site applies a policy; ``stats=["assoc"]``: ``assoc.tsv``
equal to the pooled ``genshare assoc`` fit, :func:`federated_association`),
:func:`federated_pca`. A site
that is down, times out, refuses or answers malformed data is excluded by name with the
reason (``result.excluded`` and ``provenance.json``: its URL, plus the name it gave when it
failed after ``GET /``); every request is bounded (the whole answer within the timeout, at most
two retries on connection failures); ``min_sites`` stops a run left with fewer sites, writing
nothing. Sites: :func:`site_app` (FastAPI),
:func:`start_site` (a running site for notebooks and tests).
"""

from typing import TYPE_CHECKING, Any

from genshare_widgets._lazy import lazy_exports

if TYPE_CHECKING:
    from genshare_widgets.federation._assoc_client import federated_association
    from genshare_widgets.federation._client import SiteFailure
    from genshare_widgets.federation._combine import combine_counts
    from genshare_widgets.federation._coordinator import FederatedResult, federate
    from genshare_widgets.federation._pca import (
        PCAReference,
        pca_reference,
        project_samples,
    )
    from genshare_widgets.federation._pca_client import FederatedPCA, federated_pca
    from genshare_widgets.federation._protocol import (
        PROTOCOL,
        MalformedPayload,
        decode_counts,
        encode_counts,
    )
    from genshare_widgets.federation._site import SiteRefusal, open_site_cohort, site_app

_LAZY = {
    "SiteFailure": "_client",
    "federated_association": "_assoc_client",
    "combine_counts": "_combine",
    "FederatedResult": "_coordinator",
    "federate": "_coordinator",
    "PCAReference": "_pca",
    "pca_reference": "_pca",
    "project_samples": "_pca",
    "FederatedPCA": "_pca_client",
    "federated_pca": "_pca_client",
    "PROTOCOL": "_protocol",
    "MalformedPayload": "_protocol",
    "decode_counts": "_protocol",
    "encode_counts": "_protocol",
    "open_site_cohort": "_site",
    "site_app": "_site",
    "SiteRefusal": "_site",
}

__all__ = [
    "PROTOCOL",
    "FederatedPCA",
    "FederatedResult",
    "MalformedPayload",
    "PCAReference",
    "SiteFailure",
    "SiteRefusal",
    "combine_counts",
    "decode_counts",
    "encode_counts",
    "federate",
    "federated_association",
    "federated_pca",
    "open_site_cohort",
    "pca_reference",
    "project_samples",
    "site_app",
    "start_site",
]

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)


def start_site(
    source,
    *,
    samples=None,
    name: str | None = None,
    by: str | None = None,
    groupings: list[str] | None = None,
    min_count: int | None = None,
    epsilon: float | None = None,
    seed: int | None = None,
    token: str | None = None,
    pca_reference=None,
    pca_reference_sha256: str | None = None,
    pca_k: int | None = None,
    assoc_phenotypes: list[str] | None = None,
    assoc_covariates: list[str] | None = None,
    assoc_pcs: int = 0,
    host: str = "127.0.0.1",
    port: int = 0,
    **open_options: Any,
):
    """Open ``source`` as a site and serve it in a background thread (notebooks, tests).

    Returns the started :class:`~genshare_widgets._serve.RunningServer` (``.url``,
    ``.stop()``). ``source`` may be an opened cohort or anything ``open_cohort`` takes.
    ``by`` is the one grouping served (default: the population column);
    ``pca_reference`` is an approved reference file pinned by ``pca_reference_sha256`` (or a
    :class:`PCAReference` the caller approves); ``pca_k`` fits one on open-tier data instead
    (see :func:`~genshare_widgets.federation._site.site_app`); ``assoc_phenotypes`` and
    ``assoc_covariates`` are what ``POST /assoc`` serves (``assoc_pcs``: plus PC1..PCn,
    projections onto the approved reference).

    Examples
    --------
    >>> site = start_site("1kg-phase3-subset", samples="a.tsv", name="site-a")  # doctest: +SKIP
    >>> site.url  # doctest: +SKIP
    'http://127.0.0.1:54321'
    >>> site.stop()  # doctest: +SKIP
    """
    from genshare_widgets._serve import RunningServer, withdrawal_aware_app
    from genshare_widgets.disclosure import policy_for
    from genshare_widgets.federation._pca import PCAReference
    from genshare_widgets.federation._site import open_site_cohort, site_app

    cohort = (
        source
        if hasattr(source, "genotypes")
        else open_site_cohort(source, samples=samples, **open_options)
    )
    policy = policy_for(cohort.entry, min_count=min_count, epsilon=epsilon, seed=seed)
    reference = pca_reference
    if pca_reference is not None and not isinstance(pca_reference, PCAReference):
        reference = PCAReference.load(pca_reference, sha256=pca_reference_sha256 or "")
    app = withdrawal_aware_app(  # a changed withdrawal list is picked up per request
        cohort,
        lambda c: site_app(
            c,
            name=name or c.id,
            by=by,
            groupings=groupings,
            policy=policy,
            token=token,
            pca_reference=reference,
            pca_k=pca_k,
            assoc_phenotypes=assoc_phenotypes,
            assoc_covariates=assoc_covariates,
            assoc_pcs=assoc_pcs,
        ),
    )
    return RunningServer(app, host=host, port=port, timeout_graceful_shutdown=1).start()
