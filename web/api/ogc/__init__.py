"""OGC API – Features (Part 1 Core, Part 2 CRS by reference) under ``/ogc``, for GIS clients (QGIS, ArcGIS, GDAL)
and people: the collections' metadata (``collections``), the query parameters (``params``), the OpenAPI document
(``openapi``) and the routes with their links and OGC exception bodies (``routes``). The features themselves are
read by ``outfalls.catalogue.features``.
"""
