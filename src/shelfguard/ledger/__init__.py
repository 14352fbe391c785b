"""The access ledger: a hash-chained, append-only record of every look at personal data.

Every service that reads or changes a patron's personal data calls
`ledger.services.append(...)` inside its own transaction, so the action and
its record commit or roll back together. Entries are chained by SHA-256 and
the chain head is signed into checkpoint files kept outside the database, so
`shelfguard audit verify` detects altered, deleted, reordered and truncated
entries.

The ledger knows ids, not values: it imports neither `vault` nor any service
app, and an entry names a patron only by id.
"""
