"""PostgreSQL (asyncpg) and SQLite (aiosqlite) persistence: engine, tables, migrations,
repositories and bulk price writers."""

from adapters.sqlalchemy.engine import create_engine, normalize_database_url
from adapters.sqlalchemy.migrate import (
    alembic_config,
    downgrade_migrations,
    migrate,
    run_migrations,
)
from adapters.sqlalchemy.prices import SqlaPriceRepository
from adapters.sqlalchemy.repositories import (
    SqlaAssetRepository,
    SqlaHealthCheck,
    SqlaIngestionRunRepository,
    SqlaJobRepository,
    SqlaMacroRepository,
    SqlaPortfolioRepository,
    SqlaResultRepository,
    SqlaUnitOfWork,
    build_sqla_repositories,
)

__all__ = [
    "SqlaAssetRepository",
    "SqlaHealthCheck",
    "SqlaIngestionRunRepository",
    "SqlaJobRepository",
    "SqlaMacroRepository",
    "SqlaPortfolioRepository",
    "SqlaPriceRepository",
    "SqlaResultRepository",
    "SqlaUnitOfWork",
    "alembic_config",
    "build_sqla_repositories",
    "create_engine",
    "downgrade_migrations",
    "migrate",
    "normalize_database_url",
    "run_migrations",
]
