"""``python -m sim``: the same command line as ``recovery-sim`` (see :mod:`sim.cli`)."""

from sim.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    main()
