"""The catalog of instance sizes a variation's replicas run on (seeded by a data migration)."""

from __future__ import annotations

from decimal import Decimal

from django.db import models

# name, cpu, memory_gb, gpu_count, gpu_kind — also used by the seed migration.
CATALOG: tuple[tuple[str, str, int, int, str], ...] = (
    ("small", "1", 2, 0, ""),
    ("medium", "2", 4, 0, ""),
    ("large", "4", 16, 0, ""),
    ("xlarge", "8", 32, 0, ""),
    ("gpu.t4.xl", "4", 16, 1, "nvidia-tesla-t4"),
    ("gpu.a10.xl", "4", 16, 1, "nvidia-a10g"),
)


class InstanceType(models.Model):
    name = models.CharField(max_length=32, unique=True)
    cpu = models.DecimalField(max_digits=6, decimal_places=2, help_text="CPU cores per replica.")
    memory_gb = models.PositiveIntegerField(help_text="Memory per replica, in GiB.")
    gpu_count = models.PositiveSmallIntegerField(default=0)
    gpu_kind = models.CharField(max_length=64, blank=True)
    active = models.BooleanField(default=True, help_text="Offered in the deploy wizard.")

    class Meta:
        ordering = ["gpu_count", "cpu", "memory_gb", "name"]

    def __str__(self) -> str:
        return self.name

    @property
    def label(self) -> str:
        cpu = self.cpu.normalize() if isinstance(self.cpu, Decimal) else self.cpu
        text = f"{self.name} — {cpu} CPU, {self.memory_gb} GiB"
        if self.gpu_count:
            text += f", {self.gpu_count}× {self.gpu_kind or 'GPU'}"
        return text


def ensure_catalog() -> None:
    """Create the built-in instance types that are missing (tests that flush the database call it)."""
    for name, cpu, memory_gb, gpu_count, gpu_kind in CATALOG:
        InstanceType.objects.get_or_create(name=name, defaults={
            "cpu": Decimal(cpu), "memory_gb": memory_gb, "gpu_count": gpu_count, "gpu_kind": gpu_kind})
