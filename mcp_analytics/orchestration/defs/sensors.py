"""Near real time: a sensor that builds the marts the late-data ledger (`mart_dirty_buckets`)
has work for, beside the hourly schedule (which keeps building the whole `hourly_marts` job).

It looks at the ledger at most every `marts_sensor_interval_s` seconds
(MCPA_MARTS_SENSOR_INTERVAL, 60 by default) and asks for one `hourly_marts` run per new ledger
state: the run key is the ledger's highest entry id, so a state already asked for is not asked
again, and no run is asked for while one of that job is queued or running (the build it runs
consumes the entries it saw).

A run selects only (see `MartPlan.select`):
- the marts the ledger names;
- the incremental marts built on a selected mart (its post-hook marks their buckets during
  the same run, so they follow in it instead of waiting for the next tick);
- the marts rebuilt whole (no `ledger_sources`: tool_regressions, the inventory marts) when a
  raw table or a selected mart they read changed;
- the dbt tests of those marts (asset checks), and the other checks of the job on them (the
  regression checks when tool_regressions is built).
Never the staging views nor dbt's source tests (observe_raw runs those). Ledger entries naming
no mart asset are reported in the run's or the skip's tags and message, never an error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import dagster as dg
from dagster_dbt.asset_utils import get_manifest_and_translator_from_dbt_assets

from mcp_analytics.config import settings
from mcp_analytics.orchestration.defs.dbt_assets import mart_keys
from mcp_analytics.orchestration.defs.regressions import REGRESSION_CHECKS
from mcp_analytics.orchestration.defs.resources import PostgresResource

MARTS_JOB = "hourly_marts"
#: Tags of a sensor run: ledger entries seen, marts selected, ledger names that are no mart.
LEDGER_TAG = "mcp_analytics/ledger"
MARTS_TAG = "mcp_analytics/marts"
UNKNOWN_TAG = "mcp_analytics/unknown_marts"
_ACTIVE = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]
# A run's tag value is limited in size: long lists are cut with a count of the rest.
_TAG_NAMES = 20


def ledger_state(postgres: PostgresResource) -> tuple[int, int | None]:
    """(entries waiting, highest entry id) of `mart_dirty_buckets`."""
    ((count, newest),) = postgres.query("select count(*), max(id) from mart_dirty_buckets")
    return int(count), newest


def ledger_marts(postgres: PostgresResource) -> dict[str, int]:
    """{mart name: entries waiting} of `mart_dirty_buckets` (the names as the ledger has them)."""
    rows = postgres.query("select mart, count(*) from mart_dirty_buckets group by mart")
    return {str(mart): int(count) for mart, count in rows}


@dataclass(frozen=True)
class Selection:
    """What one sensor run builds: mart asset keys, check keys, ledger names that are no mart."""

    marts: frozenset[dg.AssetKey]
    checks: frozenset[dg.AssetCheckKey]
    unknown: tuple[str, ...]

    def mart_names(self) -> list[str]:
        """Names of the selected marts, sorted."""
        return sorted(key.path[-1] for key in self.marts)


@dataclass(frozen=True)
class MartPlan:
    """The marts of the dbt project and what each reads, from the manifest behind `dbt_models`.

    `upstream[key]` holds the raw-table keys (`raw/<table>`, through staging) and the mart keys
    a mart reads; `ledger_sources[key]` the tables (raw or marts) whose changes the ledger
    follows for it (empty for a mart rebuilt whole); `checks[key]` the job's checks on it.
    """

    by_name: Mapping[str, dg.AssetKey]
    upstream: Mapping[dg.AssetKey, frozenset[dg.AssetKey]]
    ledger_sources: Mapping[dg.AssetKey, tuple[str, ...]]
    checks: Mapping[dg.AssetKey, frozenset[dg.AssetCheckKey]]
    raw_keys: Mapping[str, dg.AssetKey]

    @classmethod
    def from_assets(
        cls, dbt_models: dg.AssetsDefinition, other_checks: Iterable[dg.AssetChecksDefinition]
    ) -> MartPlan:
        """The plan of the marts in `dbt_models`, with their dbt tests and `other_checks`."""
        manifest, translator, _ = get_manifest_and_translator_from_dbt_assets([dbt_models])
        marts = set(mart_keys(dbt_models))
        nodes = {**manifest["nodes"], **manifest["sources"]}
        key_of = {uid: translator.get_asset_key(node) for uid, node in nodes.items()}
        raw_keys = {
            node.get("identifier") or node["name"]: key_of[uid]
            for uid, node in manifest["sources"].items()
        }
        upstream: dict[dg.AssetKey, frozenset[dg.AssetKey]] = {}
        ledger_sources: dict[dg.AssetKey, tuple[str, ...]] = {}
        for uid, node in manifest["nodes"].items():
            if node["resource_type"] != "model" or key_of[uid] not in marts:
                continue
            upstream[key_of[uid]] = frozenset(_reads(uid, nodes, key_of, marts))
            meta = node.get("config", {}).get("meta") or node.get("meta") or {}
            ledger_sources[key_of[uid]] = tuple(meta.get("ledger_sources") or ())
        checks: dict[dg.AssetKey, set[dg.AssetCheckKey]] = {key: set() for key in marts}
        all_checks = [*dbt_models.check_keys, *(k for c in other_checks for k in c.check_keys)]
        for check in all_checks:
            if check.asset_key in checks:
                checks[check.asset_key].add(check)
        return cls(
            by_name={key.path[-1]: key for key in marts},
            upstream=upstream,
            ledger_sources=ledger_sources,
            checks={key: frozenset(found) for key, found in checks.items()},
            raw_keys=raw_keys,
        )

    def select(self, ledger_names: Iterable[str]) -> Selection:
        """The marts and checks a run must build for ledger entries naming `ledger_names`."""
        names = set(ledger_names)
        selected = {self.by_name[name] for name in names if name in self.by_name}
        unknown = tuple(sorted(names - set(self.by_name)))
        # raw tables known to have changed: the raw sources of the marts the ledger names
        changed = {
            self.raw_keys[source]
            for key in selected
            for source in self.ledger_sources[key]
            if source in self.raw_keys and source not in self.by_name
        }
        grew = True
        while grew:
            grew = False
            for key, reads in self.upstream.items():
                if key in selected:
                    continue
                whole = not self.ledger_sources[key]
                if reads & selected or (whole and reads & changed):
                    selected.add(key)
                    grew = True
        checks = frozenset(check for key in selected for check in self.checks[key])
        return Selection(frozenset(selected), checks, unknown)


def _reads(
    uid: str,
    nodes: Mapping[str, Mapping[str, object]],
    key_of: Mapping[str, dg.AssetKey],
    marts: set[dg.AssetKey],
) -> set[dg.AssetKey]:
    """Raw tables and marts the model `uid` reads, through any models in between."""
    found: set[dg.AssetKey] = set()
    todo = list(nodes[uid]["depends_on"]["nodes"])  # type: ignore[index]
    seen: set[str] = set()
    while todo:
        parent = todo.pop()
        if parent in seen or parent not in nodes:
            continue
        seen.add(parent)
        if parent.startswith("source.") or key_of[parent] in marts:
            found.add(key_of[parent])
        else:
            todo.extend(nodes[parent]["depends_on"]["nodes"])  # type: ignore[index]
    return found


def _listed(names: Sequence[str]) -> str:
    shown = ", ".join(names[:_TAG_NAMES])
    return shown + (f" (+{len(names) - _TAG_NAMES} more)" if len(names) > _TAG_NAMES else "")


def build_sensors(
    jobs: Mapping[str, dg.UnresolvedAssetJobDefinition], dbt_models: dg.AssetsDefinition
) -> list[dg.SensorDefinition]:
    """The dirty-ledger sensor for the `hourly_marts` job (interval from settings()).

    Raises:
        KeyError: `jobs` has no `hourly_marts`.
    """
    job = jobs[MARTS_JOB]
    plan = MartPlan.from_assets(dbt_models, REGRESSION_CHECKS)

    @dg.sensor(
        name="dirty_marts_sensor",
        job=job,
        minimum_interval_seconds=settings().marts_sensor_interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Build the marts the late-data ledger has work for (and the marts built on "
        "them), with their checks.",
    )
    def dirty_marts_sensor(
        context: dg.SensorEvaluationContext, postgres: PostgresResource
    ) -> dg.SensorResult | dg.SkipReason:
        count, newest = ledger_state(postgres)
        if not count or newest is None:
            return dg.SkipReason("the ledger is empty: nothing to rebuild")
        active = context.instance.get_runs(
            filters=dg.RunsFilter(job_name=job.name, statuses=_ACTIVE), limit=1
        )
        if active:
            return dg.SkipReason(f"a {job.name} run is in flight ({active[0].run_id})")
        if context.cursor == str(newest):
            return dg.SkipReason(f"a run was already asked for ledger entry {newest}")
        selection = plan.select(ledger_marts(postgres))
        unknown = _listed(selection.unknown)
        if not selection.marts:
            return dg.SensorResult(
                skip_reason=dg.SkipReason(
                    f"the ledger's {count} entries name no mart asset ({unknown}): nothing to "
                    "build; are they marts of another dbt project, or removed ones?"
                ),
                cursor=str(newest),
            )
        tags = {LEDGER_TAG: str(count), MARTS_TAG: _listed(selection.mart_names())}
        if selection.unknown:
            tags[UNKNOWN_TAG] = unknown
            context.log.warning(f"ledger entries name no mart asset: {unknown}")
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    run_key=f"ledger-{newest}",
                    tags=tags,
                    asset_selection=sorted(selection.marts, key=lambda k: k.to_user_string()),
                    asset_check_keys=sorted(
                        selection.checks, key=lambda c: (c.asset_key.to_user_string(), c.name)
                    ),
                )
            ],
            cursor=str(newest),
        )

    return [dirty_marts_sensor]
