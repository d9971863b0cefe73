"""`manage.py reencrypt_secrets`: every stored secret env value under the newest encryption key.

The second step of a key rotation (docs/configuration.md, "Rotating the encryption key"):
rewrites the secret values in every revision's spec and in the variation rows, in one
transaction. Values already under the newest key are left as they are, so running it again
changes nothing. Replicas' launch records are not touched: the next rollout writes them anew.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from console.crypto import reencrypt
from deployments.models import Deployment, DeploymentStatus, Rollout, RolloutStatus, Variation


class Command(BaseCommand):
    help = ("Re-encrypt every stored secret env value with the newest key (the first of BERTH_ENCRYPTION_KEYS). "
            "Safe to run again: values already under the newest key are left alone.")

    def handle(self, *args: object, **options: object) -> None:
        with transaction.atomic():
            # Requests lock their deployment before adding a rollout: none can start until this commits.
            list(Deployment.objects.select_for_update().order_by("pk").values_list("pk", flat=True))
            busy = Rollout.objects.filter(status__in=RolloutStatus.active()).select_related("deployment__model")
            if busy.exists():
                raise CommandError("Wait for these rollouts to finish, then run it again (a running rollout "
                                   "would write the old values back): " + ", ".join(str(r) for r in busy))
            count, touched = 0, set()
            for rollout in Rollout.objects.select_for_update(of=("self",)).select_related("deployment__model").order_by("pk"):
                changed = 0
                for variation in rollout.spec.get("variations", []):
                    changed += _reencrypt_env(variation.get("env", []), f"{rollout}, variation {variation['name']}")
                if changed:
                    rollout.save(update_fields=["spec"])
                    count += changed
                    touched.add(rollout.pk)
            for row in Variation.objects.select_for_update(of=("self",)).select_related("deployment__model").order_by("pk"):
                changed = _reencrypt_env(row.env, f"{row.deployment}, variation {row.name}")
                if changed:
                    row.save(update_fields=["env"])
                    count += changed
        self.stdout.write(f"Re-encrypted {count} secret value(s) with the newest key.")
        stale = [d for d in Deployment.objects.select_related("model").filter(current_rollout__in=touched)
                 .exclude(status=DeploymentStatus.STOPPED)]
        if stale:
            self.stdout.write("Redeploy these so their replicas start from the new values (until then they show "
                              "Degraded, while their replicas keep serving): " + ", ".join(map(str, stale)))


def _reencrypt_env(env: list[dict[str, Any]], where: str) -> int:
    """Re-encrypt the secret values of `env` in place; how many changed."""
    changed = 0
    for item in env:
        if not item.get("secret") or not item.get("value"):
            continue
        try:
            token = reencrypt(item["value"])
        except ValueError as exc:
            raise CommandError(f"{where}, env {item['name']}: {exc}; nothing was changed.") from None
        if token != item["value"]:
            item["value"], changed = token, changed + 1
    return changed
