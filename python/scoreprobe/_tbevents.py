"""A minimal TensorBoard event-file writer for scalars.

Written by hand rather than with ``tensorboardX`` or ``torch.utils.tensorboard`` on purpose: the
scalar event format is small and frozen (a TFRecord stream of ``Event`` protocol buffers with a
``Summary`` of ``simple_value``\\ s), and writing it here keeps scoreprobe's only runtime dependency
numpy. ``tensorboardX`` pulls in ``protobuf``, whose major versions clash with the ones training
stacks pin; a monitor that silently stops logging because an optional import failed is worse than
these sixty lines. The files are read by TensorBoard itself (tested with its ``EventAccumulator``).

Format (tensorflow/core/util/event.proto, tensorflow/core/lib/io/record_writer.cc):
record = uint64 length | uint32 masked_crc32c(length) | data | uint32 masked_crc32c(data);
Event: 1 wall_time (double), 2 step (int64), 3 file_version (string), 5 summary (Summary);
Summary: 1 value (repeated Value); Value: 1 tag (string), 2 simple_value (float).
"""

from __future__ import annotations

import math
import os
import socket
import struct
import time
from typing import BinaryIO, Iterable, Optional, Tuple


def _crc32c_table() -> Tuple[int, ...]:
    poly = 0x82F63B78  # Castagnoli, reflected
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    return tuple(table)


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc = _TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _masked(data: bytes) -> int:
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(v: int) -> bytes:
    v &= (1 << 64) - 1  # int64 as two's complement, like protobuf
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field_bytes(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _event(wall_time: float, step: int, *, file_version: Optional[str] = None, scalars=()) -> bytes:
    msg = bytearray(_varint(1 << 3 | 1) + struct.pack("<d", wall_time))
    msg += _varint(2 << 3 | 0) + _varint(step)
    if file_version is not None:
        msg += _field_bytes(3, file_version.encode())
    if scalars:
        summary = b"".join(
            _field_bytes(1, _field_bytes(1, tag.encode()) + _varint(2 << 3 | 5) + struct.pack("<f", value))
            for tag, value in scalars
        )
        msg += _field_bytes(5, summary)
    return bytes(msg)


def _record(data: bytes) -> bytes:
    header = struct.pack("<Q", len(data))
    return header + struct.pack("<I", _masked(header)) + data + struct.pack("<I", _masked(data))


class EventWriter:
    """Appends scalar events to a new ``events.out.tfevents.*`` file in ``log_dir``."""

    def __init__(self, log_dir: str) -> None:
        name = f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}.{os.getpid()}.scoreprobe"
        self.path = os.path.join(log_dir, name)
        self._file: Optional[BinaryIO] = open(self.path, "ab")
        self._write(_event(time.time(), 0, file_version="brain.Event:2"))

    def _write(self, event: bytes) -> None:
        assert self._file is not None, "the event file is closed"
        self._file.write(_record(event))
        self._file.flush()

    def scalars(self, step: int, values: Iterable[Tuple[str, float]]) -> None:
        """One event at ``step`` holding every (tag, value) pair (non-finite values are skipped)."""
        vals = [(t, float(v)) for t, v in values if v is not None and math.isfinite(float(v))]
        if vals:
            self._write(_event(time.time(), step, scalars=vals))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
