"""The gateway under attack: `python -m bench.abuse` (see __main__.py)."""
