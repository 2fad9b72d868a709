"""Options shared by several ``genshare`` commands: declared purpose and credential, and
the disclosure options (``--min-count``, ``--epsilon``)."""

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
        help="YAML/JSON credential approving controlled cohorts (or $GENSHARE_CREDENTIAL).",
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
