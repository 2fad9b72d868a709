"""The privacy budget of a cohort: what DP releases have spent, in a ledger the custodian
owns (see :mod:`genshare_widgets.disclosure._dp`, section "Budget").

:class:`PrivacyBudget` adds up the epsilon (and delta) of every release (basic sequential
composition), refuses a release above the custodian's per-release cap or beyond the total, and
keeps its spending in memory or in a ledger file (:func:`ledger_for`: one per cohort id, 0600
in a 0700 folder, updated under a lock and replaced atomically). The ledger records its total
and cap when created; later budgets may only lower them (and the lower value is written back).
``GENSHARE_EPSILON_BUDGET`` bounds a budget from the caller's side and never raises one.
"""

import json
import math
import os
import stat
import tempfile
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from genshare_widgets._errors import GenShareError

DEFAULT_BUDGET = 100_000.0
"""Budget of a cohort whose custodian sets none (open tier, the user's own files): room for a
handful of whole-region releases at epsilon ~ 10^4. Registered and controlled entries get the
tier defaults of :data:`~genshare_widgets.disclosure._policy.TIER_EPSILON_BUDGET`."""


class PrivacyBudgetExceeded(GenShareError):  # noqa: N818 -- reads as the event it reports
    """A release would spend more epsilon than the cohort has left, or more than the
    custodian's per-release cap."""


def _check_epsilon(epsilon: float) -> None:
    if not (isinstance(epsilon, (int, float)) and epsilon > 0 and math.isfinite(epsilon)):
        raise GenShareError(f"epsilon must be a positive number (got {epsilon!r})")


def _env_bound() -> float | None:
    env = os.environ.get("GENSHARE_EPSILON_BUDGET")
    if env is None:
        return None
    try:
        value = float(env)
    except ValueError:
        raise GenShareError(
            f"GENSHARE_EPSILON_BUDGET={env!r} is not a number; set it to a positive epsilon"
        ) from None
    if not value > 0:
        raise GenShareError(f"GENSHARE_EPSILON_BUDGET={env!r} must be positive")
    return value


def _secure_dir(path: Path) -> None:
    """Create ``path`` (and parents) owner-only; tighten an existing one we own."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        if path.stat().st_uid == os.getuid() and stat.S_IMODE(path.stat().st_mode) != 0o700:
            path.chmod(0o700)
    except OSError:  # pragma: no cover - e.g. a read-only mount: the files stay 0600
        pass


class PrivacyBudget:
    """The epsilon a cohort may spend, and what it has spent (basic composition).

    Parameters
    ----------
    total
        Total epsilon (the custodian's ``epsilon_budget``; default :data:`DEFAULT_BUDGET`).
        ``$GENSHARE_EPSILON_BUDGET`` may only lower it.
    ledger
        A JSON file that keeps the spending across processes and restarts; ``None`` keeps it
        in memory. The ledger's recorded total and cap win over larger ones given later.
    per_release_max
        The custodian's cap on one release's epsilon (``None``: no cap).
    origin
        Who set these numbers, in words (named in refusals).

    Examples
    --------
    >>> budget = PrivacyBudget(10.0)
    >>> budget.charge(4.0, "freq chr1")
    6.0
    >>> budget.remaining
    6.0
    """

    def __init__(
        self,
        total: float | None = None,
        *,
        ledger: Path | None = None,
        per_release_max: float | None = None,
        origin: str = "",
    ) -> None:
        requested = float(total) if total is not None else DEFAULT_BUDGET
        bound = _env_bound()
        if bound is not None:
            requested = min(requested, bound)
        if not requested > 0:
            raise GenShareError(f"a privacy budget must be positive (got {total!r})")
        if per_release_max is not None:
            _check_epsilon(per_release_max)
        self._requested_total = requested
        self._requested_cap = None if per_release_max is None else float(per_release_max)
        self.origin = origin or "the data custodian"
        self.ledger = Path(ledger) if ledger is not None else None
        self._history: list[dict[str, Any]] = []
        #: Releases already answered by this object, keyed by (policy, filter, counts
        #: digest): asked again, the same noisy answer comes back and nothing is charged.
        self.answered: dict[tuple, Any] = {}

    @contextmanager
    def _locked(self):
        if self.ledger is None:
            yield
            return
        import fcntl

        _secure_dir(self.ledger.parent)
        fd = os.open(self.ledger.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        with os.fdopen(fd, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _record(self) -> dict[str, Any]:
        """The ledger's content (``{}`` when there is none yet)."""
        if self.ledger is None or not self.ledger.is_file():
            return {}
        try:
            record = json.loads(self.ledger.read_text())
            list(record["releases"])
            float(record.get("total", self._requested_total))
            return record
        except (ValueError, KeyError, TypeError) as exc:
            raise GenShareError(
                f"privacy ledger {self.ledger} is unreadable ({exc}); it records the epsilon "
                "already spent, so it is never reset silently: ask the data custodian"
            ) from None

    def _limits(self, record: dict[str, Any]) -> tuple[float, float | None]:
        total = min(self._requested_total, float(record.get("total", math.inf)))
        caps = [c for c in (self._requested_cap, record.get("epsilon_per_release_max")) if c]
        return total, (min(float(c) for c in caps) if caps else None)

    def _load(self) -> list[dict[str, Any]]:
        if self.ledger is None:
            return self._history
        return list(self._record().get("releases", []))

    def _save(self, history: list[dict[str, Any]], total: float, cap: float | None) -> None:
        if self.ledger is None:
            self._history = history
            return
        record = self._record()
        content = {
            "total": total,
            "epsilon_per_release_max": cap,
            "created": record.get(
                "created", datetime.now(timezone.utc).isoformat(timespec="seconds")
            ),
            "set_by": record.get("set_by", self.origin),
            "releases": history,
        }
        fd, tmp = tempfile.mkstemp(prefix=".ledger-", dir=self.ledger.parent)  # 0600
        with os.fdopen(fd, "w") as handle:
            json.dump(content, handle, indent=1)
        os.replace(tmp, self.ledger)

    @property
    def total(self) -> float:
        """The total epsilon: the smaller of this budget's and the ledger's recorded one."""
        return self._limits(self._record())[0]

    @property
    def per_release_max(self) -> float | None:
        """The per-release cap: the smaller of this budget's and the ledger's recorded one."""
        return self._limits(self._record())[1]

    @property
    def history(self) -> list[dict[str, Any]]:
        """Every release charged so far: ``{"epsilon", "delta", "what", "when"}``."""
        return list(self._load())

    @property
    def spent(self) -> float:
        """Epsilon spent so far."""
        return float(sum(r["epsilon"] for r in self._load()))

    @property
    def remaining(self) -> float:
        """Epsilon left."""
        return self.total - self.spent

    def create(self) -> "PrivacyBudget":
        """Write the ledger now (total and cap recorded) if it does not exist yet; services
        call it at start so a restart finds the numbers they started with."""
        if self.ledger is not None:
            with self._locked():
                record = self._record()
                total, cap = self._limits(record)
                if (
                    not record
                    or total != record.get("total")
                    or cap != record.get("epsilon_per_release_max")
                ):
                    self._save(list(record.get("releases", [])), total, cap)
        return self

    def carry_over(self, *ledgers: Path) -> "PrivacyBudget":
        """Start this ledger, if it does not exist yet, with the releases recorded in older
        ledgers of the same cohort (before issue 13 the CLI kept one per store key): a new
        keying never resets what was spent. Unreadable or missing files are skipped.
        """
        if self.ledger is None:
            return self
        with self._locked():
            if self._record():
                return self
            carried: list[dict[str, Any]] = []
            for old in ledgers:
                old = Path(old)
                if old == self.ledger or not old.is_file():
                    continue
                try:
                    releases = list(json.loads(old.read_text())["releases"])
                except (ValueError, KeyError, TypeError, OSError):
                    continue
                carried += [
                    {**r, "what": f"{r.get('what', '')} (from {old.name})"} for r in releases
                ]
            if carried:
                self._save(carried, *self._limits({}))
        return self

    def check(self, epsilon: float, *, cap: float | None = None) -> None:
        """Raise :class:`PrivacyBudgetExceeded` if ``epsilon`` is above the per-release cap
        (nothing is charged)."""
        _check_epsilon(epsilon)
        cap = self.per_release_max if cap is None else cap
        if cap is not None and epsilon > cap * (1 + 1e-12):
            raise PrivacyBudgetExceeded(
                f"refused: epsilon {epsilon:g} is above the per-release cap {cap:g} set by "
                f"{self.origin}. The cap is the data custodian's setting "
                "(catalog entry disclosure.epsilon_per_release_max, or the custodian config "
                "of a service); ask for a smaller epsilon."
            )

    def charge(self, epsilon: float, what: str = "", *, delta: float = 0.0) -> float:
        """Spend ``epsilon`` (and ``delta``) on one release, or raise
        :class:`PrivacyBudgetExceeded` (above the cap, or beyond the total).

        Returns the epsilon left. Nothing is charged when the release is refused.
        """
        self.check(epsilon)
        with self._locked():
            record = self._record()
            total, cap = self._limits(record)
            self.check(epsilon, cap=cap)
            history = self._load()
            spent = sum(r["epsilon"] for r in history)
            if spent + epsilon > total * (1 + 1e-12):
                where = f" (ledger {self.ledger})" if self.ledger else ""
                raise PrivacyBudgetExceeded(
                    f"refused: this release needs epsilon {epsilon:g} but only "
                    f"{total - spent:g} of the cohort's {total:g} is left{where}. "
                    "Every answer computed with noise spends budget; the budget is set by "
                    f"{self.origin} and is never raised from the caller's environment."
                )
            history = [
                *history,
                {
                    "epsilon": float(epsilon),
                    "delta": float(delta),
                    "what": what,
                    "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                },
            ]
            self._save(history, total, cap)
        return total - spent - epsilon

    def __repr__(self) -> str:
        return f"PrivacyBudget(total={self.total:g}, spent={self.spent:g})"


def ledger_for(cohort_id: str) -> Path:
    """The ledger file of one cohort, by its id: ``$GENSHARE_STATE/privacy/<id>.json``
    (:func:`~genshare_widgets.fetch.state_dir`, apart from the cache: a new cache folder does
    not bring a fresh budget).

    Keyed by the cohort id only (not the store, its cache folder or its chunking), so every
    release of the cohort from this account draws on one budget.

    Examples
    --------
    >>> ledger_for("1kg-phase3-subset").name
    '1kg-phase3-subset.json'
    """
    from genshare_widgets.fetch import state_dir

    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(cohort_id))
    return state_dir() / "privacy" / f"{safe}.json"
