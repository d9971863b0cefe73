"""Where model code runs: a bubblewrap sandbox (no Django here; the replica launcher imports it).

`command.sandbox_argv(spec)` is the whole policy: what is mounted, which namespaces, which
user, which limits. `validation_run.run()` runs build validation in it; the replica launcher
(`deployments.backends.launch`) runs the model server in it. docs/runtime.md, "Security
model", says what each rule protects.
"""
