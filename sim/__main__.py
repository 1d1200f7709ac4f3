"""``python -m sim``: the same command line as ``recovery-sim`` (see :mod:`sim.faces.cli.main`)."""

from sim.faces.cli.main import main

__all__ = ["main"]

if __name__ == "__main__":
    main()
