"""The ``recovery-sim`` command line: one module per command group; heavy libraries load lazily."""
