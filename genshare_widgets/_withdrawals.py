"""Withdrawals (dynamic consent): the samples a cohort must no longer analyse.

A catalog entry may name a versioned withdrawal list (``withdrawals:`` in
``data_catalog.yaml``: file, version, date, sha256); a user or custodian adds lists of their
own (``open_cohort(..., withdrawn=PATH)``, ``--withdrawn FILE`` on the command line). A list is
a text file of sample ids, one per line; blank lines and lines starting with ``#`` are
ignored.

How a withdrawal is applied (one path for every door):

* :func:`genshare_widgets.cohort.open_cohort` reads and checks every list once (hash, unknown
  ids) and builds a :class:`Withdrawals`: a boolean mask over the store's sample columns. The
  store is never re-converted.
* The cohort's sample table keeps one row per genotype column (the order engines need) but a
  withdrawn sample's metadata is blanked (all columns missing), so no grouping by a column
  can place it in a group; and :func:`genshare_widgets._selection.resolve_groups`, through
  which every count pass (statistics, figures, explorer, Beacon, federation site) resolves
  its groups, gives withdrawn samples no group whatever the grouping (a column, a mapping,
  the whole cohort). Per-sample passes (PCA, per-sample statistics, association) keep only
  :attr:`Withdrawals.kept` samples.
* The cohort's provenance records each list's version, date and sha256 and the number of
  samples withdrawn (never the ids); figure recipes, ``stats`` provenance and figure meta
  carry it.

Bad input is an error naming the file and field: an unreadable list, a list whose sha256
differs from the catalog's (both hashes named), sample ids that are not in the cohort (named:
a typo must not silently leave a withdrawn person in).

Standard library and numpy only (pandas inside functions), so any layer may import it.

Examples
--------
>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "withdrawn.txt"
>>> _ = p.write_text("# withdrawn 2026-11\\nS2\\n")
>>> w = resolve_withdrawals(["S1", "S2", "S3"], [read_withdrawal_list(p)])
>>> w.n_withdrawn, w.kept.tolist()
(1, [True, False, True])
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from genshare_widgets._errors import GenShareError
from genshare_widgets._hashing import sha256_file

#: Where the withdrawal lists shipped with the package live (a catalog ``withdrawals.file``
#: that is a plain name is looked up here).
PACKAGED_LISTS = Path(__file__).resolve().parent / "withdrawal_lists"


class WithdrawalError(GenShareError):
    """A withdrawal list cannot be applied (unreadable, wrong hash, unknown sample ids)."""


@dataclass(frozen=True)
class WithdrawalList:
    """One withdrawal list as read: where from, its version and hash, and its sample ids."""

    path: str
    sha256: str
    sample_ids: tuple[str, ...]
    origin: str = "--withdrawn"  # "catalog" for the entry's list
    version: str | None = None
    date: str | None = None
    #: The hash the catalog records (checked again whenever the list is re-read).
    expected_sha256: str | None = None

    def record(self) -> dict[str, Any]:
        """Provenance of this list: no sample id, only what identifies the list."""
        return {
            "origin": self.origin,
            "file": Path(self.path).name,
            "version": self.version,
            "date": self.date,
            "sha256": self.sha256,
            "n_ids": len(self.sample_ids),
        }


def read_withdrawal_list(
    path: str | Path,
    *,
    expected_sha256: str | None = None,
    origin: str = "--withdrawn",
    version: str | None = None,
    date: str | None = None,
    field_name: str = "--withdrawn",
) -> WithdrawalList:
    """Read one list (one sample id per line; ``#`` comments and blank lines ignored).

    ``expected_sha256``: the hash the catalog records; a file with another hash is refused
    (:class:`WithdrawalError` naming the file, the field and both hashes).
    """
    path = Path(path).expanduser()
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise WithdrawalError(
            f"{field_name} {path}: cannot read the withdrawal list ({exc.strerror or exc}); "
            "give a readable text file with one sample id per line"
        ) from None
    import hashlib

    digest = hashlib.sha256(raw).hexdigest()
    if expected_sha256 is not None and digest != expected_sha256:
        raise WithdrawalError(
            f"{field_name}: withdrawal list {path} has sha256 {digest}, but the catalog "
            f"records {expected_sha256}; the list changed or is not the one the catalog names. "
            "Restore the file, or (custodians) update withdrawals.sha256 and withdrawals."
            "version in data_catalog.yaml"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WithdrawalError(
            f"{field_name} {path}: not UTF-8 text (byte {exc.start}); a withdrawal list is a "
            "text file with one sample id per line"
        ) from None
    ids = []
    for line in text.splitlines():
        item = line.strip()
        if item and not item.startswith("#"):
            ids.append(item)
    return WithdrawalList(
        path=str(path),
        sha256=digest,
        sample_ids=tuple(dict.fromkeys(ids)),
        origin=origin,
        version=version,
        date=date,
        expected_sha256=expected_sha256,
    )


@dataclass(frozen=True)
class Withdrawals:
    """The samples withdrawn from a cohort: the lists applied and a mask over its samples.

    Attributes
    ----------
    lists
        The lists applied (the catalog's first, then each ``--withdrawn`` file).
    kept
        bool per genotype column (store sample order): False for a withdrawn sample.
    """

    lists: tuple[WithdrawalList, ...] = ()
    kept: np.ndarray = field(default_factory=lambda: np.ones(0, dtype=bool), compare=False)
    #: The sample table before blanking (so a changed list can be applied afresh).
    table_before: Any = field(default=None, repr=False, compare=False)

    @property
    def n_withdrawn(self) -> int:
        """Samples withdrawn (each counted once, whichever lists name it)."""
        return int((~self.kept).sum())

    def record(self) -> dict[str, Any]:
        """The provenance record: each list's version, date, sha256, and the number withdrawn."""
        return {
            "n_withdrawn": self.n_withdrawn,
            "n_samples_kept": int(self.kept.sum()),
            "lists": [item.record() for item in self.lists],
        }

    def changed(self) -> list[str]:
        """The lists whose content changed (or that vanished) since they were read: a service
        checks this on every request. Each list is hashed every time: file times are too
        coarse (a same-size rewrite within one clock tick keeps size and mtime), and a list
        of thousands of ids hashes in well under a millisecond."""
        out = []
        for item in self.lists:
            try:
                if sha256_file(Path(item.path)) == item.sha256:
                    continue
            except OSError:
                pass
            out.append(item.path)
        return out


def resolve_withdrawals(sample_ids: Sequence[str], lists: Sequence[WithdrawalList]) -> Withdrawals:
    """The mask of ``lists`` over ``sample_ids`` (genotype column order).

    Ids of a list that are not among ``sample_ids`` are an error naming them and the list.
    """
    index = {str(s): i for i, s in enumerate(sample_ids)}
    kept = np.ones(len(index), dtype=bool)
    for item in lists:
        unknown = [s for s in item.sample_ids if s not in index]
        if unknown:
            shown = ", ".join(unknown[:10]) + (" ..." if len(unknown) > 10 else "")
            raise WithdrawalError(
                f"withdrawal list {item.path} ({item.origin}): {len(unknown)} sample id(s) not "
                f"in this cohort: {shown}. A withdrawal must name the cohort's own sample ids "
                f"(e.g. {list(index)[:3]}); correct the list (a typo would leave a withdrawn "
                "person in the analysis)"
            )
        kept[[index[s] for s in item.sample_ids]] = False
    return Withdrawals(lists=tuple(lists), kept=kept)


def reread(
    lists: Sequence[WithdrawalList], entry_sha256: str | None = None
) -> list[WithdrawalList]:
    """The same lists read again from their files (the catalog's checked against
    ``entry_sha256``, the hash the catalog records)."""
    return [
        read_withdrawal_list(
            item.path,
            expected_sha256=item.expected_sha256
            or (entry_sha256 if item.origin == "catalog" else None),
            origin=item.origin,
            version=item.version,
            date=item.date,
            field_name="withdrawals.file" if item.origin == "catalog" else "--withdrawn",
        )
        for item in lists
    ]


def blank_withdrawn(samples, kept: np.ndarray):
    """The sample table with every column of the withdrawn rows set missing (rows kept, in
    genotype column order), so no grouping by a column can place a withdrawn sample."""
    if kept.all() or not len(samples.columns):
        return samples
    out = samples.copy()
    withdrawn = ~np.asarray(kept, dtype=bool)
    for col in out.columns:
        column = out[col]
        if column.dtype.kind in "biu":  # integers and booleans cannot hold a missing value
            column = column.astype("Float64" if column.dtype.kind != "b" else object)
        out[col] = column.where(~withdrawn, None)
    return out
