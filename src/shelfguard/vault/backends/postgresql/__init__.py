"""Django's PostgreSQL backend for the keystore alias, with its own schema.

See `base.DatabaseWrapper` and `creation.DatabaseCreation`.
"""
