"""Alembic environment: migrations run on the app's own engine (and its SQLite settings), inside the app context
Flask-Migrate provides. The database is never configured here: it is whatever the app is configured to use."""
from alembic import context
from flask import current_app

config = context.config
extension = current_app.extensions["migrate"]
target_metadata = extension.db.metadata


def run_migrations_offline() -> None:
    """Write the SQL to stdout (``flask db upgrade --sql``) instead of running it."""
    context.configure(url=str(extension.db.engine.url), target_metadata=target_metadata, literal_binds=True,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations in one transaction on a connection of the app's engine."""
    with extension.db.engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, **extension.configure_args)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
