"""The Kubernetes runtime (issue 14): what Berth creates in a cluster for a deployment.

So far the objects themselves, as plain dicts built by pure functions (`manifests.py` gathers
the inputs from the database and settings, `variation_objects.py` and `gateway_objects.py` shape
them, `names.py` and `labels.py` name and label them). The adapter that applies them with the
`kubernetes` client is not written yet, so `get_backend()` does not offer this runtime.
docs/kubernetes.md shows the objects of a two-variation deployment.
"""
