"""A naive, obviously-correct VCF text reader used as the reference in tests.

It splits lines by hand (no htslib): GT is the FORMAT key ``GT``; ``/`` and ``|`` separate
alleles; ``.`` is -1; a haploid call gets -2 in its second slot, as VCF-Zarr specifies.
"""

import gzip
from pathlib import Path

import numpy as np


def _parse_gt(gt: str) -> tuple[list[int], bool]:
    sep = "|" if "|" in gt else "/"
    parts = gt.split(sep)
    codes = [-1 if a == "." else int(a) for a in parts]
    if len(codes) == 1:
        codes.append(-2)
    return codes, sep == "|" or len(parts) == 1  # htslib: a haploid call counts as phased


def read_vcf_text(path: Path) -> dict:
    memo: dict[str, tuple[list[int], bool]] = {}  # few distinct GT strings: parse each once
    opener = gzip.open if path.read_bytes()[:2] == b"\x1f\x8b" else open
    samples: list[str] = []
    contig, position, alleles, ids, genotypes, phased = [], [], [], [], [], []
    with opener(path, "rt") as fh:
        for line in fh:
            if line.startswith("##"):
                continue
            fields = line.rstrip("\n").split("\t")
            if line.startswith("#CHROM"):
                samples = fields[9:]
                continue
            contig.append(fields[0])
            position.append(int(fields[1]))
            ids.append("" if fields[2] == "." else fields[2])
            alt = [] if fields[4] == "." else fields[4].split(",")
            alleles.append([fields[3], *alt])
            gt_index = fields[8].split(":").index("GT")
            row, row_phased = [], []
            for cell in fields[9:]:
                gt = cell.split(":")[gt_index] if gt_index else cell.split(":", 1)[0]
                if gt not in memo:
                    memo[gt] = _parse_gt(gt)
                codes, is_phased = memo[gt]
                row.append(codes)
                row_phased.append(is_phased)
            genotypes.append(row)
            phased.append(row_phased)
    return {
        "samples": samples,
        "contig": contig,
        "position": np.array(position),
        "alleles": alleles,
        "ids": ids,
        "genotypes": np.array(genotypes, dtype=np.int8).reshape(len(position), len(samples), 2),
        "phased": np.array(phased, dtype=bool).reshape(len(position), len(samples)),
    }
