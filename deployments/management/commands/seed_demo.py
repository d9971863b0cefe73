from __future__ import annotations

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand

from deployments.projects.demo import ensure_admin, seed_demo


class Command(BaseCommand):
    help = "Create the first admin (password printed once) and the demo iris project with two builds."

    def handle(self, *args: object, **options: object) -> None:
        password = ensure_admin()
        if password:
            self.stdout.write(self.style.SUCCESS(
                f"\n  Admin login (shown once): username admin, password {password}\n"))
        owner = User.objects.filter(is_superuser=True).order_by("pk").first()
        if owner is None:
            self.stderr.write("No administrator exists; create one with `manage.py createsuperuser`.")
            return
        model = seed_demo(owner)
        if model:
            for build in model.builds.all():
                self.stdout.write(f"  demo build {build.short_id} ({build.framework}): {build.status} {build.error}")
