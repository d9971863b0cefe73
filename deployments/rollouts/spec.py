"""The desired state of a deployment: validated once, frozen into a Rollout, read by the engine.

Forms, serializers and the CLI all call `validate_spec(model, data)`; it raises one django
ValidationError whose keys name the bad field (`variations.0.replicas`, `variations`), and
returns a DeploySpec whose secret env values are already encrypted. The rule of each single
field is a `check_*` function here: the wizard's fields call the same ones as you type, so a
bad value gets the same words in the UI, the API and the CLI.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError

from console.crypto import encrypt
from deployments.endpoint_keys.defaults import require_key_default
from deployments.models import Build, BuildStatus, InstanceType, Model
from deployments.models.deployment import ENVIRONMENT_RULE
from deployments.models.rollout import RolloutStrategy
from deployments.models.variation import BOUNDS, VARIATION_NAME_RULE

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
RESERVED_ENV_PREFIXES = ("BERTH_", "PROMETHEUS_")
MAX_ENV_VARS, MAX_ENV_VALUE = 100, 32_768
IAM_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
K8S_SECRET_NAME = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")
# Changing any of these starts new replicas; replicas, traffic and timeouts of the rollout do not.
RUNTIME_FIELDS = ("build_id", "instance_type", "server_workers", "request_timeout_ms", "max_batch_size", "env",
                  "daemon_mode", "outbound_network", "iam_role_arn", "service_account_key_secret_name")
# Runtime fields added later, hashed only when set: at their default they keep the runtime_key
# that specs stored before them already have, so an upgrade restarts no replica.
HASHED_WHEN_SET = ("outbound_network",)


@dataclass(frozen=True)
class EnvVar:
    name: str
    value: str          # plain text, or a Fernet token when secret
    secret: bool = False


@dataclass(frozen=True)
class VariationSpec:
    name: str
    build_id: str
    instance_type: str = "small"
    replicas: int = BOUNDS["replicas"][2]
    server_workers: int = BOUNDS["server_workers"][2]
    request_timeout_ms: int = BOUNDS["request_timeout_ms"][2]
    deploy_timeout_min: int = BOUNDS["deploy_timeout_min"][2]
    max_batch_size: int = BOUNDS["max_batch_size"][2]
    env: tuple[EnvVar, ...] = ()
    daemon_mode: bool = False
    outbound_network: bool = False
    iam_role_arn: str = ""
    service_account_key_secret_name: str = ""
    traffic_percent: int = 100
    shadow: bool = False

    @property
    def runtime_key(self) -> str:
        """Short hash of what the replica processes run; equal keys mean the replicas can be kept."""
        data = {name: getattr(self, name) for name in RUNTIME_FIELDS
                if name not in HASHED_WHEN_SET or getattr(self, name)}
        data["env"] = [asdict(item) for item in self.env]
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:8]

    @property
    def is_live(self) -> bool:
        return not self.shadow and self.traffic_percent > 0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["env"] = [asdict(item) for item in self.env]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> VariationSpec:
        values = dict(data)
        values["env"] = tuple(EnvVar(**item) for item in values.get("env", ()))
        return cls(**values)


@dataclass(frozen=True)
class DeploySpec:
    variations: tuple[VariationSpec, ...] = field(default_factory=tuple)
    strategy: str = RolloutStrategy.ROLLING
    require_key: bool = False  # predict calls need an endpoint key (docs/endpoint-keys.md)

    def to_json(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "variations": [v.to_json() for v in self.variations],
                "require_key": self.require_key}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DeploySpec:
        """Read a frozen (already validated) spec, e.g. Rollout.spec."""
        return cls(tuple(VariationSpec.from_json(v) for v in data.get("variations", ())),
                   data.get("strategy", RolloutStrategy.ROLLING), bool(data.get("require_key", False)))

    def variation(self, name: str) -> VariationSpec | None:
        return next((v for v in self.variations if v.name == name), None)

    def with_replicas(self, name: str, replicas: int) -> DeploySpec:
        return replace(self, variations=tuple(replace(v, replicas=replicas) if v.name == name else v
                                              for v in self.variations))

    @property
    def deploy_timeout_s(self) -> int:
        return max((v.deploy_timeout_min for v in self.variations), default=BOUNDS["deploy_timeout_min"][2]) * 60


# What each field means, for the wizard's help texts and the API schema alike.
FIELD_HELP: dict[str, str] = {
    "name": "Up to 36 lowercase letters, digits, '-' or '.', starting and ending with a letter or digit.",
    "build_id": "A ready build of the model.",
    "instance_type": "From the instance catalog, default `small`.",
    "replicas": "Pods serving this variation; the gateway spreads requests over them.",
    "server_workers": "Worker processes per replica; usually 2-4 × the instance's CPU cores. "
                      "Each worker loads its own copy of the model.",
    "request_timeout_ms": "A prediction taking longer is answered 504.",
    "deploy_timeout_min": "How long a new replica may take to become ready before the rollout fails.",
    "max_batch_size": "Requests arriving together are predicted in one batch of at most this many rows.",
    "traffic_percent": "Share of requests this variation answers; serving variations add up to 100%.",
    "shadow": "Gets a copy of every request; its answers are recorded, never returned.",
    "daemon_mode": "Run the model server detached from its supervisor (Gunicorn's --daemon).",
    "outbound_network": "Let the model's code open connections to other hosts. Off: replicas have no network "
                        "at all; the gateway reaches them over a private socket. On the local runtime, turning "
                        "this on also lets the model reach services on this machine (the console's database "
                        "and Redis), so only allow it for builds you trust.",
    "iam_role_arn": "AWS role the model assumes to reach other AWS services.",
    "service_account_key_secret_name": "Kubernetes secret holding a Google Cloud service-account key.",
}


# --- the rule of each field: return the clean value or raise ValidationError with the one message ---

def check_variation_name(value: Any) -> str:
    name = str(value or "default")
    if re.fullmatch(VARIATION_NAME_RULE.regex, name) is None:  # not the validator's search: "a\n" ends in `$`
        raise ValidationError(str(VARIATION_NAME_RULE.message), code="invalid")
    return name


def check_environment(value: Any) -> str:
    """A deployment's environment as sent (the API's and the CLI's `environment`): refused, never guessed."""
    # fullmatch, not the validator's search: its `$` would let "prod\n" through.
    if not isinstance(value, str) or re.fullmatch(ENVIRONMENT_RULE.regex, value) is None:
        raise ValidationError(str(ENVIRONMENT_RULE.message), code="invalid")
    return value


def check_number(field: str, value: Any) -> int:
    """A whole number within BOUNDS[field]; blank means the field's default."""
    low, high, default = BOUNDS[field]
    if value is None or value == "":
        return default
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).strip().isdigit():
        raise ValidationError(f"Use a whole number from {low} to {high}.", code="invalid")
    number = int(value)
    if not low <= number <= high:
        raise ValidationError(f"Must be from {low} to {high} (got {number}).", code="out_of_bounds")
    return number


def check_require_key(value: Any, previous: DeploySpec | None = None) -> bool:
    """Left out: as the deployment has it now, else the default (deployments/endpoint_keys/defaults.py)."""
    if value is None:
        value = previous.require_key if previous else require_key_default()
    if not isinstance(value, bool):
        raise ValidationError("Use true or false.", code="invalid")
    return value


def check_iam_role_arn(value: Any) -> str:
    arn = str(value or "").strip()
    if arn and not IAM_ROLE_ARN.match(arn):
        raise ValidationError("Use an IAM role ARN like arn:aws:iam::123456789012:role/my-model.", code="invalid")
    return arn


def check_secret_name(value: Any) -> str:
    name = str(value or "").strip()
    if name and not K8S_SECRET_NAME.match(name):
        raise ValidationError("Use a Kubernetes secret name: lowercase letters, digits, '-' or '.', "
                              "at most 253 characters.", code="invalid")
    return name


def check_env_name(value: Any) -> str:
    name = str(value or "").strip()
    if not ENV_NAME.match(name):
        raise ValidationError("Use letters, digits and '_', not starting with a digit (e.g. API_URL).",
                              code="invalid")
    if name.startswith(RESERVED_ENV_PREFIXES):
        raise ValidationError(f"{name}: names starting with {' or '.join(RESERVED_ENV_PREFIXES)} "
                              "are reserved for the model server.", code="reserved")
    return name


def check_env_value(name: str, value: Any) -> str:
    if value is None or not isinstance(value, (str, int, float)) or len(str(value)) > MAX_ENV_VALUE:
        raise ValidationError(f"Give {name} a text value of at most {MAX_ENV_VALUE} characters.", code="invalid")
    return str(value)


class _Errors:
    def __init__(self) -> None:
        self.by_field: dict[str, list[str]] = {}

    def add(self, key: str, message: str) -> None:
        self.by_field.setdefault(key, []).append(message)

    def raise_if_any(self) -> None:
        if self.by_field:
            raise ValidationError(self.by_field)

    def check(self, key: str, rule: Callable[..., Any], *args: Any, fallback: Any = None) -> Any:
        """`rule(*args)`, or `fallback` with its message recorded under `key`."""
        try:
            return rule(*args)
        except ValidationError as exc:
            self.add(key, exc.messages[0])
            return fallback


def validate_spec(model: Model, data: Mapping[str, Any], previous: DeploySpec | None = None) -> DeploySpec:
    """Check a requested spec against every rule; return it frozen, secrets encrypted.

    `data` is `{"variations": [{"name", "build_id", "instance_type", "replicas", ...,
    "env": [{"name", "value", "secret"}]}], "strategy": "rolling"}`. A secret env var sent
    without a value keeps the encrypted value it has in `previous` (the spec serving now).
    """
    errors = _Errors()
    raw_variations = data.get("variations")
    if not isinstance(raw_variations, list) or not raw_variations:
        errors.add("variations", "Add at least one variation.")
        errors.raise_if_any()
    strategy = data.get("strategy") or RolloutStrategy.ROLLING
    if strategy not in RolloutStrategy.values:
        errors.add("strategy", f"Unknown strategy {strategy!r}; use one of: {', '.join(RolloutStrategy.values)}.")
    variations = [_variation(model, raw, f"variations.{i}", errors, previous)
                  for i, raw in enumerate(raw_variations or [])]
    _check_names_and_traffic(variations, errors)
    require_key = errors.check("require_key", check_require_key, data.get("require_key"), previous,
                               fallback=False)
    errors.raise_if_any()
    return DeploySpec(tuple(v for v in variations if v is not None), strategy, require_key)


def variation_errors(exc: ValidationError, index: int = 0) -> dict[str, list[str]]:
    """The errors of one variation keyed by plain field name, for a one-variation form."""
    prefix = f"variations.{index}."
    return {key.removeprefix(prefix): msgs for key, msgs in exc.message_dict.items() if key.startswith(prefix)}


def _variation(model: Model, raw: Any, key: str, errors: _Errors,
               previous: DeploySpec | None) -> VariationSpec | None:
    if not isinstance(raw, Mapping):
        errors.add(key, "Each variation must be an object.")
        return None
    before = len(errors.by_field)
    name = str(raw.get("name") or "default")
    errors.check(f"{key}.name", check_variation_name, name)
    build_id = _build(model, raw.get("build_id"), f"{key}.build_id", errors)
    instance = str(raw.get("instance_type") or "small")
    if not InstanceType.objects.filter(name=instance, active=True).exists():
        offered = ", ".join(InstanceType.objects.filter(active=True).values_list("name", flat=True))
        errors.add(f"{key}.instance_type", f"Unknown instance type {instance!r}; choose one of: {offered}.")
    numbers = {field_: errors.check(f"{key}.{field_}", check_number, field_, raw.get(field_),
                                    fallback=BOUNDS[field_][2]) for field_ in BOUNDS}
    shadow, daemon = _flag(raw, "shadow", key, errors), _flag(raw, "daemon_mode", key, errors)
    outbound = _flag(raw, "outbound_network", key, errors)
    iam = errors.check(f"{key}.iam_role_arn", check_iam_role_arn, raw.get("iam_role_arn"), fallback="")
    sak = errors.check(f"{key}.service_account_key_secret_name", check_secret_name,
                       raw.get("service_account_key_secret_name"), fallback="")
    _check_runs_here(instance, {"daemon_mode": daemon, "iam_role_arn": iam, "service_account_key_secret_name": sak},
                     key, errors)
    old = previous.variation(name) if previous else None
    env = _env(raw.get("env") or [], f"{key}.env", errors, old)
    if len(errors.by_field) > before or build_id is None:
        return None
    return VariationSpec(name=name, build_id=build_id, instance_type=instance, env=env, daemon_mode=daemon,
                         outbound_network=outbound, iam_role_arn=iam, service_account_key_secret_name=sak,
                         shadow=shadow, **numbers)


# What only a Kubernetes runtime acts on: the local runtime refuses it rather than ignore it.
KUBERNETES_ONLY = ("daemon_mode", "iam_role_arn", "service_account_key_secret_name")


def on_kubernetes() -> bool:
    return bool(settings.BERTH_BACKEND == "kubernetes")


def check_instance_type_runs_here(name: str) -> str:
    if not on_kubernetes() and InstanceType.objects.filter(name=name, gpu_count__gt=0).exists():
        raise ValidationError(f"{name} has a GPU; this console runs the local runtime, which has none. Choose "
                              "an instance type without GPU (GPU types apply on Kubernetes).", code="no_gpu")
    return name


def _check_runs_here(instance: str, kubernetes_only: dict[str, Any], key: str, errors: _Errors) -> None:
    errors.check(f"{key}.instance_type", check_instance_type_runs_here, instance, fallback=instance)
    if on_kubernetes():
        return
    for name, value in kubernetes_only.items():
        if value:
            errors.add(f"{key}.{name}", f"{name} applies on Kubernetes only; this console runs the local runtime. "
                                        "Leave it out.")


def _build(model: Model, build_id: Any, key: str, errors: _Errors) -> str | None:
    if not build_id:
        errors.add(key, "Choose a build to deploy.")
        return None
    try:
        build = Build.objects.filter(build_id=str(build_id)).first()
    except ValidationError:
        build = None
    if build is None or build.model_id != model.pk:
        errors.add(key, f"Build {build_id} does not exist for model {model.model_id}.")
        return None
    if build.status != BuildStatus.READY:
        errors.add(key, f"Build {build.short_id} is {build.status}; only ready builds can be deployed.")
        return None
    return str(build.build_id)


def _flag(raw: Mapping[str, Any], name: str, key: str, errors: _Errors) -> bool:
    value = raw.get(name, False)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no", "on", "off", ""):
        return value.lower() in ("true", "1", "yes", "on")
    errors.add(f"{key}.{name}", "Use true or false.")
    return False


def _env(raw: Any, key: str, errors: _Errors, old: VariationSpec | None) -> tuple[EnvVar, ...]:
    if not isinstance(raw, list) or len(raw) > MAX_ENV_VARS:
        errors.add(key, f"Give at most {MAX_ENV_VARS} environment variables as a list of name/value pairs.")
        return ()
    kept = {item.name: item for item in (old.env if old else ()) if item.secret}
    result: list[EnvVar] = []
    for i, item in enumerate(raw):
        name = str(item.get("name") or "").strip() if isinstance(item, Mapping) else ""
        value, secret = (item.get("value"), bool(item.get("secret"))) if isinstance(item, Mapping) else (None, False)
        if not errors.check(f"{key}.{i}.name", check_env_name, name):
            continue
        if any(e.name == name for e in result):
            errors.add(f"{key}.{i}.name", f"{name} is set twice.")
        elif secret and not value and name in kept:
            result.append(kept[name])
        elif (text := errors.check(f"{key}.{i}.value", check_env_value, name, value)) is not None:
            result.append(EnvVar(name, encrypt(text) if secret else text, secret))
    return tuple(result)


def _check_names_and_traffic(variations: list[VariationSpec | None], errors: _Errors) -> None:
    names = [v.name for v in variations if v is not None]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        errors.add("variations", f"Variation names must be unique: {', '.join(duplicates)} appears twice.")
    if any(v is None for v in variations):
        return
    live = [v for v in variations if v is not None and not v.shadow]
    if not live:
        errors.add("variations", "At least one variation must serve traffic (not shadow).")
    elif sum(v.traffic_percent for v in live) != 100:
        shares = ", ".join(f"{v.name} {v.traffic_percent}%" for v in live)
        errors.add("variations", f"Traffic of the serving variations must add up to 100% (now {shares}).")
