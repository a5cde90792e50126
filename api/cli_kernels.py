"""`ctxplan calibrate` and `ctxplan validate`: microbenchmarks and measured-vs-predicted (torch imported lazily)."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from api.cli_common import (AttentionImpl, KVDtype, OutputFormat, WeightDtype, _fail, _LazyProgress,  # noqa: F401
                            _print_json, _write_outputs, app, finite, output_file, stderr, stdout,
                            user_errors)


class Device(str, Enum):
    auto = "auto"
    cuda = "cuda"
    cpu = "cpu"


@app.command()
@user_errors
def calibrate(out: Annotated[Path, typer.Option(help="profile YAML to write (measurement CSVs go beside it)")],
              device: Annotated[Device, typer.Option(help="device to time")] = Device.auto,
              quick: Annotated[bool, typer.Option("--quick", help="small grid (CPU: under 2 minutes)")] = False,
              base_profile: Annotated[Optional[str], typer.Option(help="catalog entry whose datasheet peaks "
                                                                        "to keep (GPU default: guessed)")] = None,
              max_seconds: Annotated[float, typer.Option(help="stop adding kernel shapes after this long (every "
                                                              "family keeps its smallest shapes)",
                                                         callback=finite(0))] = 280.0,
              strict: Annotated[bool, typer.Option("--strict", help="exit 1 when an op family's held-out error is "
                                                                   "over its limit (kernels/fit_limits.yaml); the "
                                                                   "profile is still written, for inspection")] = False,
              format: Annotated[OutputFormat, typer.Option("--format")] = OutputFormat.table):
    """Time attention, matmul and copy kernels here and fit a hardware profile to them.

    Prints the held-out error of every op family and one warning line per family over its limit
    (or a fitted parameter pinned at the edge of its search range)."""
    output_file(out, "--out")
    try:
        from kernels.calibrate import calibrate as run_calibration
    except ImportError as exc:
        _fail(f"calibration needs torch ({exc}); install the kernels extra: pip install 'ctxplan[kernels]'")
    if base_profile is not None:
        from simulator.catalog import resolve_hardware
        resolve_hardware(base_profile, field="--base-profile")
    stderr.print(f"timing kernels on {device.value} ({'quick' if quick else 'full'} grid)...")
    report = run_calibration(device.value, quick, out, base_profile, max_seconds=max_seconds)
    if format is OutputFormat.json:
        _print_json(report)
    else:
        _print_calibration(report)
    for warning in report["warnings"]:      # plain lines on stderr: one warning, one line, whatever the width
        print(f"warning: {warning}", file=sys.stderr)
    if strict and report["warnings"]:
        print(f"error: --strict: {len(report['warnings'])} calibration warning(s); {report['profile']} was written "
              "for inspection, do not plan with it", file=sys.stderr)
        raise typer.Exit(code=1)


def _print_calibration(report: dict) -> None:
    from api.render import validation_table
    stdout.print(f"wrote {report['profile']} (device: {report['device']}, base: {report['base_profile']}, "
                 f"{report['num_measurements']} kernels)")
    stdout.print(validation_table("fitted rows", report["fit"]))
    stdout.print(validation_table("held-out rows (not fitted)", report["holdout"]))
    pct = (lambda v: "-" if v is None else f"{v:.1f}%")
    stdout.print("held-out error per op family (limits: kernels/fit_limits.yaml):")
    for family in report["checks"]["families"]:
        verdict = "WARNING" if family["warning"] else "ok"
        stdout.print(f"  {family['family']:<17} n={family['num_holdout']:<3} median |error| "
                     f"{pct(family['median_abs_pct_error']):>7} (p90 {pct(family['p90_abs_pct_error'])}), "
                     f"limit {family['limit_pct']:.0f}%: {verdict}")
    stdout.print(_load_line(report["machine"]))
    stdout.print(f"check it: ctxplan validate --hardware {report['profile']} --measurements {report['files']['holdout']}")


def _load_line(machine: dict) -> str:
    line = (f"machine: load average (1 min) {machine['load_average_1m_before']:.2f} before, "
            f"{machine['load_average_1m_after']:.2f} after, on {machine['cpu_count']} cores, "
            f"{machine['torch_threads']} torch thread(s)")
    if machine.get("cpu_time_meaningful") and machine.get("cpu_per_wall_kept_runs") is not None:
        line += (f"; timed steps got {machine['cpu_per_wall_all_runs']:.0%} of their wall time on a core "
                 f"(kept runs, {machine['statistic']}: {machine['cpu_per_wall_kept_runs']:.0%})")
    return line


@app.command()
@user_errors
def validate(hardware: Annotated[Optional[str], typer.Option(help="catalog name or profile YAML")] = None,
             measurements: Annotated[Optional[Path], typer.Option(help="measurement CSV or Parquet")] = None,
             published: Annotated[bool, typer.Option("--published", help="replay the bundled published "
                                                     "measurements (validation/published_*.csv) and score ctxplan "
                                                     "on them")] = False,
             table: Annotated[Optional[list[Path]], typer.Option(help="with --published: these tables instead "
                                                                 "(the bundled CSV columns)")] = None,
             workers: Annotated[Optional[int], typer.Option(help="with --published: local processes",
                                                            min=1, max=64)] = None,
             engine: Annotated[bool, typer.Option("--engine", help="run the tiny real engine here and compare "
                                                               "with the simulator")] = False,
             device: Annotated[Device, typer.Option(help="device for --engine")] = Device.auto,
             format: Annotated[OutputFormat, typer.Option("--format")] = OutputFormat.table):
    """Predicted versus measured kernel times (or, with --engine, a real engine run; with --published,
    the bundled published serving measurements)."""
    if published:
        if hardware or measurements or engine:
            _fail("--published replays the bundled tables; it takes no --hardware, --measurements or --engine")
        _validate_published(table, workers, format)
        return
    if table or workers:
        _fail("--table and --workers go with --published")
    if hardware is None:
        _fail("give --hardware (with --measurements FILE or --engine), or --published")
    from simulator.catalog import resolve_hardware
    profile = resolve_hardware(hardware, field="--hardware")
    if engine == (measurements is not None):
        _fail("give exactly one of --measurements FILE or --engine")
    if engine:
        try:
            import torch  # noqa: F401  (fail early with a clear message when torch is missing)
            from kernels.engine_check import engine_check
            from kernels.microbench import resolve_device
        except ImportError as exc:
            _fail(f"--engine needs torch ({exc}); install the kernels extra: pip install 'ctxplan[kernels]'")
        report = engine_check(profile, resolve_device(device.value))
    else:
        from simulator.specs.measurements import load_measurements
        from simulator.results.kernel_validation import validate_rows
        report = validate_rows(profile, load_measurements(measurements))
    if format is OutputFormat.json:
        _print_json(report)
        return
    from api.render import validation_table
    title = f"{profile.name}: " + ("engine check (predicted vs measured)" if engine else str(measurements))
    stdout.print(validation_table(title, report))
    if engine:
        stdout.print(_load_line(report["machine"]))




def _validate_published(tables: list[Path] | None, workers: int | None, format: OutputFormat) -> None:
    from simulator.results.published import replay
    bar = _LazyProgress(["replaying published runs"])
    try:
        report = replay(tables, workers=workers, progress=lambda done, total: bar(0, done, total))
    finally:
        bar.close()
    if format is OutputFormat.json:
        _print_json(report.to_json_dict())
        return
    from api.render import published_table
    stdout.print(published_table(report))
