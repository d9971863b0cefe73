"""Editing a deploy spec the way people do: start from what serves, change a variation, compare.

Helpers shared by the wizard, the API and the CLI path; `rollouts.spec.validate_spec` still
decides what is valid. Only `last_served_*` read the database.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from django.core.exceptions import ValidationError

from console.crypto import decrypt
from deployments.models import Deployment, Rollout, RolloutAction, RolloutStatus
from deployments.models.variation import SECRET_MASK
from deployments.rollouts.spec import BOUNDS, DeploySpec, VariationSpec, check_number

FIELD_LABELS: dict[str, str] = {
    "build_id": "Build",
    "instance_type": "Instance type",
    "replicas": "Replicas",
    "server_workers": "Server workers",
    "request_timeout_ms": "Request timeout (ms)",
    "deploy_timeout_min": "Deploy timeout (min)",
    "max_batch_size": "Max batch size",
    "traffic_percent": "Traffic (%)",
    "shadow": "Shadow",
    "daemon_mode": "Daemon mode",
    "outbound_network": "Outbound network",
    "iam_role_arn": "IAM role ARN",
    "service_account_key_secret_name": "Service-account key secret",
}


@dataclass(frozen=True)
class Change:
    variation: str
    what: str           # "added", "removed" or a field label / "env NAME"
    before: str = ""
    after: str = ""


def last_served_rollout(deployment: Deployment | None) -> Rollout | None:
    """The newest revision that served traffic (succeeded, or served until a rollback), undeploys aside.

    While the deployment serves this is its current revision; once undeployed, it is what
    a redeploy starts from.
    """
    if deployment is None:
        return None
    return (deployment.rollouts.filter(status__in=[RolloutStatus.SUCCEEDED, RolloutStatus.ROLLED_BACK])
            .exclude(action=RolloutAction.UNDEPLOY).order_by("-revision").first())


def last_served_spec(deployment: Deployment | None) -> DeploySpec | None:
    rollout = last_served_rollout(deployment)
    return DeploySpec.from_json(rollout.spec) if rollout is not None else None


def with_kept_secrets(data: Mapping[str, Any], spec: DeploySpec) -> dict[str, Any]:
    """`data` with each secret sent blank ("keep the stored value") given its value from `spec`, in clear.

    For a deploy whose `validate_spec` will not see `spec` as the previous one (a redeploy of
    a stopped deployment): the value is encrypted again when validated.
    """
    def kept(variation: Mapping[str, Any], item: Mapping[str, Any]) -> Mapping[str, Any]:
        old = spec.variation(str(variation.get("name") or "default"))
        stored = next((e for e in (old.env if old else ()) if e.name == item.get("name") and e.secret), None)
        if not item.get("secret") or item.get("value") or stored is None:
            return item
        return {**item, "value": decrypt(stored.value)}

    return {**data, "variations": [{**v, "env": [kept(v, e) for e in v.get("env") or []]}
                                   for v in data.get("variations") or []]}


def spec_to_data(spec: DeploySpec | None) -> dict[str, Any]:
    """A spec as `validate_spec` input, for editing: secret values blank (blank keeps the stored one)."""
    if spec is None:
        return {"variations": []}
    variations = []
    for variation in spec.variations:
        data = variation.to_json()
        data["env"] = [{"name": e.name, "value": "" if e.secret else e.value, "secret": e.secret}
                       for e in variation.env]
        variations.append(data)
    return {"strategy": spec.strategy, "variations": variations, "require_key": spec.require_key}


def merge_variation(current: DeploySpec | None, raw: Mapping[str, Any]) -> dict[str, Any]:
    """Deploy one variation into what serves now: replace it by name, keep the others.

    A variation that already serves keeps its traffic share unless `raw` gives one; the only
    live variation always gets 100%. With exactly one other live variation, a share given to
    this one leaves the rest to the other (80 here: 20 there), as Qwak's `--traffic-percent` does.
    """
    data = spec_to_data(current)
    name = str(raw.get("name") or "default")
    old = next((v for v in data["variations"] if v["name"] == name), None)
    live_others = [v for v in data["variations"] if v["name"] != name and not v.get("shadow")]
    given = {key: value for key, value in raw.items() if value is not None}
    merged = {**(old or {}), **given, "name": name}
    if given.get("traffic_percent") in (None, ""):
        merged["traffic_percent"] = old["traffic_percent"] if old and live_others else 100
    elif len(live_others) == 1 and not merged.get("shadow"):
        _give_the_rest(live_others[0], given["traffic_percent"])
    if old is None:
        data["variations"].append(merged)
    else:
        data["variations"] = [merged if v["name"] == name else v for v in data["variations"]]
    return data


def _give_the_rest(other: dict[str, Any], percent: object) -> None:
    """`other` takes what `percent` leaves of 100%; a share that is no whole number from 0 to 100
    is left for `validate_spec` to refuse, in its words."""
    low, high, _ = BOUNDS["traffic_percent"]
    if isinstance(percent, int) and not isinstance(percent, bool) and low <= percent <= high:
        other["traffic_percent"] = high - percent


def split_traffic(spec: DeploySpec, shares: Mapping[str, object]) -> DeploySpec:
    """`spec` with its live variations' traffic split as `shares` says: `{"default": 80, "challenger": 20}`.

    A live variation left out takes what remains when it is the only one left out (with two
    variations, one share says both); several left out each get 0%, once nothing remains.
    Refused, one message per problem: an unknown or shadow variation, a share that is no whole
    number from 0 to 100, shares that do not make 100%, and the split serving now."""
    split = _complete_split(spec, _given_shares(spec, shares))
    live = [v for v in spec.variations if not v.shadow]
    if all(v.traffic_percent == split[v.name] for v in live):
        raise ValidationError({"traffic": f"That is the split serving now ({_shares(split)})."})
    return replace(spec, variations=tuple(replace(v, traffic_percent=split[v.name]) if v.name in split else v
                                          for v in spec.variations))


def _given_shares(spec: DeploySpec, shares: Mapping[str, object]) -> dict[str, int]:
    if not shares:
        raise ValidationError({"traffic": 'Give the variations\' shares, e.g. {"default": 80, "challenger": 20}.'})
    errors: dict[str, list[str]] = {}
    given: dict[str, int] = {}
    for name, value in shares.items():
        variation = spec.variation(str(name))
        if variation is None:
            names = ", ".join(v.name for v in spec.variations)
            errors[f"traffic.{name}"] = [f"No variation {name!r}; this deployment has: {names}."]
        elif variation.shadow:
            errors[f"traffic.{name}"] = [f"{name} is a shadow variation: it gets a copy of the traffic, no share."]
        elif isinstance(value, bool) or not isinstance(value, int):
            errors[f"traffic.{name}"] = ["Use a whole number from 0 to 100."]
        else:
            try:
                given[variation.name] = check_number("traffic_percent", value)
            except ValidationError as exc:
                errors[f"traffic.{name}"] = exc.messages
    if errors:
        raise ValidationError(errors)
    return given


def _complete_split(spec: DeploySpec, given: dict[str, int]) -> dict[str, int]:
    rest = [v.name for v in spec.variations if not v.shadow and v.name not in given]
    remaining = 100 - sum(given.values())
    if remaining < 0 or (remaining > 0 and not rest):
        raise ValidationError({"traffic": f"Shares must add up to 100% (these make {sum(given.values())}%)."})
    if remaining > 0 and len(rest) > 1:
        raise ValidationError({"traffic": f"Say how the remaining {remaining}% is split between "
                                          f"{' and '.join(rest)}."})
    return {**given, **{name: remaining for name in rest}}


def _shares(split: Mapping[str, int]) -> str:
    return ", ".join(f"{name} {percent}%" for name, percent in split.items())


def rebalance(percents: Sequence[int], live: Sequence[bool]) -> list[int]:
    """Split 100% evenly over the live variations (the first ones get the remainder); others get 0."""
    count = sum(1 for flag in live if flag)
    if count == 0:
        return [0 for _ in percents]
    share, extra = divmod(100, count)
    result, seen = [], 0
    for flag in live:
        if flag:
            result.append(share + (1 if seen < extra else 0))
            seen += 1
        else:
            result.append(0)
    return result


def diff(current: DeploySpec | None, new: DeploySpec) -> list[Change]:
    """What a new spec changes compared to the revision serving now (secret values never shown)."""
    if current is None:
        return [Change(v.name, "added", after=_summary(v)) for v in new.variations]
    changes: list[Change] = []
    for variation in new.variations:
        old = current.variation(variation.name)
        if old is None:
            changes.append(Change(variation.name, "added", after=_summary(variation)))
            continue
        for field, label in FIELD_LABELS.items():
            before, after = getattr(old, field), getattr(variation, field)
            if before != after:
                changes.append(Change(variation.name, label, _text(before), _text(after)))
        changes.extend(_env_changes(old, variation))
    changes.extend(Change(v.name, "removed", before=_summary(v)) for v in current.variations
                   if new.variation(v.name) is None)
    return changes


def _env_changes(old: VariationSpec, new: VariationSpec) -> list[Change]:
    before = {e.name: e for e in old.env}
    after = {e.name: e for e in new.env}
    changes = []
    for name, item in after.items():
        was = before.get(name)
        shown = SECRET_MASK if item.secret else item.value
        if was is None:
            changes.append(Change(new.name, f"env {name}", "", shown))
        elif was.value != item.value or was.secret != item.secret:
            changes.append(Change(new.name, f"env {name}", SECRET_MASK if was.secret else was.value,
                                  f"{shown} (new value)" if item.secret else shown))
    changes.extend(Change(new.name, f"env {name}", SECRET_MASK if item.secret else item.value, "(removed)")
                   for name, item in before.items() if name not in after)
    return changes


def _summary(variation: VariationSpec) -> str:
    text = (f"build {variation.build_id[:8]}, {variation.instance_type} × {variation.replicas}, "
            f"{variation.server_workers} workers")
    text += ", shadow" if variation.shadow else f", {variation.traffic_percent}% of traffic"
    secrets = sum(1 for e in variation.env if e.secret)
    if variation.env:
        text += f", {len(variation.env)} env var(s)" + (f" ({secrets} secret)" if secrets else "")
    return text


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value) if value not in ("", None) else "—"
