"""Builds: storing an upload (`upload`), validating it in the sandbox (`validation`), telling viewers (`live`)."""
