"""Encoded price series, cached per asset and data revision, and assembled into responses.

A price response is a pure function of the asset's stored bars and their source (the
provider that wrote them), which change only with its ``prices_revision`` (bumped by every
price write in the writing transaction, which also records the source), and of the request's
range and fields. So the serialized series of one asset is cached under
``(asset_id, prices_revision, ticker, currency, start, end, fields, prices_source)``: a write
moves the asset to a new revision and its old entries can never be served again (they age out
of the LRU). Nothing here can be stale as long as the caller caches a series only when the
asset's revision is the same before and after its bars were read (``GetPriceHistory``):
then no write landed in between, and the bars are exactly that revision's, labelled with that
revision's source.

Each entry holds the JSON bytes of one ``PriceSeriesOut`` and the same bytes as a raw deflate
stream ended by a sync flush. Such streams concatenate into one valid deflate stream, so a
multi-asset body, gzipped, is built by joining the cached pieces between a gzip header and
trailer: no JSON encoding and no compression on a hit, whatever the set of assets.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
from cachetools import LRUCache

from domain.model import Asset
from domain.usecases.price_history import SeriesKey
from gateway.schemas import encode_price_series

# Level 1: most of the size gain on JSON series for a third of level 6's CPU (measured); a
# miss pays it, and with the cache off every request does.
DEFLATE_LEVEL = 1
# Bodies below this are sent as they are: gzip would save too little to pay for itself.
GZIP_MIN_BYTES = 1024
# ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL=0 OS=unknown (RFC 1952): bytes that never vary.
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
_FINAL_BLOCK = b"\x03\x00"  # an empty final fixed-Huffman block: closes the deflate stream


def deflate_piece(data: bytes) -> bytes:
    """``data`` as raw deflate ending on a byte boundary with no final block (Z_SYNC_FLUSH),
    so it can be followed by any other such piece."""
    compressor = zlib.compressobj(DEFLATE_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)


@dataclass(frozen=True, slots=True)
class Piece:
    """JSON bytes and their concatenable deflate form."""

    raw: bytes
    deflated: bytes

    @classmethod
    def of(cls, raw: bytes) -> Piece:
        return cls(raw, deflate_piece(raw))

    @property
    def size(self) -> int:
        return len(self.raw) + len(self.deflated)


_ITEMS_OPEN, _COMMA, _ITEMS_CLOSE = Piece.of(b'{"items":['), Piece.of(b","), Piece.of(b"]}")


@dataclass(frozen=True, slots=True)
class Body:
    content: bytes
    gzipped: bool


def single_body(piece: Piece, gzip_ok: bool) -> Body:
    """One series as the whole body, gzipped when the client takes it and it is worth it."""
    return _assemble([piece], gzip_ok)


def items_body(pieces: Sequence[Piece], gzip_ok: bool) -> Body:
    """``{"items":[...]}`` over the series, byte for byte what encoding the list would give."""
    parts = [_ITEMS_OPEN]
    for i, piece in enumerate(pieces):
        if i:
            parts.append(_COMMA)
        parts.append(piece)
    parts.append(_ITEMS_CLOSE)
    return _assemble(parts, gzip_ok)


def _assemble(parts: Sequence[Piece], gzip_ok: bool) -> Body:
    raw_size = sum(len(p.raw) for p in parts)
    if not gzip_ok or raw_size < GZIP_MIN_BYTES:
        return Body(b"".join(p.raw for p in parts), gzipped=False)
    crc = 0
    for part in parts:  # ~4 GB/s: far cheaper than compressing again
        crc = zlib.crc32(part.raw, crc)
    trailer = struct.pack("<II", crc, raw_size & 0xFFFFFFFF)
    content = b"".join([_GZIP_HEADER, *(p.deflated for p in parts), _FINAL_BLOCK, trailer])
    return Body(content, gzipped=True)


class EncodedSeriesCache:
    """A least-recently-used map of series pieces bounded by their total size in bytes; a
    bound of 0 turns it off. One per process: not shared between workers (each keys on the
    revision it reads from the database, so they agree without talking). The ``SeriesCache``
    of ``domain.usecases.price_history``."""

    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_bytes = max(max_bytes, 0)
        self._entries: LRUCache[SeriesKey, Piece] = LRUCache(
            maxsize=self.max_bytes, getsizeof=_piece_size
        )

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    @property
    def size_bytes(self) -> int:
        return int(self._entries.currsize)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: SeriesKey) -> Piece | None:
        return self._entries.get(key)

    def put(self, key: SeriesKey, piece: Piece) -> None:
        if piece.size > self.max_bytes:  # cachetools refuses it; also: the cache is off
            return
        self._entries[key] = piece


def _piece_size(piece: Piece) -> int:
    return piece.size


def render_piece(asset: Asset, frame: pd.DataFrame, fields: tuple[str, ...]) -> Piece:
    """One asset's ``PriceSeriesOut`` as a cacheable piece (the ``SeriesRenderer`` of the
    price use cases)."""
    return Piece.of(encode_price_series(asset, frame, fields))
