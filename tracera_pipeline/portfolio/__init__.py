"""Portfolios: holdings loading and point-in-time valuation."""
