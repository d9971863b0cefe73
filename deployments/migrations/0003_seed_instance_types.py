from __future__ import annotations

from decimal import Decimal

from django.db import migrations

CATALOG = (  # a copy of deployments.models.instance_type.CATALOG as it was when seeded
    ("small", "1", 2, 0, ""),
    ("medium", "2", 4, 0, ""),
    ("large", "4", 16, 0, ""),
    ("xlarge", "8", 32, 0, ""),
    ("gpu.t4.xl", "4", 16, 1, "nvidia-tesla-t4"),
    ("gpu.a10.xl", "4", 16, 1, "nvidia-a10g"),
)


def seed(apps, schema_editor):
    InstanceType = apps.get_model("deployments", "InstanceType")
    for name, cpu, memory_gb, gpu_count, gpu_kind in CATALOG:
        InstanceType.objects.update_or_create(name=name, defaults={
            "cpu": Decimal(cpu), "memory_gb": memory_gb, "gpu_count": gpu_count, "gpu_kind": gpu_kind})


def unseed(apps, schema_editor):
    apps.get_model("deployments", "InstanceType").objects.filter(name__in=[row[0] for row in CATALOG]).delete()


class Migration(migrations.Migration):
    dependencies = [("deployments", "0002_deployments_rollouts")]
    operations = [migrations.RunPython(seed, unseed)]
