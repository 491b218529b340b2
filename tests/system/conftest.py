"""Hooks for the black-box tests: the fuzz run's summary runs after the fuzz tests it reports on."""

from __future__ import annotations

import pytest

FUZZ_SUMMARY = "test_zz_fuzz_run_summary"


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put the fuzz summary right after the last other test of its module, whatever order the rest runs in.

    The summary reports on the fuzz tests of its module, so it must follow them. A plugin that shuffles
    the tests (pytest-randomly's hook runs first) may put it anywhere; this hook runs last and moves it back.
    """
    for summary in [item for item in items if getattr(item, "originalname", None) == FUZZ_SUMMARY]:
        items.remove(summary)
        same_module = [index for index, item in enumerate(items) if item.path == summary.path]
        items.insert(max(same_module, default=len(items) - 1) + 1, summary)
