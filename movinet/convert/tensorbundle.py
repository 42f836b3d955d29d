"""Pure-Python reader for TF2 object-based checkpoints (the TensorBundle format).

Reads what ``tf.train.Checkpoint(model=model).save(prefix)`` writes -- a ``checkpoint`` text file,
``<prefix>.index`` (a LevelDB-style SSTable of ``BundleEntryProto`` records) and
``<prefix>.data-0000k-of-0000N`` shards of raw tensor bytes -- without TensorFlow or the protobuf
package. The format is described in ``reference/tf-checkpoint-format.md`` and mirrors TF's
``core/util/tensor_bundle`` and ``core/lib/io/table``. Every block and tensor is checked against its
masked crc32c (Castagnoli) unless ``verify_crc=False``.

The Keras variable names come from the ``_CHECKPOINTABLE_OBJECT_GRAPH`` entry (a serialized
``TrackableObjectGraph``), so no name table is needed; tensors are keyed by checkpoint key because
variable names are not unique in every MoViNet model.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import struct
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "CheckpointError",
    "CheckpointNotFoundError",
    "TFCheckpoint",
    "crc32c",
    "crc32c_many",
    "read_tf_checkpoint",
    "snappy_decompress",
]

OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"
SAVE_COUNTER_KEY = "save_counter/.ATTRIBUTES/VARIABLE_VALUE"

_TABLE_MAGIC = 0xDB4775248B80FB57
_FOOTER_SIZE = 48
_BLOCK_TRAILER_SIZE = 5  # 1 byte compression type + 4 bytes masked crc32c
_CRC_MASK_DELTA = 0xA282EAD8

# TF DataType enum -> (name, little-endian numpy dtype). bfloat16 is read as uint16 and widened.
_DT_STRING = 7
_DT_BOOL = 10
_DT_BFLOAT16 = 14
_DTYPES: dict[int, tuple[str, str]] = {
    1: ("DT_FLOAT", "<f4"),
    2: ("DT_DOUBLE", "<f8"),
    3: ("DT_INT32", "<i4"),
    4: ("DT_UINT8", "<u1"),
    5: ("DT_INT16", "<i2"),
    6: ("DT_INT8", "<i1"),
    9: ("DT_INT64", "<i8"),
    10: ("DT_BOOL", "<u1"),
    14: ("DT_BFLOAT16", "<u2"),
    17: ("DT_UINT16", "<u2"),
    19: ("DT_HALF", "<f2"),
    22: ("DT_UINT32", "<u4"),
    23: ("DT_UINT64", "<u8"),
}
_DTYPE_NAMES = {7: "DT_STRING", 8: "DT_COMPLEX64", 18: "DT_COMPLEX128", 20: "DT_RESOURCE", 21: "DT_VARIANT"}


class CheckpointError(ValueError):
    """A TF checkpoint could not be read: missing, malformed, truncated or corrupt."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """A checkpoint path, its ``.index`` or one of its data shards does not exist.

    Subclasses both :class:`CheckpointError` and :class:`FileNotFoundError`, so either can be caught.
    """


@dataclass
class TFCheckpoint:
    """The numeric tensors of a TF2 checkpoint.

    Attributes:
        tensors: checkpoint key (``model/.../.ATTRIBUTES/VARIABLE_VALUE``) -> array, in TF layout
            (Conv3D kernels ``[kt, kh, kw, in, out]``). Numeric tensors only; the object graph and
            ``save_counter`` are left out. bfloat16 is widened to float32; other dtypes are kept.
        full_names: checkpoint key -> Keras variable name without ``:0`` (e.g.
            ``stem/stem/conv3d/kernel``), for the keys in ``tensors``; empty if the checkpoint has no
            object graph.
        source: the checkpoint prefix that was read, or the tarball path for a tarball.
    """

    tensors: dict[str, np.ndarray]
    full_names: dict[str, str] = field(default_factory=dict)
    source: str = ""


# --------------------------------------------------------------------------------------------
# crc32c (Castagnoli, reflected polynomial 0x82F63B78)


def _make_crc_table() -> np.ndarray:
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ np.uint32(0x82F63B78), table >> 1).astype(np.uint32)
    return table


_CRC_TABLE_NP = _make_crc_table()
_CRC_TABLE = [int(v) for v in _CRC_TABLE_NP]
# Buffers shorter than this go through the plain byte loop; longer ones through the lane scheme.
_CRC_SMALL = 64
_CRC_LANE_BYTES = 1024


def _crc_update_py(reg: int, data) -> int:
    """Advance the raw (un-inverted) crc register over ``data`` one byte at a time."""
    table = _CRC_TABLE
    for b in data:
        reg = table[(reg ^ b) & 0xFF] ^ (reg >> 8)
    return reg


def _gf2_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a @ b) & 1


@functools.lru_cache(maxsize=None)
def _zero_shift_tables(nbytes: int) -> tuple[list[int], ...]:
    """Tables applying "advance the crc register over ``nbytes`` zero bytes" to a 32-bit register.

    Feeding zero bytes is a linear map over GF(2); it is built as a 32x32 bit matrix by repeated
    squaring of the one-zero-byte map, then flattened into four byte-indexed lookup tables.
    """
    one = np.zeros((32, 32), dtype=np.int64)  # column j = image of bit j
    for j in range(32):
        img = _crc_update_py(1 << j, b"\x00")
        one[:, j] = [(img >> i) & 1 for i in range(32)]
    result = np.eye(32, dtype=np.int64)
    power = one
    n = nbytes
    while n:
        if n & 1:
            result = _gf2_matmul(power, result)
        power = _gf2_matmul(power, power)
        n >>= 1
    columns = (result << np.arange(32, dtype=np.int64)[:, None]).sum(axis=0)  # image of bit j, as an int
    byte_values = np.arange(256)
    tables = []
    for byte_index in range(4):
        tab = np.zeros(256, dtype=np.int64)
        for bit in range(8):
            tab ^= np.where((byte_values >> bit) & 1, columns[8 * byte_index + bit], 0)
        tables.append([int(v) for v in tab])
    return tuple(tables)


def crc32c_many(buffers, crcs=None) -> list[int]:
    """crc32c (Castagnoli) of each of several buffers, vectorised with numpy.

    A byte-at-a-time Python loop manages about 10 MB/s, so large inputs are cut into lanes of
    ``_CRC_LANE_BYTES`` bytes that all advance together, one byte column per numpy step, each from a
    zero register. Two facts make the lanes independent, both because the register update is linear
    over GF(2):

    * starting from register ``r`` is the same as starting from 0 with ``r`` XORed into the first four
      bytes, and leading zero bytes leave a zero register unchanged, so each buffer is front-padded
      with zeros to a whole number of lanes and its start value folded into its first bytes;
    * a buffer's register is then ``reg = shift(reg) ^ lane`` over its lanes in order, where ``shift``
      (feeding ``_CRC_LANE_BYTES`` zero bytes) is a fixed linear map applied with four lookup tables.

    Args:
        buffers: bytes-like objects.
        crcs: optional crc32c of what precedes each buffer (to extend a crc); zeros by default.

    Returns:
        One unsigned 32-bit crc32c per buffer.
    """
    views = [memoryview(b).cast("B") for b in buffers]
    starts = [0] * len(views) if crcs is None else list(crcs)
    results = [0] * len(views)
    lane = _CRC_LANE_BYTES
    pieces, lane_counts = [], []
    for i, (view, crc) in enumerate(zip(views, starts)):
        reg = crc ^ 0xFFFFFFFF
        if len(view) < _CRC_SMALL:
            results[i] = _crc_update_py(reg, view) ^ 0xFFFFFFFF
            continue
        pad = -len(view) % lane
        padded = np.zeros(pad + len(view), dtype=np.uint8)
        padded[pad:] = np.frombuffer(view, dtype=np.uint8)
        padded[pad : pad + 4] ^= np.frombuffer(reg.to_bytes(4, "little"), dtype=np.uint8)
        pieces.append(padded)
        lane_counts.append((i, padded.size // lane))
    if not pieces:
        return results
    columns = np.ascontiguousarray(np.concatenate(pieces).reshape(-1, lane).T)  # (lane, num_lanes)
    del pieces
    table = _CRC_TABLE_NP
    regs = np.zeros(columns.shape[1], dtype=np.uint32)
    idx = np.empty_like(regs)
    for column in columns:
        np.bitwise_xor(regs, column, out=idx)
        np.bitwise_and(idx, 0xFF, out=idx)
        np.right_shift(regs, 8, out=regs)
        np.bitwise_xor(regs, table[idx], out=regs)
    lane_crcs = regs.tolist()
    t0, t1, t2, t3 = _zero_shift_tables(lane)
    pos = 0
    for i, count in lane_counts:
        reg = 0
        for c in lane_crcs[pos : pos + count]:
            reg = t0[reg & 0xFF] ^ t1[(reg >> 8) & 0xFF] ^ t2[(reg >> 16) & 0xFF] ^ t3[reg >> 24] ^ c
        pos += count
        results[i] = reg ^ 0xFFFFFFFF
    return results


def crc32c(data, crc: int = 0) -> int:
    """crc32c (Castagnoli) of ``data``, extending ``crc`` (the crc of the preceding bytes).

    Args:
        data: a bytes-like object.
        crc: crc32c of whatever precedes ``data`` (0 for none).

    Returns:
        The crc32c as an unsigned 32-bit int; ``crc32c(b"123456789") == 0xE3069283``.
    """
    return crc32c_many([data], [crc])[0]


def _mask_crc(crc: int) -> int:
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _CRC_MASK_DELTA) & 0xFFFFFFFF


# --------------------------------------------------------------------------------------------
# Raw snappy


def snappy_decompress(data) -> bytes:
    """Decode one raw (unframed) snappy block, as used by LevelDB/TF table blocks.

    Args:
        data: the compressed bytes: a varint uncompressed length, then literal and copy elements.

    Returns:
        The uncompressed bytes.

    Raises:
        CheckpointError: the block is malformed or truncated.
    """
    buf = bytes(data)
    try:
        length, pos = _read_varint(buf, 0)
    except CheckpointError as e:
        raise CheckpointError(f"corrupt snappy block: {e}") from None
    out = bytearray()
    n = len(buf)
    while pos < n:
        tag = buf[pos]
        pos += 1
        kind = tag & 3
        if kind == 0:  # literal
            size = tag >> 2
            if size >= 60:
                extra = size - 59
                if pos + extra > n:
                    raise CheckpointError("corrupt snappy block: truncated literal length")
                size = int.from_bytes(buf[pos : pos + extra], "little")
                pos += extra
            size += 1
            if pos + size > n:
                raise CheckpointError("corrupt snappy block: truncated literal")
            out += buf[pos : pos + size]
            pos += size
            continue
        if kind == 1:  # copy, 1-byte offset
            if pos + 1 > n:
                raise CheckpointError("corrupt snappy block: truncated copy")
            size = 4 + ((tag >> 2) & 7)
            offset = ((tag >> 5) << 8) | buf[pos]
            pos += 1
        else:  # copy, 2- or 4-byte offset
            width = 2 if kind == 2 else 4
            if pos + width > n:
                raise CheckpointError("corrupt snappy block: truncated copy")
            size = 1 + (tag >> 2)
            offset = int.from_bytes(buf[pos : pos + width], "little")
            pos += width
        if offset == 0 or offset > len(out):
            raise CheckpointError(f"corrupt snappy block: copy offset {offset} outside {len(out)} bytes of output")
        start = len(out) - offset
        if offset >= size:
            out += out[start : start + size]
        else:  # overlapping copy repeats the last `offset` bytes
            pattern = bytes(out[start:])
            out += (pattern * (size // offset + 1))[:size]
    if len(out) != length:
        raise CheckpointError(f"corrupt snappy block: decoded {len(out)} bytes, header says {length}")
    return bytes(out)


# --------------------------------------------------------------------------------------------
# Protobuf wire format


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    n = len(buf)
    while True:
        if pos >= n:
            raise CheckpointError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise CheckpointError("varint longer than 10 bytes")


def _iter_fields(buf: bytes):
    """Yield ``(field_number, wire_type, value)``; value is an int, or bytes for wire type 2."""
    pos = 0
    n = len(buf)
    while pos < n:
        key, pos = _read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _read_varint(buf, pos)
        elif wire == 1:
            if pos + 8 > n:
                raise CheckpointError("truncated fixed64 field")
            value = int.from_bytes(buf[pos : pos + 8], "little")
            pos += 8
        elif wire == 2:
            size, pos = _read_varint(buf, pos)
            if pos + size > n:
                raise CheckpointError("truncated length-delimited field")
            value = buf[pos : pos + size]
            pos += size
        elif wire == 5:
            if pos + 4 > n:
                raise CheckpointError("truncated fixed32 field")
            value = int.from_bytes(buf[pos : pos + 4], "little")
            pos += 4
        else:
            raise CheckpointError(f"unsupported protobuf wire type {wire} (field {number})")
        yield number, wire, value


def _as_int64(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


@dataclass
class _Entry:
    dtype: int = 0
    shape: tuple[int, ...] = ()
    shard_id: int = 0
    offset: int = 0
    size: int = 0
    crc: int | None = None
    has_slices: bool = False


def _parse_shape(buf: bytes, key: str) -> tuple[int, ...]:
    dims = []
    for number, _, value in _iter_fields(buf):
        if number == 2:
            size = 0
            for dn, _, dv in _iter_fields(value):
                if dn == 1:
                    size = _as_int64(dv)
            dims.append(size)
        elif number == 3 and value:
            raise CheckpointError(f"tensor {key!r} has unknown rank")
    if any(d < 0 for d in dims):
        raise CheckpointError(f"tensor {key!r} has a partially unknown shape {dims}")
    return tuple(dims)


def _parse_entry(buf: bytes, key: str) -> _Entry:
    entry = _Entry()
    for number, _, value in _iter_fields(buf):
        if number == 1:
            entry.dtype = value
        elif number == 2:
            entry.shape = _parse_shape(value, key)
        elif number == 3:
            entry.shard_id = value
        elif number == 4:
            entry.offset = _as_int64(value)
        elif number == 5:
            entry.size = _as_int64(value)
        elif number == 6:
            entry.crc = value
        elif number == 7:
            entry.has_slices = True
    return entry


def _parse_header(buf: bytes) -> tuple[int, int]:
    """Return ``(num_shards, endianness)`` of a ``BundleHeaderProto``."""
    num_shards, endianness = 0, 0
    for number, _, value in _iter_fields(buf):
        if number == 1:
            num_shards = value
        elif number == 2:
            endianness = value
    return num_shards, endianness


def _parse_object_graph(buf: bytes) -> dict[str, str]:
    """checkpoint_key -> full_name from a serialized ``TrackableObjectGraph``."""
    names: dict[str, str] = {}
    for number, _, node in _iter_fields(buf):
        if number != 1:
            continue
        for field_number, _, attribute in _iter_fields(node):
            if field_number != 2:
                continue
            full_name = checkpoint_key = None
            for an, _, av in _iter_fields(attribute):
                if an == 2:
                    full_name = av.decode("utf-8")
                elif an == 3:
                    checkpoint_key = av.decode("utf-8")
            if checkpoint_key is not None and full_name:
                names[checkpoint_key] = full_name
    return names


# --------------------------------------------------------------------------------------------
# SSTable (.index)


def _read_block(index: bytes, offset: int, size: int, verify_crc: bool) -> bytes:
    """Contents of one table block: checked against its trailer crc and decompressed."""
    end = offset + size + _BLOCK_TRAILER_SIZE
    if offset < 0 or end > len(index) - _FOOTER_SIZE:
        raise CheckpointError(
            f"block at offset {offset} (size {size}) runs past the end of the index "
            f"({len(index)} bytes); the file is truncated or corrupt"
        )
    contents = index[offset : offset + size]
    ctype = index[offset + size]
    if verify_crc:
        stored = int.from_bytes(index[offset + size + 1 : end], "little")
        actual = crc32c(index[offset : offset + size + 1])
        if _mask_crc(actual) != stored:
            raise CheckpointError(f"crc32c mismatch in the index block at offset {offset}; the file is corrupt")
    if ctype == 0:
        return contents
    if ctype == 1:
        return snappy_decompress(contents)
    raise CheckpointError(f"unknown block compression type {ctype} at offset {offset}")


def _iter_block(block: bytes):
    """Yield ``(key, value)`` of the prefix-compressed entries of one table block."""
    if len(block) < 4:
        raise CheckpointError(f"index block too short ({len(block)} bytes)")
    num_restarts = int.from_bytes(block[-4:], "little")
    limit = len(block) - 4 - 4 * num_restarts
    if limit < 0:
        raise CheckpointError(f"corrupt index block (restart array of {num_restarts} does not fit)")
    pos = 0
    key = b""
    while pos < limit:
        shared, pos = _read_varint(block, pos)
        non_shared, pos = _read_varint(block, pos)
        value_len, pos = _read_varint(block, pos)
        if shared > len(key) or pos + non_shared + value_len > limit:
            raise CheckpointError(f"corrupt index block entry at byte {pos}")
        key = key[:shared] + block[pos : pos + non_shared]
        pos += non_shared
        yield key, block[pos : pos + value_len]
        pos += value_len


def _read_index(path: Path, verify_crc: bool) -> list[tuple[bytes, bytes]]:
    """All ``(key, value)`` entries of a TensorBundle ``.index`` file, in key order."""
    try:
        index = path.read_bytes()
    except FileNotFoundError:
        raise CheckpointNotFoundError(f"checkpoint index not found: {path}") from None
    if len(index) < _FOOTER_SIZE:
        raise CheckpointError(
            f"{path}: not a TF checkpoint index: {len(index)} bytes is shorter than the "
            f"{_FOOTER_SIZE}-byte SSTable footer (empty or truncated file)"
        )
    footer = index[-_FOOTER_SIZE:]
    if int.from_bytes(footer[-8:], "little") != _TABLE_MAGIC:
        raise CheckpointError(
            f"{path}: not a TF checkpoint index (bad SSTable magic number {footer[-8:].hex()}); "
            "the file is truncated, corrupt or not a TensorBundle .index"
        )
    try:
        _, pos = _read_varint(footer, 0)  # metaindex handle: offset, size (unused)
        _, pos = _read_varint(footer, pos)
        index_offset, pos = _read_varint(footer, pos)
        index_size, _ = _read_varint(footer, pos)
    except CheckpointError as e:
        raise CheckpointError(f"{path}: corrupt SSTable footer ({e})") from None
    entries = []
    try:
        for _, handle in _iter_block(_read_block(index, index_offset, index_size, verify_crc)):
            block_offset, p = _read_varint(handle, 0)
            block_size, _ = _read_varint(handle, p)
            entries.extend(_iter_block(_read_block(index, block_offset, block_size, verify_crc)))
    except CheckpointError as e:
        raise CheckpointError(f"{path}: {e}") from None
    return entries


# --------------------------------------------------------------------------------------------
# Locating the checkpoint


_DATA_SUFFIX = re.compile(r"\.data-\d{5}-of-\d{5}$")


def _prefix_from_state_file(directory: Path) -> Path | None:
    """The prefix named by ``model_checkpoint_path`` in ``directory/checkpoint``, if it exists."""
    state = directory / "checkpoint"
    if not state.is_file():
        return None
    match = re.search(rb'^\s*model_checkpoint_path\s*:\s*"((?:[^"\\]|\\.)*)"', state.read_bytes(), re.MULTILINE)
    if not match:
        return None
    try:  # a text-format proto string: C escapes (octal for non-ASCII) over UTF-8 bytes
        named = match.group(1).decode("unicode_escape").encode("latin-1").decode("utf-8")
    except (UnicodeError, ValueError):
        return None
    candidate = Path(named) if os.path.isabs(named) else directory / named
    if Path(str(candidate) + ".index").is_file():
        return candidate
    # Absolute paths from the machine that wrote the checkpoint: look for the same name here.
    local = directory / Path(named).name
    if Path(str(local) + ".index").is_file():
        return local
    return None


def _prefix_in_directory(directory: Path) -> Path:
    prefix = _prefix_from_state_file(directory)
    if prefix is not None:
        return prefix
    indexes = sorted(directory.glob("*.index"))
    if len(indexes) == 1:
        return indexes[0].with_suffix("")
    if not indexes:
        raise CheckpointNotFoundError(f"no TF checkpoint in directory {directory} (no 'checkpoint' file, no *.index)")
    names = ", ".join(p.name for p in indexes)
    raise CheckpointError(
        f"{directory} holds several checkpoints ({names}) and no usable 'checkpoint' file; pass a prefix or .index file"
    )


def _resolve_prefix(path: Path) -> Path:
    if path.is_dir():
        return _prefix_in_directory(path)
    name = str(path)
    if path.is_file():
        if name.endswith(".index"):
            return Path(name[: -len(".index")])
        if _DATA_SUFFIX.search(name):
            return Path(_DATA_SUFFIX.sub("", name))
    if Path(name + ".index").is_file():
        return path
    if path.exists():
        raise CheckpointError(
            f"{path} is not a TF checkpoint: expected a directory, a checkpoint prefix, a .index file or a "
            ".tar/.tar.gz/.tgz tarball"
        )
    raise CheckpointNotFoundError(f"TF checkpoint not found: {path} (neither it nor {name}.index exists)")


def _is_tarball(path: Path) -> bool:
    if not path.is_file() or path.name.endswith(".index") or _DATA_SUFFIX.search(path.name):
        return False
    if path.name.endswith((".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")):
        return True
    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False


# A5 stream, the largest MoViNet, is ~130 MB of float32 weights: a release tarball's checkpoint
# files stay far below this. Larger member sizes (a decompression bomb) are refused before writing.
MAX_EXTRACT_BYTES = 2 << 30


def _is_checkpoint_member(name: str) -> bool:
    """The files a TF checkpoint consists of: `checkpoint`, `<prefix>.index`, `<prefix>.data-*`."""
    base = name.rsplit("/", 1)[-1]
    return base == "checkpoint" or base.endswith(".index") or bool(_DATA_SUFFIX.search(base))


def _safe_extract(tarball: Path, dest: Path, max_bytes: int | None = None) -> None:
    """Extract the checkpoint files of ``tarball`` (``checkpoint``, ``*.index``, ``*.data-*``) under
    ``dest``; every other member is only checked, never written.

    Rejects absolute member names, ``..`` components and links, and any other member type (device,
    fifo). The checkpoint files may hold at most ``max_bytes`` in all: the sizes in the member
    headers are checked before each file is written, so an archive that would expand past the cap
    writes at most that much. Files are written by this function rather than ``TarFile.extract``
    so permissions and owners from the archive are never applied.
    """
    max_bytes = MAX_EXTRACT_BYTES if max_bytes is None else max_bytes
    written = 0
    try:
        archive = tarfile.open(tarball)
    except (tarfile.TarError, OSError) as e:
        raise CheckpointError(f"{tarball}: cannot open as a tar archive: {e}") from None
    with archive:
        try:
            for member in archive:
                name = member.name
                parts = Path(name).parts
                absolute = name.startswith(("/", "\\")) or os.path.isabs(name) or re.match(r"^[A-Za-z]:", name)
                if absolute or ".." in parts:
                    raise CheckpointError(f"{tarball}: refusing unsafe member path {name!r}")
                if member.issym() or member.islnk():
                    raise CheckpointError(f"{tarball}: refusing link member {name!r} -> {member.linkname!r}")
                target = dest.joinpath(*parts) if parts else dest
                if member.isdir():
                    continue  # a file's folders are made when the file is written
                if not member.isfile():
                    raise CheckpointError(f"{tarball}: refusing special member {name!r}")
                if not _is_checkpoint_member(name):
                    continue
                written += member.size
                if written > max_bytes:
                    raise CheckpointError(f"{tarball}: its checkpoint files hold more than {max_bytes >> 20} MiB "
                                          "(a MoViNet checkpoint is a few hundred MB at most); refusing to extract "
                                          "it: is it the right archive?")
                target.parent.mkdir(parents=True, exist_ok=True)
                src = archive.extractfile(member)
                with src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out)
        except (tarfile.TarError, EOFError, OSError, ValueError) as e:
            if isinstance(e, CheckpointError):
                raise
            raise CheckpointError(f"{tarball}: corrupt or truncated tar archive: {e}") from None


def _prefix_in_tree(root: Path, tarball: Path) -> Path:
    indexes = sorted(p for p in root.rglob("*.index") if p.is_file())
    if len(indexes) == 1:
        return indexes[0].with_suffix("")
    if not indexes:
        raise CheckpointNotFoundError(f"{tarball}: the archive holds no TF checkpoint (*.index)")
    with_state = sorted({p.parent for p in indexes if (p.parent / "checkpoint").is_file()})
    if len(with_state) == 1:
        return _prefix_in_directory(with_state[0])
    names = ", ".join(str(p.relative_to(root)) for p in indexes)
    raise CheckpointError(f"{tarball}: the archive holds several checkpoints ({names})")


# --------------------------------------------------------------------------------------------
# Reading


def _string_tensor(raw: bytes, entry: _Entry, key: str, verify_crc: bool) -> list[bytes]:
    """Decode a DT_STRING tensor: varint lengths, masked crc of the lengths, then the bytes."""
    count = int(np.prod(entry.shape, dtype=np.int64))
    lengths = []
    pos = 0
    for _ in range(count):
        length, pos = _read_varint(raw, pos)
        lengths.append(length)
    if pos + 4 > len(raw):
        raise CheckpointError(f"string tensor {key!r} is truncated")
    length_bytes = b"".join(struct.pack("<I", n & 0xFFFFFFFF) for n in lengths)
    stored_lengths_crc = raw[pos : pos + 4]
    pos += 4
    if verify_crc:
        if _mask_crc(crc32c(length_bytes)) != int.from_bytes(stored_lengths_crc, "little"):
            raise CheckpointError(f"crc32c mismatch in the lengths of string tensor {key!r}; the data file is corrupt")
        # The entry crc runs over the uint32 lengths, the stored checksum, then the string bytes.
        crc = crc32c(raw[pos:], crc32c(stored_lengths_crc, crc32c(length_bytes)))
        if entry.crc is not None and _mask_crc(crc) != entry.crc:
            raise CheckpointError(f"crc32c mismatch for tensor {key!r}; the data file is corrupt")
    values = []
    for length in lengths:
        if pos + length > len(raw):
            raise CheckpointError(f"string tensor {key!r} is truncated")
        values.append(raw[pos : pos + length])
        pos += length
    return values


def _numeric_tensor(raw: bytes, entry: _Entry, key: str) -> np.ndarray:
    dtype_name, np_dtype = _DTYPES[entry.dtype]
    itemsize = np.dtype(np_dtype).itemsize
    count = int(np.prod(entry.shape, dtype=np.int64))
    if count * itemsize != len(raw):
        raise CheckpointError(
            f"tensor {key!r}: {dtype_name} shape {list(entry.shape)} needs {count * itemsize} bytes, "
            f"the entry says {len(raw)}"
        )
    array = np.frombuffer(raw, dtype=np_dtype)
    if entry.dtype == _DT_BFLOAT16:  # bfloat16 is the top half of a float32
        array = (array.astype(np.uint32) << 16).view(np.float32)
    elif entry.dtype == _DT_BOOL:
        array = array.astype(np.bool_)
    else:
        array = array.astype(array.dtype.newbyteorder("="), copy=True)  # aligned, writable, native
    return array.reshape(entry.shape)


def _read_bundle(prefix: Path, verify_crc: bool) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    index_path = Path(str(prefix) + ".index")
    entries = _read_index(index_path, verify_crc)
    if not entries or entries[0][0] != b"":
        raise CheckpointError(f"{index_path}: no BundleHeaderProto (first key is not empty); not a TensorBundle")
    try:
        num_shards, endianness = _parse_header(entries[0][1])
    except CheckpointError as e:
        raise CheckpointError(f"{index_path}: corrupt BundleHeaderProto ({e})") from None
    if endianness != 0:
        raise CheckpointError(f"{index_path}: big-endian checkpoints are not supported")
    if num_shards < 1:
        raise CheckpointError(f"{index_path}: header gives num_shards={num_shards}")

    shards: dict[int, bytes] = {}

    def shard(shard_id: int) -> tuple[Path, bytes]:
        shard_path = Path(f"{prefix}.data-{shard_id:05d}-of-{num_shards:05d}")
        if shard_id not in shards:
            if shard_id >= num_shards:
                raise CheckpointError(
                    f"{index_path}: a tensor is in shard {shard_id}, but the header says {num_shards} shards"
                )
            try:
                shards[shard_id] = shard_path.read_bytes()
            except FileNotFoundError:
                raise CheckpointNotFoundError(
                    f"missing checkpoint data shard {shard_path} (shard {shard_id} of {num_shards})"
                ) from None
        return shard_path, shards[shard_id]

    full_names: dict[str, str] = {}
    numeric: list[tuple[str, Path, memoryview, _Entry]] = []
    for raw_key, value in entries[1:]:
        key = raw_key.decode("utf-8", errors="replace")
        try:
            entry = _parse_entry(value, key)
        except CheckpointError as e:
            raise CheckpointError(f"{index_path}: corrupt entry for {key!r} ({e})") from None
        if entry.has_slices:
            raise CheckpointError(f"tensor {key!r} is a partitioned (sliced) variable; these are not supported")
        if key == SAVE_COUNTER_KEY:
            continue
        if entry.dtype not in _DTYPES and not (key == OBJECT_GRAPH_KEY and entry.dtype == _DT_STRING):
            dtype_name = _DTYPE_NAMES.get(entry.dtype, "unknown")
            raise CheckpointError(f"tensor {key!r} has unsupported dtype {dtype_name} (enum {entry.dtype})")
        shard_path, data = shard(entry.shard_id)
        end = entry.offset + entry.size
        if entry.offset < 0 or entry.size < 0 or end > len(data):
            raise CheckpointError(
                f"{shard_path}: data file is truncated: tensor {key!r} needs bytes [{entry.offset}, {end}) "
                f"but the file has {len(data)} bytes"
            )
        raw = memoryview(data)[entry.offset : end]
        if key != OBJECT_GRAPH_KEY:
            numeric.append((key, shard_path, raw, entry))
            continue
        values = _string_tensor(bytes(raw), entry, key, verify_crc)
        if len(values) != 1:
            raise CheckpointError(f"{shard_path}: {OBJECT_GRAPH_KEY} has {len(values)} elements, expected 1")
        try:
            full_names = _parse_object_graph(values[0])
        except (CheckpointError, UnicodeDecodeError) as e:
            raise CheckpointError(f"{shard_path}: corrupt {OBJECT_GRAPH_KEY} ({e})") from None

    if verify_crc:  # one vectorised pass over all tensors (see crc32c_many)
        for (key, shard_path, _, entry), crc in zip(numeric, crc32c_many([raw for _, _, raw, _ in numeric])):
            if entry.crc is not None and _mask_crc(crc) != entry.crc:
                raise CheckpointError(f"crc32c mismatch for tensor {key!r} in {shard_path}; the data file is corrupt")
    tensors = {key: _numeric_tensor(raw, entry, key) for key, _, raw, entry in numeric}
    return tensors, {k: full_names[k] for k in tensors if k in full_names}


def read_tf_checkpoint(path: str | os.PathLike, *, verify_crc: bool = True) -> TFCheckpoint:
    """Read the numeric tensors of a TF2 object-based checkpoint, without TensorFlow.

    Args:
        path: one of
            - a directory holding a ``checkpoint`` file (its ``model_checkpoint_path`` is used) or a
              single ``*.index``;
            - a prefix such as ``dir/ckpt-1`` (``dir/ckpt-1.index`` must exist);
            - the ``.index`` file (or a ``.data-*`` shard) itself;
            - a ``.tar``/``.tar.gz``/``.tgz`` release tarball holding such a directory anywhere
              inside; it is extracted into a temporary directory that is removed afterwards.
        verify_crc: check the crc32c of every index block and tensor.

    Returns:
        A :class:`TFCheckpoint` with arrays keyed by checkpoint key and the Keras variable names.

    Raises:
        CheckpointNotFoundError: (also a ``FileNotFoundError``) the path, its index or a data shard
            does not exist, or a directory/tarball holds no checkpoint.
        CheckpointError: the file is not a checkpoint, is truncated or corrupt (crc mismatch), holds
            an unsupported dtype or partitioned variable, or a tarball has unsafe members.
    """
    path = Path(os.fspath(path))
    if _is_tarball(path):
        with tempfile.TemporaryDirectory(prefix="movinet-tfckpt-") as tmp:
            _safe_extract(path, Path(tmp))
            tensors, full_names = _read_bundle(_prefix_in_tree(Path(tmp), path), verify_crc)
        return TFCheckpoint(tensors=tensors, full_names=full_names, source=str(path))
    prefix = _resolve_prefix(path)
    tensors, full_names = _read_bundle(prefix, verify_crc)
    return TFCheckpoint(tensors=tensors, full_names=full_names, source=str(prefix))
