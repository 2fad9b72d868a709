"""Exceptions and warnings raised by GenShare.

Every user mistake surfaces as a :class:`GenShareError` whose message names the file, line,
entry or field at fault and what to do about it. The CLI prints these messages without a
traceback.
"""


class GenShareError(Exception):
    """A problem the user can fix: bad input, missing file, unknown id."""


class CatalogError(GenShareError):
    """The catalog YAML is malformed or does not follow the schema."""


class FetchError(GenShareError):
    """A file could not be obtained or did not verify against its hash."""


class InputFormatError(GenShareError):
    """A genotype or sample file is malformed (truncated, bad record, duplicate ids...)."""


class GenShareWarning(UserWarning):
    """Something worth knowing that does not stop the work (e.g. unmatched samples)."""
