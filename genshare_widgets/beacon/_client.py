"""Notebook helpers: start a Beacon in the background, and ask one a question."""

from pathlib import Path
from typing import Any

from genshare_widgets._errors import GenShareError


def serve_beacon(
    cohort_or_source,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    samples: "str | Path | None" = None,
    purpose: Any = None,
    credential: Any = None,
    ssl_certfile: "str | Path | None" = None,
    ssl_keyfile: "str | Path | None" = None,
    forwarded_allow_ips: "str | list[str] | None" = None,
    **app_options: Any,
):
    """Start a Beacon v2 server for a cohort in a background thread; returns it running.

    Parameters
    ----------
    cohort_or_source
        An opened :class:`~genshare_widgets.Cohort`, or anything
        :func:`~genshare_widgets.open_cohort` takes (catalog id, VCF path(s), store, PLINK
        prefix), opened with ``samples``, ``purpose`` and ``credential``.
    host, port
        Where to listen (default loopback; ``port=0`` picks a free port, see ``.url``).
    ssl_certfile, ssl_keyfile
        PEM files to serve HTTPS (uvicorn's TLS); or put a TLS-terminating proxy in front.
    forwarded_allow_ips
        The reverse proxies (addresses, comma-separated) whose ``X-Forwarded-For`` is
        trusted; default none: the rate limit keys on the TCP peer, whatever headers say.
    **app_options
        Passed to :func:`~genshare_widgets.beacon.beacon_app` (``by``, ``granularity``,
        ``security``, ``tokens``, ``min_count``, ``epsilon``, ``rate_limit``...).

    Returns
    -------
    genshare_widgets._serve.RunningServer
        ``.url`` is the Beacon's base URL; ``.stop()`` ends it.

    Examples
    --------
    >>> server = serve_beacon("sim-ooa", granularity="record")  # doctest: +SKIP
    >>> answer = beacon_query(
    ...     server.url, reference_name="1", start=17, alternate_bases="T"
    ... )  # doctest: +SKIP
    >>> server.stop()  # doctest: +SKIP
    """
    from genshare_widgets._serve import (
        RunningServer,
        beacon_error_document,
        withdrawal_aware_app,
    )
    from genshare_widgets.beacon._app import beacon_app

    cohort = cohort_or_source
    if not hasattr(cohort, "genotypes"):
        from genshare_widgets.cohort import open_cohort

        cohort = open_cohort(
            cohort_or_source, samples=samples, purpose=purpose, credential=credential
        )
    elif samples is not None:
        raise GenShareError("samples= applies to a source being opened, not to an opened cohort")
    app = withdrawal_aware_app(
        cohort,
        lambda c: beacon_app(c, **app_options),
        error_document=beacon_error_document,
    )
    return RunningServer(
        app,
        host=host,
        port=port,
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
        forwarded_allow_ips=forwarded_allow_ips,
    ).start()


def serve_beacon_forever(
    source,
    *,
    samples=None,
    host: str,
    port: int,
    ssl_certfile=None,
    ssl_keyfile=None,
    forwarded_allow_ips=None,
    epsilon: float | None = None,
    min_count: int | None = None,
    custodian=None,
    **app_options: Any,
) -> None:
    """``genshare beacon serve``: open ``source``, release its counts, serve in the foreground.

    The custodian's settings (:func:`~genshare_widgets.disclosure.custodian_settings` of the
    entry and the ``custodian`` config file) fix k, the epsilon cap and the budget; under
    ``epsilon`` the budget is the cohort's ledger (by cohort id, or the config's ``ledger:``),
    so restarting the server charges it again (a new noisy release) and never resets it.
    Forwarded headers are trusted only from ``forwarded_allow_ips``.
    """
    import click

    from genshare_widgets._serve import (
        beacon_error_document,
        proxy_options,
        serve_forever,
        tls_options,
        withdrawal_aware_app,
    )
    from genshare_widgets.beacon._app import beacon_app
    from genshare_widgets.cohort import open_cohort
    from genshare_widgets.disclosure import custodian_settings, policy_for

    tls = tls_options(ssl_certfile, ssl_keyfile)  # refuse half a TLS pair before any work
    proxy_options(forwarded_allow_ips)  # and a '*' proxy list
    cohort = open_cohort(source, samples=samples)
    settings = custodian_settings(cohort.entry, custodian)  # contradictions stop here
    policy = policy_for(cohort.entry, min_count=min_count, epsilon=epsilon, custodian=settings)
    budget = settings.budget(cohort.id).create() if epsilon is not None else None
    app = withdrawal_aware_app(  # a changed withdrawal list is picked up per request
        cohort,
        lambda c: beacon_app(c, policy=policy, budget=budget, **app_options),
        error_document=beacon_error_document,
    )
    scheme = "https" if tls else "http"
    click.echo(f"Beacon v2 for {cohort.id} on {scheme}://{host}:{port} (Ctrl-C stops)", err=True)
    if forwarded_allow_ips:
        click.echo(f"trusting X-Forwarded-For from {forwarded_allow_ips} only", err=True)
    serve_forever(app, host=host, port=port, forwarded_allow_ips=forwarded_allow_ips, **tls)


def beacon_query(
    url: str,
    *,
    reference_name: str,
    start: int,
    end: int | None = None,
    reference_bases: str | None = None,
    alternate_bases: str | None = None,
    variant_type: str | None = None,
    assembly_id: str | None = None,
    granularity: str = "boolean",
    token: str | None = None,
    limit: int | None = None,
    timeout: float = 10.0,
    verify: "bool | str" = True,
) -> dict[str, Any]:
    """Ask a Beacon v2 ``/g_variants`` one question (GET); returns the JSON response.

    ``start`` is 0-based (Beacon v2): the VCF record at POS is ``start=POS - 1``. Raises
    :class:`~genshare_widgets.GenShareError` with the Beacon's error message on 4xx/5xx.

    Examples
    --------
    >>> answer = beacon_query(url, reference_name="1", start=985899, reference_bases="C",
    ...                       alternate_bases="T", granularity="record")  # doctest: +SKIP
    >>> answer["responseSummary"]["exists"]  # doctest: +SKIP
    True
    """
    import httpx

    params: dict[str, Any] = {
        "referenceName": reference_name,
        "start": int(start),
        "requestedGranularity": granularity,
    }
    optional = {
        "end": end,
        "referenceBases": reference_bases,
        "alternateBases": alternate_bases,
        "variantType": variant_type,
        "assemblyId": assembly_id,
        "limit": limit,
    }
    params.update({k: v for k, v in optional.items() if v is not None})
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.get(
            url.rstrip("/") + "/g_variants",
            params=params,
            headers=headers,
            timeout=timeout,
            verify=verify,
        )
    except httpx.HTTPError as exc:
        raise GenShareError(f"Beacon {url} did not answer: {exc}") from None
    if response.status_code >= 400:
        try:
            message = response.json()["error"]["errorMessage"]
        except (ValueError, KeyError, TypeError):
            message = response.text[:200]
        raise GenShareError(f"Beacon {url} answered {response.status_code}: {message}")
    return response.json()
