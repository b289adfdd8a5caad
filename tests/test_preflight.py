"""Checks before any work: device names, output folders and files."""

from __future__ import annotations

import pytest
import torch

from susurrus.errors import UsageError
from susurrus.preflight import check_output_dir, check_output_file, resolve_device


@pytest.mark.parametrize("bad", ["gpu0", "gpu", "cuda0", "cuda:x", "cpu:1", "CUDA", "", "tpu"])
def test_a_malformed_device_names_the_option_and_the_valid_forms(bad):
    with pytest.raises(UsageError) as e:
        resolve_device(bad, "--device")
    assert str(e.value).startswith("--device") and "cpu, cuda, cuda:N" in str(e.value)
    assert "mps" in str(e.value)


def test_cpu_is_always_there():
    assert resolve_device("cpu") == "cpu" and resolve_device(" cpu ") == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this torch sees a GPU")
@pytest.mark.parametrize("name", ["cuda", "cuda:0"])
def test_cuda_on_a_machine_without_it_says_so(name):
    with pytest.raises(UsageError, match=rf"^--device {name}: no CUDA device here .*use cpu"):
        resolve_device(name, "--device")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_devices_that_exist_and_one_that_does_not():
    assert resolve_device("cuda") == "cuda" and resolve_device("cuda:0") == "cuda:0"
    n = torch.cuda.device_count()
    with pytest.raises(UsageError, match=f"has {n} CUDA device"):
        resolve_device(f"cuda:{n}", "--device")


@pytest.mark.skipif(torch.backends.mps.is_available(), reason="this machine has MPS")
def test_mps_on_a_machine_without_it_says_so():
    with pytest.raises(UsageError, match="no MPS"):
        resolve_device("mps")


def test_output_dir_that_is_a_file_or_under_a_file(tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("mine")
    with pytest.raises(UsageError, match=rf"^--output-dir {f} is a file"):
        check_output_dir(f, "--output-dir")
    with pytest.raises(UsageError, match=rf"cannot be created, {f} is a file"):
        check_output_dir(f / "sub" / "deeper", "--output-dir")
    check_output_dir(tmp_path / "new" / "folder")  # to be made: fine
    check_output_dir(tmp_path)
    assert f.read_text() == "mine" and not (tmp_path / "new").exists()  # checks write nothing


def test_output_file_that_is_a_folder_or_under_a_file(tmp_path):
    with pytest.raises(UsageError, match=rf"^--out {tmp_path} is a folder; give a file path"):
        check_output_file(tmp_path, "--out")
    f = tmp_path / "a.json"
    f.write_text("{}")
    with pytest.raises(UsageError, match="is a file"):
        check_output_file(f / "results.json", "--out")
    check_output_file(f)  # exists: whether to replace it is the caller's --overwrite rule
    check_output_file(tmp_path / "sub" / "r.json")
    assert not (tmp_path / "sub").exists()
