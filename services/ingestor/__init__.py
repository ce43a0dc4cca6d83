"""The ingestor: consumes update commands from the ingest queue and writes prices and macro data."""
