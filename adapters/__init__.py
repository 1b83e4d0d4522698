"""Everything that touches the outside world: database, files, schedules."""
