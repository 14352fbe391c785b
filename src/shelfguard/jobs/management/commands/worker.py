"""`shelfguard worker`: run the scheduled jobs (the huey consumer) in the foreground."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from shelfguard.jobs import runner, schedule


class Command(BaseCommand):
    help = (
        "Run the job schedule until stopped (Ctrl-C or SIGINT stops it after the running "
        "job). Deployments that run this set [jobs] in_process = false so that `shelfguard "
        "serve` does not run the schedule as well. The queue is $SHELFGUARD_HOME/"
        f"{runner.QUEUE_FILE}, or Redis when [jobs] redis_url is set."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--workers", type=int, default=1, help="jobs run at the same time (default 1)"
        )

    def handle(self, *args: Any, workers: int, **options: Any) -> None:
        if not 1 <= workers <= 16:
            raise CommandError("--workers must be between 1 and 16.")
        problems = schedule.check_configuration()
        if problems:
            raise CommandError(" ".join(problems))

        def announce(jobs: list[str]) -> None:
            self.stdout.write(f"Running the job schedule: {', '.join(jobs) or 'no jobs'}.")
            self.stdout.flush()

        try:
            runner.run_worker(workers=workers, announce=announce)
        except (runner.JobsError, ImproperlyConfigured) as exc:
            raise CommandError(str(exc)) from None
