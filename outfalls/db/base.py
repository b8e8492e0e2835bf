"""The declarative base shared by every model (``outfalls`` and ``imagery``), with a naming convention
so that migrations can name constraints and indexes.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import Enum, MetaData
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base class of all models."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def str_enum(cls: type[StrEnum], length: int = 24) -> Enum:
    """A ``StrEnum`` column stored as its values in a VARCHAR (a new value needs no ALTER TYPE)."""
    return Enum(cls, native_enum=False, length=length, values_callable=lambda e: [m.value for m in e])
