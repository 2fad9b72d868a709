"""Options shared by several ``genshare`` commands: declared purpose and credential, and
the disclosure options (``--min-count``, ``--epsilon``)."""

import contextlib
import os
from pathlib import Path

import click

from genshare_widgets._errors import GenShareError


def _declare(env_name: str):
    """An option callback that declares its value through ``env_name`` for this command only
    (the Python API reads ``GENSHARE_PURPOSE``/``GENSHARE_CREDENTIAL``; `app` hands them to
    the Voilà kernel)."""

    def callback(ctx: click.Context, _param: click.Parameter, value):
        if value is None:
            return
        if env_name == "GENSHARE_PURPOSE":
            from genshare_widgets.disclosure import parse_purpose

            try:
                parse_purpose(value, where="--purpose")
            except GenShareError as exc:
                raise click.BadParameter(str(exc), param_hint="'--purpose'") from None
        old = os.environ.get(env_name)
        os.environ[env_name] = str(value)
        ctx.call_on_close(
            lambda: (
                os.environ.pop(env_name, None)
                if old is None
                else os.environ.__setitem__(env_name, old)
            )
        )

    return callback


def _consent_options(command):
    """--purpose and --credential (see README "Consent and access")."""
    command = click.option(
        "--credential",
        type=click.Path(dir_okay=False, path_type=Path),
        expose_value=False,
        callback=_declare("GENSHARE_CREDENTIAL"),
        help="Credential for controlled cohorts: a file holding a GA4GH Passport (JWT; issuers "
        "trusted via $GENSHARE_TRUSTED_ISSUERS) or the teaching YAML/JSON approval file "
        "(or $GENSHARE_CREDENTIAL).",
    )(command)
    return click.option(
        "--purpose",
        metavar="TEXT",
        expose_value=False,
        callback=_declare("GENSHARE_PURPOSE"),
        help="Declared research purpose, e.g. 'HMB;non-commercial;irb=REF;publish' "
        "(or $GENSHARE_PURPOSE).",
    )(command)


#: The disclosure options of every command that releases aggregates (stats, figure).
MIN_COUNT_OPTION = click.option(
    "--min-count",
    type=click.IntRange(1),
    metavar="N",
    help="Show person counts below N as <N (default: the access tier's; users may only raise it).",
)
EPSILON_OPTION = click.option(
    "--epsilon",
    type=click.FloatRange(min=0, min_open=True),
    metavar="E",
    help="Differentially private release with total epsilon E (at most the custodian's "
    "per-release cap; charged to the cohort's privacy ledger).",
)

SAMPLES_OPTION = click.option(
    "--samples",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Sample TSV with a header; first column is the sample id.",
)


def _declare_withdrawn(ctx: click.Context, _param: click.Parameter, values) -> None:
    """--withdrawn FILE (repeatable): declared through ``$GENSHARE_WITHDRAWN`` for this
    command only, so every cohort it opens (``open_cohort``) adds the lists to its entry's."""
    if not values:
        return
    old = os.environ.get("GENSHARE_WITHDRAWN")
    paths = [str(Path(v).resolve()) for v in values]
    os.environ["GENSHARE_WITHDRAWN"] = os.pathsep.join([*([old] if old else []), *paths])
    ctx.call_on_close(
        lambda: (
            os.environ.pop("GENSHARE_WITHDRAWN", None)
            if old is None
            else os.environ.__setitem__("GENSHARE_WITHDRAWN", old)
        )
    )


#: Withdrawal lists added to the catalog entry's (dynamic consent; see _withdrawals).
WITHDRAWN_OPTION = click.option(
    "--withdrawn",
    type=click.Path(dir_okay=False, path_type=Path),
    multiple=True,
    metavar="FILE",
    expose_value=False,
    callback=_declare_withdrawn,
    help="Withdrawn sample ids, one per line (repeatable; or $GENSHARE_WITHDRAWN): added to "
    "the catalog entry's withdrawal list; those samples are left out of every output.",
)


def serve_options(*, port: int):
    """--host, --port (default ``port``) and the TLS pair of the serving commands."""

    def decorate(command):
        for option in reversed(
            [
                click.option(
                    "--host", default="127.0.0.1", show_default=True, help="Address to listen on."
                ),
                click.option(
                    "--port", type=click.IntRange(0, 65535), default=port, show_default=True
                ),
                click.option(
                    "--ssl-certfile",
                    type=click.Path(exists=True, dir_okay=False),
                    help="TLS certificate (PEM); needs --ssl-keyfile.",
                ),
                click.option(
                    "--ssl-keyfile",
                    type=click.Path(exists=True, dir_okay=False),
                    help="TLS private key (PEM).",
                ),
            ]
        ):
            command = option(command)
        return command

    return decorate


def source_argument(source: tuple[str, ...]) -> "str | list[str]":
    """The SOURCE words as ``open_cohort`` takes them: one source, or several paths."""
    return source[0] if len(source) == 1 else list(source)


def check_out(out: Path) -> None:
    """Refuse an ``--out`` that cannot be written before any work: the nearest existing
    folder on its way must be a writable folder."""
    parent = Path(out).absolute()
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent != Path(out).absolute() and not parent.is_dir():
        raise GenShareError(f"--out {out}: {parent} is a file, not a folder; choose another --out")
    if not parent.is_dir():  # an existing file at --out: replaced within its folder
        parent = parent.parent
    if not os.access(parent, os.W_OK | os.X_OK):
        read_only = os.statvfs(parent).f_flag & os.ST_RDONLY
        why = "it is on a read-only file system" if read_only else "permission denied"
        raise GenShareError(
            f"--out {out}: {parent} is not writable ({why}); choose a folder you can write to"
        )


@contextlib.contextmanager
def no_debris_at(out: Path):
    """On any failure, remove the folders on the way to ``out`` that this command created and
    left empty: a failed command leaves nothing at ``--out``, not even an empty folder."""
    out = Path(out).absolute()
    created = []
    path = out
    while not path.exists() and path != path.parent:
        created.append(path)
        path = path.parent
    try:
        yield
    except BaseException:
        for folder in created:  # deepest first
            with contextlib.suppress(OSError):  # not empty (or gone): leave it
                folder.rmdir()
        raise


def check_grouping_table(source: tuple[str, ...], samples: Path | None, by: str) -> None:
    """Check ``--by`` against the ``--samples`` table before any genotype is read: a missing
    column is an error naming the table's columns; a numeric column or a single group gets a
    note on stderr. A catalog id's own column names (e.g. its ``pop`` read as ``population``)
    are checked later, when the catalog entry is known."""
    if samples is None:
        return
    import re

    from genshare_widgets._sample_tables import sample_table_columns, sample_table_text

    catalog_id = re.fullmatch(r"[a-z0-9][a-z0-9-]*[a-z0-9]", source[0]) is not None
    if len(source) == 1 and catalog_id and not Path(source[0]).exists():
        return  # a catalog id: its sample spec maps the columns
    header = sample_table_columns(samples)
    if by not in header[1:]:
        default = " (the default --by)" if by == "population" else ""
        others = header[1:]
        if others:
            suggest = next((c for c in others if "pop" in c.lower()), others[0])
            todo = f"name the grouping column with --by, e.g. --by {suggest}"
        else:
            todo = "add a grouping column (e.g. population) after the sample id"
        raise GenShareError(
            f"--samples {samples}: no column {by!r} to group by{default}; its columns are "
            f"{header}; {todo}"
        )
    col = header.index(by)
    rows = [line.split("\t") for line in sample_table_text(samples).splitlines()[1:] if line]
    values = {r[col].strip() for r in rows if len(r) > col and r[col].strip()}
    if values and all(_is_number(v) for v in values):
        click.echo(
            f"genshare: note: --by {by}: its values are numbers ({', '.join(sorted(values)[:4])}"
            f"{'...' if len(values) > 4 else ''}); each distinct number is one group, not a "
            "quantity",
            err=True,
        )
    if len(values) == 1:
        click.echo(
            f"genshare: note: --by {by} puts every sample in one group ({next(iter(values))!r}); "
            "comparisons between groups (Fst, shared variants) need two groups or more",
            err=True,
        )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def check_selection(*, region: str | None, min_maf: float | None) -> None:
    """Check ``--region`` and ``--min-maf`` before any data is opened."""
    from genshare_widgets._selection import check_min_maf, parse_region

    if region is not None:
        parse_region(region)
    check_min_maf(min_maf)


def warn_data_use(access: "dict | None") -> None:
    """Print the warnings of a cohort's terms (e.g. BC Consent Non-Verified) on stderr."""
    for warning in (access or {}).get("warnings") or []:
        click.secho(f"genshare: warning: {warning}", fg="yellow", err=True)


def warn_data_use_of(source: tuple[str, ...]) -> None:
    """:func:`warn_data_use` for a SOURCE that is a catalog id (its labels' warnings)."""
    if len(source) != 1 or Path(source[0]).exists():
        return
    from genshare_widgets.catalog import load_catalog
    from genshare_widgets.disclosure._labels import review_labels

    entry = next((e for e in load_catalog().cohorts if e.id == source[0]), None)
    if entry is not None:
        warn_data_use({"warnings": review_labels(entry, None)[2]})
