"""Freshness policies: the UI shows each mart and maintenance asset as fresh, warning or stale."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

#: Built hourly: warn when a run was missed, fail after two.
MARTS_POLICY = dg.FreshnessPolicy.time_window(
    fail_window=timedelta(hours=2, minutes=30), warn_window=timedelta(hours=1, minutes=30)
)
#: Run daily: warn when a day's run is late, fail when a whole day was missed.
MAINTENANCE_POLICY = dg.FreshnessPolicy.time_window(
    fail_window=timedelta(hours=49), warn_window=timedelta(hours=25)
)

MARTS = dg.AssetSelection.groups("marts")
MAINTENANCE = dg.AssetSelection.groups("maintenance")


def apply_freshness(defs: dg.Definitions) -> dg.Definitions:
    defs = defs.map_resolved_asset_specs(
        func=lambda spec: dg.apply_freshness_policy(spec, MARTS_POLICY), selection=MARTS
    )
    return defs.map_resolved_asset_specs(
        func=lambda spec: dg.apply_freshness_policy(spec, MAINTENANCE_POLICY),
        selection=MAINTENANCE,
    )
