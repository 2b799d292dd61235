"""The ``greenswap`` command: one module per command group."""
