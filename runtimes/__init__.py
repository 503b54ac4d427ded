"""edgedigits.runtimes: one interface over every inference backend."""
