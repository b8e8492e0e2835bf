"""outfalls: the system of record for river outfalls (入河排污口)."""

__version__ = "0.1.0"
