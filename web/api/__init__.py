"""Machine interfaces: the JSON API (``json``) and OGC API – Features (``ogc``)."""
