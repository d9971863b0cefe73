"""The objects of a two-variation deployment, as YAML: `python -m deployments.backends.kubernetes.example`.

docs/kubernetes.md shows this output, and a test checks that it still does. The inputs are
fixed here (no database, no settings), so the output only changes when the manifests do.
"""

from __future__ import annotations

import hashlib
import os
import sys
from decimal import Decimal

import yaml

from deployments.backends.kubernetes.inputs import ClusterSettings, InstanceShape, Manifest, Target, VariationInput

CLUSTER = ClusterSettings(model_server_image="registry.example.com/berth/model-server:1.0",
                          console_url="http://berth-web.berth.svc", ingress_class="nginx",
                          ingress_host_pattern="{model}-{environment}.models.example.com")
TARGET = Target(deployment_pk=7, project="fraud", model_id="churn_model", environment="production", revision=3)
# It sits behind an Ingress, so it requires endpoint keys: one key of the project, and the console's own.
ENDPOINT_KEYS = [{"id": "12", "sha256": hashlib.sha256(b"bek_<a key of project fraud>").hexdigest(), "expires_at": None},
                 {"id": "console", "sha256": hashlib.sha256(b"bek_console_<derived>").hexdigest(), "expires_at": None}]


def example_variations() -> tuple[VariationInput, ...]:
    """A CPU variation with env vars (one secret) and an IAM role, and a GPU challenger."""
    from deployments.rollouts.spec import EnvVar, VariationSpec

    return (
        VariationInput(
            VariationSpec(name="default", build_id="5b0a3c1e-8d1f-4c6e-9a55-2f7e1d0c9b31", instance_type="medium",
                          replicas=2, server_workers=4, request_timeout_ms=3000, deploy_timeout_min=10,
                          env=(EnvVar("FEATURE_STORE_URL", "http://features.internal:8080"),
                               EnvVar("FEATURE_STORE_TOKEN", "<encrypted at rest>", secret=True)),
                          iam_role_arn="arn:aws:iam::123456789012:role/churn-model", traffic_percent=80),
            InstanceShape("medium", Decimal("2"), 4),
            secret_values={"FEATURE_STORE_TOKEN": "s3cr3t-token"},
            artifact_token="<token for build 5b0a3c1e, signed by the console>",  # noqa: S106 - a placeholder
        ),
        VariationInput(
            VariationSpec(name="challenger", build_id="9e4d2a77-0c3b-4f18-b6a2-7d5e3f1a8c40", instance_type="gpu.t4.xl",
                          replicas=1, server_workers=1, request_timeout_ms=3000, deploy_timeout_min=20,
                          traffic_percent=20),
            InstanceShape("gpu.t4.xl", Decimal("4"), 16, 1, "nvidia-tesla-t4"),
            artifact_token="<token for build 9e4d2a77, signed by the console>",  # noqa: S106 - a placeholder
        ),
    )


def example_manifests() -> list[Manifest]:
    from deployments.backends.kubernetes.manifests import build_manifests

    return build_manifests(TARGET, example_variations(), CLUSTER, ENDPOINT_KEYS)


class _Dumper(yaml.SafeDumper):
    """Writes text with line breaks (the routes JSON) as a `|` block, the way people write it."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, _text)


def as_yaml(objects: list[Manifest]) -> str:
    """Multi-document YAML in the objects' own key order (apiVersion, kind, metadata, …)."""
    return "---\n".join(yaml.dump(item, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=120)
                        for item in objects)


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
    import django

    django.setup()
    sys.stdout.write(as_yaml(example_manifests()))


if __name__ == "__main__":
    main()
