"""Hostile input outside the file layer: sizes that cannot fit, unreadable data files, bad
command-line arguments — each refused before any work, naming the argument or the file."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import pyrbm
from pyrbm.scan.points import load_data

ROOT = Path(__file__).resolve().parents[1]


def test_sizes_that_cannot_fit_are_refused_naming_the_argument():
    with pytest.raises(MemoryError, match=r"^n_hidden: 1000000000 needs about .* GiB"):
        pyrbm.Hamiltonian.random(784, 10**9, seed=0)
    with pytest.raises(MemoryError, match=r"^n_hidden: 1000000000"):
        pyrbm.Hamiltonian.from_data(np.zeros((3, 784)), 10**9, seed=0)
    ham = pyrbm.Hamiltonian.random(6, 4, seed=0)
    with pytest.raises(MemoryError, match=r"^n_chains: 10000000000 needs about .* GiB.*use fewer chains"):
        pyrbm.ais(ham, n_chains=10**10, n_betas=10, seed=0)


def test_unreadable_npy_data_names_the_file(tmp_path):
    bad = tmp_path / "bad.npy"
    bad.write_bytes(b"not a numpy file at all")
    with pytest.raises(ValueError, match=f"data: {bad} could not be read"):
        load_data(str(bad))
    one_d = tmp_path / "one_d.npy"
    np.save(one_d, np.zeros(5))
    with pytest.raises(ValueError, match=f"data: {one_d} holds a 1-d float64 array"):
        load_data(str(one_d))
    pickled = tmp_path / "obj.npy"
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match=f"data: {pickled} could not be read"):
        load_data(str(pickled))


@pytest.mark.parametrize("args, message", [
    (["--out", "{file}"], "--out: {file} is a file"),
    (["--out", "{dir}/study", "--workers", "0"], "--workers: expected an integer >= 1, got 0"),
])
def test_paper_refuses_bad_arguments_before_any_work(tmp_path, args, message):
    afile = tmp_path / "afile"
    afile.write_text("")
    fill = {"file": str(afile), "dir": str(tmp_path)}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, str(ROOT / "simulations" / "paper.py"), "--profile", "tiny",
                           *[a.format(**fill) for a in args]], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2 and message.format(**fill) in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "study").exists()
