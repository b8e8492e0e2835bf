"""The collections the OGC API serves, as clients see them: one per layer of ``outfalls.catalogue.features``,
with their properties as JSON Schema types, titles, descriptions and the labels of their properties.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from flask_babel import lazy_gettext as _l

from outfalls.catalogue import features
from outfalls.catalogue.features import Layer
from outfalls.errors import NotFound

# Query parameters of every items request (the routes handle ``f``).
STANDARD_PARAMETERS: Final = frozenset({"bbox", "bbox-crs", "datetime", "limit", "offset", "crs"})


@dataclass(frozen=True, slots=True)
class Property:
    """A property of a collection's features, as JSON Schema sees it."""

    name: str
    type: str  # JSON Schema type: string, integer, number, boolean
    format: str | None = None  # "date" for ISO dates
    choices: tuple[str, ...] = ()  # the values allowed, when the property is a filter with a code list


@dataclass(frozen=True, slots=True)
class Collection:
    """A feature collection: a layer and its properties."""

    layer: Layer
    properties: tuple[Property, ...]

    @property
    def id(self) -> str:
        """The collection's id, the layer's."""
        return self.layer.id

    @property
    def geometry_type(self) -> str:
        """The GeoJSON geometry type of its features."""
        return self.layer.geometry_type

    @property
    def temporal(self) -> str | None:
        """The date property ``datetime`` filters on."""
        return self.layer.day_property

    @property
    def is_scoped(self) -> bool:
        """True when the caller's scope filters it (the outfall collections)."""
        return self.layer.is_scoped

    @property
    def filters(self) -> tuple[Property, ...]:
        """The properties usable as filters (``name=value`` on the items)."""
        return tuple(p for p in self.properties if p.name in self.layer.filters)

    @property
    def parameters(self) -> frozenset[str]:
        """Every query parameter an items request of this collection accepts (but ``f``)."""
        return STANDARD_PARAMETERS | {p.name for p in self.filters}


def _collection(layer_id: str, properties: tuple[Property, ...]) -> Collection:
    with_choices = tuple(Property(p.name, p.type, p.format, features.choices(layer_id, p.name)) for p in properties)
    return Collection(features.get_layer(layer_id), with_choices)


_OUTFALL_PROPERTIES = (
    Property("id", "integer"),
    Property("name", "string"),
    Property("national_code", "string"),
    Property("local_code", "string"),
    Property("type_code", "string"),  # as a filter it matches the type's descendants too
    Property("type_zh", "string"),
    Property("type_en", "string"),
    Property("status", "string"),
    Property("status_since", "string", "date"),
    Property("found_by", "string"),
    Property("found_on", "string", "date"),
    Property("basin", "string"),  # as a filter, a basin or sub-basin code: matches either
    Property("basin_name", "string"),
    Property("sub_basin", "string"),
    Property("sub_basin_name", "string"),
    Property("river", "string"),
    Property("area", "string"),  # as a filter, a GB/T 2260 code: matches the areas under it too
    Property("area_name", "string"),
    Property("receiving_water", "string"),
    Property("is_discharging", "boolean"),
    Property("last_sampled_on", "string", "date"),
    Property("exceeds_limit", "boolean"),
    Property("responsible_party", "string"),
    Property("remediation_category", "string"),
    Property("assigned_to", "string"),
    Property("case_deadline", "string", "date"),
    Property("is_demo", "boolean"),
    Property("version", "integer"),
)

COLLECTIONS: Final = (
    _collection("outfalls", _OUTFALL_PROPERTIES),
    _collection("candidates", _OUTFALL_PROPERTIES),
    _collection(
        "basins",
        (
            Property("id", "integer"),
            Property("code", "string"),
            Property("name", "string"),
            Property("name_en", "string"),
            Property("level", "string"),
            Property("parent", "string"),
            Property("area_km2", "number"),
        ),
    ),
    _collection(
        "rivers",
        (
            Property("id", "integer"),
            Property("code", "string"),
            Property("name", "string"),
            Property("basin", "string"),  # as a filter, a basin or sub-basin code: matches either
            Property("sub_basin", "string"),
            Property("length_km", "number"),
        ),
    ),
    _collection(
        "admin_areas",
        (
            Property("id", "integer"),
            Property("code", "string"),
            Property("name", "string"),
            Property("level", "string"),
            Property("parent", "string"),
            Property("code_version", "string"),
        ),
    ),
)
_BY_ID: Final = {c.id: c for c in COLLECTIONS}


def get_collection(collection_id: str) -> Collection:
    """The collection named ``collection_id``.

    Raises:
        NotFound: no such collection.
    """
    collection = _BY_ID.get(collection_id)
    if collection is None:
        raise NotFound(f"there is no collection {collection_id!r}", entity="collection", id=collection_id)
    return collection


TITLES = {
    "outfalls": _l("Outfalls"),
    "candidates": _l("Drone candidates"),
    "basins": _l("Basins"),
    "rivers": _l("Rivers"),
    "admin_areas": _l("Administrative areas"),
}
DESCRIPTIONS = {
    "outfalls": _l("Every outfall in your scope: codes, type, location, how it was found and its lifecycle state."),
    "candidates": _l("Suspected outfalls from drone imagery, not yet verified on the ground (state: candidate)."),
    "basins": _l("Basins and sub-basins (reference data)."),
    "rivers": _l("Rivers (reference data)."),
    "admin_areas": _l("Provinces, cities and counties with their GB/T 2260 codes (reference data)."),
}
PROPERTY_LABELS = {
    "id": _l("Id"), "name": _l("Name"), "national_code": _l("National code"), "local_code": _l("Local code"),
    "type_code": _l("Type code"), "type_zh": _l("Type"), "type_en": _l("Type (English)"), "status": _l("Status"),
    "status_since": _l("In this state since"), "found_by": _l("Found by"), "found_on": _l("Found on"),
    "basin": _l("Basin code"), "basin_name": _l("Basin"), "sub_basin": _l("Sub-basin code"),
    "sub_basin_name": _l("Sub-basin"), "river": _l("River"), "area": _l("Area code"),
    "area_name": _l("Administrative area"), "receiving_water": _l("Receiving water"),
    "is_discharging": _l("Discharging"), "last_sampled_on": _l("Last sampled"), "exceeds_limit": _l("Over the limit"),
    "responsible_party": _l("Responsible party"), "remediation_category": _l("Remediation category"),
    "assigned_to": _l("Case officer"), "case_deadline": _l("Deadline"), "is_demo": _l("Demo"),
    "version": _l("Version"), "code": _l("Code"), "name_en": _l("English name"), "level": _l("Level"),
    "parent": _l("Parent code"), "area_km2": _l("Area (km²)"), "length_km": _l("Length (km)"),
    "code_version": _l("Code version"),
}  # fmt: skip
# The columns an items page shows people (every property is on the feature's own page).
HTML_COLUMNS = {
    "outfalls": ("name", "type_zh", "status", "found_on", "sub_basin_name", "river", "area_name"),
    "candidates": ("name", "type_zh", "found_by", "found_on", "sub_basin_name", "river", "area_name"),
}
