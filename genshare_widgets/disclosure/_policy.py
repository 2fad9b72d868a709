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
may raise k, never lower it; only the catalog entry (``min_cell_count``) may lower it.
"""

import math
from dataclasses import dataclass
from typing import Any

from genshare_widgets._errors import GenShareError

TIER_MIN_COUNT: dict[str, int | None] = {"open": None, "registered": 20, "controlled": 20}


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
    min_variants: int = 1000

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

    @property
    def suppresses(self) -> bool:
        """True when some count would be shown as ``<k`` (k >= 2)."""
        return self.min_count is not None and self.min_count >= 2

    @property
    def active(self) -> bool:
        """True when the policy changes anything (suppression or noise)."""
        return self.suppresses or self.epsilon is not None

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
            "dp_mechanism": (
                "two-sided geometric (discrete Laplace) on every released count; "
                "L1 sensitivity = variants x sum of per-count sensitivities"
                if self.epsilon is not None
                else None
            ),
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
            parts.append(f"differential privacy ε={self.epsilon:g}")
        return "disclosure: " + ", ".join(parts) + f" ({self.tier} tier)"


NO_POLICY = DisclosurePolicy()


def policy_for(
    entry=None,
    *,
    min_count: int | None = None,
    epsilon: float | None = None,
    seed: int | None = None,
) -> DisclosurePolicy:
    """The policy for a catalog entry (or ``None`` for the user's own files) and user options.

    - tier default: open → none; registered/controlled → 20;
    - the entry's ``min_cell_count`` replaces the tier default (it may lower it);
    - the user's ``min_count`` may only raise the threshold: a lower value is an error naming
      the floor.

    Examples
    --------
    >>> policy_for(None, min_count=5).min_count
    5
    """
    tier = getattr(entry, "access", None) or "open"
    floor = TIER_MIN_COUNT.get(tier)
    origin = f"{tier} tier default" + (" (All of Us rule)" if floor else " (no suppression)")
    entry_k = getattr(entry, "min_cell_count", None)
    if entry_k is not None:
        floor = entry_k
        origin = f"catalog entry {entry.id!r} min_cell_count"
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
    return DisclosurePolicy(
        min_count=k if k is not None and k >= 2 else None,
        epsilon=epsilon,
        seed=seed,
        tier=tier,
        origin=origin,
    )
