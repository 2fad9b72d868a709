"""A federation site: a FastAPI app that answers with released counts only.

:func:`site_app` wraps one cohort (typically opened with ``samples=`` listing this site's
samples: samples without a row there belong to no group and are never counted). Every answer
goes through the site's :class:`~genshare_widgets.disclosure.DisclosurePolicy` — suppressed
cells travel as a status, never as a number; under differential privacy the site's own
:class:`~genshare_widgets.disclosure.PrivacyBudget` is charged once per distinct request (a
repeated request gets the same noisy answer). No endpoint returns sample ids, genotypes or
per-sample values: ``/pca/project`` returns group means and covariances of groups with at
least :func:`pca_min_group` samples.
"""

import hmac
import logging
import threading
import warnings
from pathlib import Path
from typing import Any

from genshare_widgets._errors import GenShareError
from genshare_widgets.federation._protocol import PROTOCOL, encode_counts

log = logging.getLogger(__name__)
PCA_MIN_GROUP = 10  # a projection mean of fewer samples is too close to individual data


def pca_min_group(policy) -> int:
    """Smallest group whose PCA summary a site shares: max(k, 10)."""
    return max(int(policy.min_count or 1), PCA_MIN_GROUP)


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


def default_groupings(cohort) -> list[str]:
    """Grouping columns a site allows by default: the catalog's population and
    super-population columns, else ``population``/``superpopulation`` if present."""
    columns = list(cohort.samples.columns)
    wanted = ["population", "superpopulation"]
    spec = getattr(getattr(cohort, "entry", None), "samples", None)
    if spec is not None:
        wanted = [spec.population_column, spec.superpopulation_column or "superpopulation", *wanted]
    out = [c for c in dict.fromkeys(wanted) if c in columns]
    return out or columns[:1]


def site_app(
    cohort,
    *,
    name: str,
    groupings: list[str] | None = None,
    policy=None,
    budget=None,
    token: str | None = None,
):
    """The FastAPI app of one federation site (protocol in :mod:`genshare_widgets.federation`).

    Parameters
    ----------
    cohort
        The site's :class:`~genshare_widgets.cohort.Cohort` (see :func:`open_site_cohort`).
    name
        The site's name in every answer and in the coordinator's reports.
    groupings
        Sample columns a request may group by (default :func:`default_groupings`).
    policy
        The site's disclosure policy (default: the cohort's tier default, ``policy_for``).
    budget
        The :class:`~genshare_widgets.disclosure.PrivacyBudget` charged under an epsilon
        (default: a fresh in-memory budget of ``GENSHARE_EPSILON_BUDGET``).
    token
        When given, every request must carry ``Authorization: Bearer <token>``.

    Examples
    --------
    >>> from genshare_widgets._serve import RunningServer
    >>> server = RunningServer(site_app(cohort, name="site-a")).start()  # doctest: +SKIP
    """
    from genshare_widgets._serve import require_serve_extra

    require_serve_extra()
    from fastapi import Body, Depends, FastAPI, HTTPException, Request

    from genshare_widgets.disclosure import PrivacyBudget, policy_for

    policy = policy if policy is not None else policy_for(cohort.entry)
    budget = budget if budget is not None else PrivacyBudget()
    groupings = list(groupings or default_groupings(cohort))
    missing = [g for g in groupings if g not in cohort.samples.columns]
    if missing:
        raise GenShareError(
            f"site {name!r}: cannot group by {missing}; the sample table has "
            f"{list(cohort.samples.columns)} (give --by COLUMN naming one of them)"
        )
    lock = threading.Lock()  # one genotype pass at a time; answers are cached
    cache: dict[tuple, Any] = {}

    def check_token(request: Request) -> None:
        if token is None:
            return
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            raise HTTPException(401, "this site needs Authorization: Bearer <token>")

    app = FastAPI(
        title=f"GenShare federation site {name}",
        version=str(PROTOCOL),
        dependencies=[Depends(check_token)],
        docs_url=None,
        redoc_url=None,
    )

    def released_counts(by: str, region: str | None, snps_only: bool):
        from genshare_widgets.counts import allele_counts_by_group
        from genshare_widgets.disclosure import release_counts

        if by not in groupings:
            raise HTTPException(400, f"grouping {by!r} is not offered here; use one of {groupings}")
        key = (by, region, snps_only)
        with lock:
            if key not in cache:
                try:
                    counts = allele_counts_by_group(
                        cohort, by=by, region=region, snps_only=snps_only
                    )
                except GenShareError as exc:
                    raise HTTPException(400, str(exc)) from None
                names = [str(g) for g in counts["groups"].values]
                keep = [j for j, g in enumerate(names) if g]
                cache[key] = counts.isel(groups=keep)
            counts = cache[key]
            try:
                return release_counts(
                    counts, policy, budget=budget, what=f"federation site {name}: {key}"
                )
            except GenShareError as exc:  # budget exhausted, refused analysis
                raise HTTPException(403, str(exc)) from None

    def group_sizes(by: str) -> dict[str, Any]:
        from genshare_widgets.disclosure._release import release_group_sizes

        column = cohort.samples[by].dropna().astype(str)
        sizes = {str(g): int(n) for g, n in column.value_counts().sort_index().items()}
        return release_group_sizes(sizes, policy)

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
            "groupings": {by: group_sizes(by) for by in groupings},
            "policy": policy.to_dict(),
            "pca_min_group": pca_min_group(policy),
            "endpoints": ["GET /", "POST /counts", "POST /pca/reference", "POST /pca/project"],
        }

    @app.post("/counts")
    def counts_endpoint(http: Request, request: dict[str, Any] = Body(...)) -> Any:  # noqa: B008
        by = request.get("by")
        if not isinstance(by, str):
            raise HTTPException(400, "give 'by': the grouping column")
        region = request.get("region")
        snps_only = bool(request.get("snps_only", False))
        released = released_counts(by, region, snps_only)
        variants = request.get("variants", "all")
        if variants != "all":
            released = _subset_variants(released, variants)
        return _json_response(encode_counts(released, site=name, by=by, policy=policy), http)

    @app.post("/pca/reference")
    def pca_reference_endpoint(http: Request, request: dict[str, Any] = Body(...)) -> Any:  # noqa: B008
        from genshare_widgets.federation._pca import pca_reference

        refuse_pca_under_dp()
        try:
            ref = pca_reference(
                cohort,
                k=int(request.get("k", 4)),
                min_maf=float(request.get("min_maf", 0.05)),
                region=request.get("region"),
                snps_only=bool(request.get("snps_only", False)),
            )
        except (GenShareError, TypeError, ValueError) as exc:
            raise HTTPException(400, str(exc)) from None
        return _json_response({"protocol": PROTOCOL, "site": name, **ref.to_json()}, http)

    @app.post("/pca/project")
    def pca_project_endpoint(request: dict[str, Any] = Body(...)) -> Any:  # noqa: B008
        from genshare_widgets.federation._pca import PCAReference, group_projection_summaries

        refuse_pca_under_dp()
        by = request.get("by")
        if by not in groupings:
            raise HTTPException(400, f"grouping {by!r} is not offered here; use one of {groupings}")
        try:
            ref = PCAReference.from_json(request.get("reference"))
        except GenShareError as exc:
            raise HTTPException(400, f"reference: {exc}") from None
        with lock:
            summary = group_projection_summaries(
                cohort, ref, by=by, min_group=pca_min_group(policy)
            )
        return {"protocol": PROTOCOL, "site": name, "by": by, **summary}

    def refuse_pca_under_dp() -> None:
        if policy.epsilon is not None:
            raise HTTPException(
                403,
                "this site releases counts under differential privacy; PCA summaries have no "
                "DP release here",
            )

    return app


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
