"""The ``forecasting`` command: one module per command."""
