"""Loans, returns, renewals, holds, loan rules, calendars and notices."""
