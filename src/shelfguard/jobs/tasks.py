"""The jobs Shelfguard ships, with their default schedules (cron lines, library time).

Jobs whose functions belong to apps still being built are registered by
dotted path: until that function exists, `jobs status` shows the job as
"not installed" and the schedule passes over it.
"""

from __future__ import annotations

from typing import Any

from shelfguard.core.actors import Actor
from shelfguard.jobs.schedule import register_job


def retention_sweep() -> dict[str, Any]:
    from shelfguard.lifecycle import retention

    return retention.run_scheduled()


def hold_expiry() -> dict[str, int]:
    from shelfguard.circulation.services import expire_holds

    return {"expired": expire_holds(actor=Actor.system("hold-expiry"))}


def notices() -> dict[str, int]:
    from shelfguard.circulation.services import queue_due_notices, send_notices

    queued = queue_due_notices()
    report = send_notices(actor=Actor.system("notices"))
    return {"queued": queued, **report.as_dict()}


def ledger_checkpoint() -> dict[str, int]:
    from shelfguard.ledger import checkpoints

    path = checkpoints.write_checkpoint()
    return {"seq": int(path.stem)}


def offline_purge() -> dict[str, int]:
    from shelfguard.circulation.offline import purge_expired

    return {"destroyed": purge_expired()}


def register_shipped_jobs() -> None:
    register_job(
        "retention",
        retention_sweep,
        "30 3 * * *",
        description="retention sweep: destroy what is kept past its period",
    )
    register_job(
        "backup",
        "shelfguard.lifecycle.services:run_scheduled_backup",
        "0 2 * * *",
        description="encrypted backup and its verification (test restore)",
    )
    register_job(
        "anomaly-scan",
        "shelfguard.monitoring.services:run_scheduled",
        "*/5 * * * *",
        description="scan the access ledger for unusual access and raise alerts",
        lock_ttl=1800,
    )
    register_job(
        "hold-expiry",
        hold_expiry,
        "5 * * * *",
        description="expire holds not collected in time",
        lock_ttl=1800,
    )
    register_job(
        "notices",
        notices,
        "*/15 * * * *",
        description="queue due-soon and overdue notices, send queued notices",
        lock_ttl=1800,
    )
    register_job(
        "ledger-checkpoint",
        ledger_checkpoint,
        "0 * * * *",
        description="sign the ledger head into a checkpoint and ship it",
        lock_ttl=1800,
    )
    register_job(
        "offline-purge",
        offline_purge,
        "50 2 * * *",
        description="forget offline-circulation lines past the back-dating window",
    )
    register_job(
        "export-purge",
        "shelfguard.portal.services:purge_exports",
        "20 * * * *",
        description="delete patrons' data-export files older than 24 hours",
        lock_ttl=1800,
    )
    register_job(
        "closures",
        "shelfguard.portal.services:run_due_closures",
        "40 1 * * *",
        description="close (and erase) accounts whose closure is due",
    )
    register_job(
        "privacy-request-reminders",
        "shelfguard.feedback.services:send_reminders",
        "0 8 * * *",
        description="remind staff of privacy requests nearing their deadline",
    )
