"""The operational flood loop (``ops``): forecasts in, hot-started runs, provenance, warnings out."""
