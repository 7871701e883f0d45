"""One run of a job for a facility: orchestrator, report, state, locks, catalog, facilities."""
