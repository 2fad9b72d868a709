"""The disclosure policy: what may leave the counts boundary, and how.

One :class:`DisclosurePolicy` travels with every release (CLI files, figures, widget displays,
exports, Beacon and federation answers). It holds

- ``min_count`` (k): person counts in 1..k-1 are released as ``<k``, never as the number
  (primary suppression), and cells that would let a suppressed one be recovered are withheld
  too (complementary suppression; see :mod:`genshare_widgets.disclosure._suppress`);
- ``epsilon``: optional differential privacy of the whole release (see
  :mod:`genshare_widgets.disclosure._dp`).

Defaults follow the catalog entry's access tier (DESIGN.md "Disclosure defaults"): ``open`` → no
suppression; ``registered`` and ``controlled`` → k = 20, the All of Us dissemination rule. A user
may raise k, never lower it; only the data custodian (the catalog entry's ``disclosure:`` block
or ``min_cell_count``, or a service's custodian config) may lower it, and never below the tier's
floor.

Custodian settings
------------------
:func:`custodian_settings` gathers what the data custodian decides for a cohort — k, the fewest
variants a released mean may cover (``min_variants``), the per-release epsilon cap, the total
epsilon budget, the DP mechanism and the ledger — from the catalog entry and, for a service,
from the custodian config file given at start (:func:`load_custodian_config`). Nothing comes
from the querier (options, environment). Tier defaults and limits:

==========================  ===========  ==================================
setting                     open         registered / controlled
==========================  ===========  ==================================
min_count (k)               none         20 (floor 5)
min_variants                1000         1000 (floor 100)
epsilon_per_release_max     none         1 (ceiling 10)
epsilon_budget              100,000      10 (ceiling 100)
==========================  ===========  ==================================

A custodian config may only tighten the entry (a higher k or min_variants, a lower cap or
budget); a value that contradicts the tier or the entry is an error naming the field, never a
silent default. Open-tier data are public: DP on them is the user's own choice, uncapped.
"""

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genshare_widgets._errors import GenShareError

TIER_MIN_COUNT: dict[str, int | None] = {"open": None, "registered": 20, "controlled": 20}
"""k per access tier when the custodian sets none."""

TIER_MIN_COUNT_FLOOR: dict[str, int | None] = {"open": None, "registered": 5, "controlled": 5}
"""The lowest k a custodian may set per tier (services never show groups under max(k, 5))."""

DEFAULT_MIN_VARIANTS = 1000
TIER_MIN_VARIANTS_FLOOR: dict[str, int] = {"open": 1, "registered": 100, "controlled": 100}

TIER_EPSILON_PER_RELEASE: dict[str, tuple[float | None, float | None]] = {
    "open": (None, None),
    "registered": (1.0, 10.0),
    "controlled": (1.0, 10.0),
}
"""(default, ceiling) of the per-release epsilon cap per tier (``None``: uncapped)."""

TIER_EPSILON_BUDGET: dict[str, tuple[float, float | None]] = {
    "open": (100_000.0, None),
    "registered": (10.0, 100.0),
    "controlled": (10.0, 100.0),
}
"""(default, ceiling) of the total epsilon budget per tier."""

_CONFIG_KEYS = {"cohort", "disclosure", "ledger"}


@dataclass(frozen=True)
class CustodianSettings:
    """What the data custodian set for one cohort (see the module doc).

    Attributes
    ----------
    tier
        The entry's access tier (``open`` for the user's own files).
    min_count
        k (``None``: no suppression).
    min_variants
        Fewest variants a released mean over variants may cover.
    epsilon_per_release_max, epsilon_budget
        The DP cap per release (``None``: uncapped) and the cohort's total budget.
    dp_mechanism, dp_delta
        ``"gaussian"`` (zCDP, reported at ``dp_delta``) or ``"laplace"``.
    ledger
        The budget's ledger file (default :func:`~genshare_widgets.disclosure._dp.ledger_for`
        of the cohort id).
    origin
        Who set them, in words (named in refusals and provenance).
    cohort_id
        The cohort they belong to.
    """

    tier: str = "open"
    min_count: int | None = None
    min_variants: int = DEFAULT_MIN_VARIANTS
    epsilon_per_release_max: float | None = None
    epsilon_budget: float = TIER_EPSILON_BUDGET["open"][0]
    dp_mechanism: str | None = None
    dp_delta: float | None = None
    ledger: Path | None = None
    origin: str = "defaults (no custodian settings)"
    cohort_id: str | None = None
    fields_from: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    def budget(self, cohort_id: str | None = None, *, persistent: bool = True):
        """The cohort's :class:`~genshare_widgets.disclosure.PrivacyBudget` under these
        settings: the ledger (``persistent``) or an in-memory budget.

        Examples
        --------
        >>> settings = custodian_settings(None)
        >>> settings.budget("my-cohort", persistent=False).total
        100000.0
        """
        from genshare_widgets.disclosure._budget import PrivacyBudget, ledger_for

        cid = cohort_id or self.cohort_id
        ledger = None
        if persistent:
            if self.ledger is not None:
                ledger = self.ledger
            elif cid is not None:
                ledger = ledger_for(cid)
            else:
                raise GenShareError("a persistent privacy budget needs the cohort id")
        return PrivacyBudget(
            self.epsilon_budget,
            ledger=ledger,
            per_release_max=self.epsilon_per_release_max,
            origin=self.origin,
        )

    def to_dict(self) -> dict[str, Any]:
        """The record for provenance and a service's ``/info``."""
        return {
            "tier": self.tier,
            "min_count": self.min_count,
            "min_variants": self.min_variants,
            "epsilon_per_release_max": self.epsilon_per_release_max,
            "epsilon_budget": self.epsilon_budget,
            "dp_mechanism": self.dp_mechanism,
            "dp_delta": self.dp_delta,
            "set_by": self.origin,
        }


def load_custodian_config(path: str | Path) -> dict[str, Any]:
    """Read a custodian config (YAML) given at ``site serve`` / ``beacon serve`` start.

    The file holds ``disclosure:`` (the fields of the catalog's ``disclosure:`` block:
    ``min_count``, ``min_variants``, ``epsilon_per_release_max``, ``epsilon_budget``,
    ``dp_mechanism``, ``dp_delta``), and optionally ``cohort:`` (the id it is meant for; a
    different served cohort is an error) and ``ledger:`` (the budget's ledger file, relative
    paths from the config's folder). Unknown keys are errors.

    Examples
    --------
    >>> load_custodian_config("custodian.yaml")["disclosure"].epsilon_budget  # doctest: +SKIP
    10.0
    """
    import yaml
    from pydantic import ValidationError

    from genshare_widgets.catalog._schema import DisclosureSettings

    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise GenShareError(f"custodian config {path}: cannot read it ({exc})") from None
    except yaml.YAMLError as exc:
        raise GenShareError(f"custodian config {path}: not valid YAML ({exc})") from None
    raw = raw or {}
    if not isinstance(raw, dict):
        raise GenShareError(f"custodian config {path}: expected a mapping with 'disclosure:'")
    unknown = sorted(set(raw) - _CONFIG_KEYS)
    if unknown:
        raise GenShareError(
            f"custodian config {path}: unknown keys {unknown}; allowed: {sorted(_CONFIG_KEYS)}"
        )
    try:
        block = DisclosureSettings(**(raw.get("disclosure") or {}))
    except (ValidationError, TypeError) as exc:
        first = exc.errors()[0] if isinstance(exc, ValidationError) else {"msg": str(exc)}
        where = ".".join(str(x) for x in first.get("loc", ()))
        raise GenShareError(
            f"custodian config {path}: disclosure{'.' + where if where else ''}: {first['msg']}"
        ) from None
    ledger = raw.get("ledger")
    if ledger is not None:
        ledger = Path(str(ledger)).expanduser()
        if not ledger.is_absolute():
            ledger = path.resolve().parent / ledger
    return {
        "path": path,
        "cohort": None if raw.get("cohort") is None else str(raw["cohort"]),
        "disclosure": block,
        "ledger": ledger,
    }


def _error(where: str, name: str, message: str) -> GenShareError:
    return GenShareError(f"{where}: disclosure.{name} {message}")


def _apply(settings: dict[str, Any], block, where: str, tier: str, *, tighten_only: bool):
    """Fold one ``disclosure:`` block (entry or config) into ``settings``, checking it against
    the tier's limits and, for a config, against what the entry already set."""
    if block is None:
        return
    k = block.min_count
    if k is not None:
        floor = TIER_MIN_COUNT_FLOOR.get(tier)
        if floor is not None and k < floor:
            raise _error(where, "min_count", f"{k} is below the {tier} tier's floor {floor}")
        current = settings["min_count"]
        if tighten_only and current is not None and k < current:
            raise _error(
                where, "min_count", f"{k} is below the catalog entry's k {current}; a custodian "
                "config may only raise it"
            )  # fmt: skip
        settings["min_count"] = k
        settings["fields_from"]["min_count"] = where
    mv = block.min_variants
    if mv is not None:
        floor = TIER_MIN_VARIANTS_FLOOR.get(tier, 1)
        if mv < floor:
            raise _error(where, "min_variants", f"{mv} is below the {tier} tier's floor {floor}")
        if tighten_only and mv < settings["min_variants"]:
            raise _error(
                where, "min_variants", f"{mv} is below the catalog entry's "
                f"{settings['min_variants']}; a custodian config may only raise it"
            )  # fmt: skip
        settings["min_variants"] = mv
        settings["fields_from"]["min_variants"] = where
    cap = block.epsilon_per_release_max
    if cap is not None:
        ceiling = TIER_EPSILON_PER_RELEASE.get(tier, (None, None))[1]
        if ceiling is not None and cap > ceiling:
            raise _error(
                where, "epsilon_per_release_max", f"{cap:g} is above the {tier} tier's "
                f"ceiling {ceiling:g}"
            )  # fmt: skip
        current = settings["epsilon_per_release_max"]
        if tighten_only and current is not None and cap > current:
            raise _error(
                where, "epsilon_per_release_max", f"{cap:g} is above the catalog entry's "
                f"cap {current:g}; a custodian config may only lower it"
            )  # fmt: skip
        settings["epsilon_per_release_max"] = cap
        settings["fields_from"]["epsilon_per_release_max"] = where
    total = block.epsilon_budget
    if total is not None:
        ceiling = TIER_EPSILON_BUDGET.get(tier, (None, None))[1]
        if ceiling is not None and total > ceiling:
            raise _error(
                where, "epsilon_budget", f"{total:g} is above the {tier} tier's ceiling "
                f"{ceiling:g}"
            )  # fmt: skip
        if tighten_only and total > settings["epsilon_budget"]:
            raise _error(
                where, "epsilon_budget", f"{total:g} is above the catalog entry's budget "
                f"{settings['epsilon_budget']:g}; a custodian config may only lower it"
            )  # fmt: skip
        settings["epsilon_budget"] = total
        settings["fields_from"]["epsilon_budget"] = where
    for name in ("dp_mechanism", "dp_delta"):
        value = getattr(block, name)
        if value is not None:
            settings[name] = value
            settings["fields_from"][name] = where
    cap, total = settings["epsilon_per_release_max"], settings["epsilon_budget"]
    if cap is not None and cap > total:
        raise _error(
            where, "epsilon_per_release_max", f"{cap:g} is above the budget "
            f"(epsilon_budget {total:g}): no release could ever be afforded"
        )  # fmt: skip


def custodian_settings(entry=None, config=None) -> CustodianSettings:
    """The data custodian's settings of a cohort: tier defaults, then the catalog entry's
    ``disclosure:`` block (and ``min_cell_count``), then a service's custodian ``config``
    (a path, or what :func:`load_custodian_config` returns), which may only tighten them.

    The one function the CLI, the explorer, ``site serve`` and ``beacon serve`` call: a
    contradiction (a budget above the tier's ceiling, k below its floor, a cap above the
    budget, a config loosening the entry) raises :class:`GenShareError` naming the field.

    Examples
    --------
    >>> custodian_settings(None).epsilon_per_release_max is None
    True
    """
    tier = getattr(entry, "access", None) or "open"
    if tier not in TIER_MIN_COUNT:
        raise GenShareError(f"unknown access tier {tier!r}")
    settings: dict[str, Any] = {
        "tier": tier,
        "min_count": TIER_MIN_COUNT[tier],
        "min_variants": DEFAULT_MIN_VARIANTS,
        "epsilon_per_release_max": TIER_EPSILON_PER_RELEASE[tier][0],
        "epsilon_budget": TIER_EPSILON_BUDGET[tier][0],
        "dp_mechanism": None,
        "dp_delta": None,
        "ledger": None,
        "fields_from": {},
    }
    origins = [f"{tier} tier defaults"]
    cohort_id = getattr(entry, "id", None)
    if entry is not None:
        where = f"catalog entry {entry.id!r}"
        legacy = getattr(entry, "min_cell_count", None)
        if legacy is not None:
            floor = TIER_MIN_COUNT_FLOOR.get(tier)
            if floor is not None and legacy < floor:
                raise GenShareError(
                    f"{where}: min_cell_count {legacy} is below the {tier} tier's floor {floor}"
                )
            settings["min_count"] = legacy
            settings["fields_from"]["min_count"] = f"{where} min_cell_count"
        block = getattr(entry, "disclosure", None)
        _apply(settings, block, where, tier, tighten_only=False)
        if legacy is not None or block is not None:
            origins.append(where)
    if config is not None:
        if not isinstance(config, dict):
            config = load_custodian_config(config)
        where = f"custodian config {config['path']}"
        if config.get("cohort") not in (None, cohort_id) and cohort_id is not None:
            raise GenShareError(f"{where} is for cohort {config['cohort']!r}, not {cohort_id!r}")
        _apply(settings, config.get("disclosure"), where, tier, tighten_only=True)
        settings["ledger"] = config.get("ledger")
        origins.append(where)
        cohort_id = cohort_id or config.get("cohort")
    return CustodianSettings(**settings, origin=" + ".join(origins), cohort_id=cohort_id)


@dataclass(frozen=True)
class DisclosurePolicy:
    """How aggregates are released.

    Attributes
    ----------
    min_count
        k: person counts in 1..k-1 are shown as ``<k``; ``None`` (or 1) means no suppression.
    epsilon
        Total differential-privacy loss of one release (``None``: no noise).
    seed
        Seed of the noise generator (``None``: fresh randomness; set it only for teaching or
        tests — a published seed lets anyone subtract the noise).
    tier
        Access tier the policy was derived from (``open``, ``registered``, ``controlled``).
    origin
        Where k came from, in words (for provenance and footers).
    min_variants
        Fewest variants a released mean over variants (observed heterozygosity) may cover:
        the custodian's setting (default 1,000); the release door reads it.
    epsilon_cap
        The custodian's per-release epsilon cap (``None``: uncapped); an ``epsilon`` above it
        is refused here.
    dp_mechanism, dp_delta
        The custodian's DP mechanism (``None``: the default, see
        :data:`~genshare_widgets.disclosure._dp.DEFAULT_MECHANISM`) and delta.

    Examples
    --------
    >>> DisclosurePolicy(min_count=20).marker
    '<20'
    """

    min_count: int | None = None
    epsilon: float | None = None
    seed: int | None = None
    tier: str = "open"
    origin: str = "no suppression"
    min_variants: int = DEFAULT_MIN_VARIANTS
    epsilon_cap: float | None = None
    dp_mechanism: str | None = None
    dp_delta: float | None = None

    def __post_init__(self) -> None:
        if self.min_count is not None and (
            not isinstance(self.min_count, int) or self.min_count < 1
        ):
            raise GenShareError(
                f"min_count must be a whole number >= 1 (got {self.min_count!r}); "
                "e.g. --min-count 20"
            )
        if self.epsilon is not None and not (
            isinstance(self.epsilon, (int, float))
            and math.isfinite(self.epsilon)
            and self.epsilon > 0
        ):
            raise GenShareError(
                f"epsilon must be a positive number (got {self.epsilon!r}); e.g. --epsilon 1000"
            )
        if not isinstance(self.min_variants, int) or self.min_variants < 1:
            raise GenShareError(f"min_variants must be a whole number >= 1 ({self.min_variants!r})")
        if (
            self.epsilon is not None
            and self.epsilon_cap is not None
            and self.epsilon > self.epsilon_cap * (1 + 1e-12)
        ):
            raise GenShareError(
                f"refused: epsilon {self.epsilon:g} is above the per-release cap "
                f"{self.epsilon_cap:g} set by the data custodian ({self.origin}); ask for an "
                f"epsilon of at most {self.epsilon_cap:g}"
            )

    @property
    def suppresses(self) -> bool:
        """True when some count would be shown as ``<k`` (k >= 2)."""
        return self.min_count is not None and self.min_count >= 2

    @property
    def active(self) -> bool:
        """True when the policy changes anything (suppression or noise)."""
        return self.suppresses or self.epsilon is not None

    @property
    def mechanism(self) -> str:
        """The DP mechanism a release under this policy uses (``gaussian`` or ``laplace``)."""
        if self.dp_mechanism is not None:
            return self.dp_mechanism
        from genshare_widgets.disclosure._dp import DEFAULT_MECHANISM

        return DEFAULT_MECHANISM

    @property
    def delta(self) -> float:
        """The delta of a Gaussian (zCDP) release; 0 for the discrete Laplace."""
        if self.mechanism == "laplace":
            return 0.0
        from genshare_widgets.disclosure._dp import DEFAULT_DELTA

        return self.dp_delta if self.dp_delta is not None else DEFAULT_DELTA

    def noise_options(self) -> dict[str, Any]:
        """``mechanism=`` and ``delta=`` to pass to
        :func:`~genshare_widgets.disclosure.privatize_counts`."""
        return {"mechanism": self.mechanism, "delta": self.delta or 1e-6}

    @property
    def marker(self) -> str:
        """How a suppressed count is written: ``<k``."""
        return f"<{self.min_count}" if self.suppresses else ""

    def to_dict(self) -> dict[str, Any]:
        """The record that goes into ``provenance.json`` and ``fig.layout.meta``."""
        return {
            "min_count": self.min_count if self.suppresses else None,
            "suppressed_marker": self.marker or None,
            "withheld_marker": "NA" if self.active else None,
            "epsilon": self.epsilon,
            "dp_mechanism": self.mechanism if self.epsilon is not None else None,
            "dp_delta": self.delta if self.epsilon is not None else None,
            "epsilon_per_release_max": self.epsilon_cap,
            "min_variants": self.min_variants,
            "seeded": self.seed is not None if self.epsilon is not None else None,
            "tier": self.tier,
            "origin": self.origin,
        }

    def describe(self) -> str:
        """One line for figure footers and widget banners."""
        if not self.active:
            return "no disclosure control"
        parts = []
        if self.suppresses:
            parts.append(f"counts below {self.min_count} shown as {self.marker}")
        if self.epsilon is not None:
            noise = (
                f"discrete Gaussian, δ={self.delta:g}"
                if self.mechanism == "gaussian"
                else "discrete Laplace"
            )
            parts.append(f"differential privacy ε={self.epsilon:g} ({noise})")
        return "disclosure: " + ", ".join(parts) + f" ({self.tier} tier)"


NO_POLICY = DisclosurePolicy()


def cohort_budget(cohort, custodian=None):
    """The privacy ledger of this cohort: keyed by cohort id (not by store, cache folder or
    chunking), total and per-release cap from the custodian (entry, or a service's config)."""
    from genshare_widgets.fetch import cache_dir

    budget = custodian_settings(cohort.entry, custodian).budget(cohort.id)
    store_key = cohort.provenance.get("store_key")
    # ledgers of earlier versions: keyed by store, inside the cache
    old = cache_dir() / "privacy" / f"{store_key}.json" if store_key else None
    return budget.carry_over(old) if old is not None else budget


def policy_for(
    entry=None,
    *,
    min_count: int | None = None,
    epsilon: float | None = None,
    seed: int | None = None,
    custodian=None,
) -> DisclosurePolicy:
    """The policy for a catalog entry (or ``None`` for the user's own files) and user options.

    - the custodian's settings (:func:`custodian_settings` of ``entry`` and ``custodian``: a
      :class:`CustodianSettings`, a custodian config path, or ``None``) give k, min_variants,
      the epsilon cap and the DP mechanism; tier default k: open → none,
      registered/controlled → 20;
    - the user's ``min_count`` may only raise the threshold: a lower value is an error naming
      the floor;
    - the user's ``epsilon`` above the custodian's per-release cap is an error naming the cap.

    Examples
    --------
    >>> policy_for(None, min_count=5).min_count
    5
    """
    settings = (
        custodian
        if isinstance(custodian, CustodianSettings)
        else custodian_settings(entry, custodian)
    )
    tier = settings.tier
    floor = settings.min_count
    origin = settings.fields_from.get("min_count") or (
        f"{tier} tier default" + (" (All of Us rule)" if floor else " (no suppression)")
    )
    k = floor
    if min_count is not None:
        if not isinstance(min_count, int) or min_count < 1:
            raise GenShareError(f"--min-count must be a whole number >= 1 (got {min_count!r})")
        if floor is not None and min_count < floor:
            raise GenShareError(
                f"--min-count {min_count} is below this cohort's minimum cell count {floor} "
                f"({origin}); users may only raise it"
            )
        if floor is None or min_count > floor:
            k = min_count
            origin = "user (--min-count)"
    cap = settings.epsilon_per_release_max
    if epsilon is not None and cap is not None and epsilon > cap * (1 + 1e-12):
        who = settings.fields_from.get("epsilon_per_release_max") or f"the {tier} tier default"
        raise GenShareError(
            f"refused: --epsilon {epsilon:g} is above this cohort's per-release cap {cap:g} "
            f"(disclosure.epsilon_per_release_max, set by {who}); the cap is the data "
            f"custodian's, not the user's: ask for an epsilon of at most {cap:g}"
        )
    return DisclosurePolicy(
        min_count=k if k is not None and k >= 2 else None,
        epsilon=epsilon,
        seed=seed,
        tier=tier,
        origin=origin,
        min_variants=settings.min_variants,
        epsilon_cap=cap,
        dp_mechanism=settings.dp_mechanism,
        dp_delta=settings.dp_delta,
    )
