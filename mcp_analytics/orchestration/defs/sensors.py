"""Near real time: a sensor that starts the incremental marts build when the late-data ledger
(`mart_dirty_buckets`) has work, beside the hourly schedule.

It looks at the ledger at most every `marts_sensor_interval_s` seconds (MCPA_MARTS_SENSOR_INTERVAL,
60 by default) and asks for one `hourly_marts` run per new ledger state: the run key is the
ledger's highest entry id, so a state already asked for is not asked again, and no run is asked
for while one of that job is queued or running (the build it runs consumes the entries it saw).
"""

from __future__ import annotations

import dagster as dg

from mcp_analytics.config import settings
from mcp_analytics.orchestration.defs.resources import PostgresResource

MARTS_JOB = "hourly_marts"
_ACTIVE = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def ledger_state(postgres: PostgresResource) -> tuple[int, int | None]:
    """(entries waiting, highest entry id) of `mart_dirty_buckets`."""
    ((count, newest),) = postgres.query("select count(*), max(id) from mart_dirty_buckets")
    return int(count), newest


def build_sensors(jobs: dict[str, dg.UnresolvedAssetJobDefinition]) -> list[dg.SensorDefinition]:
    """The dirty-ledger sensor for the `hourly_marts` job (interval from settings())."""
    job = jobs[MARTS_JOB]

    @dg.sensor(
        name="dirty_marts_sensor",
        job=job,
        minimum_interval_seconds=settings().marts_sensor_interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Start the incremental marts build when the late-data ledger has work.",
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
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(run_key=f"ledger-{newest}", tags={"mcp_analytics/ledger": str(count)})
            ],
            cursor=str(newest),
        )

    return [dirty_marts_sensor]
