"""The dbt resource of the code location: `DbtCliResource` with our environment, passed as such.

dagster-dbt 0.29's `DbtCliResource.cli()` builds the dbt process's environment from
`os.environ` and has no parameter for more, so the usual recipe is to set the profile's
variables in `os.environ` around the call. That is a process-wide mutation: not thread-safe,
and visible to anything else the process starts meanwhile. `WarehouseDbtResource.cli()` does
what the parent does (same selection of the context's assets and checks, same invocation and
event stream) but hands `mcp_analytics.dbt.env.dbt_env()` to the dbt process directly.

Two deliberate differences: no in-process dbt adapter is opened (it renders the profile from
`os.environ`, and serves only `fetch_column_metadata`/`fetch_row_counts`, which the project does
not use), and each invocation's target folder lies under `settings().dbt_target_dir`, never
inside an installed package; dbt's parse is kept across those folders
(`mcp_analytics.dbt.partial_parse`), so an invocation re-parses only what changed.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dagster import AssetExecutionContext, OpExecutionContext
from dagster_dbt import DagsterDbtTranslator, DbtCliEventMessage, DbtCliInvocation, DbtCliResource
from dagster_dbt.asset_utils import (
    DBT_INDIRECT_SELECTION_ENV,
    extract_runtime_selection_from_args,
    get_updated_cli_invocation_params_for_context,
)
from dagster_dbt.dagster_dbt_translator import validate_opt_translator
from dagster_dbt.dbt_manifest import DbtManifestParam, validate_manifest
from pydantic import Field

from mcp_analytics.config import settings
from mcp_analytics.dbt.env import dbt_env, dbt_executable
from mcp_analytics.dbt.partial_parse import ParseState, reuse_parse

#: Invocation folders kept under the target folder (each holds a manifest, ~10 MB).
KEEP_INVOCATIONS = 20
#: A folder younger than this may belong to a run still writing it: never removed.
_IN_USE_S = 3600.0
_INVOCATION_NAME = re.compile(r"(?:.+-[0-9a-f]{7}-)?[0-9a-f]{7}")


def prune_invocations(root: Path, keep: int = KEEP_INVOCATIONS) -> list[Path]:
    """Remove all but the `keep` newest invocation folders under `root`; returns those removed.

    One folder per dbt invocation (`_invocation_target`): the sensor may start a build every
    minute, so without pruning they would fill the disk (~14 GB a day). Only folders named as
    `_invocation_target` names them and older than an hour go; dbt's own files (manifest,
    `compiled/`, `partial_parse/`, ...) are never touched. A folder that cannot be removed is
    left for the next invocation.
    """
    if not root.is_dir():
        return []
    folders = [p for p in root.iterdir() if p.is_dir() and _INVOCATION_NAME.fullmatch(p.name)]
    return prune_folders(folders, keep)


def prune_folders(folders: Sequence[Path], keep: int = KEEP_INVOCATIONS) -> list[Path]:
    """Remove all but the `keep` newest of `folders` (by modification time), sparing any
    younger than an hour; returns those removed.

    Another invocation may prune the same folders at the same time: one already gone when its
    time is read is skipped, as if it had not been listed (never a FileNotFoundError).
    """
    aged: list[tuple[float, Path]] = []
    for folder in folders:
        with contextlib.suppress(FileNotFoundError):
            aged.append((folder.stat().st_mtime, folder))
    aged.sort(reverse=True)
    now = time.time()
    removed = []
    for mtime, folder in aged[keep:]:
        if now - mtime > _IN_USE_S:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _invocation_target(context: OpExecutionContext | AssetExecutionContext | None) -> Path:
    """A fresh target folder for one invocation, named after the op and run like dagster-dbt's
    (older ones pruned to the newest KEEP_INVOCATIONS)."""
    name = uuid.uuid4().hex[:7]
    if context is not None:
        name = f"{context.op_execution_context.op.name}-{context.run.run_id[:7]}-{name}"
    root = settings().dbt_target_dir
    prune_invocations(root)
    return root / name


@dataclass
class _KeepingParseInvocation(DbtCliInvocation):
    """A dbt invocation that keeps the state of dbt's parse for the next one when it ends
    (`mcp_analytics.dbt.partial_parse`); `wait()` and `stream()` both read these events."""

    parse_state: ParseState | None = None

    def stream_raw_events(self) -> Iterator[DbtCliEventMessage]:
        try:
            yield from super().stream_raw_events()
        finally:
            if self.parse_state is not None:
                self.parse_state.keep(self.target_path)


class WarehouseDbtResource(DbtCliResource):
    """dbt on `database_url` (empty: the project's database), environment passed explicitly."""

    database_url: str | None = Field(
        default=None, description="libpq URL dbt targets; empty means the project's database"
    )

    def cli(
        self,
        args: Sequence[str],
        *,
        raise_on_error: bool = True,
        manifest: DbtManifestParam | None = None,
        dagster_dbt_translator: DagsterDbtTranslator | None = None,
        context: OpExecutionContext | AssetExecutionContext | None = None,
        target_path: Path | None = None,
    ) -> DbtCliInvocation:
        """Start `dbt <args>` (see `DbtCliResource.cli`); os.environ is read, never written."""
        translator = validate_opt_translator(dagster_dbt_translator) or DagsterDbtTranslator()
        cleaned_args, selects, excludes = extract_runtime_selection_from_args(args)
        params = get_updated_cli_invocation_params_for_context(
            context=context,
            manifest=validate_manifest(manifest) if manifest else {},
            dagster_dbt_translator=translator,
            runtime_selects=selects,
            runtime_excludes=excludes,
        )
        project_dir = Path(
            params.dbt_project.project_dir if params.dbt_project else self.project_dir
        )
        target_path = target_path or _invocation_target(context)
        if not target_path.is_absolute():
            target_path = project_dir / target_path
        env = dbt_env(self.database_url, target_path=target_path, log_path=target_path)
        env.update(
            {
                "DBT_PROJECT_DIR": str(project_dir),
                "DBT_PROFILES_DIR": self.profiles_dir or str(project_dir),
                # dagster-dbt reads dbt's structured log lines as they come.
                "DBT_LOG_FORMAT": "json",
                "DAGSTER_DBT_CLI": "true",
                "PYTHONUNBUFFERED": "1",
            }
        )
        if params.indirect_selection:
            env[DBT_INDIRECT_SELECTION_ENV] = params.indirect_selection
        profile_args = [*(["--profile", self.profile] if self.profile else [])]
        profile_args += ["--target", self.target] if self.target else []
        dbt_args = [*self.global_config_flags, *cleaned_args, *profile_args]
        state = reuse_parse(env, dbt_args, target_path)
        invocation = _KeepingParseInvocation.run(  # returns an instance of its class
            args=[self.dbt_executable, *dbt_args, *params.selection_args],
            env=env,
            manifest=params.manifest,
            dagster_dbt_translator=params.dagster_dbt_translator,
            project_dir=project_dir,
            target_path=target_path,
            raise_on_error=raise_on_error,
            context=context,
            adapter=None,
            cli_version=self._cli_version,
            dbt_project=params.dbt_project,
        )
        assert isinstance(invocation, _KeepingParseInvocation)
        invocation.parse_state = state
        return invocation

    def artifact_results(
        self,
        args: Sequence[str],
        artifact: str,
        *,
        manifest: DbtManifestParam,
        dagster_dbt_translator: DagsterDbtTranslator,
    ) -> tuple[list[Mapping[str, Any]], BaseException | None]:
        """Run `dbt <args>` to its end in a throwaway target folder and read its verdicts.

        dbt exits 1 when a test fails or a source is stale, so its exit status raises nothing:
        the verdicts are the `results` of `artifact` (`run_results.json`, `sources.json`),
        empty when dbt wrote no such file. Returns them with the invocation's error, if any.
        """
        with tempfile.TemporaryDirectory(prefix="mcpa-dbt-") as target:
            invocation = self.cli(
                args,
                raise_on_error=False,
                manifest=manifest,
                dagster_dbt_translator=dagster_dbt_translator,
                target_path=Path(target),
            ).wait()
            results: list[Mapping[str, Any]] = []
            if (Path(target) / artifact).exists():
                results = list(invocation.get_artifact(artifact)["results"])  # type: ignore[arg-type]
            return results, invocation.get_error()


def build_dbt_resource(database_url: str | None = None) -> WarehouseDbtResource:
    """The dbt resource on `database_url` (None: the project's database).

    Raises:
        DbtNotFoundError: dbt is not installed.
    """
    project_dir = str(settings().dbt_project_dir)
    return WarehouseDbtResource(
        project_dir=project_dir,
        profiles_dir=project_dir,
        dbt_executable=dbt_executable(),
        database_url=database_url,
    )
