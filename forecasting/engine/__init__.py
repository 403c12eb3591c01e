"""The forecasting engine: features, cutting a region at an origin, fitting and forecasting a window, metrics."""
