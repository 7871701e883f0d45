"""GrupoNOS platform: orchestration of the WMS to Oracle pipeline."""
