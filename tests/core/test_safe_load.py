"""depth3d.core.safe_load: the one reader of user-supplied torch files never runs code from them."""

import os
import pickle

import numpy as np
import pytest
import torch

from depth3d.core.errors import InputError
from depth3d.core.safe_load import UnsafeFileError, load_torch_file


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy-pickle"])
def test_code_executing_file_is_refused_unrun(tmp_path, legacy):
    marker = tmp_path / "ran"
    bad = tmp_path / "evil.pt"
    if legacy:
        with open(bad, "wb") as f:
            pickle.dump({"model": _Payload(marker)}, f)
    else:
        torch.save({"model": _Payload(marker)}, bad)
    # a torch.save file is recognised as unsafe; a bare pickle is not a torch file at all: refused either way
    with pytest.raises(InputError if legacy else UnsafeFileError) as err:
        load_torch_file(bad)
    assert str(bad) in str(err.value) and "\n" not in str(err.value)
    assert not marker.exists()
    # the payload is real: the unsafe loader runs it
    if legacy:
        with open(bad, "rb") as f:
            pickle.load(f)
    else:
        torch.load(bad, weights_only=False)
    assert marker.exists()


def test_plain_data_and_numpy_rng_state_load(tmp_path):
    f = tmp_path / "ok.pt"
    obj = {"w": torch.arange(4.0), "n": 3, "s": "x", "rng": np.random.get_state(), "a": np.float64(1.5)}
    torch.save(obj, f)
    back = load_torch_file(f)
    assert torch.equal(back["w"], obj["w"]) and back["n"] == 3 and back["s"] == "x"
    assert np.array_equal(back["rng"][1], obj["rng"][1]) and back["a"] == 1.5


def test_missing_and_garbage_files_are_one_line_input_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_torch_file(tmp_path / "none.pt")
    g = tmp_path / "garbage.pt"
    g.write_bytes(b"\x00\x01not a torch file")
    with pytest.raises(InputError) as err:
        load_torch_file(g)
    assert str(g) in str(err.value) and "\n" not in str(err.value)
