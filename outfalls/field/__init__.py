"""The crews' offline phone app on the catalogue side: reading its records, receiving them once, and what it
takes offline.
"""
