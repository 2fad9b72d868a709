"""Reading a sample table's text and header without pandas (the CLI checks ``--samples``
and ``--by`` with these before anything heavy is imported); :mod:`genshare_widgets.cohort`
parses the table with the same checks."""

from pathlib import Path

from genshare_widgets._errors import InputFormatError


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
    """The header of a sample table (checked as :func:`_read_sample_table` checks it)."""
    first = sample_table_text(path).splitlines()[0]
    return [c.strip().strip('"') for c in first.split(separator)]
