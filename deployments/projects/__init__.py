"""Projects and who may do what in them (`memberships`), and the demo project `make run` seeds (`demo`)."""
