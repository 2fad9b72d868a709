"""The coordinator's federated association: page through every site's ``POST /assoc``, add the
released sums, fit (``federate(..., stats=["assoc"])``, ``genshare federate --stats assoc``).

- **Linear** (quantitative trait): each site's ``XᵀX``, ``Xᵀy``, ``yᵀy``, ``n`` per variant
  are added over sites (variants aligned on contig, position, ref, alt; a variant absent at a
  site contributes nothing there) and fitted by
  :func:`~genshare_widgets.stats._association.linear_fit`: the pooled fit, to rounding.
- **Logistic** (binary trait, ``binary=True``): Newton rounds. Round 0 asks every site for the
  Hessian, score and log-likelihood at coefficients 0; each later round sends each variant's
  current coefficients and adds the sites' terms. The rounds are driven by the pooled fit's
  own algorithm (:class:`~genshare_widgets.stats._association.NewtonFit`: Newton steps with
  step halving on the summed log-likelihood, tolerance 1e-8, at most ``MAX_ITER`` rounds,
  after the same separation check), and the SE comes from the summed Hessian of the last
  accepted round (no extra round). The allelic chi-square comes from the round-0 terms (``4·H`` and
  ``g + Xᵀ1/2`` are ``XᵀX`` and ``Xᵀy``), exactly.
- A variant a site withholds (``status`` ≠ 0) is fitted on the sites that released it and the
  ``note`` names the others (``partial: withheld at …``); withheld everywhere → NA. In a
  logistic fit a site that stops releasing a variant after round 0 ends that variant's fit
  (NA, note).
- **Meta-analysis** (``meta=True``): each site's own fit, combined by inverse-variance fixed
  effects (:func:`~genshare_widgets.stats._association.meta_analysis`), written as
  ``assoc_meta.tsv`` beside ``assoc.tsv``.

A site that lacks the phenotype or a covariate (``GET /`` ``assoc``), is down, refuses or answers
malformed data is excluded by name with the reason, as in :func:`federate`.
"""

import json
import shutil
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from genshare_widgets._errors import GenShareError
from genshare_widgets.federation._client import (
    SiteFailure,
    describe_exclusion,
    make_client,
    request_json,
    site_label,
)
from genshare_widgets.federation._protocol import PROTOCOL

ASSOC_COMBINATION = (
    "per-variant sufficient statistics (linear: XᵀX, Xᵀy, yᵀy, n; logistic: Hessian and score "
    "at the coordinator's coefficients, Newton rounds) added over the sites that released the "
    "variant; variants aligned on (contig, position, ref, alt)"
)

RULE_KEYS = ("min_n", "max_parameters_per_sample", "eta_max", "min_effective_n",
             "max_logistic_rounds")  # fmt: skip


@dataclass
class SiteSums:
    """One site's pages: its variant keys (site order), per-page row ranges, and what it
    released at the last request (status, n, and the model's arrays)."""

    url: str
    name: str
    info: dict[str, Any]
    keys: list[tuple[str, int, str, str]]
    pages: list[tuple[int, int]]
    covariate_columns: list[str]
    status: np.ndarray
    n: np.ndarray
    a: np.ndarray  # xtx or hessian (variants, p, p)
    b: np.ndarray  # xty or score (variants, p)
    c: np.ndarray  # yty (linear) or the log-likelihood (logistic)
    glob: np.ndarray | None = None  # global row of each site row


def _full(upper: list, p: int) -> np.ndarray:
    """(variants, p, p) symmetric matrices from upper-triangle rows."""
    flat = np.asarray(upper, dtype=np.float64).reshape(-1, p * (p + 1) // 2)
    out = np.zeros((len(flat), p, p))
    iu = np.triu_indices(p)
    out[:, iu[0], iu[1]] = flat
    out[:, iu[1], iu[0]] = flat
    return out


def _check_page(answer: Any, model: str) -> dict[str, Any]:
    """The arrays of one ``/assoc`` answer, or SiteFailure when malformed."""
    try:
        p = 2 + len(answer["covariate_columns"])
        v = answer["variants"]
        keys = list(zip(v["contig"], v["position"], v["ref"], v["alt"], strict=True))
        keys = [(str(c), int(q), str(r), str(a)) for c, q, r, a in keys]
        rows = len(keys)
        status = np.asarray(answer["status"], dtype=np.int64).reshape(rows)
        n = np.asarray(answer["n"], dtype=np.int64).reshape(rows)
        if model == "linear":
            a = _full(answer["xtx"], p)
            b = np.asarray(answer["xty"], dtype=np.float64).reshape(rows, p)
            c = np.asarray(answer["yty"], dtype=np.float64).reshape(rows)
        else:
            a = _full(answer["hessian"], p)
            b = np.asarray(answer["score"], dtype=np.float64).reshape(rows, p)
            c = np.asarray(answer["loglik"], dtype=np.float64).reshape(rows)
        if len(a) != rows or not (
            np.isfinite(a).all() and np.isfinite(b).all() and np.isfinite(c).all()
        ):
            raise ValueError("arrays do not match the variants or are not finite")
        return {
            "keys": keys,
            "status": status,
            "n": n,
            "a": a,
            "b": b,
            "c": c,
            "n_pages": int(answer["n_pages"]),
            "covariate_columns": [str(x) for x in answer.get("covariate_columns", [])],
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise SiteFailure(f"malformed association answer: {exc}") from None


def _handshake(client, url: str, *, pheno: str, covar: list[str], binary: bool) -> dict:
    base = url.rstrip("/")
    info = request_json(client, "GET", base + "/")
    if not isinstance(info, dict) or info.get("protocol") != PROTOCOL:
        raise SiteFailure(f"not a protocol-{PROTOCOL} federation site")
    name = info.get("site")
    try:
        assoc = info.get("assoc")
        if not isinstance(assoc, dict):
            raise SiteFailure("serves no association (no --assoc-pheno at its start)")
        phenotypes = assoc.get("phenotypes") or {}
        if pheno not in phenotypes:
            raise SiteFailure(f"lacks phenotype {pheno!r} (it serves {sorted(phenotypes)})")
        if binary and phenotypes[pheno] != "binary":
            raise SiteFailure(f"phenotype {pheno!r} is {phenotypes[pheno]} there, not binary")
        names = [str(c) for c in assoc.get("covariates") or []]
        lacking = [
            c for c in covar if c not in names and not any(n.startswith(f"{c}=") for n in names)
        ]
        if lacking:
            raise SiteFailure(f"lacks covariate(s) {lacking} (it serves {names})")
    except SiteFailure as exc:
        exc.site_name = str(name) if isinstance(name, str) and name else None
        raise
    return info


def _page(client, url: str, body: dict[str, Any], model: str) -> dict[str, Any]:
    answer = request_json(client, "POST", url.rstrip("/") + "/assoc", json=body)
    return _check_page(answer, model)


def _first_pass(url: str, body: dict, *, model: str, timeout, token, verify, request):
    """Handshake, then every page at the first request (linear sums, or logistic terms at 0)."""
    with make_client(timeout=timeout, token=token, verify=verify) as client:
        info = _handshake(client, url, **request)
        name = str(info.get("site") or site_label(url))
        try:
            pages: list[tuple[int, int]] = []
            parts: list[dict[str, Any]] = []
            page, n_pages, start = 0, 1, 0
            while page < n_pages:
                part = _page(client, url, {**body, "page": page}, model)
                if page == 0:
                    n_pages = part["n_pages"]
                elif part["covariate_columns"] != parts[0]["covariate_columns"]:
                    raise SiteFailure("covariate columns changed between pages")
                pages.append((start, start + len(part["keys"])))
                start += len(part["keys"])
                parts.append(part)
                page += 1
        except SiteFailure as exc:
            exc.site_name = name
            raise
    return SiteSums(
        url=url,
        name=name,
        info=info,
        keys=[k for part in parts for k in part["keys"]],
        pages=pages,
        covariate_columns=parts[0]["covariate_columns"],
        status=np.concatenate([part["status"] for part in parts]),
        n=np.concatenate([part["n"] for part in parts]),
        a=np.concatenate([part["a"] for part in parts]),
        b=np.concatenate([part["b"] for part in parts]),
        c=np.concatenate([part["c"] for part in parts]),
    )


def _site_pages(sites: list[str], body, *, model, timeout, token, verify, request):
    """Every site's first pass in parallel → (SiteSums list, excluded entries)."""
    answers, excluded = [], []
    with ThreadPoolExecutor(max_workers=min(8, len(sites))) as pool:
        futures = {
            url: pool.submit(
                _first_pass,
                url,
                body,
                model=model,
                timeout=timeout,
                token=token,
                verify=verify,
                request=request,
            )
            for url in sites
        }
        for url, future in futures.items():
            try:
                answers.append(future.result())
            except SiteFailure as exc:
                entry = {"site": site_label(url), "url": url, "reason": str(exc)}
                if exc.site_name:
                    entry["name"] = exc.site_name
                excluded.append(entry)
    return answers, excluded


def _align(sites: list[SiteSums]) -> list[tuple[str, int, str, str]]:
    """Union of the sites' variant keys (first-seen order); sets each site's ``glob``."""
    index: dict[tuple[str, int, str, str], int] = {}
    for site in sites:
        site.glob = np.array([index.setdefault(k, len(index)) for k in site.keys], dtype=np.int64)
    return list(index)


def _withheld_notes(sites: list[SiteSums], n_var: int, status_text: dict) -> np.ndarray:
    """Per variant: '' or 'withheld at SITE (reason); ...' for the sites that withheld it."""
    notes: list[list[str]] = [[] for _ in range(n_var)]
    for site in sites:
        assert site.glob is not None
        for i in np.flatnonzero(site.status != 0):
            why = status_text.get(str(site.status[i]), f"status {site.status[i]}")
            notes[site.glob[i]].append(f"{site.name} ({why})")
    return np.array(["; ".join(x) for x in notes], dtype=object)


def _summed(sites: list[SiteSums], n_var: int, p: int, masks=None):
    """Σ over sites of the released rows (within ``masks``, per site) → (a, b, c, n,
    contributing sites per variant)."""
    a, b = np.zeros((n_var, p, p)), np.zeros((n_var, p))
    c, n = np.zeros(n_var), np.zeros(n_var, dtype=np.int64)
    used = np.zeros(n_var, dtype=np.int64)
    for i, site in enumerate(sites):
        assert site.glob is not None
        ok = site.status == 0
        if masks is not None:
            ok &= masks[i]
        g = site.glob[ok]
        a[g] += site.a[ok]
        b[g] += site.b[ok]
        c[g] += site.c[ok]
        n[g] += site.n[ok]
        used[g] += 1
    return a, b, c, n, used


def _linear(sites: list[SiteSums], n_var: int, p: int) -> dict[str, np.ndarray]:
    from genshare_widgets.stats._association import LinearSums, empty_fit, linear_fit

    a, b, c, n, used = _summed(sites, n_var, p)
    out = empty_fit(n_var)
    rows = np.flatnonzero(used > 0)
    if len(rows):
        fit = linear_fit(LinearSums(xtx=a[rows], xty=b[rows], yty=c[rows], n=n[rows]))
        for key in out:
            out[key][rows] = fit[key]
    return out


def _round(site: SiteSums, body: dict, coef: np.ndarray, pages: list[int], ctx) -> None:
    """Ask ``site`` for the logistic terms of ``pages`` at the global ``coef``; update it."""
    from genshare_widgets.federation._assoc_site import encode_coef

    assert site.glob is not None
    with make_client(timeout=ctx["timeout"], token=ctx["token"], verify=ctx["verify"]) as client:
        for page in pages:
            lo, hi = site.pages[page]
            sent = coef[site.glob[lo:hi]]
            try:
                part = _page(
                    client, site.url, {**body, "page": page, "coef": encode_coef(sent)}, "logistic"
                )
            except SiteFailure as exc:
                exc.site_name, exc.site_url = site.name, site.url
                raise
            if part["keys"] != site.keys[lo:hi]:
                changed = SiteFailure(f"page {page} changed its variants between rounds")
                changed.site_name, changed.site_url = site.name, site.url
                raise changed
            site.status[lo:hi] = part["status"]
            site.n[lo:hi] = part["n"]
            site.a[lo:hi] = part["a"]
            site.b[lo:hi] = part["b"]
            site.c[lo:hi] = part["c"]


def _logistic(sites: list[SiteSums], n_var: int, p: int, body: dict, ctx) -> dict[str, Any]:
    """Federated Newton rounds (see the module doc) → the fit and the number of rounds: the
    same algorithm as the pooled fit (:class:`~genshare_widgets.stats._association.NewtonFit`,
    step halving on the summed log-likelihood) on the sites' summed terms, after the same
    separation check (from the round-0 terms: an allele absent from the cases or controls)."""
    from scipy import special

    from genshare_widgets.stats._association import (
        SEPARATED,
        SEPARATING,
        NewtonFit,
        allelic_chisq,
        empty_fit,
    )

    tol = 1e-8  # as logistic_fit's default
    a, b, c, n, used = _summed(sites, n_var, p)
    members = [site.status == 0 for site in sites]  # who contributes each site row (round 0)
    out = empty_fit(n_var)
    out["n"] = n
    note = out["note"]
    active = (used > 0) & (n > p)
    note[(used > 0) & ~active] = "too few samples"
    # counts from the round-0 terms (at coefficients 0, H = XᵀX / 4 and g = Xᵀ(y − 1/2))
    xtx = 4 * a
    xty = b + xtx[:, 0, :] / 2
    called, cases = xtx[:, 0, 0], xty[:, 0]
    ac, ac_case = xtx[:, 0, p - 1], xty[:, p - 1]
    alt = np.stack([ac - ac_case, ac_case], axis=1)
    both = np.stack([called - cases, cases], axis=1)
    constant = active & ((ac == 0) | (ac == 2 * called))
    separated = active & ~constant & ((alt == 0) | (alt == 2 * both)).any(axis=1)
    note[constant] = "dosage constant given the covariates"
    note[separated] = SEPARATED
    newton = NewtonFit(np.zeros((n_var, p)), active & ~constant & ~separated, note, tol=tol)
    rounds = 1

    def ask(rows: np.ndarray):
        """The summed Hessian, score and log-likelihood of ``rows`` at the current
        coefficients (one round at every site), and which rows a site stopped answering."""
        nonlocal rounds
        want = np.zeros(n_var, dtype=bool)
        want[rows] = True
        with ThreadPoolExecutor(max_workers=min(8, len(sites))) as pool:
            jobs = []
            for site, member in zip(sites, members, strict=True):
                assert site.glob is not None
                needed = want[site.glob] & member
                pages = [i for i, (lo, hi) in enumerate(site.pages) if needed[lo:hi].any()]
                jobs.append(pool.submit(_round, site, body, newton.coef, pages, ctx))
            for job in jobs:
                job.result()
        rounds += 1
        h, g, loglik, _, _ = _summed(sites, n_var, p, members)
        lost = np.zeros(n_var, dtype=bool)
        for site, member in zip(sites, members, strict=True):
            assert site.glob is not None
            stopped = member & (site.status != 0)
            lost[site.glob[stopped]] = True
            for i in np.flatnonzero(stopped & want[site.glob]):
                j = site.glob[i]
                if not note[j]:
                    why = ctx.get("status_text", {}).get(str(site.status[i]), "withheld")
                    note[j] = f"did not converge: {site.name} withheld it at round {rounds} ({why})"
        return h[rows], g[rows], loglik[rows], lost[rows]

    first = True
    while len(rows := newton.pending()):
        if first:  # the first pass's terms are at coefficients 0, NewtonFit's start
            h, g, loglik, lost = a[rows], b[rows], c[rows], np.zeros(len(rows), dtype=bool)
            first = False
        else:
            h, g, loglik, lost = ask(rows)
        newton.stop(rows[lost])
        if (~lost).any():
            newton.update(rows[~lost], h[~lost], g[~lost], loglik[~lost])
    coef, converged = newton.coef, newton.converged
    fitted = np.flatnonzero(converged)
    h = newton.hessian[fitted]  # the summed Hessian of the last accepted round
    if len(fitted):
        var = np.full(len(fitted), np.nan)
        for i in range(len(fitted)):
            try:
                var[i] = np.linalg.inv(h[i])[p - 1, p - 1]
            except np.linalg.LinAlgError:
                continue
        sane = (var > 0) & np.isfinite(var)
        out["beta"][fitted[sane]] = coef[fitted[sane], p - 1]
        out["se"][fitted[sane]] = np.sqrt(var[sane])
        note[fitted[~sane]] = SEPARATING
    with np.errstate(invalid="ignore", divide="ignore"):
        out["stat"] = out["beta"] / out["se"]
    finite = np.isfinite(out["stat"])
    out["p"] = np.full(n_var, np.nan)
    out["p"][finite] = 2 * special.ndtr(-np.abs(out["stat"][finite]))
    # the allelic chi-square from the same round-0 counts
    chi2, chi_p = allelic_chisq(ac_case, 2 * cases, ac - ac_case, 2 * (called - cases))
    missing = used == 0
    out["allelic_chisq"] = np.where(missing, np.nan, chi2)
    out["allelic_p"] = np.where(missing, np.nan, chi_p)
    return {"fit": out, "rounds": rounds}


def _table(keys, fit: dict[str, np.ndarray], extra_notes: np.ndarray | None = None):
    """The ``assoc.tsv`` table (columns of :data:`genshare_widgets.association.ASSOC_COLUMNS`)."""
    import pandas as pd

    note = np.array(fit["note"], dtype=object)
    if extra_notes is not None:
        partial = (extra_notes != "") & np.isfinite(fit["beta"])
        gone = (extra_notes != "") & ~np.isfinite(fit["beta"])
        note[partial] = ["partial: withheld at " + t for t in extra_notes[partial]]
        note[gone] = [
            (f"{why}; " if why else "") + "withheld at " + t
            for why, t in zip(note[gone], extra_notes[gone], strict=True)
        ]
    n = pd.array(fit["n"], dtype="Int64")
    n[np.asarray(fit["n"]) == 0] = pd.NA  # no site released the variant
    columns: dict[str, Any] = {
        "contig": [k[0] for k in keys],
        "position": np.array([k[1] for k in keys], dtype=np.int64),
        "ref": [k[2] for k in keys],
        "alt": [k[3] for k in keys],
        "n": n,
        "beta": fit["beta"],
        "se": fit["se"],
        "stat": fit["stat"],
        "p": fit["p"],
        "note": note,
    }
    for extra in ("allelic_chisq", "allelic_p"):
        if extra in fit:
            columns[extra] = fit[extra]
    return pd.DataFrame(columns)


def _meta(sites: list[SiteSums], keys, p: int, body: dict, ctx, model: str):
    """Each site's own fit, combined by inverse-variance fixed effects → (table, per-site)."""
    import copy

    from genshare_widgets.stats._association import meta_analysis

    n_var = len(keys)
    betas, ses, ns = [], [], []
    for site in sites:
        alone = copy.copy(site)
        alone.status, alone.n = site.status.copy(), site.n.copy()
        alone.a, alone.b = site.a.copy(), site.b.copy()
        if model == "linear":
            fit = _linear([alone], n_var, p)
        else:
            fit = _logistic([alone], n_var, p, body, ctx)["fit"]
        betas.append(fit["beta"])
        ses.append(fit["se"])
        ns.append(np.where(np.isfinite(fit["beta"]), fit["n"], 0))
    result = meta_analysis(np.array(betas), np.array(ses), n=np.array(ns))
    return _table(keys, result)


def _fit_sites(answers: list[SiteSums], model: str, body, ctx, *, meta: bool):
    """Combine and fit (see the module doc) → (keys, tables, rounds, withheld notes); every
    site's first-pass arrays are left as they were."""
    p = len(answers[0].covariate_columns) + 2
    keys = _align(answers)
    status_text: dict[str, str] = {}
    for site in answers:
        status_text.update((site.info.get("assoc") or {}).get("status") or {})
    notes = _withheld_notes(answers, len(keys), status_text)
    ctx["status_text"] = status_text
    rounds = 1
    first_pass = [(s.status.copy(), s.n.copy(), s.a.copy(), s.b.copy()) for s in answers]
    try:
        if model == "linear":
            fit = _linear(answers, len(keys), p)
        else:
            result = _logistic(answers, len(keys), p, body, ctx)
            fit, rounds = result["fit"], result["rounds"]
    finally:
        for site, (status, n, a, b) in zip(answers, first_pass, strict=True):
            site.status, site.n, site.a, site.b = status, n, a, b
    tables = {"assoc.tsv": _table(keys, fit, notes)}
    if meta:
        tables["assoc_meta.tsv"] = _meta(answers, keys, p, body, ctx, model)
    return keys, tables, rounds, notes


def federated_association(
    sites: list[str],
    *,
    pheno: str,
    covar: list[str] | None = None,
    binary: bool = False,
    region: str | None = None,
    meta: bool = False,
    timeout: float = 30.0,
    token: str | None = None,
    verify: Any = True,
    min_sites: int = 1,
) -> dict[str, Any]:
    """Federated association over ``sites`` (see the module doc) →
    ``{"tables", "included", "excluded", "association"}``; :func:`federate` writes the files.

    Examples
    --------
    >>> out = federated_association(urls, pheno="height_like", covar=["sex"])  # doctest: +SKIP
    >>> out["tables"]["assoc.tsv"].nsmallest(3, "p")  # doctest: +SKIP
    """
    covar = [c.strip() for c in covar or [] if c.strip()]
    model = "logistic" if binary else "linear"
    body = {"pheno": pheno, "covar": covar, "model": model, "region": region}
    ctx = {"timeout": timeout, "token": token, "verify": verify}
    request = {"pheno": pheno, "covar": covar, "binary": bool(binary)}
    answers, excluded = _site_pages(list(sites), body, model=model, request=request, **ctx)
    if answers:  # every site must fit the same columns (text covariates: same levels)
        first = answers[0].covariate_columns
        for site in list(answers):
            if site.covariate_columns != first:
                answers.remove(site)
                excluded.append(
                    {
                        "site": site_label(site.url),
                        "url": site.url,
                        "name": site.name,
                        "reason": f"its covariate columns {site.covariate_columns} differ from "
                        f"{first} (a text covariate with other levels there)",
                    }
                )
    while True:
        if len(answers) < min_sites or not answers:
            reasons = "; ".join(describe_exclusion(e) for e in excluded)
            raise GenShareError(
                f"only {len(answers)} of {len(sites)} sites could be used for the association "
                f"and --min-sites is {min_sites}; nothing was written (excluded: {reasons})"
            )
        try:
            keys, tables, rounds, notes = _fit_sites(answers, model, body, ctx, meta=meta)
            break
        except SiteFailure as exc:  # a site gone during the logistic rounds: start again
            failed = next((s for s in answers if s.url == exc.site_url), None)
            if failed is None:
                raise
            answers.remove(failed)
            excluded.append(
                {
                    "site": site_label(failed.url),
                    "url": failed.url,
                    "name": failed.name,
                    "reason": f"failed during the logistic rounds: {exc}",
                }
            )
    columns = answers[0].covariate_columns
    included = [
        {
            "site": site.name,
            "url": site.url,
            "cohort": site.info.get("cohort"),
            "entry_version": site.info.get("entry_version"),
            "genome_build": site.info.get("genome_build"),
            "policy": site.info.get("policy"),
            "assoc_rules": {key: (site.info.get("assoc") or {}).get(key) for key in RULE_KEYS},
            "n_variants": len(site.keys),
            "n_withheld": int((site.status != 0).sum()),
            "max_n": int(site.n.max()) if len(site.n) else 0,
        }
        for site in answers
    ]
    from genshare_widgets.stats._association import genomic_control_lambda

    lam = genomic_control_lambda(tables["assoc.tsv"]["p"].to_numpy(dtype=np.float64))
    association = {
        "model": model,
        "pheno": pheno,
        "covar": covar,
        "covariate_columns": columns,
        "region": region,
        "rounds": rounds,
        "n_variants_tested": len(keys),
        "n_variants_partial": int((notes != "").sum()),
        "lambda_gc": None if np.isnan(lam) else lam,
        "meta_analysis": (
            "inverse-variance fixed effects over per-site fits (METAL STDERR): w = 1/SE², "
            "β = Σwβ/Σw, SE = 1/√Σw, z = β/SE, two-sided normal P"
            if meta
            else None
        ),
    }
    return {
        "tables": tables,
        "included": included,
        "excluded": excluded,
        "association": association,
    }


def write_association(result: dict[str, Any], out: str | Path, *, command) -> tuple[dict, dict]:
    """Write ``assoc.tsv`` (+ ``assoc_meta.tsv``) and ``provenance.json`` into ``out``,
    all or nothing → (provenance, {file: path})."""
    from genshare_widgets._outputs import package_versions, publish, write_tsv

    provenance = {
        "federation": {
            "protocol": PROTOCOL,
            "sites": result["included"],
            "excluded": result["excluded"],
            "combination": ASSOC_COMBINATION,
        },
        "statistics": sorted(result["tables"]),
        "association": result["association"],
        "package_versions": package_versions(),
        "command": command or sys.argv,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if out is None:
        return provenance, {}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".genshare-federate-", dir=out))
    try:
        for name, table in result["tables"].items():
            write_tsv(table, tmp / name)
        (tmp / "provenance.json").write_text(json.dumps(provenance, indent=2, default=str))
        files = publish(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return provenance, files
