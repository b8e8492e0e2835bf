"""Machine interfaces: the JSON API (and later OGC API Features and tiles)."""
