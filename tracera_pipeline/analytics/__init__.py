"""Volatility analytics computed from the aggregates."""
