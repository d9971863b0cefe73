"""When the objects of a spec cannot be made, the error says what to do, for people."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.fernet import Fernet

from deployments.backends.base import BackendError
from deployments.backends.kubernetes.manifests import manifests_for
from deployments.models import InstanceType
from tests.kubernetes.conftest import CLUSTER, Deployed


def test_an_instance_type_gone_from_the_catalog_is_named(deployed: Deployed) -> None:
    InstanceType.objects.filter(name="gpu.t4.xl").delete()
    with pytest.raises(BackendError, match=r"Instance type gpu\.t4\.xl is not in the catalog any more"):
        manifests_for(deployed.deployment, deployed.spec, 2, CLUSTER)


def test_a_secret_the_keys_cannot_decrypt_is_named_with_its_variation(deployed: Deployed, settings: Any) -> None:
    settings.BERTH_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]  # the key that encrypted it is gone
    with pytest.raises(BackendError, match="The secret API_TOKEN of variation default cannot be decrypted"):
        manifests_for(deployed.deployment, deployed.spec, 2, CLUSTER)
