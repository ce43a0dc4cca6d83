"""In-memory fakes of the ports, shipped beside the real adapters for tests and local runs."""

from adapters.memory.repositories import (
    InMemoryAssetRepository,
    InMemoryHealthCheck,
    InMemoryIngestionRunRepository,
    InMemoryJobRepository,
    InMemoryMacroRepository,
    InMemoryPortfolioRepository,
    InMemoryPriceRepository,
    InMemoryResultRepository,
    InMemoryUnitOfWork,
    MemoryStore,
    build_memory_repositories,
)

__all__ = [
    "InMemoryAssetRepository",
    "InMemoryHealthCheck",
    "InMemoryIngestionRunRepository",
    "InMemoryJobRepository",
    "InMemoryMacroRepository",
    "InMemoryPortfolioRepository",
    "InMemoryPriceRepository",
    "InMemoryResultRepository",
    "InMemoryUnitOfWork",
    "MemoryStore",
    "build_memory_repositories",
]
