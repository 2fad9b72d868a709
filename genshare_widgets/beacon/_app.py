"""The Beacon v2 ASGI application (FastAPI) for one cohort.

Endpoints (all GET; ``/g_variants`` also POST with a Beacon request body):

==================  ===========================================  ==========================
path                response (Beacon v2 framework)               needs a token when
==================  ===========================================  ==========================
``/``, ``/info``    beaconInfoResponse                           never
``/service-info``   GA4GH service-info 1.0.0                     never
``/configuration``  beaconConfigurationResponse                  never
``/map``            beaconMapResponse                            never
``/entry_types``    beaconEntryTypesResponse                     never
``/filtering_terms``  beaconFilteringTermsResponse (empty)       REGISTERED / CONTROLLED
``/datasets``       beaconCollectionsResponse (the cohort, DUO)  REGISTERED / CONTROLLED
``/datasets/{id}``  beaconCollectionsResponse                    REGISTERED / CONTROLLED
``/g_variants``     boolean / count / resultSets response        REGISTERED / CONTROLLED
==================  ===========================================  ==========================

Errors are beaconErrorResponse documents: 400 malformed request (an unknown ``variantType``,
a body nested deeper than 32 levels), 401 missing or unknown token, 403 token not approved for
a CONTROLLED Beacon, 404 unknown path or dataset, 408 a request body that stalls, 413 a body
over 1 MiB (see :mod:`genshare_widgets._serve`), 429 rate limit (with ``Retry-After``).
"""

from typing import Any

from genshare_widgets._errors import GenShareError
from genshare_widgets.beacon._documents import _ORDER, SECURITY_LEVELS, BeaconDescription
from genshare_widgets.beacon._query import (
    BeaconRequestError,
    match_rows,
    normalize_granularity,
    parse_query,
)
from genshare_widgets.beacon._security import (
    RateLimiter,
    as_token_table,
    authenticate,
    authenticate_passport,
)

TIER_SECURITY = {"open": "PUBLIC", "registered": "REGISTERED", "controlled": "CONTROLLED"}
PUBLIC_PATHS = {"/", "/info", "/service-info", "/configuration", "/map", "/entry_types"}
_QUERY_KEYS = (
    "referenceName",
    "start",
    "end",
    "referenceBases",
    "alternateBases",
    "variantType",
    "assemblyId",
    "geneId",
    "aminoacidChange",
    "genomicAlleleShortForm",
    "mateName",
    "variantMinLength",
    "variantMaxLength",
)


def _security_level(entry, security: str | None) -> str:
    floor = TIER_SECURITY.get(getattr(entry, "access", None) or "open", "PUBLIC")
    if security is None:
        return floor
    level = str(security).upper()
    if level not in SECURITY_LEVELS:
        raise GenShareError(f"security {security!r} is not one of {', '.join(SECURITY_LEVELS)}")
    if SECURITY_LEVELS.index(level) < SECURITY_LEVELS.index(floor):
        raise GenShareError(
            f"security {level} is below this cohort's access tier "
            f"({entry.access} → at least {floor}); it may be raised, never lowered"
        )
    return level


def beacon_app(
    cohort,
    *,
    by: str = "population",
    granularity: str | None = None,
    security: str | None = None,
    tokens=None,
    policy=None,
    min_count: int | None = None,
    epsilon: float | None = None,
    rate_limit: int | None = None,
    budget=None,
    beacon_id: str | None = None,
    organization: dict[str, str] | None = None,
    trusted_issuers=None,
):
    """A GA4GH Beacon v2 FastAPI application answering from ``cohort``'s released counts.

    Counts are computed and released once, here (see
    :func:`genshare_widgets.beacon._release.beacon_release`); queries are answered from memory.

    Parameters
    ----------
    cohort
        An opened :class:`~genshare_widgets.Cohort` (catalog entry or the user's own files).
    by
        Sample column whose groups get a ``frequencyInPopulations`` row each (default
        population), fixed here: no request picks a grouping. Groups with fewer than
        ``max(k, 5)`` samples are never served. Refused by consent (NPOA, HMB...) →
        cohort-wide frequencies only.
    granularity
        The most detailed answer served: ``boolean``, ``count`` or ``record`` (``aggregated``
        is accepted for ``record``: aggregated variant records with frequencyInPopulations).
        Default: ``record`` for open cohorts, ``count`` for registered/controlled ones.
    security
        ``PUBLIC``, ``REGISTERED`` or ``CONTROLLED``; default from the entry's tier (open →
        PUBLIC, registered → REGISTERED, controlled → CONTROLLED); it may be raised, not
        lowered. REGISTERED/CONTROLLED need ``tokens``.
    tokens
        A token file path, a table from :func:`~genshare_widgets.beacon.load_tokens`, or a
        list of token strings / ``{name, token, level}`` mappings; default
        ``$GENSHARE_BEACON_TOKENS``.
    trusted_issuers
        The custodian's trusted GA4GH Passport issuers (a
        :class:`~genshare_widgets.disclosure._passport.TrustedIssuers` or its JSON file);
        default ``$GENSHARE_TRUSTED_ISSUERS``. A REGISTERED/CONTROLLED Beacon then also
        accepts a bearer Passport (see :mod:`genshare_widgets.beacon._security`).
    policy
        A :class:`~genshare_widgets.disclosure.DisclosurePolicy`; default
        ``policy_for(cohort.entry, min_count=min_count, epsilon=epsilon)``.
    min_count, epsilon
        Disclosure options when ``policy`` is not given (users may only raise the minimum
        count; epsilon makes one differentially private release at start-up).
    rate_limit
        Requests per minute per client (token holder, else the client address: the TCP peer,
        or the forwarded address when the server trusts a proxy's ``X-Forwarded-For``, see
        :func:`genshare_widgets._serve.proxy_options`); None: off.
    budget
        The :class:`~genshare_widgets.disclosure.PrivacyBudget` charged once under epsilon
        (default :func:`~genshare_widgets.beacon._release.beacon_budget`: the cohort's ledger).
    beacon_id, organization
        The Beacon's id (default ``org.genshare.beacon.<cohort id>``) and operator
        (``{"id", "name", "url"}``).

    Returns
    -------
    fastapi.FastAPI

    Examples
    --------
    >>> app = beacon_app(open_cohort("sim-ooa"), granularity="record")  # doctest: +SKIP
    >>> server = RunningServer(app).start()  # doctest: +SKIP
    """
    from genshare_widgets._serve import require_serve_extra

    require_serve_extra()
    from genshare_widgets.beacon._release import beacon_release, served_sample_sets
    from genshare_widgets.disclosure import policy_for
    from genshare_widgets.disclosure._publishing import check_service_release

    entry = cohort.entry
    if policy is None:
        policy = policy_for(entry, min_count=min_count, epsilon=epsilon)
    elif min_count is not None or epsilon is not None:
        raise GenShareError("give either policy= or min_count=/epsilon=, not both")
    level = _security_level(entry, security)
    table = as_token_table(tokens)
    gate = _passport_gate(entry, level, trusted_issuers)
    if level != "PUBLIC" and not table and gate is None:
        raise GenShareError(
            f"a {level} Beacon needs bearer tokens: give --token-file FILE (one token per line, "
            "or a YAML list), set GENSHARE_BEACON_TOKENS, or trust GA4GH Passport issuers "
            "(GENSHARE_TRUSTED_ISSUERS=FILE)"
        )
    tier = getattr(entry, "access", None) or "open"
    max_granularity = normalize_granularity(
        granularity or ("record" if tier == "open" else "count"), where="granularity"
    )
    limiter = RateLimiter(rate_limit) if rate_limit else None
    release = beacon_release(cohort, by=by, policy=policy, budget=budget)
    # rule 6 across withdrawals and restarts: nothing served that differs from an earlier
    # release by fewer than k samples (raises ReleaseRefused)
    check_service_release(
        cohort,
        served_sample_sets(cohort, release),
        policy,
        service=f"the Beacon of {cohort.id} (by {by})",
    )
    description = BeaconDescription(
        release=release,
        cohort_id=cohort.id,
        title=entry.title if entry else f"cohort {cohort.id}",
        description=(entry.description.strip() if entry else f"User cohort {cohort.id}"),
        genome_build=entry.genome_build if entry else None,
        version=entry.version if entry else "1",
        access=tier,
        duo=list(entry.duo) if entry else [],
        granularity=max_granularity,
        security=level,
        beacon_id=beacon_id or f"org.genshare.beacon.{cohort.id}",
        organization={"id": "genshare", "name": "GenShare", **(organization or {})},
        homepage=getattr(entry, "homepage", None),
        catalog_version=cohort.provenance.get("catalog_version"),
    )
    return _build_app(description, level=level, table=table, limiter=limiter, gate=gate)


def _passport_gate(entry, level: str, trusted_issuers):
    """The Beacon's Passport check (None on a PUBLIC Beacon or without trusted issuers)."""
    from genshare_widgets.disclosure._passport import PassportGate, as_trusted_issuers

    issuers = as_trusted_issuers(trusted_issuers)
    if issuers is None or level == "PUBLIC":
        return None
    dataset_url = getattr(entry, "dataset_url", None)
    return PassportGate(issuers, level=level.lower(), dataset_url=dataset_url)


def _build_app(description: BeaconDescription, *, level: str, table, limiter, gate=None):
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException

    from genshare_widgets._serve import RequestLimits

    app = FastAPI(
        title=f"GenShare Beacon v2: {description.cohort_id}",
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.beacon = description

    def error(code: int, message: str, headers=None, **kw) -> JSONResponse:
        return JSONResponse(description.error(code, message, **kw), code, headers=headers)

    # body size, JSON depth and body-idle limits (413/400/408 as Beacon errors); added before
    # the guard, so it sits inside it: tokens and the rate limit apply to refused bodies too
    app.add_middleware(RequestLimits, error_document=description.error)

    @app.middleware("http")
    async def guard(request: Request, call_next):
        holder = authenticate(request.headers.get("authorization"), table)
        refusal = None
        if holder is None:
            holder, refusal = authenticate_passport(request.headers.get("authorization"), gate)
        if limiter is not None:
            client = (
                f"token:{holder.name}"
                if holder
                else (request.client.host if request.client else "unknown")
            )
            wait = limiter.check(client)
            if wait:
                return error(
                    429,
                    f"rate limit of {limiter.per_minute} requests per minute exceeded; "
                    f"retry in {wait:g} s",
                    headers={"Retry-After": str(int(wait))},
                )
        if level != "PUBLIC" and request.url.path.rstrip("/") not in {
            p.rstrip("/") for p in PUBLIC_PATHS
        }:
            if holder is None and refusal is not None:
                return error(
                    refusal.status,
                    f"this Beacon is {level}: {refusal}",
                    headers={"WWW-Authenticate": "Bearer"} if refusal.status == 401 else None,
                )
            if holder is None:
                return error(
                    401,
                    f"this Beacon is {level}: send 'Authorization: Bearer <token>' with a "
                    "token issued by its operator"
                    + (" or a GA4GH Passport from an issuer it trusts" if gate else ""),
                    headers={"WWW-Authenticate": "Bearer"},
                )
            if level == "CONTROLLED" and holder.level != "controlled":
                return error(
                    403,
                    f"this Beacon is CONTROLLED: the token of {holder.name!r} is registered, "
                    "not approved for this dataset",
                )
        return await call_next(request)

    @app.exception_handler(HTTPException)
    async def http_error(_request, exc):
        return error(exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request, exc):
        return error(400, f"malformed request: {exc.errors()}")

    base = _base_url

    @app.get("/")
    @app.get("/info")
    def info():
        return description.info()

    @app.get("/service-info")
    def service_info(request: Request):
        return description.service_info(base(request))

    @app.get("/configuration")
    def configuration():
        return description.configuration()

    @app.get("/map")
    def beacon_map(request: Request):
        return description.beacon_map(base(request))

    @app.get("/entry_types")
    def entry_types():
        return description.entry_types_response()

    @app.get("/filtering_terms")
    def filtering_terms():
        return description.filtering_terms()

    @app.get("/datasets")
    def datasets(request: Request):
        requested = request.query_params.get("requestedGranularity", "record")
        return description.datasets_response(requested=_granularity_or_record(requested))

    @app.get("/datasets/{dataset_id}")
    def dataset(dataset_id: str):
        if dataset_id != description.cohort_id:
            return error(
                404, f"no dataset {dataset_id!r}; this Beacon serves {description.cohort_id!r}"
            )
        return description.datasets_response(requested="record")

    def answer(params: dict[str, Any]) -> JSONResponse:
        try:
            q = parse_query(params, default_granularity="boolean")
        except BeaconRequestError as exc:
            return error(400, str(exc))
        returned = min(q.granularity, description.granularity, key=_ORDER.__getitem__)
        rows, notes = match_rows(description.release, q, genome_build=description.genome_build)
        return JSONResponse(description.variants_response(rows, q, returned=returned, notes=notes))

    @app.get("/g_variants")
    def g_variants_get(request: Request):
        params: dict[str, Any] = dict(request.query_params)
        return answer(params)

    @app.post("/g_variants")
    async def g_variants_post(request: Request):
        try:
            body = await request.json()
        except (ValueError, RecursionError):  # RequestLimits already refused deep nesting
            return error(400, "the request body is not JSON (a Beacon request: {meta, query})")
        if not isinstance(body, dict) or not isinstance(body.get("query", {}), dict):
            return error(400, "the request body must be an object with a 'query' object")
        query = body.get("query") or {}
        params = query.get("requestParameters") or {}
        if not isinstance(params, dict):
            return error(400, "query.requestParameters must be an object")
        if set(params) == {"g_variant"}:  # the model's nested form (what meta echoes)
            params = params["g_variant"]
            if not isinstance(params, dict):
                return error(400, "query.requestParameters.g_variant must be an object")
        pagination = query.get("pagination") or {}
        if not isinstance(pagination, dict):
            return error(400, "query.pagination must be an object with skip and limit")
        merged = {k: v for k, v in params.items() if k in _QUERY_KEYS}
        unknown = sorted(set(params) - set(_QUERY_KEYS))
        if unknown:
            return error(400, f"unknown requestParameters {unknown}")
        for key in ("requestedGranularity", "includeResultsetResponses", "filters"):
            if key in query:
                merged[key] = query[key]
        merged.update({k: pagination[k] for k in ("skip", "limit") if k in pagination})
        return answer(merged)

    return app


def _granularity_or_record(value: str) -> str:
    try:
        return normalize_granularity(value)
    except BeaconRequestError:
        return "record"


def _base_url(request) -> str:
    return str(request.base_url).rstrip("/")
