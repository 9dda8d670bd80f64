"""`mcp-analytics materialize`: every asset once, in-process, recorded in the UI's instance.

Order: observe the raw tables, then the dbt build (models and their tests), then the daily
maintenance (partition upkeep, retention, archive export) with the custom checks. The runs go
to the persistent DAGSTER_HOME, so `mcp-analytics ui` then shows a complete graph.

Exit status 1 when a job failed: a step failed, or a check of severity ERROR did (the summary
names the failed checks); checks of severity WARN are reported and do not fail the run.

While it runs, stderr gets a line when each job and step starts and ends, and one per dbt node
as dbt finishes it (`materialize_progress`); stdout keeps one summary line per job. dbt's and
Dagster's own output goes to the log file (`--log`), named when a job fails.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
import time
import uuid

from mcp_analytics.cli import CommandError
from mcp_analytics.commands.materialize_progress import DbtProgressTee, Progress
from mcp_analytics.config import settings
from mcp_analytics.extras import MissingExtraError, require_warehouse

JOBS = ("observe_raw", "hourly_marts", "daily_maintenance")
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "materialize", help="materialize every Dagster asset once (raw -> dbt -> maintenance)"
    )
    parser.add_argument(
        "--log", help="file for dbt's and Dagster's output (default .state/logs/materialize.log)"
    )
    parser.set_defaults(func=handler)


def handler(args: argparse.Namespace) -> int:
    import logging
    import warnings

    warnings.filterwarnings("ignore")  # Dagster's beta/preview notices are not for end users
    try:
        require_warehouse("`mcp-analytics materialize`")
    except MissingExtraError as err:
        raise CommandError(str(err)) from None

    import dagster as dg

    from mcp_analytics.dbt.env import DbtNotFoundError
    from mcp_analytics.dbt.manifest import ManifestError
    from mcp_analytics.orchestration.definitions import build_definitions
    from mcp_analytics.orchestration.lib.home import activate_home
    from mcp_analytics.warehouse import db

    url = db.database_url()
    activate_home(url)
    try:
        defs = build_definitions()
    except (ManifestError, DbtNotFoundError) as err:
        raise CommandError(str(err)) from None

    log_path = settings().state_dir / "logs" / "materialize.log"
    if args.log:
        from pathlib import Path

        log_path = Path(args.log)
    log_path.parent.mkdir(parents=True, exist_ok=True)

    # Dagster's and dagster-dbt's Python loggers go to the log file, not the terminal.
    file_handler = logging.FileHandler(log_path)
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    dagster_logger = logging.getLogger("dagster")
    dagster_logger.addHandler(file_handler)
    dagster_logger.propagate = bool(args.verbose)

    failures = 0
    failed_checks: list[str] = []
    # Progress goes to the terminal's stderr (captured before the job's output is redirected);
    # stdout keeps one summary line per job, as scripts read it.
    progress = Progress(sys.stderr, str(log_path))
    with dg.DagsterInstance.get() as instance, log_path.open("a", buffering=1) as log:
        for name in JOBS:
            started = time.monotonic()
            job = defs.resolve_job_def(name)
            run_id = str(uuid.uuid4())
            instance.add_event_listener(run_id, progress.listener)
            progress.job_started(name)
            tee = DbtProgressTee(log, progress)
            with contextlib.redirect_stdout(tee), contextlib.redirect_stderr(log):
                result = job.execute_in_process(
                    instance=instance, raise_on_error=False, run_config=QUIET, run_id=run_id
                )
            summary = summarise(result)
            # A failed check of severity ERROR fails the job as a failed step does: a cron job
            # or CI must notice (WARN-severity checks are reported, and do not).
            ok = result.success and not summary["failed_checks"]
            status = "ok" if ok else "FAILED"
            print(
                f"{name:18} {status:6} {time.monotonic() - started:6.1f} s  "
                f"observed {summary['observed']}, materialized {summary['materialized']}, "
                f"checks passed {summary['passed']}/{summary['checks']}"
            )
            for line in summary["problems"]:
                print(f"    {line}")
            if not ok:
                print(f"    {name}'s whole output (dbt's and Dagster's): {log_path}")
            sys.stdout.flush()  # the summary in its place among the progress lines, piped too
            failures += 0 if ok else 1
            failed_checks += summary["failed_checks"]
    if failed_checks:
        print(f"failed checks (severity ERROR): {', '.join(failed_checks)}")
    print(f"log: {log_path}")
    print("open the asset graph with `mcp-analytics ui`")
    return 1 if failures else 0


_ANSI_COLOUR = re.compile(r"\x1b\[[0-9;]*m")

#: the most lines of a failed step's message shown (dbt's error lines can run long)
MAX_FAILURE_LINES = 40


def step_failure_message(error) -> str:
    """The useful text of a failed step's `SerializableErrorInfo` (or None): the non-blank
    lines of its message and its causes' (for a dbt step: the command, its exit code and
    dbt's own error lines, which name the failing nodes), the later ones indented under the
    first, at most MAX_FAILURE_LINES, connection-string passwords masked (redact_text)."""
    from mcp_analytics.ingest.redaction import redact_text

    if error is None or not (error.message or "").strip():
        return "unknown error"
    # Dagster wraps what an op raised ("Error occurred while executing op ..."): its causes
    # say what failed
    messages, cause = [error.message], error.cause
    while cause is not None and len(messages) < 4:
        messages.append(cause.message or cause.cls_name or "")
        cause = cause.cause
    text = _ANSI_COLOUR.sub("", redact_text("\n".join(messages)))  # dbt colours its errors
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    if len(lines) > MAX_FAILURE_LINES:
        dropped = len(lines) - MAX_FAILURE_LINES
        lines = [*lines[:MAX_FAILURE_LINES], f"... {dropped} more lines in the log"]
    return "\n        ".join(lines)


def summarise(result) -> dict:
    """Counts of one job run's events, its problems as lines, and `failed_checks`: the checks of
    severity ERROR that failed, as `asset:check`."""
    observed = materialized = checks = passed = 0
    problems: list[str] = []
    failed_checks: list[str] = []
    for event in result.all_events:
        kind = event.event_type_value
        if kind == "ASSET_OBSERVATION":
            observed += 1
        elif kind == "ASSET_MATERIALIZATION":
            materialized += 1
        elif kind == "ASSET_CHECK_EVALUATION":
            data = event.event_specific_data
            checks += 1
            if data.passed:
                passed += 1
            else:
                severity = getattr(data.severity, "value", data.severity)
                name = f"{data.asset_key.to_user_string()}:{data.check_name}"
                problems.append(f"check {name} failed ({severity})")
                if str(severity).upper() == "ERROR":
                    failed_checks.append(name)
        elif kind == "STEP_FAILURE":
            err = event.event_specific_data.error
            problems.append(f"step {event.step_key} failed: {step_failure_message(err)}")
    return {
        "observed": observed,
        "materialized": materialized,
        "checks": checks,
        "passed": passed,
        "problems": problems,
        "failed_checks": failed_checks,
    }
