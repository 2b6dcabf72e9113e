"""The ``aicsolve`` command line. Heavy modules are imported inside commands so that
``aicsolve --help`` starts fast and loads no data."""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import Optional

import typer

from solver.errors import EXIT_INTERNAL

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Find the best way to serve an LLM on N GPUs under a TTFT/TPOT SLA.")
data_app = typer.Typer(no_args_is_help=True, help="Import or check the measured op data.")
app.add_typer(data_app, name="data")


@data_app.command("import")
def data_import(
    wheel: Path = typer.Argument(..., help="aiconfigurator_core-0.12.0-*.whl (pip download --no-deps aiconfigurator-core==0.12.0)"),
    out: Optional[Path] = typer.Option(None, help="data folder to write (default: the one aicsolve reads)"),
) -> None:
    """Re-import the measured op tables from the aiconfigurator-core wheel (needs the [import] extra)."""
    from costmodel.importer.run import import_all
    from costmodel.paths import data_dir

    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise typer.BadParameter("the importer needs pyarrow: pip install 'aicsolve[import]'") from None
    if not wheel.is_file():
        raise typer.BadParameter(f"{wheel} is not a file")
    import_all(str(wheel), out or data_dir(), log=lambda m: typer.echo(m, err=True))


@data_app.command("verify")
def data_verify() -> None:
    """Check every data file against its manifest SHA-256."""
    from costmodel.paths import data_dir
    from costmodel.tables import verify_folder

    n = 0
    for manifest in sorted((data_dir() / "perf").rglob("manifest.json")):
        n += len(verify_folder(manifest.parent))
    typer.echo(f"ok: {n} tables match their manifests")


@app.command("models")
def models() -> None:
    """List the bundled model architectures and their aliases."""
    from costmodel.arch import list_models

    for hf_id, aliases in list_models():
        typer.echo(f"{hf_id:45s} {', '.join(aliases)}")


@app.command("systems")
def systems() -> None:
    """List the systems (GPU types) and the backend versions measured on each."""
    from costmodel.paths import data_dir
    from costmodel.system import list_systems

    for s in list_systems():
        base = data_dir() / "perf" / s
        have = sorted(f"{p.parent.name} {p.name}" for p in base.glob("*/*") if p.parent.name != "nccl")
        typer.echo(f"{s:10s} {'; '.join(have)}")


def main() -> None:
    """Entry point: maps expected errors to clean messages and exit codes."""
    from solver.errors import user_error_types

    debug = "--debug" in sys.argv
    if debug:
        sys.argv.remove("--debug")
    try:
        app(standalone_mode=False)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        sys.exit(130)
    except Exception as e:  # noqa: BLE001 - the one place that turns exceptions into exit codes
        import click

        if isinstance(e, click.ClickException):
            e.show()
            sys.exit(e.exit_code)
        if isinstance(e, user_error_types()):
            typer.echo(f"error: {e}", err=True)
            sys.exit(getattr(e, "exit_code", 2))
        if debug or os.environ.get("AICSOLVE_DEBUG"):
            traceback.print_exc()
        typer.echo(f"internal error: {type(e).__name__}: {e}\nThis is a bug in aicsolve; please report it "
                   "(rerun with --debug for the traceback).", err=True)
        sys.exit(EXIT_INTERNAL)


if __name__ == "__main__":
    main()
