"""Public data sets converted to the importer's CSV format."""
