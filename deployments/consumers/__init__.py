"""Channels consumers, one module per live page: builds (a model's build list and build pages), deployments."""

CLOSE_FORBIDDEN = 4403  # the close code for a socket whose user may not see the object
