"""The Typer application and its command groups; the commands register themselves on these."""

from __future__ import annotations

from typing import Annotated

import typer

from scangate import __version__

EXIT_CODES_HELP = (
    "Exit codes: 0 the gate passed; 1 the gate failed; 2 usage or policy error; "
    "3 the scan or the report could not be used; 130 interrupted."
)


def _group(help_text: str) -> typer.Typer:
    return typer.Typer(help=help_text, no_args_is_help=True, rich_markup_mode=None)


app = typer.Typer(
    name="scangate",
    help=f"A policy gate in front of Trivy.\n\n{EXIT_CODES_HELP}",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
policy_app = _group("Validate and show policies.")
scan_app = _group("Run Trivy once per target and gate its findings.")
trivy_app = _group("Find or install the Trivy binary scangate runs.")
baseline_app = _group("Record today's findings so that only new ones fail.")
hook_app = _group("Git hooks: gate what a push introduces, secrets before a commit.")
snapshot_app = _group("Send a dependency snapshot (--dependency-snapshot) to GitHub.")
app.add_typer(scan_app, name="scan")
app.add_typer(policy_app, name="policy")
app.add_typer(baseline_app, name="baseline")
app.add_typer(trivy_app, name="trivy")
app.add_typer(hook_app, name="hook")
app.add_typer(snapshot_app, name="snapshot")


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"scangate {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version_callback, is_eager=True, help="Show the version."
        ),
    ] = False,
) -> None:
    """A policy gate in front of Trivy."""
