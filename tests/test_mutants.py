"""Mutants are killed: each broken model fails at least one pattern (``pytest -m mutants``).

A pattern suite that a broken model passes cannot tell it from the real one. For
each mutant of tests/mutants.py this runs every pattern of tests/patterns.py
against it and prints the table mutant -> patterns that caught it (run with -s).
"""

import pytest
from mutants import MUTANTS
from patterns import PATTERNS

pytestmark = pytest.mark.mutants

_TABLE: dict[str, list[str]] = {}


@pytest.mark.parametrize("mutant", list(MUTANTS))
def test_mutant_fails_at_least_one_pattern(mutant):
    with MUTANTS[mutant]():
        caught = [name for name, measure in PATTERNS.items() if not measure().passed]
    _TABLE[mutant] = caught
    print(f"\n{mutant}: caught by {', '.join(caught) or 'NOTHING'}")
    assert caught, f"no pattern rejects the mutant {mutant!r}"


def test_every_pattern_passes_without_mutants():
    """The control: the same patterns, on the unbroken model, all pass."""
    failed = [name for name, measure in PATTERNS.items() if not measure().passed]
    assert not failed
