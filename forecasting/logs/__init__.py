"""Log records: the line format, the context fields, the event fields and their reader."""
