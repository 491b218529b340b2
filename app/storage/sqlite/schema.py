"""The embedded store's tables and indexes: made on first start, and brought up to date on an older file."""

from __future__ import annotations

import sqlite3

SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (user_id TEXT NOT NULL, thread_id TEXT NOT NULL, name TEXT NOT NULL,
    is_group INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, thread_id));
CREATE INDEX IF NOT EXISTS conversations_newest ON conversations (user_id, created_at DESC, thread_id DESC);
CREATE TABLE IF NOT EXISTS thread_owners (thread_id TEXT PRIMARY KEY, user_id TEXT NOT NULL,
    created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS user_thread_counts (user_id TEXT PRIMARY KEY, threads INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS idempotency_keys (user_id TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL,
    state TEXT NOT NULL, expires_at INTEGER NOT NULL, status_code INTEGER, response TEXT, PRIMARY KEY (user_id, key));
CREATE INDEX IF NOT EXISTS idempotency_expiry ON idempotency_keys (expires_at);
CREATE TABLE IF NOT EXISTS threads (id TEXT PRIMARY KEY, created_at INTEGER NOT NULL, active_run_id TEXT,
    claim_expires_at INTEGER, message_count INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS messages (id TEXT PRIMARY KEY, thread_id TEXT NOT NULL, seq INTEGER NOT NULL,
    role TEXT NOT NULL, text TEXT NOT NULL, created_at INTEGER NOT NULL, run_id TEXT, annotations TEXT,
    UNIQUE (thread_id, seq));
CREATE TABLE IF NOT EXISTS runs (id TEXT PRIMARY KEY, thread_id TEXT NOT NULL, status TEXT NOT NULL,
    lease_expires_at INTEGER, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS runs_lease ON runs (status, lease_expires_at);
CREATE INDEX IF NOT EXISTS runs_thread ON runs (thread_id);
CREATE TABLE IF NOT EXISTS run_steps (id TEXT PRIMARY KEY, run_id TEXT NOT NULL, seq INTEGER NOT NULL,
    doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS run_steps_position ON run_steps (run_id, seq);
CREATE TABLE IF NOT EXISTS assistants (id TEXT PRIMARY KEY, user_id TEXT NOT NULL, created_at INTEGER NOT NULL,
    doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS assistants_newest ON assistants (user_id, created_at DESC, id DESC);
CREATE TABLE IF NOT EXISTS upstream_objects (id TEXT PRIMARY KEY, user_id TEXT NOT NULL, kind TEXT NOT NULL,
    purpose TEXT, created_at INTEGER NOT NULL, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS upstream_objects_newest ON upstream_objects (user_id, kind, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS upstream_objects_purpose
    ON upstream_objects (user_id, kind, purpose, created_at DESC, id DESC);
"""


# Columns added after a table's first version: (table, column, declaration), added to older files at start.
ADDED_COLUMNS = (
    ("messages", "annotations", "TEXT"),
    ("messages", "metadata", "TEXT"),
    ("threads", "metadata", "TEXT"),
    ("threads", "tool_resources", "TEXT"),
    ("messages", "attachments", "TEXT"),
    ("messages", "marker", "TEXT"),
    ("idempotency_keys", "lease_expires_at", "INTEGER"),
    # A run's creation time beside its JSON, for the thread's run list's index (written once, at insert).
    ("runs", "created_at", "INTEGER"),
)
# What fills an added column in the rows an older version wrote (run once, when the column is added).
BACKFILLS = {("runs", "created_at"): "UPDATE runs SET created_at = json_extract(doc, '$.created_at')"}
# Indexes on added columns, made once the columns are there.
ADDED_INDEXES = """
CREATE INDEX IF NOT EXISTS runs_thread_created ON runs (thread_id, created_at, id);
CREATE UNIQUE INDEX IF NOT EXISTS messages_marker ON messages (thread_id, marker) WHERE marker IS NOT NULL;
CREATE INDEX IF NOT EXISTS messages_of_run ON messages (run_id, thread_id, seq) WHERE run_id IS NOT NULL;
"""


def _add_missing_columns(connection: sqlite3.Connection) -> None:
    for table, column, declaration in ADDED_COLUMNS:
        present = {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}
        if column not in present:
            connection.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
            if (backfill := BACKFILLS.get((table, column))) is not None:
                connection.execute(backfill)


def create_schema(connection: sqlite3.Connection) -> None:
    """Every table and index, and the columns (and their indexes) an older file lacks."""
    connection.executescript(SCHEMA)
    _add_missing_columns(connection)
    connection.executescript(ADDED_INDEXES)
