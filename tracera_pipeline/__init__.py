"""Tracera Pipeline: CS2 skin prices from providers into PostgreSQL/TimescaleDB and Redis."""
