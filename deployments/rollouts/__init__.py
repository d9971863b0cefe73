"""Changing a deployment: the spec (`spec`, `spec_edit`), asking for a change (`requests`), carrying it
out against the runtime (`engine`), and the events it records (`events`)."""
