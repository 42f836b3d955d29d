"""Tests for the pure-Python TF2 checkpoint (TensorBundle) reader."""

from __future__ import annotations

import io
import json
import re
import shutil
import struct
import tarfile
import tempfile
import uuid
from pathlib import Path

import numpy as np
import pytest

from movinet.convert.tensorbundle import (
    CheckpointError,
    CheckpointNotFoundError,
    _mask_crc,
    _parse_entry,
    _read_index,
    crc32c,
    crc32c_many,
    read_tf_checkpoint,
    snappy_decompress,
)

FIXTURES = ["tf_a0_base", "tf_a0_stream"]
STEM_KERNEL = "model/layer_with_weights-0/layer_with_weights-0/_stem/_conv/kernel/.ATTRIBUTES/VARIABLE_VALUE"


@pytest.fixture
def base_ckpt(fixtures_dir: Path, tmp_path: Path) -> Path:
    """A writable copy of the A0 base checkpoint folder (the shared fixtures are read-only)."""
    folder = tmp_path / "ckpt"
    folder.mkdir()
    for src in (fixtures_dir / "tf_a0_base" / "ckpt").iterdir():
        shutil.copyfile(src, folder / src.name)
    return folder


def _entry_of(prefix: Path, key: str):
    for raw_key, value in _read_index(Path(f"{prefix}.index"), verify_crc=True):
        if raw_key == key.encode():
            return _parse_entry(value, key)
    raise KeyError(key)


# ------------------------------------------------------------------ crc32c and snappy


def _crc_bitwise(data: bytes) -> int:
    """Bit-at-a-time crc32c, independent of the tables under test."""
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def test_crc32c_known_vectors():
    # RFC 3720 appendix B.4 and the usual check value.
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(bytes(32)) == 0x8A9136AA
    assert crc32c(b"\xff" * 32) == 0x62A8AB43
    assert crc32c(bytes(range(32))) == 0x46DD794E
    assert crc32c(bytes(range(31, -1, -1))) == 0x113FDB5C
    assert crc32c(b"") == 0


def test_crc32c_lanes_match_bitwise_reference():
    rng = np.random.default_rng(0)
    lengths = [1, 3, 4, 63, 64, 65, 1023, 1024, 1025, 2048 + 7, 5000]
    buffers = [rng.integers(0, 256, n, dtype=np.uint8).tobytes() for n in lengths]
    expected = [_crc_bitwise(b) for b in buffers]
    assert crc32c_many(buffers) == expected
    assert [crc32c(b) for b in buffers] == expected
    # Extending a crc over a split buffer, including splits inside a lane and inside the first 4 bytes.
    big = rng.integers(0, 256, 300_001, dtype=np.uint8).tobytes()
    whole = crc32c(big)
    for cut in (2, 1000, 123_457):
        assert crc32c(big[cut:], crc32c(big[:cut])) == whole
    assert crc32c_many([big[:5000], big[5000:]], [0, crc32c(big[:5000])])[1] == whole


def test_snappy_hand_built_block():
    expected = b"abcde" + b"abcdeab" + b"abc" + b"x" * 70 + b"xx" + b"Z"
    block = (
        bytes([len(expected)])  # varint uncompressed length (< 128)
        + bytes([(5 - 1) << 2]) + b"abcde"  # literal of 5
        + bytes([((7 - 4) << 2) | 1 | (0 << 5), 5])  # copy, 1-byte offset: len 7, offset 5 (overlaps)
        + bytes([((3 - 1) << 2) | 2]) + struct.pack("<H", 12)  # copy, 2-byte offset: len 3, offset 12
        + bytes([60 << 2, 70 - 1]) + b"x" * 70  # literal with a 1-byte extended length
        + bytes([((2 - 1) << 2) | 3]) + struct.pack("<I", 1)  # copy, 4-byte offset: run-length "xx"
        + bytes([0]) + b"Z"  # literal of 1
    )
    assert snappy_decompress(block) == expected


def test_snappy_rejects_corrupt_blocks():
    with pytest.raises(CheckpointError, match="offset"):
        snappy_decompress(bytes([8, 0]) + b"a" + bytes([((4 - 4) << 2) | 1, 9]))  # copy from before the start
    with pytest.raises(CheckpointError, match="header says"):
        snappy_decompress(bytes([9, (3 - 1) << 2]) + b"abc")  # claims 9 bytes, yields 3
    with pytest.raises(CheckpointError, match="truncated"):
        snappy_decompress(bytes([9, (8 - 1) << 2]) + b"abc")


# ------------------------------------------------------------------ the real fixtures


@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_tensors_bit_exact(fixtures_dir: Path, name: str):
    root = fixtures_dir / name
    ckpt_keys = json.loads((root / "ckpt_keys.json").read_text())
    weights = np.load(root / "weights.npz")
    ckpt = read_tf_checkpoint(root / "ckpt")
    assert set(ckpt.tensors) == set(ckpt_keys)
    for key, tf_name in ckpt_keys.items():
        got, want = ckpt.tensors[key], weights[tf_name]
        assert got.dtype == want.dtype and got.shape == want.shape, key
        assert got.tobytes() == want.tobytes(), key
        assert got.flags.writeable and got.flags.aligned
    assert ckpt.full_names == {k: v.removesuffix(":0") for k, v in ckpt_keys.items()}
    assert ckpt.source == str(root / "ckpt" / "ckpt-1")


def test_input_forms_agree(fixtures_dir: Path):
    folder = fixtures_dir / "tf_a0_base" / "ckpt"
    reference = read_tf_checkpoint(folder)
    for form in (folder / "ckpt-1", folder / "ckpt-1.index", str(folder / "ckpt-1.data-00000-of-00001")):
        ckpt = read_tf_checkpoint(form)
        assert ckpt.tensors.keys() == reference.tensors.keys()
        assert ckpt.full_names == reference.full_names
        assert np.array_equal(ckpt.tensors[STEM_KERNEL], reference.tensors[STEM_KERNEL])


def test_directory_without_state_file_uses_single_index(base_ckpt: Path):
    (base_ckpt / "checkpoint").unlink()
    assert len(read_tf_checkpoint(base_ckpt).tensors) == 334


def test_state_file_with_foreign_absolute_path(base_ckpt: Path):
    (base_ckpt / "checkpoint").write_text('model_checkpoint_path: "/gcs/train/run7/ckpt-1"\n')
    (base_ckpt / "other.index").write_bytes(b"")  # a second index: the state file must decide
    assert read_tf_checkpoint(base_ckpt).source == str(base_ckpt / "ckpt-1")


def test_state_file_with_escaped_non_ascii_name(base_ckpt: Path):
    for src in list(base_ckpt.glob("ckpt-1.*")):
        src.rename(base_ckpt / src.name.replace("ckpt-1", "ckpt-\u00e9t\u00e9-1"))
    (base_ckpt / "other.index").write_bytes(b"")  # a second index: the state file must decide
    (base_ckpt / "checkpoint").write_bytes(b'model_checkpoint_path: "ckpt-\\303\\251t\\303\\251-1"\n')
    assert read_tf_checkpoint(base_ckpt).source == str(base_ckpt / "ckpt-\u00e9t\u00e9-1")


@pytest.mark.parametrize(("mode", "suffix"), [("w:gz", ".tar.gz"), ("w:gz", ".tgz"), ("w", ".tar")])
def test_release_tarball(fixtures_dir: Path, tmp_path: Path, mode: str, suffix: str):
    tarball = tmp_path / f"movinet_a0_base{suffix}"
    options = {"compresslevel": 1} if mode == "w:gz" else {}
    with tarfile.open(tarball, mode, **options) as tar:
        tar.add(fixtures_dir / "tf_a0_base" / "ckpt", arcname="movinet_a0_base")
    ckpt = read_tf_checkpoint(tarball)
    weights = np.load(fixtures_dir / "tf_a0_base" / "weights.npz")
    assert len(ckpt.tensors) == 334
    assert ckpt.tensors[STEM_KERNEL].tobytes() == weights["stem/stem/conv3d/kernel:0"].tobytes()
    assert ckpt.source == str(tarball)


# ------------------------------------------------------------------ errors


def test_missing_path(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="not found"):
        read_tf_checkpoint(tmp_path / "nope")
    with pytest.raises(CheckpointError, match="not found"):
        read_tf_checkpoint(tmp_path / "nope" / "ckpt-1")


def test_empty_directory(tmp_path: Path):
    with pytest.raises(CheckpointNotFoundError, match="no TF checkpoint in directory"):
        read_tf_checkpoint(tmp_path)


def test_truncated_index(base_ckpt: Path):
    index = base_ckpt / "ckpt-1.index"
    data = index.read_bytes()
    index.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="bad SSTable magic.*truncated"):
        read_tf_checkpoint(base_ckpt)
    index.write_bytes(data[:20])
    with pytest.raises(CheckpointError, match="shorter than the 48-byte SSTable footer"):
        read_tf_checkpoint(base_ckpt)


def test_truncated_data(base_ckpt: Path):
    shard = base_ckpt / "ckpt-1.data-00000-of-00001"
    shard.write_bytes(shard.read_bytes()[:-1000])
    with pytest.raises(CheckpointError, match=r"data file is truncated: tensor '.+' needs bytes"):
        read_tf_checkpoint(base_ckpt)


def test_flipped_data_byte_names_the_tensor(base_ckpt: Path, fixtures_dir: Path):
    shard = base_ckpt / "ckpt-1.data-00000-of-00001"
    entry = _entry_of(base_ckpt / "ckpt-1", STEM_KERNEL)
    data = bytearray(shard.read_bytes())
    data[entry.offset + entry.size // 2] ^= 0x01
    shard.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=f"crc32c mismatch for tensor {re.escape(repr(STEM_KERNEL))}"):
        read_tf_checkpoint(base_ckpt)
    unchecked = read_tf_checkpoint(base_ckpt, verify_crc=False)
    want = np.load(fixtures_dir / "tf_a0_base" / "weights.npz")["stem/stem/conv3d/kernel:0"]
    assert not np.array_equal(unchecked.tensors[STEM_KERNEL], want)


def test_flipped_index_byte(base_ckpt: Path):
    index = base_ckpt / "ckpt-1.index"
    data = bytearray(index.read_bytes())
    data[100] ^= 0x40
    index.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="crc32c mismatch in the index block"):
        read_tf_checkpoint(base_ckpt)


def test_junk_files(tmp_path: Path):
    junk = np.random.default_rng(3).bytes(5000)
    (tmp_path / "junk.index").write_bytes(junk)
    with pytest.raises(CheckpointError, match="not a TF checkpoint index"):
        read_tf_checkpoint(tmp_path / "junk.index")
    (tmp_path / "junk.bin").write_bytes(junk)
    with pytest.raises(CheckpointError, match="is not a TF checkpoint"):
        read_tf_checkpoint(tmp_path / "junk.bin")


def test_missing_shard(base_ckpt: Path):
    (base_ckpt / "ckpt-1.data-00000-of-00001").unlink()
    with pytest.raises(CheckpointNotFoundError, match=r"missing checkpoint data shard .*ckpt-1\.data-00000-of-00001"):
        read_tf_checkpoint(base_ckpt)


def _tar_with(path: Path, member: tarfile.TarInfo, payload: bytes = b"") -> None:
    with tarfile.open(path, "w:gz") as tar:
        member.size = len(payload) if member.isfile() else 0
        tar.addfile(member, io.BytesIO(payload) if member.isfile() else None)


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink", "hardlink"])
def test_tarball_unsafe_members(tmp_path: Path, kind: str):
    unique = f"evil-{uuid.uuid4().hex}"
    escaped = Path(tempfile.gettempdir()) / unique
    if kind == "dotdot":
        member = tarfile.TarInfo(f"movinet/../../{unique}")
    elif kind == "absolute":
        member = tarfile.TarInfo(str(escaped))
    else:
        member = tarfile.TarInfo("movinet/ckpt-1.index")
        member.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
        member.linkname = "/etc/passwd"
    tarball = tmp_path / "evil.tar.gz"
    _tar_with(tarball, member, b"pwned")
    with pytest.raises(CheckpointError, match="refusing"):
        read_tf_checkpoint(tarball)
    assert not escaped.exists()


def test_tarball_without_checkpoint(tmp_path: Path):
    tarball = tmp_path / "empty.tar.gz"
    _tar_with(tarball, tarfile.TarInfo("movinet/README"), b"hello")
    with pytest.raises(CheckpointNotFoundError, match="holds no TF checkpoint"):
        read_tf_checkpoint(tarball)


# ------------------------------------------------------------------ synthetic bundles (format corners)

_TF_DTYPES = {np.float32: 1, np.float64: 2, np.int32: 3, np.int64: 9, np.float16: 19}


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def _field(number: int, value) -> bytes:
    if isinstance(value, bytes):
        return _varint(number << 3 | 2) + _varint(len(value)) + value
    return _varint(number << 3) + _varint(value)


def _snappy_literals(data: bytes) -> bytes:
    out = bytearray(_varint(len(data)))
    for i in range(0, len(data), 256):
        chunk = data[i : i + 256]
        out += bytes([60 << 2, len(chunk) - 1]) + chunk
    return bytes(out)


def _table_block(entries, compress: bool) -> bytes:
    contents = b"".join(_varint(0) + _varint(len(k)) + _varint(len(v)) + k + v for k, v in entries)
    contents += struct.pack("<II", 0, 1)  # one restart point at offset 0
    ctype = 0
    if compress:
        contents, ctype = _snappy_literals(contents), 1
    return contents + bytes([ctype]) + struct.pack("<I", _mask_crc(crc32c(contents + bytes([ctype]))))


def _write_bundle(prefix: Path, tensors: dict, *, num_shards=1, compress=False, per_block=2) -> None:
    """Write a TensorBundle; values are arrays or (dtype enum, raw bytes, shape)."""
    shards = [bytearray() for _ in range(num_shards)]
    entries = [(b"", _field(1, num_shards) + _field(3, _field(1, 1)))]
    for i, key in enumerate(sorted(tensors)):
        value = tensors[key]
        if isinstance(value, np.ndarray):
            value = (_TF_DTYPES[value.dtype.type], value.tobytes(), value.shape)
        dtype, raw, shape = value
        shard = i % num_shards
        shape_proto = b"".join(_field(2, _field(1, d)) for d in shape)
        entry = _field(1, dtype) + _field(2, shape_proto) + _field(3, shard) + _field(4, len(shards[shard]))
        entry += _field(5, len(raw)) + b"\x35" + struct.pack("<I", _mask_crc(crc32c(raw)))  # field 6, fixed32
        shards[shard] += raw
        entries.append((key.encode(), entry))
    index = bytearray()
    handles = []
    for start in range(0, len(entries), per_block):
        chunk = entries[start : start + per_block]
        block = _table_block(chunk, compress)
        handles.append((chunk[-1][0] + b"\xff", _varint(len(index)) + _varint(len(block) - 5)))
        index += block
    meta = _table_block([], compress)
    meta_handle = _varint(len(index)) + _varint(len(meta) - 5)
    index += meta
    top = _table_block(handles, compress)
    top_handle = _varint(len(index)) + _varint(len(top) - 5)
    index += top
    index += (meta_handle + top_handle).ljust(40, b"\0") + struct.pack("<Q", 0xDB4775248B80FB57)
    Path(f"{prefix}.index").write_bytes(bytes(index))
    for k, data in enumerate(shards):
        Path(f"{prefix}.data-{k:05d}-of-{num_shards:05d}").write_bytes(bytes(data))


def test_synthetic_dtypes_shards_and_snappy(tmp_path: Path):
    rng = np.random.default_rng(7)
    arrays = {
        "a/f32": rng.standard_normal((3, 4, 5)).astype(np.float32),
        "b/f64": rng.standard_normal(7),
        "c/f16": rng.standard_normal((2, 9)).astype(np.float16),
        "d/i32": rng.integers(-1000, 1000, (4, 4), dtype=np.int32),
        "e/i64": rng.integers(-(2**40), 2**40, (6,), dtype=np.int64),
        "f/scalar": np.array(2.5, dtype=np.float32),
        "g/big": rng.standard_normal(3000).astype(np.float32),  # goes through the numpy crc lanes
    }
    bf16_values = np.array([1.0, -2.5, 3.140625, 2.0**100, 0.0], dtype=np.float32)
    bf16_raw = (bf16_values.view(np.uint32) >> 16).astype("<u2").tobytes()
    tensors = dict(arrays)
    tensors["h/bf16"] = (14, bf16_raw, (5,))
    tensors["save_counter/.ATTRIBUTES/VARIABLE_VALUE"] = np.array(1, dtype=np.int64)
    _write_bundle(tmp_path / "ckpt-3", tensors, num_shards=3, compress=True)

    ckpt = read_tf_checkpoint(tmp_path / "ckpt-3")
    assert set(ckpt.tensors) == set(arrays) | {"h/bf16"}
    for key, want in arrays.items():
        assert ckpt.tensors[key].dtype == want.dtype and np.array_equal(ckpt.tensors[key], want), key
    assert ckpt.tensors["h/bf16"].dtype == np.float32
    assert np.array_equal(ckpt.tensors["h/bf16"], bf16_values)
    assert ckpt.full_names == {}


def test_synthetic_unsupported_dtype(tmp_path: Path):
    tensors = {"x/ok": np.zeros(2, np.float32), "x/complex": (8, bytes(16), (2,))}
    _write_bundle(tmp_path / "ckpt-1", tensors)
    with pytest.raises(CheckpointError, match=r"tensor 'x/complex' has unsupported dtype DT_COMPLEX64"):
        read_tf_checkpoint(tmp_path / "ckpt-1")
