"""The PCA reference file: SNP weights you can save, share and pin by sha256 (issues 13, 19).

A :class:`PCAReference` holds what projection needs and nothing about a person unless the
reference was fitted on open-tier data:

- ``variants``: contig, position, ref, alt and ``id`` (the rsID where the source had one,
  else ``""``), in the order of the weight rows;
- ``p``: each variant's ALT frequency over the reference samples (the mean is ``2p`` and
  the scale ``sqrt(p (1 - p))``, Patterson et al. 2006, as :mod:`genshare_widgets.samples`);
- ``weights`` (M × k): SNP weights ``W = Xᵀ U / (M λ)``, so that a standardised genotype
  row ``x`` projects to ``x @ W`` and the reference's own samples project to their PCs ``U``
  (unit-length eigenvectors of ``X Xᵀ / M``, as ``stats --pca`` writes them);
- ``eigenvalues`` λ of ``X Xᵀ / M``; ``genome_build``; ``min_maf``; ``source`` and a
  ``provenance`` record (command, filters, package version, input hashes);
- ``samples`` (optional, open-tier references only): the reference samples' ids, PCs and
  labels (population, super-population, the ``--by`` column), which ancestry assignment
  trains on and the projection figure draws.

File format (version 2): one canonical JSON document (sorted keys, no spaces); the float
arrays are base64 of little-endian float64 (bit-exact and fast to read); the file's sha256
(:attr:`PCAReference.sha256`, what ``sha256sum`` prints) is what a custodian or a catalog
entry pins. Version-1 files (issue 13, floats written as JSON numbers, no build) are refused
with what to do.

Safety rules (issue 13; they hold for every reference, shared or served): at most
:data:`MAX_PCS` components, every variant's MAF at least :data:`MIN_REFERENCE_MAF` (a rare
variant's weight row points at its few carriers), components spread over at least
:data:`MIN_VARIANTS_PER_COMPONENT` variants, and fitted only on open-tier data (or the user's
own files).
"""

import base64
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genshare_widgets._errors import GenShareError

MAX_PCS = 10  # more components make the weights closer to individual data
MIN_REFERENCE_MAF = 0.05  # rarer variants' weight rows point at their few carriers
# A component must spread its weight over many variants (participation ratio
# (Σw²)²/Σw⁴): identity-like weights make a group's mean projection one allele count. Real
# PCs of the 1000 Genomes subset spread over 194..1,479 of 3,811 variants.
MIN_VARIANTS_PER_COMPONENT = 50
# The MAF filter of the PCA (``stats --pca``, which a reference must reproduce) counts every
# called allele (a haploid chrX call counts one), while p counts fully called genotypes only:
# on chrX p's MAF can sit below the filter's (measured: 0.0487 on the 1000 Genomes subset,
# 0.0381 on its 207 East Asian samples). A reference variant may sit this far below
# MIN_REFERENCE_MAF by p; rare variants (attack 2's 0.001) stay refused.
MAF_SLACK = 0.5
FORMAT = "genshare-pca-reference"
FORMAT_VERSION = 2
VARIANT_COLUMNS = ("contig", "position", "ref", "alt", "id")


def _pack(array: np.ndarray) -> dict[str, Any]:
    data = np.ascontiguousarray(array, dtype="<f8")
    return {"shape": list(data.shape), "f8": base64.b64encode(data.tobytes()).decode("ascii")}


def _unpack(item: Any) -> np.ndarray:
    if isinstance(item, (list, np.ndarray)):  # version 1 on the wire: plain JSON numbers
        return np.asarray(item, dtype=np.float64)
    raw = base64.b64decode(item["f8"], validate=True)
    shape = tuple(int(s) for s in item["shape"])
    return np.frombuffer(raw, dtype="<f8").reshape(shape).astype(np.float64)


@dataclass
class PCAReference:
    """Reference SNP weights (see the module docstring for every field).

    Examples
    --------
    >>> ref = fit_reference(open_cohort("1kg-phase3-subset"), k=4)  # doctest: +SKIP
    >>> ref.weights.shape, ref.genome_build  # doctest: +SKIP
    ((3812, 4), 'GRCh37')
    """

    variants: pd.DataFrame
    p: np.ndarray
    weights: np.ndarray
    eigenvalues: np.ndarray
    min_maf: float = MIN_REFERENCE_MAF
    source: str = ""
    genome_build: str | None = None
    #: reference samples: ``ids`` (list), ``pcs`` (n × k array), ``labels`` {column: list}
    samples: dict[str, Any] | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    #: the sha256 of the file :meth:`load` read (its canonical bytes): a loaded reference is
    #: not to be changed in place (make a new one)
    _file_sha256: str | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if "id" not in self.variants.columns:
            self.variants = self.variants.assign(id="")

    @property
    def k(self) -> int:
        return int(self.weights.shape[1])

    @property
    def sample_pcs(self) -> pd.DataFrame | None:
        """The reference samples' PCs and labels (sample id index), None when not stored."""
        if not self.samples:
            return None
        pcs = np.asarray(self.samples["pcs"], dtype=np.float64).reshape(-1, self.k)
        table = pd.DataFrame(
            pcs,
            columns=[f"PC{i + 1}" for i in range(self.k)],
            index=pd.Index(self.samples["ids"], name="sample"),
        )
        for col, values in sorted(self.samples.get("labels", {}).items()):
            table.insert(len(table.columns) - self.k, col, values)
        return table

    def to_json(self) -> dict[str, Any]:
        variants: dict[str, list[Any]] = {
            c: [str(v) for v in self.variants[c]] for c in ("contig", "ref", "alt", "id")
        }
        variants["position"] = [int(v) for v in self.variants["position"]]
        payload: dict[str, Any] = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "source": str(self.source),
            "min_maf": float(self.min_maf),
            "genome_build": self.genome_build,
            "variants": variants,
            "p": _pack(self.p),
            "weights": _pack(self.weights),
            "eigenvalues": [float(x) for x in self.eigenvalues],
            "provenance": self.provenance,
        }
        if self.samples:
            payload["samples"] = {
                "ids": [str(s) for s in self.samples["ids"]],
                "pcs": _pack(np.asarray(self.samples["pcs"], dtype=np.float64)),
                "labels": {
                    str(c): ["" if v is None else str(v) for v in vals]
                    for c, vals in self.samples.get("labels", {}).items()
                },
            }
        return payload

    def to_bytes(self) -> bytes:
        """The canonical serialisation (sorted keys, no spaces): what :meth:`save` writes
        and what :attr:`sha256` hashes."""
        return json.dumps(
            self.to_json(), sort_keys=True, separators=(",", ":"), allow_nan=False
        ).encode()

    @property
    def sha256(self) -> str:
        """sha256 of :meth:`to_bytes`: equal to ``sha256sum`` of the saved file."""
        if self._file_sha256 is not None:
            return self._file_sha256
        return hashlib.sha256(self.to_bytes()).hexdigest()

    def save(self, path: str | Path) -> str:
        """Write the canonical file atomically; returns its sha256.

        Examples
        --------
        >>> digest = fit_reference(open_cohort("hapmap3"), k=4).save("ref.json")  # doctest: +SKIP
        """
        data = self.to_bytes()
        path = Path(path)
        tmp = path.with_name(f".{path.name}.partial")
        tmp.write_bytes(data)
        tmp.replace(path)
        return hashlib.sha256(data).hexdigest()

    @classmethod
    def load(cls, path: str | Path, *, sha256: str | None = None) -> "PCAReference":
        """A reference file, checked for its limits (:meth:`check_limits`), and when
        ``sha256`` is given (a custodian's pin, a catalog record) against it and for its
        canonical form; a file whose hash differs is refused naming both hashes. The loaded
        reference's :attr:`sha256` is the file's.

        Examples
        --------
        >>> ref = PCAReference.load("ref.json", sha256="9f2c…")  # doctest: +SKIP
        """
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise GenShareError(f"PCA reference {path}: cannot read it ({exc})") from None
        if sha256 is not None:
            pinned = str(sha256 or "").strip().lower()
            if len(pinned) != 64 or any(c not in "0123456789abcdef" for c in pinned):
                raise GenShareError(
                    f"PCA reference {path}: pin it by its sha256 (64 hex digits, what "
                    f"`sha256sum {path}` prints), e.g. --pca-reference-sha256 HEX"
                )
            actual = hashlib.sha256(data).hexdigest()
            if actual != pinned:
                raise GenShareError(
                    f"PCA reference {path}: sha256 is {actual}, not the approved {pinned}; the "
                    "file changed since it was approved (or the wrong file was given)"
                )
        try:
            payload = json.loads(data)
        except ValueError as exc:
            raise GenShareError(f"PCA reference {path}: not JSON ({exc})") from None
        cls.check_version(payload, what=f"PCA reference {path}")
        ref = cls.from_json(payload, what=f"PCA reference {path}")
        # a pinned file must be canonical (a site advertises the hash of what it re-serialises);
        # an unpinned one is named by its own file hash
        if sha256 is not None and ref.to_bytes() != data:
            raise GenShareError(
                f"PCA reference {path}: not in the canonical form PCAReference.save writes "
                "(its hash would differ from what the site advertises); re-save it with "
                "PCAReference.from_json(json.load(f)).save(path) and pin the new sha256"
            )
        ref.check_limits(what=f"PCA reference {path}")
        ref._file_sha256 = hashlib.sha256(data).hexdigest()
        return ref

    def check_limits(self, *, what: str = "PCA reference") -> None:
        """Refuse more than :data:`MAX_PCS` components, a variant with MAF below
        :data:`MIN_REFERENCE_MAF` (or a fitted ``min_maf`` below it), or a component whose
        weight sits on fewer than :data:`MIN_VARIANTS_PER_COMPONENT` variants (so a custodian
        cannot be talked into approving identity-like weights)."""
        if not 1 <= self.k <= MAX_PCS:
            raise GenShareError(
                f"{what} has {self.k} components; a site uses at most {MAX_PCS} (fit it "
                f"with k <= {MAX_PCS})"
            )
        maf = np.minimum(self.p, 1 - self.p)
        if self.min_maf < MIN_REFERENCE_MAF or (maf < MAF_SLACK * MIN_REFERENCE_MAF).any():
            low = float(maf.min()) if len(maf) else float("nan")
            raise GenShareError(
                f"{what} was fitted with min_maf={self.min_maf:g} (lowest variant MAF "
                f"{low:.4g}); a site uses only references with every MAF >= "
                f"{MIN_REFERENCE_MAF} (refit it with min_maf >= {MIN_REFERENCE_MAF})"
            )
        squares = self.weights**2
        with np.errstate(invalid="ignore", divide="ignore"):
            spread = squares.sum(axis=0) ** 2 / (squares**2).sum(axis=0)
        narrow = np.flatnonzero(~(spread >= MIN_VARIANTS_PER_COMPONENT))
        if len(narrow):
            j = int(narrow[0])
            width = float(np.nan_to_num(spread[j]))
            raise GenShareError(
                f"{what}: component {j + 1} puts its weight on about {width:.0f} "
                f"variants; a site uses only components spread over at least "
                f"{MIN_VARIANTS_PER_COMPONENT} (a PCA of genotypes, not weights that single out "
                "a few variants)"
            )

    @classmethod
    def from_json(cls, payload: Any, *, what: str = "PCA reference") -> "PCAReference":
        """The reference a :meth:`to_json` document describes (format version 2; a version-1
        document sent over the wire, weights as k lists of M numbers, is read too — its hash
        is that of its version-2 form, so no site takes it for an approved file)."""
        legacy = isinstance(payload, dict) and payload.get("version", 1) == 1
        if legacy and isinstance(payload.get("weights"), list):
            payload = {**payload, "weights": np.asarray(payload["weights"], dtype=np.float64).T}
        return cls._from_payload(payload, what=what)

    @classmethod
    def check_version(cls, payload: Any, *, what: str) -> None:
        """Refuse a file of another format version, saying what to do."""
        if isinstance(payload, dict) and payload.get("format", FORMAT) == FORMAT:
            version = payload.get("version")
            if version != FORMAT_VERSION:
                raise GenShareError(
                    f"{what} is format version {version!r}; this GenShare reads version "
                    f"{FORMAT_VERSION} (base64 float64 arrays, genome build, rsIDs). Refit it "
                    "with `genshare reference SOURCE --pca K --out REF` (or "
                    "gs.fit_reference(...).save(path)) and pin the new sha256"
                )

    @classmethod
    def _from_payload(cls, payload: Any, *, what: str) -> "PCAReference":
        try:
            if payload.get("format", FORMAT) != FORMAT:
                raise ValueError(f"format {payload.get('format')!r}")
            raw = payload["variants"]
            m = len(raw["position"])
            variants = pd.DataFrame(
                {
                    "contig": [str(c) for c in raw["contig"]],
                    "position": np.asarray(raw["position"], dtype=np.int64),
                    "ref": [str(a) for a in raw["ref"]],
                    "alt": [str(a) for a in raw["alt"]],
                    "id": [str(a) for a in raw.get("id", [""] * m)],
                }
            )
            p = _unpack(payload["p"])
            weights = _unpack(payload["weights"])
            eigenvalues = np.asarray(payload["eigenvalues"], dtype=np.float64)
            min_maf = float(payload.get("min_maf", 0.0))
            source = str(payload.get("source", ""))
            build = payload.get("genome_build")
            samples: dict[str, Any] | None = None
            if payload.get("samples"):
                raw_s = payload["samples"]
                samples = {
                    "ids": [str(s) for s in raw_s["ids"]],
                    "pcs": _unpack(raw_s["pcs"]),
                    "labels": {str(c): list(v) for c, v in raw_s.get("labels", {}).items()},
                }
            provenance = dict(payload.get("provenance") or {})
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise GenShareError(f"malformed {what} ({exc})") from None
        if p.shape != (m,) or weights.ndim != 2 or weights.shape[0] != m or not m:
            raise GenShareError(f"malformed {what} (lengths of variants, p, weights differ)")
        if eigenvalues.shape != (weights.shape[1],):
            raise GenShareError(f"malformed {what} (one eigenvalue per component)")
        if not (np.isfinite(p).all() and np.isfinite(weights).all()) or ((p <= 0) | (p >= 1)).any():
            raise GenShareError(f"malformed {what} (p must be in (0, 1), weights finite)")
        if samples is not None and samples["pcs"].shape != (len(samples["ids"]), weights.shape[1]):
            raise GenShareError(f"malformed {what} (one row of PCs per reference sample)")
        return cls(
            variants=variants,
            p=p,
            weights=weights,
            eigenvalues=eigenvalues,
            min_maf=min_maf,
            source=source,
            genome_build=None if build is None else str(build),
            samples=samples,
            provenance=provenance,
        )

    def first(self, k: int) -> "PCAReference":
        """The reference restricted to its first ``k`` components."""
        samples = None
        if self.samples:
            samples = {**self.samples, "pcs": np.asarray(self.samples["pcs"])[:, :k]}
        return PCAReference(
            variants=self.variants,
            p=self.p,
            weights=self.weights[:, :k],
            eigenvalues=self.eigenvalues[:k],
            min_maf=self.min_maf,
            source=self.source,
            genome_build=self.genome_build,
            samples=samples,
            provenance=self.provenance,
        )

    def without_samples(self) -> "PCAReference":
        """The same weights without the reference samples' PCs and labels."""
        return PCAReference(
            variants=self.variants,
            p=self.p,
            weights=self.weights,
            eigenvalues=self.eigenvalues,
            min_maf=self.min_maf,
            source=self.source,
            genome_build=self.genome_build,
            provenance=self.provenance,
        )
