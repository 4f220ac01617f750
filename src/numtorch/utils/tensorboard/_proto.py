"""A small protocol-buffer encoder, and TensorBoard's messages written with it.

Protocol buffers put each field as a key, ``field_number << 3 | wire_type``, then the value:

- wire type 0, varint: 7 bits a byte, low bits first, the high bit set on all but the last byte
  (int32 / int64 / enum; a negative number is its 64-bit two's complement, 10 bytes);
- wire type 1, 8 bytes little-endian (double);
- wire type 2, a varint length then the bytes (string, bytes, a nested message, packed repeats);
- wire type 5, 4 bytes little-endian (float).

The messages are those of TensorFlow's ``event.proto`` and ``summary.proto`` that TensorBoard
reads: ``Event``, ``Summary`` and its ``Value``, ``Image``, ``HistogramProto``, ``TensorProto``.
Each builder returns the encoded bytes of one message.
"""
from __future__ import annotations

import struct

_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5


def varint(n: int) -> bytes:
    """``n`` as a base-128 varint (negative numbers as their 64-bit two's complement)."""
    n &= (1 << 64) - 1
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return varint(field << 3 | wire)


def int_field(field: int, n: int) -> bytes:
    return _key(field, _VARINT) + varint(n)


def double_field(field: int, x: float) -> bytes:
    return _key(field, _FIXED64) + struct.pack("<d", x)


def float_field(field: int, x: float) -> bytes:
    return _key(field, _FIXED32) + struct.pack("<f", x)


def bytes_field(field: int, data: bytes | str) -> bytes:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return _key(field, _BYTES) + varint(len(data)) + data


def packed_doubles(field: int, xs) -> bytes:
    return bytes_field(field, struct.pack(f"<{len(xs)}d", *xs))


# ---- TensorFlow's messages ------------------------------------------------------------------

def event(wall_time: float, step: int | None = None, *, file_version: str | None = None,
          summary: bytes | None = None, session_log: bytes | None = None) -> bytes:
    """Event: wall_time = 1 (double), step = 2 (int64), file_version = 3, summary = 5, session_log = 7."""
    out = double_field(1, wall_time)
    if step:
        out += int_field(2, int(step))
    if file_version is not None:
        out += bytes_field(3, file_version)
    if summary is not None:
        out += bytes_field(5, summary)
    if session_log is not None:
        out += bytes_field(7, session_log)
    return out


def session_log_start() -> bytes:
    """SessionLog { status = 1: START (1) }: TensorBoard drops the events after it with a larger step."""
    return int_field(1, 1)


def summary(*values: bytes) -> bytes:
    """Summary { repeated Value value = 1 }."""
    return b"".join(bytes_field(1, v) for v in values)


def value_simple(tag: str, x: float) -> bytes:
    """Summary.Value { tag = 1; simple_value = 2 (float) }."""
    return bytes_field(1, tag) + float_field(2, x)


def value_histo(tag: str, histo: bytes) -> bytes:
    """Summary.Value { tag = 1; histo = 5 }."""
    return bytes_field(1, tag) + bytes_field(5, histo)


def value_image(tag: str, image_msg: bytes) -> bytes:
    """Summary.Value { tag = 1; image = 4 }."""
    return bytes_field(1, tag) + bytes_field(4, image_msg)


def value_tensor(tag: str, tensor_msg: bytes, plugin_name: str, content: bytes = b"") -> bytes:
    """Summary.Value { tag = 1; metadata = 9: SummaryMetadata { plugin_data = 1: PluginData {
    plugin_name = 1; content = 2 } }; tensor = 8 }."""
    plugin = bytes_field(1, plugin_name) + (bytes_field(2, content) if content else b"")
    return bytes_field(1, tag) + bytes_field(9, bytes_field(1, plugin)) + bytes_field(8, tensor_msg)


def histogram_proto(vmin: float, vmax: float, num: float, total: float, sum_squares: float,
                    bucket_limit, bucket) -> bytes:
    """HistogramProto { min = 1; max = 2; num = 3; sum = 4; sum_squares = 5 (doubles);
    bucket_limit = 6; bucket = 7 (packed doubles) }."""
    return (double_field(1, vmin) + double_field(2, vmax) + double_field(3, num) + double_field(4, total)
            + double_field(5, sum_squares) + packed_doubles(6, bucket_limit) + packed_doubles(7, bucket))


def image_proto(height: int, width: int, colorspace: int, png: bytes) -> bytes:
    """Summary.Image { height = 1; width = 2; colorspace = 3; encoded_image_string = 4 }."""
    return int_field(1, height) + int_field(2, width) + int_field(3, colorspace) + bytes_field(4, png)


def string_tensor_proto(strings: list[bytes]) -> bytes:
    """TensorProto { dtype = 1: DT_STRING (7); tensor_shape = 2: { dim = 2: { size = 1 } };
    string_val = 8 } for a 1-D tensor of strings."""
    shape = bytes_field(2, int_field(1, len(strings)))
    return int_field(1, 7) + bytes_field(2, shape) + b"".join(bytes_field(8, s) for s in strings)


def scalar_tensor_proto(x: float, double: bool = False) -> bytes:
    """TensorProto { dtype = 1: DT_FLOAT (1) or DT_DOUBLE (2); float_val = 5 / double_val = 6 (packed) }
    for one number (a 0-d tensor: no shape field)."""
    if double:
        return int_field(1, 2) + bytes_field(6, struct.pack("<d", x))
    return int_field(1, 1) + bytes_field(5, struct.pack("<f", x))
