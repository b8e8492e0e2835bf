"""Errors of the imagery package, in the domain's error tree, so callers handle one set of classes."""

from __future__ import annotations

from outfalls.errors import InvalidInput


class NotGeoreferenced(InvalidInput):
    """An image with no CRS or geotransform: it cannot be placed on the map."""

    code = "not_georeferenced"


class UnreadableImage(InvalidInput):
    """A file GDAL cannot read as a raster."""

    code = "unreadable_image"
