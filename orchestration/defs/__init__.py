"""Definition modules assembled by `orchestration.definitions` (one concern per module)."""
