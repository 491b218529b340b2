"""Thread owners in the embedded SQLite store (table `thread_owners`), with a per-user thread count."""

from __future__ import annotations

from app.clock import utc_now
from app.storage.sqlite.database import SqliteStore, committed, to_ms


class SqliteThreadOwnerStore(SqliteStore):
    """The first claim of a thread wins (primary key); `user_thread_counts` counts each user's threads."""

    @committed
    async def claim_owner(self, user_id: str, thread_id: str) -> str:
        owner = self._claim(user_id, thread_id, max_threads=None)
        assert owner is not None  # no limit: the claim is never refused
        return owner

    @committed
    async def claim_owner_within_limit(self, user_id: str, thread_id: str, max_threads: int) -> str | None:
        return self._claim(user_id, thread_id, max_threads=max_threads)

    def _claim(self, user_id: str, thread_id: str, *, max_threads: int | None) -> str | None:
        with self._db.transaction():
            row = self._db.one("SELECT user_id FROM thread_owners WHERE thread_id = ?", (thread_id,))
            if row is not None:
                return str(row[0])
            if max_threads is not None and self._count(user_id) >= max_threads:
                return None
            self._db.execute(
                "INSERT INTO thread_owners (thread_id, user_id, created_at) VALUES (?, ?, ?)",
                (thread_id, user_id, to_ms(utc_now())),
            )
            self._db.execute(
                "INSERT INTO user_thread_counts (user_id, threads) VALUES (?, 1) "
                "ON CONFLICT (user_id) DO UPDATE SET threads = threads + 1",
                (user_id,),
            )
        return user_id

    async def owner_of(self, thread_id: str) -> str | None:
        row = self._db.one("SELECT user_id FROM thread_owners WHERE thread_id = ?", (thread_id,))
        return str(row[0]) if row else None

    @committed
    async def release_owner(self, user_id: str, thread_id: str) -> None:
        with self._db.transaction():
            sql = "DELETE FROM thread_owners WHERE thread_id = ? AND user_id = ?"
            if self._db.execute(sql, (thread_id, user_id)).rowcount:
                self._db.execute("UPDATE user_thread_counts SET threads = threads - 1 WHERE user_id = ?", (user_id,))

    async def thread_count(self, user_id: str) -> int:
        return self._count(user_id)

    def _count(self, user_id: str) -> int:
        row = self._db.one("SELECT threads FROM user_thread_counts WHERE user_id = ?", (user_id,))
        return int(row[0]) if row else 0
