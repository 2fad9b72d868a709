"""A GA4GH Beacon v2 API for one cohort (``genshare beacon serve``).

- :func:`beacon_app`: the FastAPI application (counts released once, answers from memory);
- :func:`serve_beacon`: start one in the background (notebooks, tests) → ``RunningServer``;
- :func:`beacon_query`: ask a Beacon's ``/g_variants`` one question;
- :func:`beacon_network`: ask many Beacons one question in parallel, merged into one table
  (slow, down or malformed Beacons named as exclusions) → :class:`NetworkResult`;
- :func:`load_tokens`: bearer tokens from a file or ``GENSHARE_BEACON_TOKENS``;
- :func:`beacon_release`: the released counts a Beacon answers from.

FastAPI, uvicorn and httpx load on first use (``pip install "genshare_widgets[serve]"``).

Examples
--------
>>> from genshare_widgets.beacon import serve_beacon, beacon_query
>>> server = serve_beacon("sim-ooa", granularity="record")  # doctest: +SKIP
>>> beacon_query(server.url, reference_name="1", start=17, alternate_bases="T")  # doctest: +SKIP
"""

from typing import TYPE_CHECKING

from genshare_widgets._lazy import lazy_exports

if TYPE_CHECKING:
    from genshare_widgets.beacon._app import beacon_app
    from genshare_widgets.beacon._client import beacon_query, serve_beacon
    from genshare_widgets.beacon._network import NetworkQuery, NetworkResult, beacon_network
    from genshare_widgets.beacon._release import BeaconRelease, beacon_release
    from genshare_widgets.beacon._security import RateLimiter, TokenHolder, load_tokens

_LAZY = {
    "beacon_app": "_app",
    "beacon_query": "_client",
    "beacon_network": "_network",
    "NetworkQuery": "_network",
    "NetworkResult": "_network",
    "serve_beacon": "_client",
    "BeaconRelease": "_release",
    "beacon_release": "_release",
    "RateLimiter": "_security",
    "TokenHolder": "_security",
    "load_tokens": "_security",
}

__all__ = [
    "BeaconRelease",
    "NetworkQuery",
    "NetworkResult",
    "RateLimiter",
    "TokenHolder",
    "beacon_app",
    "beacon_network",
    "beacon_query",
    "beacon_release",
    "load_tokens",
    "serve_beacon",
]

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
