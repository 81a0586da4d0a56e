"""Rule pack tooling that runs the engine: loading with sample renders, pack tests, the reference, publishing."""
