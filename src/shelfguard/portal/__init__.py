"""The patron's own pages under /account/: sign-in, sessions, and (issue 6) their data."""
