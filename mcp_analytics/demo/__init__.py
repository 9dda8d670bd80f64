"""The demo: a seeded, realistic telemetry workload and its fast partition loader."""
