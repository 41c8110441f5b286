"""Embedded PostgreSQL and Valkey servers, for machines with nothing configured or running.

See :mod:`tracera_pipeline.services.embedded` for when they start and how every
process (CLI, ``dagster dev``, run and step subprocesses) finds them.
"""
