"""The file layer: dispatch on the schema, CF attributes, and never reporting success with lost data."""

import errno
import multiprocessing
import os
import random
import subprocess
import sys
from pathlib import Path

import netCDF4
import numpy as np
import pytest
import xarray as xr

import pyrbm
from pyrbm.io import netcdf as _io
from pyrbm.io import trajectory as tr
from pyrbm.io.checkpoint import load_checkpoint
from pyrbm.io.writer import TrajectoryWriter
from test_trajectory import gibbs_run


def make_ds(ham, n_steps=7, n_chains=3, seed=0):
    rng = np.random.default_rng(seed)
    return xr.Dataset(
        {
            "v": (("step", "chain", "visible"), rng.integers(0, 2, (n_steps, n_chains, 6)).astype(np.int8),
                  {"long_name": "visible configuration", "units": "1"}),
            "energy": (("step", "chain"), rng.standard_normal((n_steps, n_chains)),
                       {"long_name": "energy (in units of k_B T at beta = 1)", "units": "1"}),
            "u": (("step", "chain", "mode"), rng.standard_normal((n_steps, n_chains, 2)).astype(np.float32),
                  {"long_name": "downhill coordinate", "units": "1"}),
        },
        coords={"step": np.arange(1, n_steps + 1) * 10, "mode": [1, 2],
                "singular_value": ("mode", ham.modes.s[:2])},
        attrs={"sampler": "gibbs", "seed": seed, "thin": 10, "units": "binary"},
    )


def entries(directory):
    return sorted(p for p in os.listdir(directory) if ".tmp-" in p)


# ------------------------------------------------------------------------------ dispatch
def test_save_load_validate_dispatch_on_schema(tmp_path, ham):
    traj = pyrbm.save(make_ds(ham), tmp_path / "run.nc", hamiltonian=ham)
    model = pyrbm.save(ham, tmp_path / "model.nc")
    ds = pyrbm.load(traj)
    assert ds.attrs["schema"] == "pyrbm.trajectory/2" and ds.attrs["Conventions"] == "CF-1.10"
    assert pyrbm.validate(ds) is ds
    back = pyrbm.load(model)
    assert isinstance(back, pyrbm.Hamiltonian)
    assert back.W.tobytes() == ham.W.tobytes() and back.beta == ham.beta
    assert pyrbm.load(model).W.tobytes() == ham.W.tobytes()  # still a plain Hamiltonian file
    with xr.open_dataset(model) as stored:
        stored = stored.load()
    assert stored.attrs.pop("checksum").startswith("sha256:")
    assert pyrbm.validate(stored) is stored
    with pytest.raises(ValueError, match="is not a pyrbm file"):
        xr.Dataset({"x": ("t", [1.0])}).to_netcdf(tmp_path / "other.nc")
        pyrbm.load(tmp_path / "other.nc")


@pytest.mark.parametrize("schema", ["pyrbm.trajectory/1", "pyrbm.history/1"])
def test_first_redesign_files_are_refused_with_a_way_out(tmp_path, schema):
    xr.Dataset({"x": ("mode", [1.0, 2.0])}, coords={"mode": [0, 1]},
               attrs={"schema": schema}).to_netcdf(tmp_path / "old.nc")
    with pytest.raises(ValueError, match=r"written by pyrbm before mode labels became 1-based.*xarray.open_dataset"):
        pyrbm.load(tmp_path / "old.nc")


# ------------------------------------------------------------------------------ CF attributes
def test_every_variable_of_every_group_describes_itself(tmp_path, ham):
    path = pyrbm.save(make_ds(ham), tmp_path / "run.nc", hamiltonian=ham)
    with netCDF4.Dataset(path) as nc:  # no pyrbm involved in reading
        assert nc.getncattr("Conventions") == "CF-1.10"
        for group in (nc, nc.groups["hamiltonian"]):
            for name, var in group.variables.items():
                attrs = var.ncattrs()
                assert "long_name" in attrs and "units" in attrs, (group.path, name)
                assert var.getncattr("units") not in ("energy", "nats", ""), (group.path, name)
                if var.ndim:
                    assert var.filters()["fletcher32"], (group.path, name)
        assert list(nc.variables["mode"][:]) == [1, 2]


def test_validate_requires_long_name_and_units(ham):
    ds = tr.complete(make_ds(ham), ham)
    tr.validate(ds)
    ds["energy"].attrs["units"] = "energy"
    ds["u"].attrs.pop("long_name")
    ds["extra"] = ("step", np.zeros(7))
    ds = ds.assign_coords(mode=("mode", [0, 1], {"long_name": "mode", "units": "1"}))
    with pytest.raises(ValueError) as info:
        tr.validate(ds)
    msg = str(info.value)
    for needle in ("'energy': units 'energy' is not a unit", "'u': needs a 'long_name'",
                   "'extra': needs a 'long_name'", "'extra': needs a 'units'", "1-based"):
        assert needle in msg, needle


# ------------------------------------------------------------------------------ races
def _race_save(path, seed, barrier, queue):
    real = xr.Dataset.to_netcdf

    def slow(self, target, *args, **kwargs):  # both processes finish writing before either commits
        out = real(self, target, *args, **kwargs)
        if kwargs.get("group") is None:
            barrier.wait(timeout=60)
        return out

    xr.Dataset.to_netcdf = slow
    ham = pyrbm.Hamiltonian.random(6, 4, seed=0)
    try:
        pyrbm.save(make_ds(ham, seed=seed), path)
        queue.put((seed, "ok"))
    except FileExistsError as exc:
        queue.put((seed, f"FileExistsError: {exc}"))
    except BaseException as exc:  # noqa: BLE001
        queue.put((seed, f"{type(exc).__name__}: {exc}"))


def _race_writer(path, seed, barrier, queue):
    ham = pyrbm.Hamiltonian.random(6, 4, seed=0)
    ds = make_ds(ham, seed=seed)
    try:
        w = TrajectoryWriter(path, hamiltonian=ham)
        w.append(ds.isel(step=slice(0, 3)))
        w.append(ds.isel(step=slice(3, 7)))
        barrier.wait(timeout=60)
        w.close()
        queue.put((seed, "ok"))
    except FileExistsError as exc:
        queue.put((seed, f"FileExistsError: {exc}"))
    except BaseException as exc:  # noqa: BLE001
        queue.put((seed, f"{type(exc).__name__}: {exc}"))


@pytest.mark.parametrize("target", [_race_save, _race_writer], ids=["save", "streamed"])
def test_two_processes_racing_without_overwrite_one_wins(tmp_path, target):
    path = tmp_path / "run.nc"
    ctx = multiprocessing.get_context("fork")
    barrier, queue = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=target, args=(path, seed, barrier, queue)) for seed in (11, 22)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    results = dict(queue.get(timeout=5) for _ in procs)
    winners = [s for s, r in results.items() if r == "ok"]
    assert len(winners) == 1, results
    loser = 33 - winners[0]
    assert results[loser].startswith("FileExistsError") and str(path) in results[loser], results
    ham = pyrbm.Hamiltonian.random(6, 4, seed=0)
    back = pyrbm.load(path)
    np.testing.assert_array_equal(back["energy"].values, make_ds(ham, seed=winners[0])["energy"].values)
    assert entries(tmp_path) == []


# ------------------------------------------------------------------------------ vanished temporaries
def test_writer_whose_temporary_vanished_raises(tmp_path, ham):
    path = tmp_path / "run.nc"
    w = TrajectoryWriter(path, hamiltonian=ham)
    ds = make_ds(ham)
    w.append(ds.isel(step=slice(0, 3)))
    tmp = [p for p in entries(tmp_path) if not p.endswith(".lock")][0]
    os.remove(tmp_path / tmp)  # e.g. a sweep by a process on another node
    with pytest.raises(FileNotFoundError, match=f"temporary file of {path}.*removed"):
        w.append(ds.isel(step=slice(3, 7)))
    assert not path.exists()
    w2 = TrajectoryWriter(path, hamiltonian=ham)
    w2.append(ds)
    os.remove(tmp_path / [p for p in entries(tmp_path) if not p.endswith(".lock")][0])
    with pytest.raises(FileNotFoundError, match="removed or replaced by another process"):
        w2.close()
    assert not path.exists() and entries(tmp_path) == []


def test_sweep_never_removes_a_live_writers_temporary(tmp_path, ham, monkeypatch):
    """A writer in another PID namespace has a PID that looks dead here: its lock protects it."""
    path = tmp_path / "run.nc"
    dead_pid = 2 ** 22 + 7  # above pid_max: no process has it on this host
    monkeypatch.setattr(_io, "temporary_name", lambda p: p.with_name(f".{p.name}.tmp-{dead_pid}-0123abcd"))
    w = TrajectoryWriter(path, overwrite=True, hamiltonian=ham)
    ds = make_ds(ham, seed=5)
    w.append(ds.isel(step=slice(0, 3)))
    monkeypatch.undo()
    assert any(f"tmp-{dead_pid}-" in p for p in entries(tmp_path))
    pyrbm.save(make_ds(ham, seed=6), path, overwrite=True)  # sweeps stale temporaries of path
    w.append(ds.isel(step=slice(3, 7)))
    w.close()
    back = pyrbm.load(path)
    xr.testing.assert_identical(back, tr.complete(ds.assign_attrs(created=back.attrs["created"]), ham))
    assert entries(tmp_path) == []


def test_old_temporary_without_lock_is_swept_only_when_old(tmp_path, ham):
    path = tmp_path / "run.nc"
    orphan = tmp_path / f".run.nc.tmp-{os.getpid() + 1}-0123abcd"
    orphan.write_bytes(b"x" * 100)
    pyrbm.save(make_ds(ham), path)
    assert orphan.exists()  # young: might belong to a writer of an older pyrbm
    os.utime(orphan, (0, 0))
    pyrbm.save(make_ds(ham), path, overwrite=True)
    assert not orphan.exists()


# ------------------------------------------------------------------------------ write errors
def _open_fds_on(directory):
    out = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(directory)) and ".tmp-" in target and not target.endswith(".lock"):
            out.append(target)
    return out


@pytest.mark.parametrize("error", [RuntimeError("NetCDF: HDF error"), OSError(errno.ENOSPC, "No space left on device")],
                         ids=["hdf", "enospc"])
def test_full_disk_names_the_path_and_frees_the_space(tmp_path, ham, monkeypatch, error):
    path = tmp_path / "run.nc"
    real = netCDF4.Variable.__setitem__

    def full(self, key, value):
        raise error

    w = TrajectoryWriter(path, hamiltonian=ham)
    ds = make_ds(ham)
    w.append(ds.isel(step=slice(0, 3)))
    monkeypatch.setattr(netCDF4.Variable, "__setitem__", full)
    with pytest.raises(OSError, match=f"writing {path} failed.*free space") as info:
        w.append(ds.isel(step=slice(3, 7)))
    monkeypatch.setattr(netCDF4.Variable, "__setitem__", real)
    assert info.value.filename == str(path)
    assert not path.exists() and entries(tmp_path) == [] and _open_fds_on(tmp_path) == []

    def full_save(self, *args, **kwargs):
        raise error

    monkeypatch.setattr(xr.Dataset, "to_netcdf", full_save)
    with pytest.raises(OSError, match=f"writing {path} failed"):
        pyrbm.save(ds, path)
    assert not path.exists() and entries(tmp_path) == [] and _open_fds_on(tmp_path) == []


# ------------------------------------------------------------------------------ integrity
def test_single_byte_flips_are_detected(tmp_path, ham):
    ds = make_ds(ham, n_steps=40)
    path = pyrbm.save(ds, tmp_path / "run.nc", hamiltonian=ham)
    want = pyrbm.load(path)
    want_ham = pyrbm.load_hamiltonian(path)
    data = bytearray(path.read_bytes())
    rng = random.Random(0)
    copy = tmp_path / "copy.nc"
    outcomes = {"error": 0, "identical": 0}
    for _ in range(300):
        i = rng.randrange(len(data))
        flipped = bytearray(data)
        flipped[i] ^= 1 << rng.randrange(8)
        copy.write_bytes(bytes(flipped))
        try:
            got = pyrbm.load(copy)
            got_ham = pyrbm.load_hamiltonian(copy)
        except (ValueError, OSError) as exc:
            assert str(copy) in str(exc), (i, exc)
            outcomes["error"] += 1
            continue
        xr.testing.assert_identical(got, want)
        assert got.encoding["checksum"] == want.encoding["checksum"]
        for k in ("W", "a", "b"):
            assert getattr(got_ham, k).tobytes() == getattr(want_ham, k).tobytes(), (i, k)
        outcomes["identical"] += 1
    assert outcomes["error"] > 0


def test_checksum_covers_the_hamiltonian_group(tmp_path, ham):
    path = pyrbm.save(make_ds(ham), tmp_path / "run.nc", hamiltonian=ham)
    with netCDF4.Dataset(path, "a") as nc:  # a valid edit the HDF5 checksums cannot see
        nc.groups["hamiltonian"].variables["a"][0] = 5.0
    with pytest.raises(pyrbm.IntegrityError, match=f"{path} does not match its checksum"):
        pyrbm.load(path)
    assert pyrbm.load(path, verify=False).sizes["step"] == 7


# ------------------------------------------------------------------------------ the race in a continuation's commit
SLOW_FSYNC = """
import os, sys, time
sys.path.insert(0, sys.argv[2])
import pyrbm, pyrbm.io.netcdf
from test_trajectory import gibbs_run
import numpy as np
rng = np.random.default_rng(11)
ham = pyrbm.Hamiltonian(rng.normal(0, 0.7, (6, 4)), rng.normal(0, 0.3, 6), rng.normal(0, 0.3, 4), beta=0.8)
real, calls = os.fsync, []
def slow(fd):
    calls.append(fd)
    if len(calls) == 1:           # the temporary's fsync, just before the move
        print("fsync", flush=True)
        time.sleep(3)
    real(fd)
pyrbm.io.netcdf.os.fsync = slow
try:
    gibbs_run(ham, 10, sys.argv[1], state=pyrbm.load_state(sys.argv[1]))
except FileExistsError as exc:
    print("refused:", exc, flush=True)
else:
    print("success", flush=True)
"""


def test_two_continuations_never_both_succeed_while_one_is_lost(tmp_path):
    """Before: the writer checked the file, then fsynced, then replaced it: a commit landing during the
    fsync was overwritten and both processes reported success."""
    rng = np.random.default_rng(11)
    ham = pyrbm.Hamiltonian(rng.normal(0, 0.7, (6, 4)), rng.normal(0, 0.3, 6), rng.normal(0, 0.3, 4), beta=0.8)
    path = tmp_path / "run.nc"
    gibbs_run(ham, 16, path)
    proc = subprocess.Popen([sys.executable, "-c", SLOW_FSYNC, str(path), str(Path(__file__).parent)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "fsync", proc.stderr.read()
        gibbs_run(ham, 6, path, state=pyrbm.load_state(path))  # commits while the other process is in fsync
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert out.startswith("refused:") and "changed by another process" in out, out + err
    kept = tr.load(path)
    assert kept.attrs["n_steps"] == 22 and kept.sizes["step"] == 11  # this process's continuation is there


# ------------------------------------------------------------------------------ hostile inputs
def test_hamiltonian_of_a_dataset_whose_file_was_replaced_is_refused(tmp_path, ham):
    """Before: ds.rbm.hamiltonian() compared dims only and returned the newer model."""
    path = pyrbm.save(make_ds(ham), tmp_path / "run.nc", hamiltonian=ham)
    ds = pyrbm.load(path)
    assert ds.rbm.hamiltonian().W.tobytes() == ham.W.tobytes()
    other = ham.replace(beta=0.3)
    pyrbm.save(make_ds(ham), path, hamiltonian=other, overwrite=True)  # same dims, another model
    with pytest.raises(ValueError, match="was replaced since this dataset was loaded"):
        ds.rbm.hamiltonian()
    assert pyrbm.load(path).rbm.hamiltonian().beta == 0.3


@pytest.mark.parametrize("group, read", [("hamiltonian", pyrbm.load_hamiltonian), ("state", pyrbm.load_state)])
def test_deleted_checksums_and_an_edit_are_refused_by_every_reader(tmp_path, ham, group, read):
    """Before: with the checksum attributes deleted, an edited W loaded through load_hamiltonian/load_state."""
    path = tmp_path / "run.nc"
    pyrbm.GibbsSampler(3, seed=0).run(ham, n_steps=4, out=path)[0].close()
    with netCDF4.Dataset(path, "a") as nc:
        nc.delncattr("checksum")
        g = nc.groups[group]
        g.delncattr("checksum")
        name = "W" if group == "hamiltonian" else "streams"
        g.variables[name][0, 0] = g.variables[name][0, 0] + 1
    for reader in (read, pyrbm.load):
        with pytest.raises(pyrbm.IntegrityError, match=f"{path}.*(no 'checksum'|lacks its checksum)"):
            reader(path)


REPLACER = """
import os, sys, time
a, b, target = sys.argv[1:4]
end = time.time() + float(sys.argv[4])
i = 0
while time.time() < end:
    src = (a, b)[i % 2]
    tmp = f"{target}.swap{i % 2}"
    with open(src, "rb") as f, open(tmp, "wb") as g:
        g.write(f.read())
    os.replace(tmp, target)
    i += 1
print(i)
"""


def test_loading_while_another_process_replaces_the_file_never_reports_damage(tmp_path, ham):
    """Before: the path was opened several times per load; 2 of 70 loads mixed two files and
    reported "damaged … restore it from a copy"."""
    a = pyrbm.save(make_ds(ham, seed=1), tmp_path / "a.nc", hamiltonian=ham)
    b = pyrbm.save(make_ds(ham, seed=2), tmp_path / "b.nc", hamiltonian=ham.replace(beta=0.4))
    target = tmp_path / "run.nc"
    target.write_bytes(a.read_bytes())
    want = {pyrbm.load(a).encoding["checksum"], pyrbm.load(b).encoding["checksum"]}
    proc = subprocess.Popen([sys.executable, "-c", REPLACER, str(a), str(b), str(target), "6"],
                            stdout=subprocess.PIPE, text=True)
    loads = 0
    try:
        while proc.poll() is None:
            assert pyrbm.load(target).encoding["checksum"] in want
            assert pyrbm.load_hamiltonian(target).beta in (0.8, 0.4)
            loads += 1
    finally:
        swaps = int(proc.communicate(timeout=60)[0])
    assert loads >= 10 and swaps >= 10, (loads, swaps)


def test_damaged_attribute_bytes_name_the_file(tmp_path, ham):
    """Before: 13 of 92 flips in the header gave "AttributeError: NetCDF: Can't open HDF5 attribute" (no path)."""
    path = pyrbm.save(make_ds(ham), tmp_path / "run.nc", hamiltonian=ham)
    want = pyrbm.load(path).encoding["checksum"]
    data = path.read_bytes()
    copy = tmp_path / "copy.nc"
    outcomes = {"refused": 0, "identical": 0}
    for i in range(0, min(len(data), 6000), 23):  # the superblock and the object headers with the attributes
        flipped = bytearray(data)
        flipped[i] ^= 0x10
        copy.write_bytes(bytes(flipped))
        try:
            got = pyrbm.load(copy)
        except (ValueError, OSError) as exc:  # IntegrityError is a ValueError
            assert str(copy) in str(exc), (i, type(exc).__name__, exc)
            outcomes["refused"] += 1
        else:
            assert got.encoding["checksum"] == want, i
            outcomes["identical"] += 1
    assert outcomes["refused"] > 10, outcomes


def test_result_schema_round_trip_checks_and_refusals(tmp_path):
    ds = xr.Dataset({"chi": ("beta", [0.1234567, 0.4], {"long_name": "susceptibility", "units": "1"})},
                    coords={"beta": ("beta", [0.5, 1.0], {"long_name": "inverse temperature", "units": "1"})},
                    attrs={"schema": "pyrbm.result/1", "experiment": "chi"})
    path = pyrbm.save(ds, tmp_path / "chi.nc")
    back = pyrbm.load(path)
    assert back.attrs["schema"] == "pyrbm.result/1" and back.attrs["pyrbm_version"] == pyrbm.__version__
    xr.testing.assert_equal(back, ds)
    assert pyrbm.validate(back) is back
    bad = ds.copy()
    bad["chi"].attrs = {"long_name": "susceptibility"}
    with pytest.raises(ValueError, match="variable 'chi': needs a 'units' attribute"):
        pyrbm.save(bad, tmp_path / "bad.nc")
    with pytest.raises(ValueError, match="cannot be stored"):
        pyrbm.save(ds.assign(z=("beta", [1j, 2j], {"long_name": "z", "units": "1"})), tmp_path / "bad.nc")
    assert not (tmp_path / "bad.nc").exists()
    with netCDF4.Dataset(path, "a") as nc:  # a value edited after writing
        nc.variables["chi"][0] = 0.12333
    with pytest.raises(pyrbm.IntegrityError, match=f"{path} does not match its checksum"):
        pyrbm.load(path)


def test_resuming_from_a_file_that_is_no_checkpoint_names_it_without_pickle_advice(tmp_path, ham):
    """Before: a non-npz file gave numpy's advice to pass allow_pickle."""
    path = pyrbm.save(make_ds(ham), tmp_path / "run.nc")
    with pytest.raises(ValueError, match=f"resume: {path} is not a pyrbm checkpoint") as err:
        load_checkpoint(path)
    assert "pickle" not in str(err.value)


def test_paths_refused_before_any_work(tmp_path, ham):
    """Before: names over ~230 bytes failed at the end naming the hidden temporary; a link to a missing
    directory failed only after all the work."""
    with pytest.raises(ValueError, match="choose a name of at most 200 bytes"):
        pyrbm.GibbsSampler(2, seed=0).run(ham, n_steps=2, out=tmp_path / ("x" * 240 + ".nc"))
    link = tmp_path / "run.nc"
    link.symlink_to(tmp_path / "missing" / "run.nc")
    with pytest.raises(FileNotFoundError, match="the target of the link"):
        pyrbm.GibbsSampler(2, seed=0).run(ham, n_steps=2, out=link)
    assert sorted(os.listdir(tmp_path)) == ["run.nc"]
