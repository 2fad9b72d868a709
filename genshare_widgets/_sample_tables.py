"""Reading a sample table's text and header without pandas (the CLI checks ``--samples``
and ``--by`` with these before anything heavy is imported); :mod:`genshare_widgets.cohort`
parses the table with the same checks."""

from pathlib import Path
from typing import TYPE_CHECKING

from genshare_widgets._errors import InputFormatError

if TYPE_CHECKING:  # pandas only inside read_sample_table: the CLI's header checks never need it
    import pandas as pd

    from genshare_widgets.catalog import SampleTableSpec


def sample_table_text(path: Path) -> str:
    """The text of a sample table; a file that is empty or not UTF-8 text is refused with
    the line at fault."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputFormatError(
            f"{path}: the sample table cannot be read ({exc.strerror})"
        ) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputFormatError(
            f"{path}: line {line} is not UTF-8 text (byte {data[exc.start]:#04x}); save the "
            "sample table as UTF-8 tab-separated text (e.g. iconv -f latin1 -t utf-8)"
        ) from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise InputFormatError(
            f"{path}: line {line} holds a NUL byte: not a text file; give a UTF-8 "
            "tab-separated sample table"
        )
    if not text.strip():
        raise InputFormatError(
            f"{path}: empty sample table; a header row is needed (first column = sample id, "
            "then e.g. population)"
        )
    return text


def sample_table_columns(path: Path, *, separator: str = "\t") -> list[str]:
    """The header of a sample table (checked as :func:`read_sample_table` checks it)."""
    first = sample_table_text(path).splitlines()[0]
    return [c.strip().strip('"') for c in first.split(separator)]


_CANONICAL = {
    "population_column": "population",
    "superpopulation_column": "superpopulation",
    "sex_column": "sex",
}


def read_sample_table(path: Path, spec: "SampleTableSpec") -> "pd.DataFrame":
    """The sample table at ``path`` read as ``spec`` says (pandas, indexed by sample id;
    canonical ``population``, ``superpopulation``, ``sex`` columns), every problem refused
    with the file and line at fault."""
    import io
    import re

    import pandas as pd

    text = sample_table_text(path)
    try:
        table = pd.read_csv(
            io.StringIO(text), sep=spec.separator, dtype=str, keep_default_na=False, na_values=[""]
        )
    except pd.errors.ParserError as exc:
        detail = str(exc).removeprefix("Error tokenizing data. C error: ")
        if "inside string" in detail:
            row = re.search(r"row (\d+)", detail)
            line = f"line {int(row[1]) + 2}: " if row else ""
            raise InputFormatError(
                f'{path}: {line}a quote (") opens a field that never closes; close or remove '
                "the quote"
            ) from None
        raise InputFormatError(
            f"{path}: the sample table cannot be read ({detail}); give a tab-separated table "
            "with the same number of fields on every line"
        ) from None
    table.columns = [str(c).strip() for c in table.columns]
    table = table.loc[:, [c for c in table.columns if c and not c.startswith("Unnamed:")]]
    if spec.id_column not in table.columns:
        raise InputFormatError(
            f"{path}: no sample id column {spec.id_column!r}; its columns are "
            f"{list(table.columns)}. Name the id column in the catalog (samples.id_column) or "
            "put the ids in the first column of --samples."
        )
    ids = table[spec.id_column].astype(str).str.strip()
    dup = ids[ids.duplicated(keep=False)]
    if len(dup):
        first = dup.index[:6]
        where = ", ".join(f"{ids[i]!r} (line {i + 2})" for i in first)
        raise InputFormatError(
            f"{path}: {dup.nunique()} sample id(s) appear more than once: {where}. "
            "Each sample must have exactly one row."
        )
    renames = {spec.id_column: "sample"}
    for attr, canonical in _CANONICAL.items():
        col = getattr(spec, attr)
        if col is not None:
            if col not in table.columns:
                raise InputFormatError(
                    f"{path}: no column {col!r} ({attr}); its columns are {list(table.columns)}"
                )
            renames[col] = canonical
    table = table.rename(columns=renames)
    table["sample"] = ids
    for col in table.columns:
        if col != "sample":
            numeric = pd.to_numeric(table[col], errors="coerce")
            if numeric.notna().sum() == table[col].notna().sum() and table[col].notna().any():
                table[col] = numeric
    return table.set_index("sample")
