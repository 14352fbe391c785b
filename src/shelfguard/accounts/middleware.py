"""Ends staff sessions that timed out, were ended elsewhere, or whose account was disabled.

Runs after Django's authentication middleware. It only looks when the request
carries a session cookie, so pages that never use a session (the public
catalogue) are not touched and still set no cookie.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import logout

from shelfguard.accounts import sessions


class StaffSessionMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.staff_session = None
        request.staff_session_ended = ""
        if settings.SESSION_COOKIE_NAME in request.COOKIES:
            user = request.user
            if user.is_authenticated:
                session, reason = sessions.check(user, request.session.session_key)
                if session is None:
                    # Fail closed: a session without a live register entry
                    # (timed out, ended, disabled, or never registered) is
                    # signed out here, before any view sees it.
                    logout(request)
                    request.staff_session_ended = reason
                else:
                    request.staff_session = session
        return self.get_response(request)
