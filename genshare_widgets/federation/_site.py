"""A federation site: a FastAPI app that answers with released counts only.

:func:`site_app` wraps one cohort (typically opened with ``samples=`` listing this site's
samples: samples without a row there belong to no group and are never counted). Everything a
querier could choose is fixed by the custodian at start; nothing from the client is trusted
(issue 13, "Serving"):

- **one grouping** (``by``, default the catalog's population column). Several groupings of
  the same samples at one site would let a coarse group's total minus its released finer
  groups recover a suppressed cell, so a site serves exactly one; run no second site over
  the same samples with another grouping. The grouping passes the consent gate
  (:func:`~genshare_widgets.disclosure.check_grouping`) at start, as in the CLI;
- a **minimum group size** ``max(k, 5)`` in every tier (open included; k = the policy's
  minimum count): smaller groups are left out of every answer and of ``GET /`` without being
  named, so a grouping of one person per group (an id column) answers nothing for them, and a
  grouping where every group is that small is an error at start;
- every count goes through the site's :class:`~genshare_widgets.disclosure.DisclosurePolicy`
  (suppressed cells travel as a status, never as a number; under differential privacy the
  site's :class:`~genshare_widgets.disclosure.PrivacyBudget` is charged once per distinct
  request);
- **PCA** only onto one reference fixed at start (:mod:`genshare_widgets.federation._pca`):
  a custodian-approved file pinned by sha256, or — for open-tier data only (an ``open``
  catalog entry served without a disclosure policy) — a reference the site fits on its own
  samples with k <= 10 and min_maf >= 0.05. A reference sent by a client is used only when
  its sha256 is the approved one; ``/pca/project`` returns group means and covariances of
  groups with at least ``max(k, 10)`` samples.

**Who may ask**: with ``token``, requests carry ``Authorization: Bearer <token>``. When the
custodian trusts GA4GH Passport issuers (``trusted_issuers`` or ``GENSHARE_TRUSTED_ISSUERS``),
a bearer Passport is accepted beside the token (the GA4GH AAI flow), verified on every
request: a controlled-tier site needs a ControlledAccessGrants visa for the entry's
``dataset_url``, a registered-tier site the Registered Access pair (or that grant), an
open-tier site with a token any valid Passport; a registered or controlled site with trusted
issuers then answers nobody without one of them. A refused Passport answers 401 (does not
verify) or 403 (no grant here) with the reason, never the token; grants are logged
(``genshare_widgets.passports`` logger).

A refused request answers a 4xx JSON ``{"detail": what and what to change, "rule": id}``.
No endpoint returns sample ids, genotypes or per-sample values.
"""

import hmac
import logging
import threading
import warnings
from pathlib import Path
from typing import Any

from genshare_widgets._errors import GenShareError
from genshare_widgets.federation._pca import MAX_PCS, MIN_REFERENCE_MAF, PCAReference
from genshare_widgets.federation._protocol import PROTOCOL, encode_counts
from genshare_widgets.federation._site_rules import MIN_GROUP_SIZE, SiteRefusal, min_group_size

log = logging.getLogger(__name__)
PCA_MIN_GROUP = 10  # a projection mean of fewer samples is too close to individual data
PCA_MIN_VARIANTS = 1_000  # under a policy, projections average over at least this many variants
COUNTS_KEYS = {"by", "region", "snps_only", "variants"}
PROJECT_KEYS = {"by", "reference_sha256", "reference"}


def pca_min_group(policy) -> int:
    """Smallest group whose PCA summary a site shares: max(k, 10)."""
    return max(int(policy.min_count or 1), PCA_MIN_GROUP)


def own_data_is_open(cohort, policy) -> bool:
    """True when the site's data is open-tier: an ``open`` catalog entry served without a
    disclosure policy (a custodian who sets k or epsilon protects it; the user's own files
    are not known to be open)."""
    entry = getattr(cohort, "entry", None)
    return entry is not None and entry.access == "open" and not policy.active


def open_site_cohort(source, *, samples: str | Path | None = None, **options: Any):
    """:func:`~genshare_widgets.open_cohort` for a site: with ``samples`` listing this site's
    samples, the others (no row there) are silently outside every group.

    Examples
    --------
    >>> cohort = open_site_cohort("1kg-phase3-subset", samples="site_a.tsv")  # doctest: +SKIP
    """
    from genshare_widgets._errors import GenShareWarning
    from genshare_widgets.cohort import open_cohort

    with warnings.catch_warnings():
        if samples is not None:  # expected here: the source holds other sites' samples too
            warnings.filterwarnings(
                "ignore", message=".*genotype samples have no row.*", category=GenShareWarning
            )
        return open_cohort(source, samples=samples, **options)


def default_grouping(cohort) -> str:
    """The grouping a site serves by default: the catalog's population column, else a
    ``population`` column; never a fallback to another column (an id-like column would make
    one group per person)."""
    columns = list(cohort.samples.columns)
    spec = getattr(getattr(cohort, "entry", None), "samples", None)
    wanted = [spec.population_column] if spec is not None else []
    for column in [*wanted, "population"]:
        if column in columns:
            return column
    raise GenShareError(
        f"the sample table has no population column (columns: {columns}); name the site's "
        "grouping with --by COLUMN"
    )


def site_grouping(cohort, *, by: str | None = None, groupings: list[str] | None = None) -> str:
    """The one grouping a site serves, from ``by`` or a one-element ``groupings``."""
    chosen = list(dict.fromkeys([*([by] if by else []), *(groupings or [])]))
    if len(chosen) > 1:
        raise SiteRefusal(
            400,
            "one-grouping",
            f"a site serves one grouping, fixed at start; got {chosen}. Two groupings of the "
            "same samples (e.g. population and superpopulation) let a coarse group's total "
            "minus its released finer groups recover a suppressed count: run one site "
            "process with one --by, and no second site over the same samples",
        )
    by = chosen[0] if chosen else default_grouping(cohort)
    if by not in cohort.samples.columns:
        raise GenShareError(
            f"cannot group by {by!r}: the sample table has {list(cohort.samples.columns)} "
            "(give --by COLUMN naming one of them)"
        )
    return by


def served_group_sizes(cohort, by: str, policy) -> dict[str, int]:
    """{group: samples} for the groups of ``by`` with at least :func:`min_group_size`
    samples; an error when there is none (every answer would be empty)."""
    column = cohort.samples[by].dropna().astype(str)
    sizes = {str(g): int(n) for g, n in column.value_counts().sort_index().items() if str(g)}
    floor = min_group_size(policy)
    kept = {g: n for g, n in sizes.items() if n >= floor}
    if not kept:
        largest = max(sizes.values(), default=0)
        raise SiteRefusal(
            400,
            "min-group-size",
            f"grouping by {by!r} leaves no group of at least {floor} samples (the largest has "
            f"{largest}): a site withholds every group smaller than max(k, {MIN_GROUP_SIZE}), "
            "so it would answer nothing. Group by a column with larger groups (e.g. the "
            "population column), never an id-like column",
        )
    return kept


def site_pca_reference(
    cohort,
    policy,
    *,
    reference: "PCAReference | None" = None,
    k: int | None = None,
    min_maf: float = MIN_REFERENCE_MAF,
) -> "PCAReference | None":
    """The site's one PCA reference, fixed at start (see the module docstring): the approved
    ``reference`` (already pinned, :meth:`PCAReference.load`), or one fitted on the site's
    own open-tier data with ``k`` components; None when neither is given."""
    if reference is None and k is None:
        return None
    if policy.epsilon is not None:
        raise SiteRefusal(
            400,
            "dp-no-pca",
            "this site releases counts under differential privacy and PCA summaries have no "
            "DP release: drop the PCA reference options or the epsilon",
        )
    if reference is not None and k is not None:
        raise SiteRefusal(
            400,
            "approved-reference",
            "give one PCA reference: an approved file (--pca-reference/--pca-reference-sha256) "
            "or, for open-tier data, --pca-k to fit one on this site's samples, not both",
        )
    if reference is not None:
        reference.check_limits(what="the approved PCA reference")
        return reference
    if not own_data_is_open(cohort, policy):
        entry = getattr(cohort, "entry", None)
        tier = f"{entry.access}-tier" if entry is not None else "not in the catalog"
        why = "served under " + policy.describe() if policy.active else tier
        raise SiteRefusal(
            400,
            "open-tier-reference",
            f"--pca-k fits a reference on this site's own samples, allowed only for open-tier "
            f"data served without a disclosure policy (this site is {why}): its frequencies "
            "and SNP weights would be released. Give a custodian-approved reference instead: "
            "--pca-reference FILE --pca-reference-sha256 HEX",
        )
    if not isinstance(k, int) or not 1 <= k <= MAX_PCS:
        raise SiteRefusal(400, "pca-limits", f"--pca-k must be 1..{MAX_PCS} (got {k!r})")
    if not min_maf >= MIN_REFERENCE_MAF:
        raise SiteRefusal(
            400, "pca-limits", f"--pca-min-maf must be >= {MIN_REFERENCE_MAF} (got {min_maf})"
        )
    from genshare_widgets.federation._pca import pca_reference

    built = pca_reference(cohort, k=k, min_maf=min_maf)
    built.check_limits(what="the PCA reference fitted on this site's open-tier data")
    return built


def site_app(
    cohort,
    *,
    name: str,
    by: str | None = None,
    groupings: list[str] | None = None,
    policy=None,
    budget=None,
    token: str | None = None,
    pca_reference: "PCAReference | None" = None,
    pca_k: int | None = None,
    pca_min_maf: float = MIN_REFERENCE_MAF,
    assoc_phenotypes: list[str] | None = None,
    assoc_covariates: list[str] | None = None,
    assoc_pcs: int = 0,
    trusted_issuers=None,
):
    """The FastAPI app of one federation site (protocol in :mod:`genshare_widgets.federation`).

    Every setting is checked here, before the app exists: a contradictory one raises
    :class:`SiteRefusal` (or :class:`~genshare_widgets.disclosure.AnalysisRefused` for the
    consent gate) naming the rule.

    Parameters
    ----------
    cohort
        The site's :class:`~genshare_widgets.cohort.Cohort` (see :func:`open_site_cohort`).
    name
        The site's name in every answer and in the coordinator's reports.
    by
        The one sample column the site groups by (default :func:`default_grouping`).
    groupings
        The same as a list (kept for callers of the earlier API): more than one is refused.
    policy
        The site's disclosure policy (default: the cohort's tier default, ``policy_for``).
    budget
        The :class:`~genshare_widgets.disclosure.PrivacyBudget` charged under an epsilon
        (default: a fresh in-memory budget of ``GENSHARE_EPSILON_BUDGET``).
    token
        When given, every request must carry ``Authorization: Bearer <token>`` (or a
        GA4GH Passport, with ``trusted_issuers``).
    trusted_issuers
        The custodian's trusted GA4GH Passport issuers (a
        :class:`~genshare_widgets.disclosure._passport.TrustedIssuers` or its JSON file);
        default ``$GENSHARE_TRUSTED_ISSUERS`` (see the module docstring).
    pca_reference
        A custodian-approved reference (:meth:`PCAReference.load` checks its pinned sha256).
    pca_k, pca_min_maf
        Fit the reference on this site's own samples instead (open-tier data only).
    assoc_phenotypes, assoc_covariates
        The phenotype columns and covariates ``POST /assoc`` serves (none: no association);
        see :mod:`genshare_widgets.federation._assoc_site` for its rules.
    assoc_pcs
        Also serve ``PC1`` … ``PC<assoc_pcs>`` as covariates: each analysed sample's
        projection onto the site's approved PCA reference (never the site's own PCA).

    Examples
    --------
    >>> from genshare_widgets._serve import RunningServer
    >>> server = RunningServer(site_app(cohort, name="site-a")).start()  # doctest: +SKIP
    """
    from genshare_widgets._serve import RequestLimits, require_serve_extra

    require_serve_extra()
    from fastapi import Body, Depends, FastAPI, HTTPException, Request
    from fastapi.responses import JSONResponse

    from genshare_widgets.disclosure import policy_for, session_budget
    from genshare_widgets.disclosure._gate import check_grouping

    policy = policy if policy is not None else policy_for(cohort.entry)
    budget = budget if budget is not None else session_budget(cohort.id)
    by = site_grouping(cohort, by=by, groupings=groupings)
    check_grouping(cohort, by, analysis=f"per-group counts and PCA by {by!r} at a site")
    sizes = served_group_sizes(cohort, by, policy)
    reference = site_pca_reference(
        cohort, policy, reference=pca_reference, k=pca_k, min_maf=pca_min_maf
    )
    reference_sha256 = reference.sha256 if reference is not None else None
    assoc = None
    if assoc_phenotypes:
        from genshare_widgets.federation._assoc_site import assoc_service

        assoc = assoc_service(
            cohort,
            policy,
            phenotypes=list(assoc_phenotypes),
            covariates=assoc_covariates,
            pcs=assoc_pcs,
            reference=reference,
            site=name,
        )
    elif assoc_covariates or assoc_pcs:
        raise GenShareError(
            "--assoc-covar and --assoc-pcs need --assoc-pheno (the phenotypes served)"
        )
    _check_site_release(cohort, by, sizes, assoc, policy, name=name)
    lock = threading.Lock()  # one genotype pass at a time; answers are cached
    cache: dict[Any, Any] = {}  # (region, snps_only) → counts; "pca" → the projection summary

    gate = _site_passport_gate(cohort, token=token, trusted_issuers=trusted_issuers)

    def check_token(request: Request) -> None:
        if token is None and gate is None:
            return
        given = request.headers.get("authorization", "")
        if token is not None and hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return
        from genshare_widgets.disclosure._passport import PassportError, grant_from_header

        try:
            if grant_from_header(given, gate, service=f"site {name}") is not None:
                return
        except PassportError as exc:
            raise HTTPException(exc.status, f"site {name}: {exc}") from None
        raise HTTPException(
            401,
            "this site needs Authorization: Bearer <token>"
            + (" (its token, or a GA4GH Passport from an issuer it trusts)" if gate else ""),
        )

    app = FastAPI(
        title=f"GenShare federation site {name}",
        version=str(PROTOCOL),
        dependencies=[Depends(check_token)],
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    # body size, JSON depth and body-idle limits of both services (413/400/408)
    app.add_middleware(
        RequestLimits,
        error_document=lambda _status, message: {"detail": message, "rule": "request-limits"},
    )

    @app.exception_handler(SiteRefusal)
    def refused(_request: Request, exc: SiteRefusal) -> JSONResponse:
        return JSONResponse({"detail": exc.message, "rule": exc.rule}, status_code=exc.status)

    def check_by(request: dict[str, Any]) -> None:
        asked = request.get("by", by)
        if asked != by:
            raise SiteRefusal(
                400,
                "one-grouping",
                f"this site serves only the grouping {by!r}, fixed by its custodian at start "
                f"(asked {asked!r}); ask for 'by': {by!r} or a site serving that grouping",
            )

    def released_counts(region: str | None, snps_only: bool):
        from genshare_widgets.counts import allele_counts_by_group
        from genshare_widgets.disclosure import release_counts

        key = (region, snps_only)
        with lock:
            if key not in cache:
                try:
                    counts = allele_counts_by_group(
                        cohort, by=by, region=region, snps_only=snps_only
                    )
                except GenShareError as exc:
                    raise HTTPException(400, str(exc)) from None
                names = [str(g) for g in counts["groups"].values]
                keep = [j for j, g in enumerate(names) if g in sizes]
                cache[key] = counts.isel(groups=keep)
            counts = cache[key]
            try:
                return release_counts(
                    counts, policy, budget=budget, what=f"federation site {name}: {by} {key}"
                )
            except GenShareError as exc:  # budget exhausted, refused analysis
                raise HTTPException(403, str(exc)) from None

    def group_sizes() -> dict[str, Any]:
        from genshare_widgets.disclosure._release import release_group_sizes

        if policy.epsilon is not None:  # exact sizes would undo the noisy ones of /counts
            return {g: "noisy: see /counts" for g in sizes}
        return release_group_sizes(sizes, policy)

    def pca_info() -> dict[str, Any] | None:
        if reference is None:
            return None
        return {
            "reference_sha256": reference_sha256,
            "k": reference.k,
            "n_variants": len(reference.variants),
            "min_maf": reference.min_maf,
            "source": reference.source,
            "min_group": pca_min_group(policy),
        }

    @app.get("/")
    def info() -> dict[str, Any]:
        entry = cohort.entry
        return {
            "protocol": PROTOCOL,
            "service": "genshare federation site",
            "site": name,
            "cohort": cohort.id,
            "entry_version": getattr(entry, "version", None),
            "genome_build": getattr(entry, "genome_build", None),
            "grouping": by,
            "groupings": {by: group_sizes()},
            "min_group_size": min_group_size(policy),
            "policy": policy.to_dict(),
            "pca": pca_info(),
            "pca_min_group": pca_min_group(policy),
            "assoc": assoc.info() if assoc is not None else None,
            "endpoints": [
                "GET /",
                "POST /counts",
                "GET /pca/reference",
                "POST /pca/project",
                "POST /assoc",
            ],
        }

    @app.post("/counts")
    def counts_endpoint(http: Request, request: dict[str, Any] = Body(...)) -> Any:  # noqa: B008
        unknown = sorted(set(request) - COUNTS_KEYS)
        if unknown:
            raise SiteRefusal(
                400,
                "fixed-by-site",
                f"this site does not take {unknown} from a request: its minimum count, "
                f"grouping and policy are fixed by its custodian; send only {sorted(COUNTS_KEYS)}",
            )
        check_by(request)
        region = request.get("region")
        if region is not None and not isinstance(region, str):
            raise HTTPException(400, "'region' must be CHR or CHR:START-END")
        snps_only = bool(request.get("snps_only", False))
        released = released_counts(region, snps_only)
        variants = request.get("variants", "all")
        if variants != "all":
            released = _subset_variants(released, variants)
        return _json_response(encode_counts(released, site=name, by=by, policy=policy), http)

    def require_reference() -> PCAReference:
        if policy.epsilon is not None:
            raise SiteRefusal(
                403,
                "dp-no-pca",
                "this site releases counts under differential privacy; PCA summaries have no "
                "DP release here",
            )
        if reference is None:
            if own_data_is_open(cohort, policy):
                detail = (
                    "this site was started without a PCA reference; its custodian can fit "
                    "one on its open-tier data (--pca-k K) or approve a file "
                    "(--pca-reference FILE --pca-reference-sha256 HEX)"
                )
            else:
                detail = (
                    "this site's data is not open-tier, so it never releases frequencies or "
                    "SNP weights computed from its own samples, and it was started without a "
                    "custodian-approved reference (--pca-reference FILE "
                    "--pca-reference-sha256 HEX)"
                )
            raise SiteRefusal(403, "open-tier-reference", detail)
        return reference

    def reference_answer(http: Request, request: dict[str, Any] | None):
        ref = require_reference()
        asked = request or {}
        fixed = {"k": ref.k, "min_maf": ref.min_maf, "region": None, "snps_only": False}
        chosen = {key: asked[key] for key in fixed if asked.get(key) not in (None, fixed[key])}
        if set(asked) - set(fixed) or chosen:
            raise SiteRefusal(
                400,
                "fixed-by-site",
                f"this site's PCA reference is fixed by its custodian (k={ref.k}, "
                f"min_maf={ref.min_maf:g}, sha256={reference_sha256}); a request cannot "
                f"choose {sorted(chosen) or sorted(set(asked) - set(fixed))}: send no "
                "parameters (GET /pca/reference)",
            )
        payload = {"protocol": PROTOCOL, "site": name, "sha256": reference_sha256}
        return _json_response({**payload, "reference": ref.to_json()}, http)

    @app.get("/pca/reference")
    def pca_reference_get(http: Request) -> Any:
        return reference_answer(http, None)

    @app.post("/pca/reference")
    def pca_reference_post(http: Request, request: dict[str, Any] = Body(None)) -> Any:  # noqa: B008
        return reference_answer(http, request)

    @app.post("/pca/project")
    def pca_project_endpoint(request: dict[str, Any] = Body(...)) -> Any:  # noqa: B008
        from genshare_widgets.federation._pca import group_projection_summaries

        ref = require_reference()
        unknown = sorted(set(request) - PROJECT_KEYS)
        if unknown:
            raise SiteRefusal(
                400,
                "fixed-by-site",
                f"this site does not take {unknown} from a request: its minimum group size, "
                f"grouping and reference are fixed by its custodian; send only "
                f"{sorted(PROJECT_KEYS)}",
            )
        check_by(request)
        asked = _asked_reference_sha256(request)
        if asked != reference_sha256:
            raise SiteRefusal(
                403,
                "approved-reference",
                "this site projects only onto the PCA reference its custodian approved "
                f"(sha256={reference_sha256}, GET /pca/reference); the request's reference "
                f"has sha256={asked}. Send {{'reference_sha256': '{reference_sha256}'}}",
            )
        check_grouping(cohort, by, analysis=f"PCA by {by!r}")
        with lock:
            if "pca" not in cache:
                cache["pca"] = group_projection_summaries(
                    cohort, ref, by=by, min_group=pca_min_group(policy)
                )
            summary = dict(cache["pca"])
        summary["groups"] = [g for g in summary["groups"] if g["group"] in sizes]
        if policy.active and summary["n_reference_variants_found"] < PCA_MIN_VARIANTS:
            raise SiteRefusal(
                403,
                "pca-limits",
                f"only {summary['n_reference_variants_found']} of the reference's variants are "
                f"at this site; under a disclosure policy a projection averages over at least "
                f"{PCA_MIN_VARIANTS}. Approve a reference that shares more variants with it",
            )
        return {"protocol": PROTOCOL, "site": name, "by": by, "sha256": reference_sha256,
                **summary}  # fmt: skip

    @app.post("/assoc")
    def assoc_endpoint(http: Request, request: dict[str, Any] = Body(...)) -> Any:  # noqa: B008
        from genshare_widgets.federation._assoc_site import assoc_answer

        if policy.epsilon is not None:
            raise SiteRefusal(
                403,
                "dp-no-assoc",
                "this site releases under differential privacy; association sums have no DP "
                "release here",
            )
        if assoc is None:
            raise SiteRefusal(
                404,
                "assoc-not-served",
                "this site serves no association: its custodian starts it with "
                "--assoc-pheno COL [--assoc-covar COL ...]",
            )
        return _json_response(assoc_answer(assoc, request, site=name), http)

    return app


def _check_site_release(cohort, by: str, sizes, assoc, policy, *, name: str) -> None:
    """Rule 6 across withdrawals and restarts (:func:`~genshare_widgets.disclosure.
    _publishing.check_service_release`): the served groups, and the association's analysed
    sample set in a log of its own, may not differ from an earlier release by 1..k-1 samples.
    """
    import numpy as np

    from genshare_widgets.disclosure._publishing import (
        check_service_release,
        group_sample_sets,
        log_key,
    )

    service = f"site {name} of {cohort.id} (by {by})"
    check_service_release(
        cohort, group_sample_sets(cohort.samples, by, list(sizes)), policy, service=service
    )
    if assoc is not None:
        ids = [str(s) for s in np.asarray(cohort.samples.index)[assoc.sample_index]]
        check_service_release(
            cohort,
            {"(association samples)": sorted(ids)},
            policy,
            service=f"{service}, POST /assoc",
            key=f"{log_key(cohort)}.assoc",
        )


def _site_passport_gate(cohort, *, token: str | None, trusted_issuers):
    """The site's Passport check, or None (no trusted issuers; or an open-tier site without a
    token, which answers everyone)."""
    from genshare_widgets.disclosure._passport import PassportGate, as_trusted_issuers

    issuers = as_trusted_issuers(trusted_issuers)
    entry = getattr(cohort, "entry", None)
    tier = getattr(entry, "access", None) or "open"
    if issuers is None or (tier == "open" and token is None):
        return None
    level = {"open": "authenticated"}.get(tier, tier)
    return PassportGate(issuers, level=level, dataset_url=getattr(entry, "dataset_url", None))


def _asked_reference_sha256(request: dict[str, Any]) -> str | None:
    """The sha256 the request names: ``reference_sha256``, or the canonical hash of a
    ``reference`` object it sends (never used itself: the site projects onto its own copy)."""
    if "reference" in request:
        try:
            return PCAReference.from_json(request["reference"]).sha256
        except GenShareError as exc:
            raise SiteRefusal(
                400, "approved-reference", f"the request's reference is unusable ({exc})"
            ) from None
    asked = request.get("reference_sha256")
    if not isinstance(asked, str):
        raise SiteRefusal(
            400,
            "approved-reference",
            "name the reference to project onto: {'reference_sha256': HEX} (see GET /)",
        )
    return asked.strip().lower()


def _json_response(payload: dict[str, Any], request):
    """A JSON response serialised once by :func:`json.dumps` (FastAPI's generic encoder walks
    every one of the million integers of a counts answer and takes seconds), gzip level 1
    when the client accepts it (Starlette's middleware, level 9 in small pieces, took 2 s for
    a 6 MB answer; level 1 takes a few hundredths and still shrinks it about tenfold)."""
    import gzip
    import json

    from fastapi import Response

    body = json.dumps(payload, allow_nan=False, separators=(",", ":")).encode()
    if len(body) > 10_000 and "gzip" in request.headers.get("accept-encoding", ""):
        return Response(
            gzip.compress(body, compresslevel=1),
            media_type="application/json",
            headers={"Content-Encoding": "gzip", "Vary": "Accept-Encoding"},
        )
    return Response(body, media_type="application/json")


def _subset_variants(released, variants):
    """Rows of ``released`` named in ``variants`` ([[contig, position, ref, alt], ...])."""
    import numpy as np
    from fastapi import HTTPException

    if not isinstance(variants, list):
        raise HTTPException(400, "'variants' must be \"all\" or a list of [contig, pos, ref, alt]")
    try:
        wanted = {(str(c), int(p), str(r), str(a)) for c, p, r, a in variants}
    except (TypeError, ValueError):
        raise HTTPException(400, "each variant is [contig, position, ref, alt]") from None
    keys = zip(
        released["variant_contig"].values,
        released["variant_position"].values,
        released["variant_ref"].values,
        released["variant_alt"].values,
        strict=True,
    )
    rows = [i for i, (c, p, r, a) in enumerate(keys) if (str(c), int(p), str(r), str(a)) in wanted]
    return released.isel(variants=np.asarray(rows, dtype=np.int64))
