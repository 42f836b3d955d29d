"""Tests for the restricted .pdparams (Paddle state dict pickle) loader."""

from __future__ import annotations

import json
import os
import pickle
import pickletools
import re
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest

from movinet.convert.pdparams import PdparamsError, load_pdparams


@pytest.fixture(scope="module")
def fixture_file(fixtures_dir: Path) -> Path:
    return fixtures_dir / "paddle_a0" / "MoViNetA0_fixture.pdparams"


def _globals_of(data: bytes) -> set[str]:
    """``module.name`` of every GLOBAL / STACK_GLOBAL in a pickle."""
    found, strings = set(), []
    for op, arg, _ in pickletools.genops(data):
        if op.name == "GLOBAL":
            found.add(arg.replace(" ", "."))
        elif op.name == "STACK_GLOBAL":
            found.add(".".join(strings[-2:]))
        elif isinstance(arg, str):
            strings.append(arg)
    return found


def _state() -> dict:
    rng = np.random.default_rng(0)
    return {
        "backbone.conv1.conv_1.0.weight": rng.standard_normal((8, 3, 1, 3, 3)).astype(np.float32),
        "backbone.blocks.0.alpha": np.zeros([1], dtype=np.float32),
        "StructuredToParameterName@@": {"backbone.conv1.conv_1.0.weight": "conv3d_0.w_0"},
    }


def _check_state(loaded: dict) -> None:
    want = _state()
    del want["StructuredToParameterName@@"]
    assert list(loaded) == list(want)
    for key, value in want.items():
        assert loaded[key].dtype == value.dtype and np.array_equal(loaded[key], value)


def test_fixture_loads(fixture_file: Path, fixtures_dir: Path):
    expected = json.loads((fixtures_dir / "paddle_a0" / "keys.json").read_text())
    state = load_pdparams(fixture_file)
    assert "StructuredToParameterName@@" not in state
    assert list(state) == [key for key, *_ in expected]
    for key, shape, dtype, _ in expected:
        assert list(state[key].shape) == shape and str(state[key].dtype) == dtype, key
    assert state["backbone.conv1.conv_1.0.weight"].flags.writeable


class _RunsShell:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class _CallsEval:
    def __reduce__(self):
        return eval, ("__import__('os').getpid()",)


class _SpawnsProcess:
    def __reduce__(self):
        return subprocess.Popen, (["true"],)


def test_os_system_is_never_run(tmp_path: Path):
    marker = tmp_path / "pwned"
    state = _state()
    state["zzz"] = _RunsShell(marker)  # after real arrays, so loading is well under way
    path = tmp_path / "evil.pdparams"
    path.write_bytes(pickle.dumps(state, protocol=4))
    with pytest.raises(PdparamsError, match=r"forbidden global (os|posix|nt)\.system"):
        load_pdparams(path)
    assert not marker.exists()


@pytest.mark.parametrize(("payload", "name"), [(_CallsEval(), "builtins.eval"), (_SpawnsProcess(), "subprocess.Popen")])
@pytest.mark.parametrize("protocol", [2, 4])
def test_other_forbidden_globals(tmp_path: Path, payload, name: str, protocol: int):
    path = tmp_path / "evil.pdparams"
    path.write_bytes(pickle.dumps({"w": np.zeros(3), "x": payload}, protocol=protocol))
    with pytest.raises(PdparamsError, match=rf"forbidden global {re.escape(name)} .*nothing in it was executed"):
        load_pdparams(path)


def test_truncated_empty_and_text_files(fixture_file: Path, tmp_path: Path):
    data = fixture_file.read_bytes()
    for cut in (len(data) // 2, 100, 3):
        (tmp_path / "cut.pdparams").write_bytes(data[:cut])
        with pytest.raises(PdparamsError, match="truncated or corrupt pickle"):
            load_pdparams(tmp_path / "cut.pdparams")
    (tmp_path / "empty.pdparams").write_bytes(b"")
    with pytest.raises(PdparamsError, match="empty"):
        load_pdparams(tmp_path / "empty.pdparams")
    (tmp_path / "text.pdparams").write_text("backbone.conv1.weight: [1, 2, 3]\n")
    with pytest.raises(PdparamsError, match="not a .pdparams file"):
        load_pdparams(tmp_path / "text.pdparams")
    with pytest.raises(FileNotFoundError):
        load_pdparams(tmp_path / "missing.pdparams")


def _numpy1_pickle(obj, protocol: int) -> bytes:
    """Pickle ``obj`` as numpy 1.x writes it: arrays rebuilt by ``numpy.core.multiarray._reconstruct``."""
    data = pickle.dumps(obj, protocol=protocol)
    if protocol == 2:  # GLOBAL opcode: "module\nname\n" text, no length prefix
        data = data.replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")
    else:  # SHORT_BINUNICODE with a 1-byte length; re-frame afterwards
        data = data.replace(b"\x8c\x16numpy._core.multiarray", b"\x8c\x15numpy.core.multiarray")
        data = pickletools.optimize(data)
    return data


@pytest.mark.parametrize("protocol", [2, 4])
def test_numpy1_style_pickle(tmp_path: Path, protocol: int):
    data = _numpy1_pickle(_state(), protocol)
    assert "numpy.core.multiarray._reconstruct" in _globals_of(data)
    assert not any(g.startswith("numpy._core") for g in _globals_of(data))
    path = tmp_path / "np1.pdparams"
    path.write_bytes(data)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy.core deprecation warning either
        _check_state(load_pdparams(path))


def test_python2_era_pickle(tmp_path: Path):
    """Hand-written opcodes as Python 2 + numpy 1.x wrote them: py2 ``str`` keys and array data."""
    raw = np.array([1.5, -2.0, 3.0], dtype="<f4").tobytes()
    data = (
        # PROTO 2, EMPTY_DICT, SHORT_BINSTRING key
        b"\x80\x02}U\x05alpha"
        # _reconstruct(ndarray, (0,), "b")
        b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85U\x01b\x87R"
        # BUILD state (1, (3,), dtype("f4", 0, 1) with the dtype's own BUILD state, False, raw data)
        b"(K\x01K\x03\x85cnumpy\ndtype\nU\x02f4K\x00K\x01\x87R"
        b"(K\x03U\x01<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
        b"\x89U\x0c" + raw + b"tb"
        # SETITEM, STOP
        b"s."
    )
    path = tmp_path / "py2.pdparams"
    path.write_bytes(data)
    state = load_pdparams(path)
    assert list(state) == ["alpha"] and state["alpha"].dtype == np.float32
    assert state["alpha"].tolist() == [1.5, -2.0, 3.0]


def test_protocol5_pickle(tmp_path: Path):
    path = tmp_path / "p5.pdparams"
    path.write_bytes(pickle.dumps(_state(), protocol=5))
    _check_state(load_pdparams(path))


def test_nested_state_dict_is_unwrapped(tmp_path: Path):
    path = tmp_path / "nested.pdparams"
    path.write_bytes(pickle.dumps({"state_dict": _state(), "epoch": 3}, protocol=4))
    _check_state(load_pdparams(path))


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ([np.zeros(2)], "top-level object is a list"),
        ({"a": np.zeros(2), "b": 3}, "value of 'b' is a int"),
        ({"a": np.array(["x", 1], dtype=object)}, "array 'a' has non-numeric dtype object"),
        ({1: np.zeros(2), "b": np.zeros(1)}, "key 1 is a int"),
        ({"StructuredToParameterName@@": {}}, "holds no arrays"),
    ],
)
def test_not_a_state_dict(tmp_path: Path, obj, message: str):
    path = tmp_path / "bad.pdparams"
    path.write_bytes(pickle.dumps(obj, protocol=4))
    with pytest.raises(PdparamsError, match=message):
        load_pdparams(path)
