"""Hooks for the black-box tests: the fuzz run's counts, printed once the session ends."""

from __future__ import annotations

from collections import Counter

import pytest

FUZZ_CALLS = pytest.StashKey[Counter[str]]()


@pytest.fixture(scope="session")
def fuzz_calls(pytestconfig: pytest.Config) -> Counter[str]:
    """The OpenAPI fuzz run's operations and answer statuses, counted as it goes."""
    return pytestconfig.stash.setdefault(FUZZ_CALLS, Counter())


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """One line: how many requests the fuzz run made, and what it got back."""
    calls = config.stash.get(FUZZ_CALLS, None)
    if calls:
        statuses = dict(sorted((k, v) for k, v in calls.items() if k.startswith("status ")))
        operations = [k for k in calls if k.startswith("operation ")]
        terminalreporter.write_line(
            f"fuzz: {sum(statuses.values())} requests over {len(operations)} operations: {statuses}"
        )
