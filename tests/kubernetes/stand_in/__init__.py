"""A stand-in for the Kubernetes API server and the cluster's controllers: a TEST FIXTURE.

No cluster runs in Berth's tests. `StandInCluster` (cluster.py) is a real HTTP server on
127.0.0.1 (server.py) that keeps objects with uid, resourceVersion and generation (store.py),
answers the requests the official `kubernetes` client sends for what Berth does (list with label
selectors, get, server-side apply, merge patch, the scale and status subresources, delete, watch
with 410 Gone, pod logs), and a controller thread that moves pods and Deployment status the way
the cluster's Deployment controller, scheduler and kubelet would. The adapter under test
(deployments/backends/kubernetes/) is the production code, unchanged, configured with a kubeconfig
pointing here.

What it does not do: authentication (any token passes, but for the pod proxy, which wants the
kubeconfig's token and forwards to a real server the test runs for the pod), admission and schema validation (the
manifests are validated offline by test_schemas.py), field ownership between several managers,
namespaces as objects, real time passing for pods (a pod's state follows what the test says its
build does, at once).
"""
