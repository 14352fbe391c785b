"""Feedback services: the doors for anonymous feedback and privacy requests.

Implemented by subject (`anonymous`, `privacy_requests`, `ratelimit`);
faces and the CLI import from here.
"""

from __future__ import annotations

from shelfguard.feedback.anonymous import (
    answer,
    answered,
    close,
    listing,
    read,
    submit,
    withdraw_answer,
)
from shelfguard.feedback.errors import FeedbackError, NotFound
from shelfguard.feedback.privacy_requests import (
    EXPORT_COLUMNS,
    DashboardRow,
    ReminderReport,
    RequestDetail,
    RequestStatusView,
    add_step,
    close_request,
    dashboard,
    detail,
    due_requests,
    erase_request,
    expire,
    export_rows,
    file_request,
    send_reminders,
    status_by_token,
)
from shelfguard.feedback.ratelimit import Verdict, forget_past
from shelfguard.feedback.ratelimit import check as rate_check
from shelfguard.feedback.ratelimit import hit as rate_hit

__all__ = [
    "EXPORT_COLUMNS",
    "DashboardRow",
    "FeedbackError",
    "NotFound",
    "ReminderReport",
    "RequestDetail",
    "RequestStatusView",
    "Verdict",
    "add_step",
    "answer",
    "answered",
    "close",
    "close_request",
    "dashboard",
    "detail",
    "due_requests",
    "erase_request",
    "expire",
    "export_rows",
    "file_request",
    "forget_past",
    "listing",
    "rate_check",
    "rate_hit",
    "read",
    "send_reminders",
    "status_by_token",
    "submit",
    "withdraw_answer",
]
