"""Drone imagery (level 1 of the three-level survey): orthophotos ingested as Cloud-Optimized GeoTIFFs with the
footprint of their valid pixels, flight records, XYZ tiles, interpretation cells, analysts' marks and their review,
candidates and the verification tasks of crews, and the yield of each survey level.
"""
