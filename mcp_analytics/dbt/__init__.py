"""Running the dbt project against the warehouse: environment, runner, manifest."""
