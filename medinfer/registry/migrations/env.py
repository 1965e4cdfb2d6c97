"""Alembic environment of the registry. Runs on a connection handed in by
``medinfer.registry.db.migrate`` (or a URL in ``sqlalchemy.url`` for the alembic CLI)
and keeps its own version table so it can share a database with the audit ledger."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from medinfer.registry.db import VERSION_TABLE, Base

config = context.config
target_metadata = Base.metadata


def _include(obj, name, type_, reflected, compare_to) -> bool:  # noqa: ANN001
    # Other components' tables in a shared database are not ours to diff.
    return type_ != "table" or bool(name and name.startswith("registry_"))


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table=VERSION_TABLE,
        include_object=_include,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = sa.create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


if context.is_offline_mode():
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        version_table=VERSION_TABLE,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
