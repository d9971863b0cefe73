"""Object names and label values that Kubernetes accepts, built from Berth's own names.

Kubernetes is stricter than Berth: a Service name is a DNS-1035 label (at most 63 lowercase
letters, digits and '-', starting with a letter, ending with a letter or digit), a label value
is at most 63 characters and may not end in '_' or '-'. Model IDs and project slugs may hold
'_', start with a digit and be 63 characters long; variation names may hold '.'.

Every name made here ends in a short hash of the full identity it was made from. Joining parts
with '-' cannot be undone when the parts themselves hold '-' (model `a`, environment `b-c` and
model `a-b`, environment `c` would both read `a-b-c`), so the readable part is for people and the
hash is what keeps two objects of one namespace apart. When the readable part is too long it is
cut, never the hash.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from deployments.backends.kubernetes.inputs import Target

MAX_NAME = 63          # DNS-1035 / DNS-1123 label: Services, Deployments, namespaces, label values
HASH_LENGTH = 6
_NOT_ALLOWED = re.compile(r"[^a-z0-9-]+")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
DNS_1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")  # namespaces may start with a digit


def short_hash(*parts: str) -> str:
    """A stable hash of the parts (joined with a separator no part holds)."""
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:HASH_LENGTH]


def readable(text: str) -> str:
    """`text` in the letters a DNS label allows: lowercase, '_' and '.' become '-', runs of '-' collapse."""
    return _NOT_ALLOWED.sub("-", text.lower().replace("_", "-").replace(".", "-")).strip("-")


def object_name(*parts: str, role: str = "") -> str:
    """A DNS-1035 name for the object identified by `parts`, e.g. `iris-production-default-3fa9c1`.

    `role` is hashed but not shown: a variation named `gateway` and the gateway itself read alike
    and still differ. Deterministic: the same parts always give the same name, so applying twice
    updates one object."""
    suffix = "-" + short_hash(role, *parts)
    text = "-".join(p for p in (readable(part) for part in parts) if p) or "berth"
    if not text[0].isalpha():
        text = "m-" + text
    text = text[:MAX_NAME - len(suffix)].rstrip("-")
    return text + suffix


def variation_name(target: Target, variation: str) -> str:
    """The name of a variation's Deployment, Service, Secret and ServiceAccount (kinds differ, so they share it)."""
    return object_name(target.model_id, target.environment, variation, role="variation")


def gateway_name(target: Target) -> str:
    """The name of the gateway's Deployment, Service, ConfigMap and Ingress."""
    return object_name(target.model_id, target.environment, "gateway", role="gateway")


def namespace_name(pattern: str, project: str, environment: str) -> str:
    """The namespace of a project's deployments from BERTH_K8S_NAMESPACE_PATTERN (`berth-{project}`).

    The settings check the pattern (`check_pattern`); a result too long for a namespace is cut and
    hashed like an object name, so it stays the same for the project's life."""
    text = readable(pattern.format(project=project, environment=environment))
    if len(text) <= MAX_NAME and DNS_1123_LABEL.match(text):
        return text
    return object_name(pattern.format(project=project, environment=environment))


def check_pattern(setting: str, pattern: str, placeholders: tuple[str, ...]) -> str:
    """`pattern` when it uses only `placeholders` (an empty pattern is fine: the feature is off);
    a ValueError naming the setting and what to write otherwise."""
    allowed = ", ".join("{" + name + "}" for name in placeholders)
    try:
        pattern.format(**dict.fromkeys(placeholders, "x"))
    except (KeyError, IndexError, ValueError):
        raise ValueError(f"{setting}={pattern!r}: use only the placeholders {allowed}") from None
    return pattern


def label_value(text: str) -> str:
    """`text` as a label value: itself when Kubernetes accepts it, else cut and trimmed to what it does.

    Selectors never rely on these alone (the deployment's primary key is a label too), so two texts
    that trim to the same value still select different objects."""
    if len(text) <= MAX_NAME and _LABEL_VALUE.match(text):
        return text
    cut = re.sub(r"[^A-Za-z0-9_.-]+", "-", text)[:MAX_NAME]
    return re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", cut)
