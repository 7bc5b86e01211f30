"""Prefect flows: thin orchestration over the curation library (see the orchestration issue)."""
