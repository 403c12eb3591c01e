"""Dask on YARN through skein: config, application spec, container entry points, cluster."""
