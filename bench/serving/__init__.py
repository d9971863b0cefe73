"""The model-server benchmark: `python -m bench.serving --help`."""
