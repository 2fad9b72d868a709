"""Exact audit of a release: what can still be said about each hidden cell.

The attacker's view of a release is a set of integer tables consistent with everything it shows
(numbers, ``<k``/NA markers, group sizes, totals, every grouping). :class:`IntegerTables`
collects that view as integer variables with bounds and linear constraints; :meth:`ranges` gives
the exact minimum and maximum of each hidden cell over it (``scipy.optimize.milp``, HiGHS).

The protection criterion (issue 13 plan), for every hidden cell whose true value is in 1..k-1:

(a) a cell shown as ``<k`` can still take every value 1..k-1;
(b) any other hidden cell (shown NA, or implied such as a REF count or hom-REF count) can still
    take 0 or a value >= k.

:func:`criterion_violations` applies it to computed ranges. For (a) a range check (min <= 1 and
max >= k-1) is exact when the feasible values form an interval; :meth:`feasible` tests single
values when holes are possible (small tables: the property test checks every value).

Used by the red-team attacks (4, 7, 10) and by the property test on random tables.
"""

from dataclasses import dataclass, field

import numpy as np

SHOWN, LESS_THAN_K, NOT_SHOWN = 0, 1, 2  # released, ``<k``, NA / implied


@dataclass
class IntegerTables:
    """Integer variables ``lo <= x <= hi`` and linear constraints ``lo <= a·x <= hi``."""

    lower: list[float] = field(default_factory=list)
    upper: list[float] = field(default_factory=list)
    _rows: list[int] = field(default_factory=list)
    _cols: list[int] = field(default_factory=list)
    _vals: list[float] = field(default_factory=list)
    _lo: list[float] = field(default_factory=list)
    _hi: list[float] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.lower)

    def variables(self, lo, hi) -> np.ndarray:
        """New variables with bounds ``lo``/``hi`` (arrays of one shape) → their indices."""
        lo = np.asarray(lo, dtype=np.float64)
        hi = np.broadcast_to(np.asarray(hi, dtype=np.float64), lo.shape)
        start = self.n
        self.lower.extend(lo.ravel().tolist())
        self.upper.extend(hi.ravel().tolist())
        return np.arange(start, self.n).reshape(lo.shape)

    def variable(self, lo: float, hi: float) -> int:
        return int(self.variables([lo], [hi])[0])

    def constrain(self, terms, lo: float, hi: float | None = None) -> None:
        """``lo <= sum(coef * x[var] for var, coef in terms) <= hi`` (hi defaults to lo)."""
        row = len(self._lo)
        for var, coef in terms:
            self._rows.append(row)
            self._cols.append(int(var))
            self._vals.append(float(coef))
        self._lo.append(float(lo))
        self._hi.append(float(lo if hi is None else hi))

    def constrain_many(self, variables: np.ndarray, coefs, lo, hi=None) -> None:
        """One constraint per row of ``variables`` (rows × terms), same coefficients each."""
        variables = np.atleast_2d(np.asarray(variables, dtype=np.int64))
        coefs = np.broadcast_to(np.asarray(coefs, dtype=np.float64), variables.shape)
        rows = variables.shape[0]
        lo = np.broadcast_to(np.asarray(lo, dtype=np.float64), (rows,))
        hi = lo if hi is None else np.broadcast_to(np.asarray(hi, dtype=np.float64), (rows,))
        first = len(self._lo)
        index = np.repeat(np.arange(first, first + rows), variables.shape[1])
        self._rows.extend(index.tolist())
        self._cols.extend(variables.ravel().tolist())
        self._vals.extend(coefs.ravel().tolist())
        self._lo.extend(lo.tolist())
        self._hi.extend(hi.tolist())

    def _solve(self, objective: np.ndarray, extra=None):
        from scipy.optimize import Bounds, LinearConstraint, milp
        from scipy.sparse import coo_array

        rows, cols, vals = list(self._rows), list(self._cols), list(self._vals)
        lo, hi = list(self._lo), list(self._hi)
        if extra is not None:
            var, value = extra
            rows.append(len(lo))
            cols.append(var)
            vals.append(1.0)
            lo.append(value)
            hi.append(value)
        constraints = []
        if lo:
            matrix = coo_array((vals, (rows, cols)), shape=(len(lo), self.n)).tocsr()
            constraints.append(LinearConstraint(matrix, lo, hi))
        return milp(
            objective,
            integrality=np.ones(self.n),
            bounds=Bounds(self.lower, self.upper),
            constraints=constraints,
            options={"presolve": True},
        )

    def ranges(self, cells, *, independent: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Exact (min, max) of each variable in ``cells`` over the feasible integer tables.

        ``independent=True``: the caller guarantees that no two of ``cells`` share a connected
        block of constraints (e.g. one cell per variant), so one minimisation of their sum gives
        every minimum at once (and the same for maxima).
        """
        cells = np.asarray(cells, dtype=np.int64).ravel()
        lo = np.zeros(len(cells))
        hi = np.zeros(len(cells))
        if not len(cells):
            return lo, hi
        batches = [cells] if independent else [cells[i : i + 1] for i in range(len(cells))]
        position = 0
        for batch in batches:
            for sign, out in ((1.0, lo), (-1.0, hi)):
                objective = np.zeros(self.n)
                objective[batch] = sign
                result = self._solve(objective)
                if result.x is None:
                    raise ValueError(f"the shown tables are infeasible: {result.message}")
                out[position : position + len(batch)] = np.round(result.x[batch])
            position += len(batch)
        return lo, hi

    def feasible(self, cell: int, value: int) -> bool:
        """True when some consistent table has ``x[cell] == value``."""
        result = self._solve(np.zeros(self.n), extra=(int(cell), float(value)))
        return result.x is not None


def criterion_violations(true, status, lo, hi, k: int) -> np.ndarray:
    """Hidden cells (status ``<k`` or not shown) with a true value in 1..k-1 whose feasible
    range breaks the criterion: ``<k`` cells must still reach 1 and k-1; other hidden cells
    must still reach 0 or a value >= k."""
    true, status, lo, hi = (np.asarray(x) for x in (true, status, lo, hi))
    small = (true >= 1) & (true < k)
    narrowed = (lo > 1) | (hi < k - 1)
    pinned = (lo > 0) & (hi < k)
    return small & (((status == LESS_THAN_K) & narrowed) | ((status == NOT_SHOWN) & pinned))


def shown_cell(tables: IntegerTables, var: int, status: int, value: int, k: int) -> None:
    """Constrain ``var`` to what a cell shows: its number, 1..k-1 for ``<k``, nothing for NA."""
    if status == SHOWN:
        tables.constrain([(var, 1)], value)
    elif status == LESS_THAN_K:
        tables.constrain([(var, 1)], 1, k - 1)


def apply_shown(tables: IntegerTables, variables, status, values, k: int) -> None:
    """:func:`shown_cell` for arrays (vectorised)."""
    variables = np.asarray(variables).ravel()
    status = np.asarray(status).ravel()
    values = np.asarray(values).ravel()
    released = status == SHOWN
    if released.any():
        tables.constrain_many(variables[released][:, None], 1.0, values[released])
    less = status == LESS_THAN_K
    if less.any():
        tables.constrain_many(variables[less][:, None], 1.0, 1, k - 1)


def genotype_rows(tables: IntegerTables, n_samples, *, diploid=True) -> dict[str, np.ndarray]:
    """Variables of linked cells for rows with ``n_samples`` people each: AC, REF count, AN,
    het, hom-ALT, hom-REF, called, tied by AC = het + 2 hom-ALT, AN = 2 called (diploid),
    called = hom-REF + het + hom-ALT, REF = AN - AC, called <= n."""
    n = np.asarray(n_samples, dtype=np.float64)
    zero = np.zeros_like(n)
    cells = {
        "ac": tables.variables(zero, 2 * n),
        "ref": tables.variables(zero, 2 * n),
        "an": tables.variables(zero, 2 * n),
        "het": tables.variables(zero, n),
        "hom_alt": tables.variables(zero, n),
        "hom_ref": tables.variables(zero, n),
        "called": tables.variables(zero, n),
    }
    flat = {name: v.ravel() for name, v in cells.items()}
    tables.constrain_many(
        np.stack([flat["ac"], flat["het"], flat["hom_alt"]], axis=1), [1, -1, -2], 0
    )
    tables.constrain_many(
        np.stack([flat["called"], flat["hom_ref"], flat["het"], flat["hom_alt"]], axis=1),
        [1, -1, -1, -1],
        0,
    )
    tables.constrain_many(np.stack([flat["an"], flat["ref"], flat["ac"]], axis=1), [1, -1, -1], 0)
    if diploid:
        tables.constrain_many(np.stack([flat["an"], flat["called"]], axis=1), [1, -2], 0)
    return cells
