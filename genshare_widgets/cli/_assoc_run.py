"""`genshare assoc`: test every selected variant for association with a phenotype and write
``assoc.tsv`` and ``provenance.json`` (the CLI contract in DESIGN.md).

Both files are written into a temporary folder beside ``--out`` and moved into place only when
complete, so a failure leaves no half-written result. Under a disclosure policy the analysed
sample sets are checked against (and recorded in) the cohort's release log, like the groups of
``genshare stats``.
"""

import shlex
import sys
from pathlib import Path
from typing import Any

from genshare_widgets._outputs import output_provenance, publish, staged_output, write_provenance


def association_provenance(cohort, result, *, command: list[str] | None) -> dict[str, Any]:
    """The provenance.json record of an association run (``genshare assoc``)."""
    return output_provenance(
        cohort,
        statistics=["assoc.tsv"],
        policy=result.policy,
        command=command,
        association=result.provenance(),
    )


def run_association(
    cohort,
    out: Path,
    *,
    pheno: str,
    covar: list[str] | None = None,
    pcs: int = 0,
    binary: bool | None = None,
    region: str | None = None,
    min_maf: float | None = None,
    snps_only: bool = False,
    policy=None,
    command: list[str] | None = None,
) -> dict[str, Path]:
    """Compute the association and write its files into ``out``; → {file name: final path}."""
    from genshare_widgets.association import released_association
    from genshare_widgets.disclosure._modifiers import (
        check_export,
    )

    check_export(cohort, what=f"an association into {out}")  # MOR: before anything is made
    out = Path(out)
    with staged_output(out, "assoc") as tmp:
        # the table is written as the variants are tested, then moved into place with its
        # provenance only when both are complete
        result = released_association(
            cohort,
            pheno,
            command=shlex.join(command or sys.argv),
            covar=covar,
            pcs=pcs,
            binary=binary,
            region=region,
            min_maf=min_maf,
            snps_only=snps_only,
            policy=policy,
            out=tmp / "assoc.tsv",
        )
        record = association_provenance(cohort, result, command=command)
        write_provenance(tmp, record)  # RTN: the return address and RETURN.md too
        return publish(tmp, out)
