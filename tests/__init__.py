"""The test suite (a package, so that tests/dbt is tests.dbt and never the dbt package)."""
