"""The backtester: consumes queued backtest jobs, runs the engine and stores the results."""
