"""Progress reports: data from the log, charts, formats, archive."""
