"""The ``aicsolve`` command line. Heavy modules are imported inside commands so that
``aicsolve --help`` starts fast and loads no data."""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

from solver.errors import EXIT_INTERNAL

if TYPE_CHECKING:  # annotations only: importing costmodel at start-up would slow down --help
    from costmodel import SurfaceRequest

# Help texts are plain text: rich markup would swallow "[import]" and any other bracketed word.
_HELP: dict[str, Any] = dict(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app = typer.Typer(
    **_HELP,
    help="Find the best way to serve an LLM on N GPUs under a TTFT/TPOT SLA.\n\n"
    "Usage: aicsolve SPEC.yaml [--set KEY=VALUE ...] [--json] (same as: aicsolve solve SPEC.yaml), "
    "or without a spec: aicsolve --model M --system S --total-gpus N --isl I --osl O --ttft MS "
    "--tpot MS. docs/spec.md lists the spec keys.\n\n"
    "Exit codes: 0 success, 1 no deployment meets the SLA, 2 bad input, 3 internal error "
    "(add --debug to any command, or set AICSOLVE_DEBUG=1, for the traceback).",
)
data_app = typer.Typer(**_HELP, help="Import or check the measured op data.")
app.add_typer(data_app, name="data")


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"aicsolve {version('aicsolve')}")
        except PackageNotFoundError:  # run from a source tree that was never installed
            typer.echo("aicsolve (not installed: no version recorded)")
        raise typer.Exit()


@app.callback()
def _root(
    show_version: bool = typer.Option(
        False, "--version", "-V", is_eager=True, callback=_print_version, help="print the version and exit"
    ),
) -> None:
    pass


@data_app.command("import")
def data_import(
    wheel: Path = typer.Argument(
        ..., help="aiconfigurator_core-0.12.0-*.whl (pip download --no-deps aiconfigurator-core==0.12.0)"
    ),
    out: Optional[Path] = typer.Option(None, help="data folder to write (default: the one aicsolve reads)"),
) -> None:
    """Re-import the measured op tables from the aiconfigurator-core wheel (needs the [import] extra)."""
    from costmodel import import_all
    from costmodel import data_dir

    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise typer.BadParameter("the importer needs pyarrow: pip install 'aicsolve[import]'") from None
    if not wheel.is_file():
        raise typer.BadParameter(f"{wheel} is not a file")
    import_all(str(wheel), out or data_dir(), log=lambda m: typer.echo(m, err=True))


@data_app.command("verify")
def data_verify() -> None:
    """Check every data file: tables against their manifest SHA-256, system and model files by reading them; flag
    implausible GEMM tables."""
    from costmodel import verify_data
    from costmodel import data_dir
    from costmodel import gemm_warnings
    from costmodel import load_table

    n = verify_data()  # every check first: a bad file is the one error
    perf = data_dir() / "perf"
    for f in (m.parent for m in sorted(perf.rglob("manifest.json"))):
        if (gemm := f / "gemm.csv.gz").exists():
            for line in gemm_warnings(load_table(gemm).columns, str(f.relative_to(perf))):
                typer.echo(f"warning: {line}", err=True)
    typer.echo(
        f"ok: {n['tables']} tables match their manifests; {n['systems']} system and {n['models']} model files read"
    )


@app.command("models")
def models() -> None:
    """List the bundled model architectures and their aliases."""
    from costmodel import list_models, registry_problems

    for problem in registry_problems():  # a damaged file is skipped, not fatal to the rest
        typer.echo(f"note: skipped {problem}", err=True)
    for hf_id, aliases in list_models():
        typer.echo(f"{hf_id:45s} {', '.join(aliases)}")


@app.command("systems")
def systems() -> None:
    """List the systems (GPU types) and the backend versions measured on each."""
    from costmodel import data_dir
    from costmodel import list_systems

    for s in list_systems():
        base = data_dir() / "perf" / s
        have = sorted(f"{p.parent.name} {p.name}" for p in base.glob("*/*") if p.parent.name != "nccl")
        typer.echo(f"{s:10s} {'; '.join(have)}")


class _Progress:
    """Prints one stderr line if the step is still running after a second (quick steps stay silent)."""

    def __init__(self, message: str, delay_s: float = 1.0):
        import threading

        self.timer = threading.Timer(delay_s, lambda: typer.echo(message, err=True))
        self.timer.daemon = True

    def __enter__(self) -> None:
        try:
            self.timer.start()
        except RuntimeError:  # no thread to be had (e.g. under a tight address-space limit): the line is only cosmetic
            pass

    def __exit__(self, *exc: object) -> None:
        self.timer.cancel()


def _grid_size(request: SurfaceRequest) -> str:
    """How many candidates the cost model prices (layouts × batch sizes per role), for the progress line."""
    try:
        from costmodel import PREFILL_BATCHES, batch_grid, layouts
    except ImportError:  # the grid helpers moved: say less rather than fail over a progress line
        return "the candidates"
    s = request.search
    batches = len(s.batch_sizes) if s.batch_sizes else len(batch_grid(s.max_batch_size))
    per_layout = batches * (("agg" in request.modes) + ("disagg" in request.modes)) + len(PREFILL_BATCHES) * (
        "disagg" in request.modes
    )
    return f"{len(layouts(request)) * per_layout:,} candidates"


@app.command("validate")
def validate_cmd(
    csv_file: Optional[Path] = typer.Argument(
        None,
        help="measured deployments in the columns of silicon_dev.csv "
        "(.csv or .csv.gz); omit it to score the bundled sample of 2,512 "
        "public measurements (data/validation/, provenance in NOTICE)",
    ),
    json_out: bool = typer.Option(False, "--json", help="print the scores as JSON"),
) -> None:
    """Predict each measured row's TTFT/TPOT and score the errors per (system, backend, mode)."""
    import json

    from costmodel import measurement_sample
    from costmodel import (
        BadCsvError,
        scores_json as as_json,
        predict_row,
        read_rows,
        render_scores as render,
        score_predictions as score,
    )
    from solver.errors import UserError

    if csv_file is None:
        csv_file = measurement_sample()
        typer.echo(f"scoring the bundled measurement sample {csv_file}", err=True)
    try:
        rows = read_rows(csv_file)
    except BadCsvError as e:
        raise UserError(str(e)) from None
    with _Progress(f"predicting {len(rows):,} measured deployments…"):
        groups, total = score([predict_row(r) for r in rows])
    typer.echo(json.dumps(as_json(groups, total), indent=2) if json_out else render(groups, total))


@app.command("calibrate")
def calibrate_cmd(
    paths: list[Path] = typer.Argument(
        ...,
        metavar="PATH...",
        help="measurement CSVs in the columns of "
        "silicon_dev.csv, and/or bundles written by --save-dir (or one deployment or "
        "bench/artifacts folder of one) holding the aiperf results of their "
        "bench/run_aiperf.sh",
    ),
    out: Path = typer.Option(Path("calibration.yaml"), "--out", help="where to write the factors"),
    force: bool = typer.Option(False, "--force", help="overwrite an existing --out file"),
) -> None:
    """Fit TTFT/TPOT correction factors per (system, backend, mode); show the error before and after."""
    from costmodel import (
        CALIBRATION_MIN_ROWS as MIN_ROWS,
        apply_calibration as apply,
        fit_calibration as fit,
        calibration_scored_rows as scored_rows,
    )
    from costmodel import BadCsvError, predict_row, read_rows, render_scores as render, score_predictions as score
    from solver.errors import UserError
    from costmodel import artifacts_percentile_table as percentile_table, is_artifacts_path, read_artifact_rows

    from solver.outfile import check_out_file, write_text_atomically

    check_out_file(out, force)  # before the fit, not after it
    rows: list[dict] = []
    for path in dict.fromkeys(paths):  # a path named twice counts once
        if is_artifacts_path(path):
            got, notes = read_artifact_rows(path)
            for note in notes:
                typer.echo(f"note: {note}", err=True)
            typer.echo(f"{path}: {len(got)} aiperf run(s)", err=True)
            rows += got
            continue
        try:
            rows += read_rows(path)
        except BadCsvError as e:
            raise UserError(str(e)) from None
    with _Progress(f"predicting {len(rows):,} measured deployments…"):
        preds = [predict_row(r) for r in rows]
    if table := percentile_table(rows):
        typer.echo(
            "aiperf percentiles, ms: measured per run, and predicted for the deployment at its planned load "
            "(the factors below are fitted to the means)"
        )
        typer.echo(table + "\n")
    cal = fit(preds)
    if not cal.factors:
        ok = [p for p in preds if p.reason is None]
        why = "; ".join(sorted({p.reason for p in preds if p.reason}))
        raise UserError(
            f"{', '.join(map(str, dict.fromkeys(paths)))}: no (system, backend, mode) group has the "
            f"{MIN_ROWS} predictable rows a fit needs ({len(preds)} row(s) read, {len(ok)} predicted"
            f"{f' (not predicted: {why})' if why else ''}); measure more concurrencies or deployments "
            "(a bundle's bench/run_aiperf.sh runs 3 concurrencies per deployment: add `run` lines to it, "
            "or export more deployments with --export-top)"
        )
    hold, inside = scored_rows(cal, preds)
    for label, part in (
        (f"held-out rows ({len(hold)} of {len(preds)})", hold),
        (
            f"in-sample rows ({len(inside)}: groups with too few rows to hold a quarter out, fitted on "
            "all of them, so the error after is not a held-out check)",
            inside,
        ),
    ):
        if part:
            typer.echo(f"{label}, before calibration:")
            typer.echo(render(*score(part)))
            typer.echo("\nafter calibration:")
            typer.echo(render(*score(apply(cal, part))) + "\n")
    write_text_atomically(out, cal.to_yaml())
    typer.echo(f"wrote {len(cal.factors)} group factor(s) to {out}; use it with `calibration: {out}` in a spec")


@app.command("solve")
def solve_cmd(
    spec: Optional[Path] = typer.Argument(None, help="spec YAML; omit it to build the spec from the flags below"),
    set_: list[str] = typer.Option(
        [],
        "--set",
        help="override one spec key, e.g. --set sla.ttft_ms=200 --set search.tp=[1,2] (repeatable; values are YAML)",
    ),
    json_out: bool = typer.Option(False, "--json", help="print only the JSON result on stdout"),
    top: Optional[int] = typer.Option(None, "--top", help="deployments listed per mode (solver.top_n)"),
    time_limit: Optional[float] = typer.Option(None, "--time-limit", help="solver time limit in seconds"),
    model: Optional[str] = typer.Option(None, help="HF id, alias or config.json path (spec key model)"),
    system: Optional[str] = typer.Option(None, help="h100_sxm | h200_sxm | b200_sxm | gb200 | b300_sxm | gb300"),
    backend: Optional[str] = typer.Option(None, help="trtllm | vllm | sglang"),
    total_gpus: Optional[int] = typer.Option(None, help="GPUs available"),
    isl: Optional[int] = typer.Option(None, help="input sequence length (workload.isl)"),
    osl: Optional[int] = typer.Option(None, help="output sequence length (workload.osl)"),
    ttft: Optional[float] = typer.Option(None, help="TTFT bound in ms (sla.ttft_ms)"),
    tpot: Optional[float] = typer.Option(None, help="TPOT bound in ms (sla.tpot_ms)"),
    quant_gemm: Optional[str] = typer.Option(
        None,
        "--quant-gemm",
        help="dense GEMM dtype (quantization.gemm): bfloat16 | fp8 | fp8_block | nvfp4; default: the checkpoint's",
    ),
    quant_kv_cache: Optional[str] = typer.Option(
        None, "--quant-kv-cache", help="KV-cache dtype (quantization.kv_cache): bfloat16 | fp8; default: fp8"
    ),
    quant_attention: Optional[str] = typer.Option(
        None,
        "--quant-attention",
        help="attention compute dtype (quantization.attention): bfloat16 | fp8; default: bfloat16",
    ),
    quant_moe: Optional[str] = typer.Option(
        None,
        "--quant-moe",
        help="MoE expert dtype (quantization.moe): "
        "bfloat16 | fp8 | fp8_block | nvfp4 | w4a16_mxfp4 | w4a8_mxfp4_mxfp8 | "
        "int4_wo; default: the checkpoint's",
    ),
    save_dir: Optional[Path] = typer.Option(
        None, "--save-dir", help="write the NVIDIA Dynamo bundle of the best agg and disagg deployments to this folder"
    ),
    export_top: int = typer.Option(1, "--export-top", min=1, help="deployments exported per mode with --save-dir"),
    force: int = typer.Option(
        0,
        "--force",
        count=True,
        help="replace a --save-dir that holds an aicsolve bundle; given twice, replace any folder and everything in it",
    ),
    image: Optional[str] = typer.Option(
        None, "--image", help="container image of the exported manifests (default: the backend's Dynamo runtime image)"
    ),
    debug: bool = typer.Option(
        False,
        "--debug",
        help="on an internal error (exit 3) print the traceback (any command takes it; AICSOLVE_DEBUG=1 does the same)",
    ),
) -> None:
    """Find the best deployment for a spec.

    Exit codes: 0 a deployment was found; 1 the input is valid but no deployment meets the SLA (the report says
    which bound binds); 2 bad input (spec, flags, data files, output folder); 3 internal error, a bug in aicsolve
    (rerun with --debug for the traceback).
    """
    import dataclasses
    import json

    from solver import pipeline
    from solver.errors import EXIT_INFEASIBLE, UserError
    from solver.spec import Spec

    flags = dict(
        model=model,
        system=system,
        backend=backend,
        total_gpus=total_gpus,
        isl=isl,
        osl=osl,
        ttft=ttft,
        tpot=tpot,
        top=top,
        time_limit=time_limit,
        quant_gemm=quant_gemm,
        quant_kv_cache=quant_kv_cache,
        quant_attention=quant_attention,
        quant_moe=quant_moe,
    )
    parsed = pipeline.load(spec, set_, flags)
    if not isinstance(parsed, Spec):  # a Cluster
        for flag, used in (("--top", top is not None), ("--export-top", export_top != 1)):
            if used:
                raise UserError(
                    f"{flag}: a cluster spec (demand, pools or deployments) places one deployment per "
                    "model, so there is no list to cut; drop the flag."
                )
        return _solve_cluster(parsed, json_out, save_dir, force, image)
    if save_dir is not None:  # fail before the solve, not after it
        from solver.export import check_target

        check_target(save_dir, force, image)
        parsed = dataclasses.replace(parsed, top_n=max(parsed.top_n, export_top))
    with _Progress(f"evaluating {_grid_size(parsed.request)}…"):
        problem = pipeline.price(parsed)
    surfaces = problem.surfaces
    for note in surfaces.notes:
        typer.echo(f"note: {note}", err=True)
    rows = sum(len(c) for c in (surfaces.agg, surfaces.prefill, surfaces.decode) if c is not None)
    with _Progress(f"solving over {rows:,} candidate rows (time limit {parsed.time_limit_s:g} s)…"):
        result = pipeline.run(problem)
    if json_out:
        typer.echo(json.dumps(pipeline.document(parsed, result, surfaces.notes), indent=2))
    else:
        from solver.report import render

        typer.echo(render(result, pipeline.summary(parsed, surfaces.notes), parsed.top_n), nl=False)
    if save_dir is not None and result.best() is not None:
        from solver.export import export_bundle

        paths = export_bundle(result, parsed, save_dir, export_top, force, image, surfaces.notes)
        typer.echo(f"wrote {len(paths)} files to {save_dir}", err=True)
    if result.best() is None:
        if save_dir is not None:
            typer.echo(f"nothing written to {save_dir}", err=True)
        if json_out:  # the report already says why; JSON readers get the reason on stderr
            from solver.report import infeasible_headline, infeasible_text

            head = infeasible_headline(result)
            typer.echo(f"{head[0].lower()}{head[1:]}: {infeasible_text(result)}", err=True)
        raise typer.Exit(EXIT_INFEASIBLE)


def _solve_cluster(cluster, json_out: bool, save_dir: Optional[Path], force: int, image: Optional[str]) -> None:
    """The cluster path of `solve`: several models and/or demand sizing over GPU pools."""
    import json

    from solver.cluster.solve import price_members, solve_cluster
    from solver.errors import EXIT_INFEASIBLE

    if save_dir is not None:
        from solver.export import check_target

        check_target(save_dir, force, image)
    with _Progress(f"pricing {len(cluster.members)} model(s) on {len(cluster.pools)} system(s)…"):
        surfaces = price_members(cluster)
    for note in sorted({n for per in surfaces for s in per.values() for n in s.notes}):
        typer.echo(f"note: {note}", err=True)
    with _Progress(f"placing {len(cluster.members)} model(s) (time limit {cluster.time_limit_s:g} s)…"):
        result = solve_cluster(cluster, surfaces)
    if json_out:
        from solver.cluster.report import document

        typer.echo(json.dumps(document(cluster, result), indent=2))
    else:
        from solver.cluster.report import render

        typer.echo(render(cluster, result), nl=False)
    if result.infeasible:
        if save_dir is not None:
            typer.echo(f"nothing written to {save_dir}", err=True)
        if json_out:
            typer.echo(f"no placement: {result.infeasible}", err=True)
        raise typer.Exit(EXIT_INFEASIBLE)
    if save_dir is not None:
        from solver.cluster.export import export_cluster

        paths = export_cluster(cluster, result, save_dir, force, image)
        typer.echo(f"wrote {len(paths)} files to {save_dir}", err=True)


@app.command("webapp")
def webapp_cmd(
    host: str = typer.Option("127.0.0.1", "--host", help="address to listen on (loopback only by default)"),
    port: int = typer.Option(7860, "--port", min=0, max=65535, help="port to listen on"),
) -> None:
    """Serve a local web page: pick model, system and SLA, see the Pareto plot, download the Dynamo bundle."""
    from solver.web import serve  # imported here: starlette/uvicorn load only for this command

    serve(host, port)


def _route(argv: list[str]) -> list[str]:
    """`aicsolve SPEC.yaml …` and `aicsolve --model … …` mean `aicsolve solve …`."""
    names = {c.name for c in app.registered_commands} | {g.name for g in app.registered_groups}
    if argv and argv[0] not in names and argv[0] not in ("--help", "-h", "--version", "-V"):
        return ["solve", *argv]
    return argv


def _terminate(signum: int, frame: object) -> None:
    # SIGTERM unwinds like Ctrl+C, so the cleanup of half-written output runs (the default would kill at once).
    raise SystemExit(128 + signum)


def _output_failed(e: OSError) -> None:
    """stdout failed. Its reader has gone (`| head`): exit 141 quietly, as a process killed by SIGPIPE does.
    stdout is full (`> /dev/full`): say so on stderr and exit 2. Never 1, which means infeasible."""
    import errno

    try:  # the interpreter flushes stdout again at exit; let that go to /dev/null instead of failing
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    if e.errno == errno.EPIPE:
        sys.exit(128 + 13)
    try:
        typer.echo(f"error: cannot write the output to stdout: {e.strerror or e}; the output is incomplete.", err=True)
    except OSError:
        pass
    sys.exit(2)


def main() -> None:
    """Entry point: maps expected errors to clean messages and exit codes."""
    import errno
    import signal

    debug = "--debug" in sys.argv
    if debug:
        sys.argv.remove("--debug")
    sys.argv[1:] = _route(sys.argv[1:])
    try:
        previous = signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread (a test driving main()): leave signals alone
        previous = None
    stdout = sys.stdout
    try:
        # Without standalone mode typer returns (not raises) the exit code of typer.Exit.
        try:
            rc = app(standalone_mode=False, prog_name="aicsolve")
        except SystemExit:
            # click/typer answer a broken pipe by swapping stdout for a silent wrapper and exiting 1, which
            # here means "infeasible": report it as the output failure it is.
            if sys.stdout is not stdout:
                sys.stdout = stdout
                raise BrokenPipeError(errno.EPIPE, "broken pipe") from None
            raise
        sys.stdout.flush()
        sys.exit(rc if isinstance(rc, int) else 0)
    except typer.Exit as e:
        sys.stdout.flush()
        sys.exit(e.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        sys.exit(130)
    except OSError as e:
        if e.errno not in (errno.EPIPE, errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            _internal(e, debug)
        _output_failed(e)
    except Exception as e:
        _exception(e, debug)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _exception(e: Exception, debug: bool) -> None:
    from solver.errors import user_error_types

    # Usage errors: click's ClickException, or the copy newer typer versions vendor (typer._click).
    if callable(getattr(e, "show", None)) and isinstance(getattr(e, "exit_code", None), int):
        e.show()  # type: ignore[attr-defined]  # checked just above; click's class differs by typer version
        sys.exit(e.exit_code)  # type: ignore[attr-defined]
    if isinstance(e, user_error_types()):
        typer.echo(f"error: {e}", err=True)
        sys.exit(getattr(e, "exit_code", 2))
    _internal(e, debug)


def _internal(e: BaseException, debug: bool) -> None:
    if debug or os.environ.get("AICSOLVE_DEBUG"):
        traceback.print_exc()
    typer.echo(
        f"internal error: {type(e).__name__}: {e}\nThis is a bug in aicsolve; please report it "
        "(rerun with --debug for the traceback).",
        err=True,
    )
    sys.exit(EXIT_INTERNAL)


if __name__ == "__main__":
    main()
