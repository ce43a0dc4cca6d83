"""Insight-Invest domain: model, message contracts, ports, use cases and the backtest engine.

Nothing here imports a framework, driver or SDK (enforced by import-linter).
"""
