"""Per-region order-volume forecasting, serially, on a local Dask cluster or on YARN."""

__version__ = "0.1.0"
