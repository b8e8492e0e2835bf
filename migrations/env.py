"""Alembic environment: one metadata for the whole product (outfalls and imagery models)."""

from alembic import context
from geoalchemy2 import alembic_helpers
from sqlalchemy import create_engine

import imagery.models  # noqa: F401  (imagery's models join the same metadata)
import outfalls.models  # noqa: F401  (registers the models)
from outfalls.db.base import Base

config = context.config
target_metadata = Base.metadata

POSTGIS_TABLES = {"spatial_ref_sys", "layer", "topology"}


def include_object(obj, name, type_, reflected, compare_to):
    if type_ == "table" and name in POSTGIS_TABLES:
        return False
    return alembic_helpers.include_object(obj, name, type_, reflected, compare_to)


def run(connection):
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=include_object,
        process_revision_directives=alembic_helpers.writer,
        render_item=alembic_helpers.render_item,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.begin() as conn:
        run(conn)
