"""GPS tracks of the foot survey and the coverage they give: reading tracks from GPX, KML/KMZ and GeoPackage
files (``read``), storing them per crew and local day (``store``), and measuring, per river, how much of its line
lies within the corridor of the walked tracks, walked km against river km (``coverage``).
"""

from outfalls.survey.tracks.coverage import CoverageRow, CrewDay, coverage, crew_days, tracks_geojson
from outfalls.survey.tracks.read import TRACK_SUFFIXES, ReadTrack, read_tracks
from outfalls.survey.tracks.store import StoredTrack, TrackReport, import_tracks, retire_track

__all__ = [
    "TRACK_SUFFIXES",
    "CoverageRow",
    "CrewDay",
    "ReadTrack",
    "StoredTrack",
    "TrackReport",
    "coverage",
    "crew_days",
    "import_tracks",
    "read_tracks",
    "retire_track",
    "tracks_geojson",
]
