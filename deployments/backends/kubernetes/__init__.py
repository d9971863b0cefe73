"""The Kubernetes runtime (issue 14): what Berth creates in a cluster for a deployment.

The objects, as plain dicts built by pure functions (`manifests.py` gathers the inputs from the
database and settings, `variation_objects.py` and `gateway_objects.py` shape them, `names.py` and
`labels.py` name and label them); the adapter that applies them and reads the cluster back
(`backend.py`, over `client.py`, the one seam to the API, with `status.py` for replica states and
`watch.py` for waiting). docs/kubernetes.md shows the objects of a two-variation deployment and
how a rollout runs in the cluster.
"""
