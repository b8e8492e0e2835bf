"""Foot-survey intake (level 2 of the three-level survey): reading the files crews send (tables, GIS files,
field-app exports, photos, GPS tracks), mapping their columns, validating row by row, importing the valid rows
as immutable observations and reconciling them into outfalls.
"""
