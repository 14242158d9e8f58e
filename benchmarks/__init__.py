"""``make bench``: printed figures, never assertions on wall-clock time."""
