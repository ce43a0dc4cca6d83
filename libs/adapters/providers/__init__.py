"""Market and macro data providers: offline sample, CSV directory, yfinance and FRED."""
