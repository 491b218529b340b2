"""Process limits a server with many connections in flight needs."""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)

# Every client connection and every upstream (OpenAI, MongoDB) connection is an open file:
# 1,000 concurrent /chat need over 2,000, and the usual soft limit is 1,024.
WANTED_OPEN_FILES = 8192


def raise_open_files_limit(wanted: int = WANTED_OPEN_FILES) -> None:
    """Raise the soft open-files limit toward `wanted` (never above the hard limit, never lowered)."""
    try:
        import resource
    except ImportError:  # Windows: no such limit to raise
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            logger.warning("could not raise the open-files limit from %s: %s", soft, exc)
            return
        logger.info("open-files limit raised from %s to %s", soft, target)
    if target < wanted:
        logger.warning(
            "open-files limit is %s (the hard limit): fewer than %s connections fit; raise it with ulimit -Hn",
            target,
            wanted,
        )
