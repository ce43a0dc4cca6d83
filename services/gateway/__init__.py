"""The REST gateway: FastAPI app factory, routers, HTTP schemas and its composition root."""
