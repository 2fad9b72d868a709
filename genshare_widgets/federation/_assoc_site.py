"""Association at a federation site: per-variant sufficient statistics under disclosure rules.

``POST /assoc`` (see :mod:`genshare_widgets.federation`) answers one *page* of the site's
records (``ASSOC_PAGE`` rows, in store order, optionally within a region; a multi-allelic
site is one biallelic record per ALT allele, split as ``bcftools norm -m-`` does, its dosage
the copies of that ALT, as in :func:`genshare_widgets.association.association`):

- ``model: "linear"`` → per variant ``XᵀX``, ``Xᵀy``, ``yᵀy`` and ``n`` with
  ``X = [1, covariates, dosage]`` (the one linear pass,
  :func:`~genshare_widgets.association.linear_sums_stream`);
- ``model: "logistic"`` → per variant the Hessian, score and log-likelihood of the logistic
  model at the coordinator's coefficients (``coef``: base64 of little-endian float64, rows × p)
  (:func:`~genshare_widgets.stats._association.logistic_terms`).

What the site serves is fixed by its custodian at start (:class:`AssocService`): the phenotype
columns and covariates it allows. The analysed samples are one set for every request: the
samples of the site with every allowed phenotype and covariate present (so choosing another
phenotype or a subset of covariates never changes who is counted: no differencing between
sample sets). Rules (refusals answer 4xx ``{"detail", "rule"}``; withheld variants travel as a
``status`` with zeros in place of their numbers):

At start (``SiteRefusal``): ``assoc-min-n`` fewer than ``max(k, 5)`` analysed samples, or a
binary phenotype with fewer cases or controls, or a binary covariate with a class, or two binary
columns with an intersection, of 1..max(k, 5)-1 samples; ``dominance`` a quantitative column
where one sample's deviation from the mean is more than 1/max(k, 5) of the total absolute
deviation (its value would dominate ``Σ x·y``); ``dp-no-assoc`` an epsilon (no DP release of
association sums here: refused rather than noised, since noise calibrated to one person's
influence on ``XᵀX`` needs clipping bounds on every column that would bias every fit).

Per request: ``parameters`` more than ``NFILTER_GLM`` · n parameters (DataSHIELD's
``nfilter.glm``, 0.33); a phenotype or covariate the custodian did not allow is refused.

Per variant (status): ``1`` a count in 1..k-1 derivable from the released sums (ALT, REF, het,
hom-ALT, hom-REF and missing-call counts; for a binary (two-valued) phenotype the ALT and REF
counts of cases and of controls; for each two-valued covariate the ALT and REF counts of each
class);
``2`` too few called samples (n < max(k, 5) or parameters > 0.33 n); logistic only: ``3`` the
coefficients put the weights μ(1-μ) on too few people (effective sample size
(Σw)²/Σw² < max(k, 5)) or some linear predictor |η| > ``ETA_MAX``; ``4`` the variant has
already been answered at ``MAX_LOGISTIC_ROUNDS`` distinct coefficient vectors (over every
phenotype and covariate set; each ALT record of a split multi-allelic row is a variant of its
own, as its dosage (copies of that ALT) is: :func:`round_key`; counted in a ledger under
``$GENSHARE_STATE`` that survives a restart; an exact repeat of a coefficient vector
already answered costs nothing, and coefficients 0 tell nothing the linear sums do not).

Threat model and residual risk: the querier chooses everything a request can carry and may
know its target's phenotype and covariates, but not every analysed person's values. The sums
are exact, so a querier who knew all of them could combine many rounds into equations in the
genotypes; the round limit bounds their number. On open-tier genotypes (public) the sums over
all variants determine a quantitative phenotype: serve only phenotypes the custodian would
publish there.
"""

import base64
import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from genshare_widgets._errors import GenShareError

ASSOC_PAGE = 4096  # variants per answer (one dosage block)
NFILTER_GLM = 0.33  # parameters ≤ 0.33 · n (DataSHIELD's nfilter.glm default)
ETA_MAX = 10.0  # |linear predictor| bound of the logistic endpoint: μ in [4.5e-5, 1 - 4.5e-5]
MAX_LOGISTIC_ROUNDS = 30  # distinct coefficient vectors answered per variant (ledger)
ASSOC_KEYS = {"pheno", "covar", "model", "region", "page", "coef"}

STATUS = {
    0: "released",
    1: "a count in 1..k-1 is derivable",
    2: "too few called samples for the model",
    3: "coefficients concentrate the weights on too few people",
    4: "logistic rounds for this variant used up",
}


def round_key(row: int, alt_allele: int) -> int:
    """The ledger's key of a record for the logistic round limit: its store row for a first
    ALT (the key of every record before issue 18, so existing ledgers keep counting), and
    ``-(row · 2¹⁶ + ALT index)`` for a second or later ALT of a split multi-allelic row.

    A split record has a round budget of its own: its rounds are equations in its own
    unknowns (each person's copies of that ALT), as a biallelic variant's are.

    Examples
    --------
    >>> round_key(7, 1), round_key(7, 2)
    (7, -458754)
    """
    return row if alt_allele == 1 else -((row << 16) + alt_allele)


def _refusal(status: int, rule: str, message: str):
    from genshare_widgets.federation._site_rules import SiteRefusal

    return SiteRefusal(status, rule, message)


def _is_binary(values: np.ndarray) -> bool:
    return len(np.unique(values)) == 2


class RoundsLedger:
    """The distinct coefficient vectors answered per variant (:func:`round_key`), kept in an
    append-only file of (row, 64-bit hash of phenotype, covariates and coefficients) pairs
    (``$GENSHARE_STATE/assoc_rounds/<cohort>.<site>.rounds``, owner-only): a restart gives a
    querier no fresh rounds, and an exact repeat (a notebook run again) costs nothing.
    ``path`` None: in memory."""

    PAIR = np.dtype([("row", "<i8"), ("key", "<u8")])

    def __init__(self, path) -> None:
        self.path = path
        data = np.zeros(0, dtype=self.PAIR)
        if path is not None and path.is_file():
            data = np.fromfile(path, dtype=self.PAIR)
        order = np.argsort(data["row"], kind="stable")
        self._rows, self._keys = data["row"][order], data["key"][order]
        self._seen: dict[int, set[int]] = {}

    def seen(self, row: int) -> set[int]:
        """The hashes answered for ``row`` so far."""
        if row not in self._seen:
            lo, hi = np.searchsorted(self._rows, [row, row + 1])
            self._seen[row] = set(self._keys[lo:hi].tolist())
        return self._seen[row]

    def charge(self, pairs: list[tuple[int, int]]) -> None:
        """Record newly answered (row, hash) pairs."""
        if not pairs:
            return
        for row, key in pairs:
            self.seen(row).add(key)
        if self.path is None:
            return
        import os

        from genshare_widgets.disclosure._budget import _secure_dir

        _secure_dir(self.path.parent)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "ab") as out:
            out.write(np.array(pairs, dtype=self.PAIR).tobytes())

    @classmethod
    def for_site(cls, cohort_id: str, site: str) -> "RoundsLedger":
        from genshare_widgets.fetch import state_dir

        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in f"{cohort_id}.{site}")
        return cls(state_dir() / "assoc_rounds" / f"{safe}.rounds")


@dataclass
class AssocService:
    """The association data a site serves, fixed at start (see the module doc).

    Attributes
    ----------
    y
        {phenotype: float64 values of the analysed samples}.
    binary
        {phenotype: True for a 0/1 trait}.
    covariates
        float64 (samples, m), columns named ``covariate_names``.
    sample_index
        Positions of the analysed samples in the cohort.
    k
        The policy's minimum count (1 without suppression); ``min_n`` = max(k, 5).
    """

    cohort: Any
    y: dict[str, np.ndarray]
    binary: dict[str, bool]
    covariates: np.ndarray
    covariate_names: list[str]
    sample_index: np.ndarray
    k: int
    min_n: int
    lock: threading.Lock = field(default_factory=threading.Lock)
    selections: dict[Any, Any] = field(default_factory=dict)
    pages: "OrderedDict[Any, Any]" = field(default_factory=OrderedDict)
    rounds: "RoundsLedger" = field(default_factory=lambda: RoundsLedger(None))
    repeats: "OrderedDict[bytes, dict]" = field(default_factory=OrderedDict)

    @property
    def n(self) -> int:
        return len(self.sample_index)

    def columns_of(self, covar: list[str]) -> list[int]:
        """Columns of the named covariates: a name, or a text column's indicators
        (``sex`` → ``sex=male``), in the order asked."""
        cols: list[int] = []
        for c in covar:
            exact = [j for j, n in enumerate(self.covariate_names) if n == c]
            cols += exact or [
                j for j, n in enumerate(self.covariate_names) if n.startswith(f"{c}=")
            ]
        return cols

    def info(self) -> dict[str, Any]:
        """What ``GET /`` says about association."""
        return {
            "phenotypes": {p: ("binary" if self.binary[p] else "quantitative") for p in self.y},
            "covariates": list(self.covariate_names),
            "page_size": ASSOC_PAGE,
            "min_n": self.min_n,
            "max_parameters_per_sample": NFILTER_GLM,
            "eta_max": ETA_MAX,
            "min_effective_n": self.min_n,
            "max_logistic_rounds": MAX_LOGISTIC_ROUNDS,
            "status": STATUS,
        }


def assoc_service(
    cohort,
    policy,
    *,
    phenotypes: list[str],
    covariates: list[str] | None,
    pcs: int = 0,
    reference=None,
    site: str | None = None,
):
    """Check the custodian's association settings and build the :class:`AssocService`.

    ``pcs``: also serve ``PC1`` … ``PC<pcs>``, the analysed samples' projections onto the
    site's approved PCA ``reference`` (:func:`~genshare_widgets.federation._pca.project_samples`),
    so every site's PCs are on the same axes."""
    from genshare_widgets.association import association_inputs
    from genshare_widgets.disclosure._gate import check_association

    if policy.epsilon is not None:
        raise _refusal(
            400,
            "dp-no-assoc",
            "this site releases under differential privacy and association sums have no DP "
            "release here (noise calibrated to one person needs clipping bounds on every "
            "column, biasing every fit): drop --assoc-pheno or the epsilon",
        )
    for pheno in phenotypes:
        check_association(cohort, trait=pheno)
    k = int(policy.min_count or 1)
    from genshare_widgets.federation._site_rules import min_group_size

    min_n = min_group_size(policy)
    covar = list(dict.fromkeys(covariates or []))
    table = cohort.samples
    if pcs:
        table = _with_reference_pcs(cohort, reference, pcs)
        covar += [f"PC{i + 1}" for i in range(pcs)]
    inputs = {}
    for pheno in dict.fromkeys(phenotypes):
        try:
            inputs[pheno] = association_inputs(cohort, pheno, covar=covar or None, samples=table)
        except GenShareError as exc:
            raise GenShareError(f"--assoc-pheno {pheno}: {exc}") from None
    first = next(iter(inputs.values()))
    common = first.sample_index
    for item in inputs.values():
        common = np.intersect1d(common, item.sample_index)
    y: dict[str, np.ndarray] = {}
    binary: dict[str, bool] = {}
    cov = np.zeros((len(common), 0))
    for pheno, item in inputs.items():
        rows = np.searchsorted(item.sample_index, common)
        y[pheno] = np.asarray(item.y, dtype=np.float64)[rows]
        binary[pheno] = bool(item.binary)
        if item is first and item.covariates is not None:
            cov = np.asarray(item.covariates, dtype=np.float64)[rows]
    names = list(first.covariate_names or [])
    service = AssocService(
        cohort=cohort,
        y=y,
        binary=binary,
        covariates=cov,
        covariate_names=names,
        sample_index=np.asarray(common, dtype=np.int64),
        k=k,
        min_n=min_n,
        rounds=RoundsLedger.for_site(cohort.id, site or cohort.id),
    )
    _check_at_start(service)
    return service


def _with_reference_pcs(cohort, reference, pcs: int):
    """The sample table plus ``PC1`` … ``PC<pcs>``: projections onto the approved reference."""
    from genshare_widgets.federation._pca import project_samples

    if reference is None:
        raise _refusal(
            400,
            "approved-reference",
            "--assoc-pcs serves projections onto the site's approved PCA reference: start the "
            "site with --pca-reference FILE --pca-reference-sha256 HEX (or --pca-k on "
            "open-tier data)",
        )
    if not isinstance(pcs, int) or not 1 <= pcs <= reference.k:
        raise _refusal(
            400, "pca-limits", f"--assoc-pcs must be 1..{reference.k} (the reference's k)"
        )
    clash = [f"PC{i + 1}" for i in range(pcs) if f"PC{i + 1}" in cohort.samples.columns]
    if clash:
        raise GenShareError(
            f"the sample table already has columns {clash}; rename them or drop --assoc-pcs"
        )
    projected = project_samples(cohort, reference)
    table = cohort.samples.copy()
    for i in range(pcs):
        table[f"PC{i + 1}"] = projected[:, i]
    return table


def _check_at_start(service: AssocService) -> None:
    n, floor = service.n, service.min_n
    if n < floor:
        raise _refusal(
            400,
            "assoc-min-n",
            f"only {n} samples have every served phenotype and covariate; a site serves "
            f"association over at least max(k, 5) = {floor}",
        )
    columns = {f"phenotype {p}": v for p, v in service.y.items()}
    columns.update(
        {f"covariate {c}": service.covariates[:, j] for j, c in enumerate(service.covariate_names)}
    )
    binary_cols = {}
    for name, values in columns.items():
        if len(np.unique(values)) < 2:
            raise _refusal(
                400,
                "assoc-min-n",
                f"{name} is constant over the {n} samples that have every served phenotype "
                "and covariate; serve it over a sample set where it varies, or leave it out",
            )
        if _is_binary(values):
            lo, hi = np.unique(values)
            binary_cols[name] = values == hi
            sizes = {lo: int((values == lo).sum()), hi: int((values == hi).sum())}
            small = {v: s for v, s in sizes.items() if s < floor}
            if small:
                raise _refusal(
                    400,
                    "assoc-min-n",
                    f"{name} has a class of {min(small.values())} samples (values "
                    f"{sorted(sizes)}); every class of a binary column (cases and controls "
                    f"of a binary trait) needs at least max(k, 5) = {floor}",
                )
        else:
            d = np.abs(values - values.mean())
            share = float(d.max() / d.sum()) if d.sum() > 0 else 1.0
            if share > 1.0 / floor:
                raise _refusal(
                    400,
                    "dominance",
                    f"{name}: one sample's deviation from the mean is {100 * share:.1f} % of "
                    f"the total absolute deviation (limit 1/max(k, 5) = {100 / floor:.1f} %): "
                    "its value would dominate the released sums. Transform or winsorise the "
                    "column, or leave it out",
                )
    items = list(binary_cols.items())
    for i, (a, va) in enumerate(items):
        for b, vb in items[i + 1 :]:
            both = int((va & vb).sum())
            if 0 < both < floor:
                raise _refusal(
                    400,
                    "assoc-min-n",
                    f"{a} and {b}: {both} samples are in the upper class of both (released "
                    f"through XᵀX); intersections need 0 or at least {floor}",
                )


# -- per-variant checks -------------------------------------------------------------------------
def _small(values: np.ndarray, k: int) -> np.ndarray:
    r = np.rint(values)
    return (r >= 1) & (r < k)


def count_status(service: AssocService, sums, pheno: str, cols: list[int]) -> np.ndarray:
    """Status per variant of linear sums (0 released, 1 derivable small count, 2 too few)."""
    xtx, xty, n = sums.xtx, sums.xty, sums.n.astype(np.float64)
    p = xtx.shape[1]
    k = service.k
    status = np.zeros(len(n), dtype=np.int64)
    too_few = (n < service.min_n) | (p > NFILTER_GLM * n)
    ac = xtx[:, 0, p - 1]
    x2 = xtx[:, p - 1, p - 1]
    hom = (x2 - ac) / 2
    het = ac - 2 * hom
    counts = [ac, 2 * n - ac, het, hom, n - het - hom, service.n - n]
    y_full = service.y[pheno]
    if _is_binary(y_full):  # a 0/1 trait, or any two-valued one: Σxy gives a class's AC
        lo, hi = np.unique(y_full)
        # Σy = lo·n + (hi-lo)·cases, Σxy = lo·AC + (hi-lo)·AC_cases
        cases = (xty[:, 0] - lo * n) / (hi - lo)
        ac_case = (xty[:, p - 1] - lo * ac) / (hi - lo)
        counts += [ac_case, 2 * cases - ac_case, ac - ac_case, 2 * (n - cases) - (ac - ac_case)]
    for j, col in enumerate(cols):
        values = service.covariates[:, col]
        if not _is_binary(values):
            continue
        lo, hi = np.unique(values)
        size_hi = (xtx[:, 0, 1 + j] - lo * n) / (hi - lo)
        ac_hi = (xtx[:, 1 + j, p - 1] - lo * ac) / (hi - lo)
        ac_lo = ac - ac_hi
        counts += [ac_hi, 2 * size_hi - ac_hi, ac_lo, 2 * (n - size_hi) - ac_lo]
    small = np.zeros(len(n), dtype=bool)
    if k > 1:
        for values in counts:
            small |= _small(values, k)
    status[small] = 1
    status[too_few] = 2
    return status


def effective_n(w: np.ndarray) -> np.ndarray:
    """(Σw)² / Σw² per row of ``w`` (variants, samples): how many people carry the weights."""
    s1 = w.sum(axis=1)
    s2 = (w * w).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(s2 > 0, s1 * s1 / s2, 0.0)


def logistic_weight_status(dosage, covariates, coef, min_n: int) -> np.ndarray:
    """3 where ``coef`` drive some |η| over ``ETA_MAX`` or the weights' effective n below
    ``min_n`` (over called samples), else 0."""
    from scipy.special import expit

    from genshare_widgets.stats._association import design

    called = ~np.isnan(dosage)
    x = np.where(called, dosage, 0.0)
    c = design(covariates, dosage.shape[1])
    k = c.shape[1]
    eta = coef[:, :k] @ c.T + coef[:, k][:, None] * x
    eta_big = (np.where(called, np.abs(eta), 0.0) > ETA_MAX).any(axis=1)
    mu = expit(eta)
    w = np.where(called, mu * (1 - mu), 0.0)
    few = effective_n(w) < min_n
    return np.where(eta_big | few | ~np.isfinite(eta).all(axis=1), 3, 0)


# -- the endpoint ----------------------------------------------------------------------------------
def _upper(a: np.ndarray) -> list:
    """Upper triangles (row-major, diagonal included) of (variants, p, p) as lists."""
    p = a.shape[1]
    iu = np.triu_indices(p)
    return a[:, iu[0], iu[1]].tolist()


def decode_coef(text: Any, rows: int, p: int) -> np.ndarray:
    """``coef`` of a logistic request: base64 little-endian float64, ``rows`` × ``p``."""
    if not isinstance(text, str):
        raise _refusal(400, "assoc-request", "'coef' must be base64 of float64 (rows × p)")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        raise _refusal(400, "assoc-request", "'coef' is not valid base64") from None
    if len(raw) != rows * p * 8:
        raise _refusal(
            400,
            "assoc-request",
            f"'coef' holds {len(raw) // 8} numbers; this page needs {rows} rows × {p} "
            "(intercept, covariates, dosage)",
        )
    coef = np.frombuffer(raw, dtype="<f8").reshape(rows, p).astype(np.float64)
    if not np.isfinite(coef).all():
        raise _refusal(400, "assoc-request", "'coef' must be finite numbers")
    return coef


def encode_coef(coef: np.ndarray) -> str:
    """The ``coef`` field of a logistic request (see :func:`decode_coef`)."""
    return base64.b64encode(np.ascontiguousarray(coef, dtype="<f8").tobytes()).decode("ascii")


def _selection(service: AssocService, region: str | None):
    """(store rows, ALT index, contig, position, ref, alt) of the site's records in
    ``region`` (multi-allelic rows split per ALT allele)."""
    from genshare_widgets._selection import fixed_strings, variant_selection

    if region not in service.selections:
        if len(service.selections) > 16:
            service.selections.clear()
        ds = service.cohort.genotypes
        try:
            index, alt_allele, _, alleles = variant_selection(ds, region=region, snps_only=False)
        except GenShareError as exc:
            raise _refusal(400, "assoc-request", str(exc)) from None
        contigs = fixed_strings(ds["contig_id"].values)[ds["variant_contig"].values[index]]
        positions = np.asarray(ds["variant_position"].values[index], dtype=np.int64)
        service.selections[region] = (
            index,
            alt_allele,
            [str(c) for c in contigs],
            positions.tolist(),
            [str(a[0]) for a in alleles],
            [str(a[1]) for a in alleles],
        )
    return service.selections[region]


def _page_dosage(
    service: AssocService, region: str | None, page: int, rows: np.ndarray, alts: np.ndarray
):
    """Dosage (records, analysed samples) of one page's records (store rows ``rows``, ALTs
    ``alts``), through the lead's genotype pass."""
    from genshare_widgets.association import dosage_blocks

    key = (region, page)
    if key in service.pages:
        service.pages.move_to_end(key)
        return service.pages[key]
    block = np.full((len(rows), service.n), np.nan)
    for positions, values in dosage_blocks(
        service.cohort, rows, service.sample_index, rows=ASSOC_PAGE, alt_allele=alts
    ):
        block[np.asarray(positions)] = values
    service.pages[key] = block
    while len(service.pages) > 4:
        service.pages.popitem(last=False)
    return block


def _page_sums(
    service: AssocService, pheno: str, cols: list[int], rows: np.ndarray, alts: np.ndarray
):
    """The linear sums of one page's records (store rows ``rows``, ALTs ``alts``) over the
    site's analysed samples, through the one linear pass
    (:func:`genshare_widgets.association.linear_sums_stream`: the bit-plane kernel on a local
    store), in the page's order."""
    from genshare_widgets.association import AssociationInputs, linear_sums_stream
    from genshare_widgets.stats._association import LinearSums

    inputs = AssociationInputs(
        pheno=pheno,
        y=service.y[pheno],
        covariates=service.covariates[:, cols] if cols else None,
        covariate_names=[service.covariate_names[j] for j in cols],
        sample_index=np.asarray(service.sample_index, dtype=np.int64),
        sample_ids=[],
        binary=service.binary[pheno],
        coding="",
    )
    parts = [
        (positions, sums)
        for positions, sums, _ in linear_sums_stream(service.cohort, inputs, rows, alt_allele=alts)
    ]
    return LinearSums(
        *(
            np.concatenate([getattr(sums, f) for _, sums in parts])
            for f in ("xtx", "xty", "yty", "n")
        )
    )


def assoc_answer(service: AssocService, request: dict[str, Any], *, site: str) -> dict[str, Any]:
    """The answer to one ``POST /assoc`` request (see the module doc)."""
    from genshare_widgets.federation._protocol import PROTOCOL
    from genshare_widgets.stats._association import logistic_terms

    unknown = sorted(set(request) - ASSOC_KEYS)
    if unknown:
        raise _refusal(
            400,
            "fixed-by-site",
            f"this site does not take {unknown} in an association request: its minimum "
            f"counts and sample set are fixed by its custodian; send only {sorted(ASSOC_KEYS)}",
        )
    pheno = request.get("pheno")
    if pheno not in service.y:
        raise _refusal(
            404,
            "assoc-not-served",
            f"this site does not serve phenotype {pheno!r}; it serves {sorted(service.y)}",
        )
    covar = request.get("covar") or []
    if not isinstance(covar, list) or not all(isinstance(c, str) for c in covar):
        raise _refusal(400, "assoc-request", "'covar' must be a list of covariate names")
    missing = [c for c in covar if not service.columns_of([c])]
    if missing or len(set(covar)) != len(covar):
        raise _refusal(
            404,
            "assoc-not-served",
            f"this site does not serve covariate(s) {missing or covar}; it serves "
            f"{service.covariate_names} (each once)",
        )
    cols = service.columns_of(covar)
    model = request.get("model", "linear")
    if model not in ("linear", "logistic"):
        raise _refusal(400, "assoc-request", "'model' is 'linear' or 'logistic'")
    if model == "logistic" and not service.binary[pheno]:
        raise _refusal(
            400, "assoc-request", f"phenotype {pheno!r} is quantitative: ask model 'linear'"
        )
    if len(set(cols)) != len(cols):
        raise _refusal(400, "assoc-request", f"covariates {covar} name a column twice")
    p = len(cols) + 2
    if p > NFILTER_GLM * service.n:
        raise _refusal(
            403,
            "parameters",
            f"{p} parameters over {service.n} samples exceeds {NFILTER_GLM} per sample "
            "(DataSHIELD's nfilter.glm): use fewer covariates",
        )
    region = request.get("region")
    if region is not None and not isinstance(region, str):
        raise _refusal(400, "assoc-request", "'region' must be CHR or CHR:START-END")
    page = request.get("page", 0)
    if not isinstance(page, int) or isinstance(page, bool) or page < 0:
        raise _refusal(400, "assoc-request", "'page' must be an integer >= 0")
    with service.lock:
        index, alt_allele, contig, position, ref, alt = _selection(service, region)
        n_pages = max(1, -(-len(index) // ASSOC_PAGE))
        if page >= n_pages:
            raise _refusal(400, "assoc-request", f"'page' must be below {n_pages}")
        lo, hi = page * ASSOC_PAGE, min(len(index), (page + 1) * ASSOC_PAGE)
        rows, alts = index[lo:hi], alt_allele[lo:hi]
        coef = None
        if model == "logistic":  # no coef: round 0 (coefficients 0)
            given = request.get("coef")
            coef = np.zeros((len(rows), p)) if given is None else decode_coef(given, len(rows), p)
        repeat_key = None
        if coef is not None:
            repeat_key = hashlib.sha256(
                repr((pheno, covar, region, page)).encode() + coef.tobytes()
            ).digest()
            if repeat_key in service.repeats:
                service.repeats.move_to_end(repeat_key)
                return service.repeats[repeat_key]
        y = service.y[pheno]
        cov = service.covariates[:, cols] if cols else None
        sums = _page_sums(service, pheno, cols, rows, alts)
        status = count_status(service, sums, pheno, cols)
        answer: dict[str, Any] = {
            "protocol": PROTOCOL,
            "site": site,
            "pheno": pheno,
            "covar": covar,
            "covariate_columns": [service.covariate_names[j] for j in cols],
            "model": model,
            "region": region,
            "page": page,
            "n_pages": n_pages,
            "n_variants": len(index),
            "variants": {
                "contig": contig[lo:hi],
                "position": position[lo:hi],
                "ref": ref[lo:hi],
                "alt": alt[lo:hi],
            },
        }
        if coef is None:
            keep = status == 0
            answer["status"] = status.tolist()
            answer["n"] = np.where(keep, sums.n, 0).tolist()
            answer["xtx"] = _upper(np.where(keep[:, None, None], sums.xtx, 0.0))
            answer["xty"] = np.where(keep[:, None], sums.xty, 0.0).tolist()
            answer["yty"] = np.where(keep, sums.yty, 0.0).tolist()
            return answer
        assert repeat_key is not None
        dosage = _page_dosage(service, region, page, rows, alts)
        weights = logistic_weight_status(dosage, cov, coef, service.min_n)
        status = np.where(status == 0, weights, status)
        new = (coef != 0).any(axis=1)
        charged: list[tuple[int, int]] = []
        model_key = repr((pheno, covar)).encode()
        for i in np.flatnonzero((status == 0) & new):
            digest = hashlib.sha256(model_key + coef[i].tobytes()).digest()
            row_key = int.from_bytes(digest[:8], "little")
            variant = round_key(int(rows[i]), int(alts[i]))
            seen = service.rounds.seen(variant)
            if row_key in seen:
                continue
            if len(seen) >= MAX_LOGISTIC_ROUNDS:
                status[i] = 4
                continue
            charged.append((variant, row_key))
        service.rounds.charge(charged)
        keep = status == 0
        h, g, loglik = logistic_terms(dosage[keep], y, cov, coef[keep], with_loglik=True)
        hess = np.zeros((len(rows), p, p))
        score = np.zeros((len(rows), p))
        ll = np.zeros(len(rows))
        hess[keep], score[keep], ll[keep] = h, g, loglik
        answer["status"] = status.tolist()
        answer["n"] = np.where(keep, sums.n, 0).tolist()
        answer["hessian"] = _upper(hess)
        answer["score"] = score.tolist()
        answer["loglik"] = ll.tolist()
        service.repeats[repeat_key] = answer
        while len(service.repeats) > 256:
            service.repeats.popitem(last=False)
        return answer
