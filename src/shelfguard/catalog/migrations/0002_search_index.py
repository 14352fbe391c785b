"""The catalogue search index: an FTS5 table on SQLite, a tsvector table on PostgreSQL.

Neither is a Django model: the index holds only derived text, written and
read by `shelfguard.catalog.search`. This migration creates the structure
empty; `shelfguard reindex` fills it from the records already present.
"""

from django.db import migrations

SQLITE_CREATE = [
    # The text arrives already tokenised (catalog/search/text.py), tokens
    # separated by single spaces. Every character category except the space
    # separators (Zs) counts as a token character, so unicode61 splits on our
    # spaces only and never cuts a token we made; remove_diacritics 0 because
    # diacritics were already stripped, by rules shared with PostgreSQL.
    """
    CREATE VIRTUAL TABLE catalog_search USING fts5(
        title, authors, subjects, isbn, notes,
        tokenize = "unicode61 remove_diacritics 0 categories 'L* M* N* P* S* C* Zl Zp'"
    )
    """,
    # The index row of a deleted record goes with it (Django's flush empties
    # tables with DELETE on SQLite, so this covers it too). A later migration
    # that makes Django rebuild catalog_record on SQLite (copy, drop, rename)
    # drops this trigger with the old table and must create it again.
    """
    CREATE TRIGGER catalog_search_record_deleted AFTER DELETE ON catalog_record
    BEGIN
        DELETE FROM catalog_search WHERE rowid = old.id;
    END
    """,
    # Facets read the language and year of every matching record and the
    # item types of their copies. These narrow indexes hold just that, so
    # facet counting reads a few small pages instead of the wide record rows
    # (which carry the MARC record) and the item rows: measured on 250,000
    # LC records, it halves the time of a query with a few thousand matches.
    "CREATE INDEX catalog_search_record_facets ON catalog_record (id, language, year)",
    "CREATE INDEX catalog_search_item_types ON catalog_item (record_id, item_type_id)",
]

SQLITE_DROP = [
    "DROP INDEX IF EXISTS catalog_search_item_types",
    "DROP INDEX IF EXISTS catalog_search_record_facets",
    "DROP TRIGGER IF EXISTS catalog_search_record_deleted",
    "DROP TABLE IF EXISTS catalog_search",
]

POSTGRES_CREATE = [
    """
    CREATE TABLE catalog_search_document (
        record_id bigint PRIMARY KEY,
        document tsvector NOT NULL
    )
    """,
    "CREATE INDEX catalog_search_document_gin ON catalog_search_document USING gin (document)",
    # For facet counting without visiting the wide record and item rows (see
    # the SQLite statements above).
    "CREATE INDEX catalog_search_record_facets ON catalog_record (id) INCLUDE (language, year)",
    "CREATE INDEX catalog_search_item_types ON catalog_item (record_id) INCLUDE (item_type_id)",
    # A document goes when its record goes. Triggers do what a foreign key
    # with ON DELETE CASCADE would, and more: a foreign key would make
    # PostgreSQL refuse TRUNCATE catalog_record, which is how Django's flush
    # (and so every transactional test and live-server test) empties tables.
    """
    CREATE FUNCTION catalog_search_forget_records() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        DELETE FROM catalog_search_document AS d USING gone WHERE d.record_id = gone.id;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER catalog_search_record_deleted AFTER DELETE ON catalog_record
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_search_forget_records()
    """,
    """
    CREATE FUNCTION catalog_search_forget_all() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        TRUNCATE catalog_search_document;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER catalog_search_record_truncated AFTER TRUNCATE ON catalog_record
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_search_forget_all()
    """,
]

POSTGRES_DROP = [
    "DROP INDEX IF EXISTS catalog_search_item_types",
    "DROP INDEX IF EXISTS catalog_search_record_facets",
    "DROP TRIGGER IF EXISTS catalog_search_record_truncated ON catalog_record",
    "DROP TRIGGER IF EXISTS catalog_search_record_deleted ON catalog_record",
    "DROP FUNCTION IF EXISTS catalog_search_forget_all()",
    "DROP FUNCTION IF EXISTS catalog_search_forget_records()",
    "DROP TABLE IF EXISTS catalog_search_document",
]


def _statements(vendor: str, *, create: bool) -> list[str]:
    if vendor == "sqlite":
        return SQLITE_CREATE if create else SQLITE_DROP
    if vendor == "postgresql":
        return POSTGRES_CREATE if create else POSTGRES_DROP
    raise RuntimeError(
        f"Catalogue search supports SQLite and PostgreSQL, not {vendor}; "
        "set DATABASE_URL to a PostgreSQL database or leave it unset for SQLite."
    )


def create_index(apps, schema_editor) -> None:
    for statement in _statements(schema_editor.connection.vendor, create=True):
        schema_editor.execute(statement)


def drop_index(apps, schema_editor) -> None:
    for statement in _statements(schema_editor.connection.vendor, create=False):
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(create_index, drop_index, elidable=False),
    ]
