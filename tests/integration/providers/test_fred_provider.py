"""FredProvider against a local HTTP server serving the recorded FRED XML (fredapi uses urllib,
so the real client parses real bytes)."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from adapters.providers.fred import FredProvider
from domain.errors import NotFound, ProviderRateLimited, ProviderUnavailable
from tests.support.shared_data import shared_data_dir

pytestmark = pytest.mark.shared_data

_ERROR_XML = b'<?xml version="1.0" encoding="utf-8" ?><error code="400" message="Bad Request.  The series does not exist." />'


class FakeFred:
    """Answers /fred/series/observations from a queue of (status, body) per series id."""

    def __init__(self) -> None:
        self.responses: dict[str, list[tuple[int, bytes]]] = {}
        self.requests: list[dict[str, list[str]]] = []


@pytest.fixture
def fred_server() -> Iterator[tuple[str, FakeFred]]:
    fake = FakeFred()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = parse_qs(urlparse(self.path).query)
            fake.requests.append(query)
            queue = fake.responses.get(query["series_id"][0], [(400, _ERROR_XML)])
            status, body = queue.pop(0) if len(queue) > 1 else queue[0]
            self.send_response(status)
            self.send_header("Content-Type", "text/xml")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:  # keep the api_key out of test output
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/fred", fake
    finally:
        server.shutdown()
        server.server_close()


def _xml() -> bytes:
    return (
        shared_data_dir() / "fixtures" / "fred_api_observations_SP500_2014-09-02_2014-09-05.xml"
    ).read_bytes()


def _provider(url: str) -> FredProvider:
    return FredProvider(
        "test-key",
        base_url=url,
        max_retries=2,
        rate_limit_per_s=0,
        initial_wait_s=0.01,
        max_wait_s=0.02,
        timeout_s=5,
    )


async def test_recorded_observations_are_parsed_with_dates_and_values(fred_server) -> None:
    url, fake = fred_server
    fake.responses["SP500"] = [(200, _xml())]
    frame = await _provider(url).fetch("SP500", date(2014, 9, 2))

    assert frame["date"].tolist() == [
        date(2014, 9, 2),
        date(2014, 9, 3),
        date(2014, 9, 4),
        date(2014, 9, 5),
    ]
    assert frame["value"].tolist() == [2002.28, 2000.72, 1997.65, 2007.71]
    assert fake.requests[0]["observation_start"] == ["2014-09-02"]
    assert fake.requests[0]["api_key"] == ["test-key"]


async def test_missing_marker_becomes_nan_not_zero_or_dropped(fred_server) -> None:
    url, fake = fred_server
    fake.responses["SP500"] = [(200, _xml().replace(b'value="1997.65"', b'value="."'))]
    frame = await _provider(url).fetch("SP500", None)

    assert len(frame) == 4
    missing = frame.set_index("date").loc[date(2014, 9, 4), "value"]
    assert math.isnan(missing)


async def test_unknown_series_is_not_found(fred_server) -> None:
    url, _ = fred_server
    with pytest.raises(NotFound, match="does not exist"):
        await _provider(url).fetch("NOPE", None)


async def test_server_error_is_retried_then_succeeds(fred_server) -> None:
    url, fake = fred_server
    fake.responses["SP500"] = [(500, b"oops"), (200, _xml())]
    frame = await _provider(url).fetch("SP500", None)

    assert len(frame) == 4
    assert len(fake.requests) == 2


@pytest.mark.parametrize(
    ("status", "error"), [(429, ProviderRateLimited), (503, ProviderUnavailable)]
)
async def test_persistent_transient_error_raises_without_leaking_the_key(
    fred_server, status, error
) -> None:
    url, fake = fred_server
    fake.responses["SP500"] = [(status, b"busy")]
    with pytest.raises(error) as raised:
        await _provider(url).fetch("SP500", None)
    assert "test-key" not in str(raised.value) and "127.0.0.1" not in str(raised.value)
    assert len(fake.requests) == 3  # the first try and two retries


async def test_unreachable_server_is_retryable() -> None:
    provider = FredProvider(
        "k", base_url="http://127.0.0.1:9/fred", max_retries=0, rate_limit_per_s=0
    )
    with pytest.raises(ProviderUnavailable):
        await provider.fetch("SP500", None)


async def test_fedfunds_history_keeps_its_trailing_missing_month(fred_server) -> None:
    # The recorded JSON body re-serialised in FRED's XML shape (fredapi speaks XML): 829
    # observations whose last value is ".".
    import json
    from xml.sax.saxutils import quoteattr

    url, fake = fred_server
    body = json.loads(
        (shared_data_dir() / "fixtures" / "fred_api_observations_FEDFUNDS.json").read_text()
    )
    rows = "".join(
        f"<observation date={quoteattr(o['date'])} value={quoteattr(o['value'])}/>"
        for o in body["observations"]
    )
    fake.responses["FEDFUNDS"] = [
        (200, f'<?xml version="1.0"?><observations>{rows}</observations>'.encode())
    ]
    frame = await _provider(url).fetch("FEDFUNDS", None)

    assert len(frame) == body["count"] == 829
    assert frame["date"].iloc[-1] == date(2023, 7, 1) and math.isnan(frame["value"].iloc[-1])
    assert frame["value"].iloc[:-1].notna().all() and (frame["value"].iloc[:-1] >= 0).all()
