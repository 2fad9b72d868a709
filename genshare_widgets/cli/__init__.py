"""The ``genshare`` command: :func:`main` (the entry point ``genshare_widgets.cli:main``) and
its run modules: ``_main`` (the click group and commands), ``_stats_run`` (``genshare
stats``), ``_options`` (shared options and checks), ``_services`` (``site``, ``beacon``,
``federate``). Nothing below the command imports from here."""

from genshare_widgets.cli._main import main

__all__ = ["main"]
