"""Trajectory files: schema validation, bit-exact netCDF round trips, streaming, crash safety."""

import os
import re
import signal
import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import netCDF4
import numpy as np
import pytest
import xarray as xr

import pyrbm
import pyrbm.accessor  # noqa: F401  (registers ds.rbm)
from pyrbm.io import trajectory as tr

ATTRS = {
    "schema": "pyrbm.trajectory/2",
    "Conventions": "CF-1.10",
    "pyrbm_version": pyrbm.__version__,
    "created": "2026-01-01T00:00:00+00:00",
    "sampler": "gibbs",
    "units": "binary",
    "beta": 0.8,
    "seed": 3,
    "n_visible": 6,
    "n_hidden": 4,
    "thin": 10,
}


def make_ds(ham, n_steps=7, n_chains=3, seed=0):
    rng = np.random.default_rng(seed)
    return xr.Dataset(
        {
            "v": (("step", "chain", "visible"), rng.integers(0, 2, (n_steps, n_chains, 6)).astype(np.int8),
                  {"long_name": "visible configuration", "units": "1"}),
            "h": (("step", "chain", "hidden"), rng.integers(0, 2, (n_steps, n_chains, 4)).astype(np.int8),
                  {"long_name": "hidden configuration", "units": "1"}),
            "energy": (("step", "chain"), rng.standard_normal((n_steps, n_chains)),
                       {"long_name": "energy", "units": "1", "formula": r"E(v,h) = -a^\top v"}),
            "u": (("step", "chain", "mode"), rng.standard_normal((n_steps, n_chains, 2)).astype(np.float32),
                  {"long_name": "downhill coordinate", "units": "1"}),
            "acceptance": ("step", rng.uniform(size=n_steps), {"long_name": "acceptance rate", "units": "1"}),
        },
        coords={
            "step": ("step", np.arange(n_steps) * 10, {"long_name": "sweep", "units": "1"}),
            "mode": ("mode", [1, 2], {"long_name": "mode label", "units": "1"}),
            "singular_value": ("mode", ham.modes.s[:2], {"long_name": "singular value", "units": "1"}),
        },
        attrs=dict(ATTRS),
    )


def temporaries(directory):
    return [p for p in os.listdir(directory) if ".tmp-" in p]


# ---------------------------------------------------------------------- save / load
def test_round_trip_identical_int8_zlib(tmp_path, ham):
    ds = make_ds(ham)
    path = pyrbm.io.trajectory.save(ds, tmp_path / "run.nc", hamiltonian=ham)
    assert path == tmp_path / "run.nc"
    back = tr.load(path)
    xr.testing.assert_identical(back, ds)
    assert back["v"].dtype == np.int8
    with netCDF4.Dataset(path) as nc:
        assert nc.variables["v"].dtype == np.int8 and nc.variables["h"].dtype == np.int8
        assert all(nc.variables[k].filters()["zlib"] for k in ("v", "h", "energy", "u"))
        assert "hamiltonian" in nc.groups
    assert temporaries(tmp_path) == []


@pytest.mark.parametrize("units", ["binary", "spin"])
def test_hamiltonian_group_round_trips_bit_exactly(tmp_path, ham, units):
    ham = ham.replace(beta=1 / 3, units=units)
    ds = make_ds(ham)
    if units == "spin":
        ds["v"] = 2 * ds["v"] - 1
        ds["h"] = 2 * ds["h"] - 1
    ds.attrs["units"] = units
    path = tr.save(ds, tmp_path / "run.nc", hamiltonian=ham)
    back = pyrbm.load_hamiltonian(path)
    for name in ("W", "a", "b"):
        got, want = getattr(back, name), getattr(ham, name)
        assert got.dtype == want.dtype and got.tobytes() == want.tobytes()
    assert back.beta == ham.beta and back.units == units
    loaded = tr.load(path)
    assert loaded.rbm.hamiltonian().W.tobytes() == ham.W.tobytes()
    xr.testing.assert_identical(loaded, ds)


def test_save_stamps_provenance_and_stores_float_configs_as_int8(tmp_path, ham):
    ds = make_ds(ham)
    ds.attrs = {"sampler": "gibbs"}
    ds["v"] = ds["v"].astype(np.float64)
    path = tr.save(ds, tmp_path / "run.nc", hamiltonian=ham)
    back = tr.load(path)
    assert back.attrs["schema"] == "pyrbm.trajectory/2" and back.attrs["pyrbm_version"] == pyrbm.__version__
    assert back.attrs["units"] == "binary" and back.attrs["beta"] == 0.8
    assert back.attrs["n_visible"] == 6 and back.attrs["n_hidden"] == 4
    assert back["v"].dtype == np.int8
    np.testing.assert_array_equal(back["v"].values, ds["v"].values)
    assert ds.attrs == {"sampler": "gibbs"}  # the input is not mutated
    tr.validate(back)


def test_load_does_not_hold_the_file(tmp_path, ham):
    path = tmp_path / "run.nc"
    tr.save(make_ds(ham, seed=1), path)
    first = tr.load(path)
    tr.save(make_ds(ham, seed=2), path, overwrite=True)
    second = tr.load(path)
    xr.testing.assert_identical(second, make_ds(ham, seed=2))
    xr.testing.assert_identical(first, make_ds(ham, seed=1))
    with tr.load(path, lazy=True) as lazy:
        assert not lazy["energy"].variable._in_memory
        np.testing.assert_array_equal(lazy["energy"].values, second["energy"].values)


def test_user_observable_lands_with_dims_and_attrs(tmp_path, ham):
    ds = make_ds(ham)
    ds["spectrum"] = (("step", "chain", "feature"), np.ones((7, 3, 5)),
                      {"long_name": "a user measurement", "units": "1", "formula": r"\phi_f(v)"})
    ds = ds.assign_coords(feature=("feature", np.arange(5) * 0.5, {"long_name": "feature", "units": "1"}))
    back = tr.load(tr.save(ds, tmp_path / "run.nc"))
    assert back["spectrum"].dims == ("step", "chain", "feature")
    assert back["spectrum"].attrs["formula"] == r"\phi_f(v)"
    xr.testing.assert_identical(back, ds)


# ---------------------------------------------------------------------- validation
def test_validate_lists_every_problem():
    ds = xr.Dataset(
        {"v": (("step", "chain", "visible"), np.full((2, 1, 3), 0.5)),
         "u": (("step", "chain", "mode"), np.zeros((2, 1, 2)))},
        attrs={"schema": "other/9", "flag": True, "cfg": {"a": 1}, "nothing": None, "n_visible": 5},
    )
    with pytest.raises(ValueError) as info:
        tr.validate(ds)
    msg = str(info.value)
    for needle in ("pyrbm_version", "created", "'schema' is 'other/9'", "'flag'", "'cfg'", "'nothing'",
                   "'units'", "singular_value", "'n_visible' = 5", "values 0 and 1"):
        assert needle in msg, needle
    with pytest.raises(TypeError, match="ds: expected an xarray.Dataset"):
        tr.validate({"schema": "pyrbm.trajectory/1"})


def test_validate_accepts_good_dataset(ham):
    ds = make_ds(ham)
    assert tr.validate(ds) is ds


def test_save_refuses_invalid_dataset_before_writing(tmp_path, ham):
    ds = make_ds(ham)
    ds.attrs["settings"] = {"k": 1}
    with pytest.raises(ValueError, match="'settings'"):
        tr.save(ds, tmp_path / "run.nc")
    with pytest.raises(ValueError, match="hamiltonian: has 5 visible"):
        tr.save(make_ds(ham), tmp_path / "run.nc", hamiltonian=pyrbm.Hamiltonian.random(5, 4, seed=0))
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------- paths
def test_existing_file_refused_without_overwrite(tmp_path, ham):
    path = tmp_path / "run.nc"
    path.write_bytes(b"previous")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        tr.save(make_ds(ham), path)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        pyrbm.TrajectoryWriter(path)
    assert path.read_bytes() == b"previous"


def test_unwritable_or_missing_directory_refused(tmp_path, ham):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        tr.save(make_ds(ham), tmp_path / "missing" / "run.nc")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        pyrbm.TrajectoryWriter(tmp_path / "missing" / "run.nc")
    ro = Path("/proc/sys")
    if os.access(ro, os.W_OK):
        pytest.skip("no unwritable directory available to this user")
    with pytest.raises(PermissionError, match="not writable"):
        pyrbm.TrajectoryWriter(ro / "run.nc")


def test_load_missing_file_and_missing_hamiltonian(tmp_path, ham):
    with pytest.raises(FileNotFoundError, match="no file"):
        tr.load(tmp_path / "nope.nc")
    path = tr.save(make_ds(ham), tmp_path / "run.nc")
    with pytest.raises(ValueError, match="no 'hamiltonian' group"):
        pyrbm.load_hamiltonian(path)
    with pytest.raises(ValueError, match="carries no Hamiltonian"):
        make_ds(ham).rbm.hamiltonian()


# ---------------------------------------------------------------------- streaming
def test_writer_equals_in_memory_dataset(tmp_path, ham):
    ds = make_ds(ham, n_steps=11)
    with pyrbm.TrajectoryWriter(tmp_path / "run.nc", hamiltonian=ham, attrs=ds.attrs) as w:
        for start, stop in [(0, 4), (4, 8), (8, 9), (9, 11)]:
            chunk = ds.isel(step=slice(start, stop))
            if start == 4:  # dim order of a chunk does not matter
                chunk = chunk.transpose("chain", "step", ...)
            w.append(chunk)
        assert w.n_steps == 11
    assert w.closed
    back = tr.load(tmp_path / "run.nc")
    xr.testing.assert_identical(back, ds)
    assert pyrbm.load_hamiltonian(tmp_path / "run.nc").W.tobytes() == ham.W.tobytes()
    with netCDF4.Dataset(tmp_path / "run.nc") as nc:
        assert nc.dimensions["step"].isunlimited()
        assert nc.variables["v"].dtype == np.int8
    assert temporaries(tmp_path) == []


def test_writer_memory_is_bounded(tmp_path, ham):
    n_chains = 400
    rng = np.random.default_rng(0)
    chunk = xr.Dataset({"v": (("step", "chain", "visible"), rng.integers(0, 2, (25, n_chains, 6)).astype(np.int8),
                              {"long_name": "v", "units": "1"}),
                        "energy": (("step", "chain"), rng.standard_normal((25, n_chains)), {"long_name": "E", "units": "1"})})
    w = pyrbm.TrajectoryWriter(tmp_path / "run.nc", hamiltonian=ham)
    w.append(chunk)
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for _ in range(80):  # 80 x 140 kB = 11 MB streamed
        w.append(chunk)
    grown = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    w.close()
    assert grown < 1_000_000
    assert tr.load(tmp_path / "run.nc").sizes["step"] == 81 * 25


def test_writer_rejects_mismatched_chunks_and_stays_usable(tmp_path, ham):
    ds = make_ds(ham)
    w = pyrbm.TrajectoryWriter(tmp_path / "run.nc", attrs=ds.attrs)
    w.append(ds.isel(step=slice(0, 3)))
    with pytest.raises(ValueError, match="differ from the first chunk"):
        w.append(ds.isel(step=slice(3, 5)).drop_vars("energy"))
    with pytest.raises(ValueError, match="'chain' has size 2"):
        w.append(ds.isel(step=slice(3, 5), chain=slice(0, 2)))
    with pytest.raises(ValueError, match="must be the same in every chunk"):
        w.append(ds.isel(step=slice(3, 5)).assign_coords(singular_value=("mode", [9.0, 8.0])))
    bad = ds.isel(step=slice(3, 5)).copy(deep=True)
    bad["v"][0, 0, 0] = 3
    with pytest.raises(ValueError, match="values 0 and 1"):
        w.append(bad)
    with pytest.raises(ValueError, match="'step' dimension"):
        w.append(ds.isel(step=0))
    with pytest.raises(TypeError, match="chunk"):
        w.append(ds["energy"])
    w.append(ds.isel(step=slice(3, 7)))
    w.close()
    xr.testing.assert_identical(tr.load(tmp_path / "run.nc"), ds)
    with pytest.raises(ValueError, match="closed"):
        w.append(ds)


def test_writer_with_nothing_appended_writes_nothing(tmp_path):
    with pytest.raises(ValueError, match="no chunk was appended"):
        with pyrbm.TrajectoryWriter(tmp_path / "run.nc"):
            pass
    assert os.listdir(tmp_path) == []


def test_writer_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="attrs"):
        pyrbm.TrajectoryWriter(tmp_path / "run.nc", attrs={"ok": 1, "bad": None})
    with pytest.raises(TypeError, match="hamiltonian"):
        pyrbm.TrajectoryWriter(tmp_path / "run.nc", hamiltonian="model.nc")
    with pytest.raises(TypeError, match="overwrite"):
        pyrbm.TrajectoryWriter(tmp_path / "run.nc", overwrite="yes")


def test_exception_inside_writer_keeps_previous_file(tmp_path, ham):
    path = tmp_path / "run.nc"
    tr.save(make_ds(ham, seed=1), path)
    before = path.read_bytes()
    ds = make_ds(ham, seed=2)
    with pytest.raises(RuntimeError, match="simulated crash"):
        with pyrbm.TrajectoryWriter(path, overwrite=True, attrs=ds.attrs) as w:
            w.append(ds.isel(step=slice(0, 3)))
            assert len([t for t in temporaries(tmp_path) if not t.endswith(".lock")]) == 1
            raise RuntimeError("simulated crash")
    assert path.read_bytes() == before
    assert temporaries(tmp_path) == []


CHILD = textwrap.dedent(
    """
    import sys, time, numpy as np, xarray as xr
    from pyrbm.io.writer import TrajectoryWriter
    chunk = xr.Dataset({"energy": (("step", "chain"), np.zeros((5, 4)), {"long_name": "E", "units": "1"})})
    deadline = time.monotonic() + 20  # bounded: an interrupt that got lost fails clearly, it does not hang
    with TrajectoryWriter(sys.argv[1], overwrite=True) as w:
        while time.monotonic() < deadline:
            w.append(chunk)
            if w.n_steps == 10:
                print("appending", flush=True)
            time.sleep(0.002)
        raise SystemExit("no KeyboardInterrupt within 20 s of the first records")
    """
)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_killed_writer_keeps_previous_file(tmp_path, ham, sig):
    path = tmp_path / "run.nc"
    tr.save(make_ds(ham, seed=1), path)
    before = path.read_bytes()
    with subprocess.Popen([sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout.readline().strip() == "appending", proc.stderr.read()
            proc.send_signal(sig)
            _, err = proc.communicate(timeout=30)  # reads both pipes: a chatty child cannot block on them
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert path.read_bytes() == before
    xr.testing.assert_identical(tr.load(path), make_ds(ham, seed=1))
    if sig == signal.SIGINT:  # KeyboardInterrupt: the writer cleans up itself
        assert "KeyboardInterrupt" in err and "no KeyboardInterrupt" not in err, err
        assert temporaries(tmp_path) == []
    else:  # a hard kill cannot clean up: the next write to the path removes the orphan
        orphans = sorted(temporaries(tmp_path))  # the temporary and its (now unlocked) lock file
        assert len(orphans) == 2 and orphans[1] == orphans[0] + ".lock"
        tr.save(make_ds(ham, seed=2), path, overwrite=True)
        assert temporaries(tmp_path) == []
        xr.testing.assert_identical(tr.load(path), make_ds(ham, seed=2))


# ---------------------------------------------------------------------- continuing a run
class CFEnergy(pyrbm.Observable):
    """Energy with CF attributes (independent of the built-ins' attributes)."""

    name = "energy"
    attrs = {"long_name": "energy E(v, h) (in units of k_B T at beta = 1)", "units": "1"}

    def compute(self, ham, v, h):
        return ham.energy(v, h)


def observables():
    return [CFEnergy(), pyrbm.Magnetization("visible"), pyrbm.ModeProjection("x", modes=2)]


def gibbs_run(ham, n_steps, out, state=None, **kw):
    sampler = pyrbm.GibbsSampler(4, seed=3)
    ds, st = sampler.run(ham, state=state, n_steps=n_steps, thin=2, observables=observables(),
                         keep_configs=True, out=out, **kw)
    ds.close()
    return st


@pytest.fixture
def fixed_clock(monkeypatch):
    monkeypatch.setattr(pyrbm.io.netcdf, "now", lambda: "2026-01-01T00:00:00+00:00")


def assert_same_state(a, b):
    assert type(a) is type(b) and a.step == b.step and a.seed == b.seed
    for name in a._evolving:
        assert getattr(a, name).tobytes() == getattr(b, name).tobytes(), name


def test_continued_run_equals_one_long_run(tmp_path, ham, fixed_clock):
    long_state = gibbs_run(ham, 40, tmp_path / "long.nc")
    path = tmp_path / "run.nc"
    st1 = gibbs_run(ham, 16, path)
    part1 = path.read_bytes()
    with pytest.raises(FileExistsError, match="does not continue it: it holds a run that ends at step 16"):
        gibbs_run(ham, 24, path, state=pyrbm.GibbsSampler(4, seed=3).init_state(ham))
    with pytest.raises(ValueError, match="burn_in"):
        gibbs_run(ham, 24, path, state=st1, burn_in=2)
    with pytest.raises(ValueError, match="attribute 'thin' is 2 in the file and 4"):
        pyrbm.GibbsSampler(4, seed=3).run(ham, state=st1, n_steps=24, thin=4, observables=observables(),
                                          keep_configs=True, out=path)
    assert path.read_bytes() == part1
    st2 = gibbs_run(ham, 24, path, state=st1)
    long, cont = tr.load(tmp_path / "long.nc"), tr.load(path)
    xr.testing.assert_identical(cont, long)  # attributes included: n_steps = 40, first_step = 0
    assert cont.attrs["n_steps"] == 40 and cont["step"].values.tolist() == list(range(2, 41, 2))
    assert_same_state(st2, long_state)
    assert_same_state(pyrbm.load_state(path), long_state)
    # from the file alone (its stored state), into a third part
    gibbs_run(ham, 10, path, state=pyrbm.load_state(path))
    gibbs_run(ham, 10, tmp_path / "long.nc", state=pyrbm.load_state(tmp_path / "long.nc"))
    xr.testing.assert_identical(tr.load(path), tr.load(tmp_path / "long.nc"))
    assert temporaries(tmp_path) == []


RUN_AND_SIGNAL = textwrap.dedent(
    """
    import ast, os, sys, time
    import numpy as np
    import pyrbm, pyrbm.io.storage
    path, here, at_record, n_steps, setting, value = sys.argv[1:7]
    sys.path.insert(0, here)
    from test_trajectory import gibbs_run, CFEnergy
    setattr(pyrbm.io.storage, setting, ast.literal_eval(value))
    pyrbm.io.netcdf.now = lambda: "2026-01-01T00:00:00+00:00"
    rng = np.random.default_rng(11)
    ham = pyrbm.Hamiltonian(rng.normal(0, 0.7, (6, 4)), rng.normal(0, 0.3, 6), rng.normal(0, 0.3, 4), beta=0.8)
    real = CFEnergy.compute
    count = [0]
    def slow(self, ham, v, h):
        count[0] += 1
        if count[0] == int(at_record):
            print("recording", flush=True)
        time.sleep(0.02)
        return real(self, ham, v, h)
    CFEnergy.compute = slow
    state = pyrbm.load_state(path) if os.path.exists(path) else None
    gibbs_run(ham, int(n_steps), path, state=state)
    """
)
"""A child process that runs (or continues) a slow recorded run of the module's model into ``path``,
prints "recording" at record ``at_record`` and sets one setting of ``pyrbm.io.storage`` first."""


def _signal_when_recording(args, sig):
    """Run ``python -c args...``; once it prints "recording", send ``sig``; return its stderr."""
    proc = subprocess.Popen([sys.executable, "-c", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "recording", proc.stderr.read()
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return err


def _start_and_signal(path, sig):
    """Continue (or start) a 4,000-step run flushed at every record; signal it at record 5."""
    return _signal_when_recording([RUN_AND_SIGNAL, path, Path(__file__).parent, 5, 4000, "BUFFER_BYTES", 1], sig)


def test_continuation_killed_between_and_during_parts_equals_one_long_run(tmp_path, ham, fixed_clock):
    path = tmp_path / "run.nc"
    gibbs_run(ham, 16, path)
    part1 = path.read_bytes()
    _start_and_signal(path, signal.SIGKILL)  # killed while continuing: part 1 is intact
    assert path.read_bytes() == part1
    gibbs_run(ham, 24, path, state=pyrbm.load_state(path))  # continued from the file; sweeps the orphan
    gibbs_run(ham, 40, tmp_path / "long.nc")
    xr.testing.assert_identical(tr.load(path), tr.load(tmp_path / "long.nc"))
    assert temporaries(tmp_path) == []


def test_interrupted_run_keeps_flushed_records_and_continues(tmp_path, ham, fixed_clock):
    path = tmp_path / "run.nc"
    err = _start_and_signal(path, signal.SIGINT)
    assert "KeyboardInterrupt" in err, err
    kept = tr.load(path)
    n = kept.sizes["step"]
    assert n >= 4 and kept.attrs["n_steps"] == 2 * n
    assert kept["step"].values.tolist() == list(range(2, 2 * n + 1, 2))
    assert pyrbm.load_state(path).step == 2 * n  # the state at the last kept record
    gibbs_run(ham, 10, path, state=pyrbm.load_state(path))
    gibbs_run(ham, 2 * n + 10, tmp_path / "long.nc")
    xr.testing.assert_identical(tr.load(path), tr.load(tmp_path / "long.nc"))
    assert temporaries(tmp_path) == []


def test_run_whose_temporary_vanishes_raises_and_writes_nothing(tmp_path, ham, monkeypatch):
    """Before: the run returned an empty dataset and run.nc held only the Hamiltonian."""
    monkeypatch.setattr(pyrbm.io.storage, "BUFFER_BYTES", 1)  # flush every record
    path = tmp_path / "run.nc"
    real = CFEnergy.compute
    count = [0]

    def sweeping(self, ham_, v, h):  # another node's sweep removes the temporary mid-run
        count[0] += 1
        if count[0] == 3:
            for name in temporaries(tmp_path):
                if not name.endswith(".lock"):
                    os.remove(tmp_path / name)
        return real(self, ham_, v, h)

    monkeypatch.setattr(CFEnergy, "compute", sweeping)
    with pytest.raises(FileNotFoundError, match=f"temporary file of {path} was removed"):
        gibbs_run(ham, 20, path)
    assert not path.exists() and temporaries(tmp_path) == []


def test_streamed_run_file_describes_itself(tmp_path, ham):
    path = tmp_path / "run.nc"
    gibbs_run(ham, 8, path)
    ds = pyrbm.load(path)
    assert pyrbm.validate(ds) is ds
    assert ds["mode"].values.tolist() == [1, 2]
    with netCDF4.Dataset(path) as nc:  # read without pyrbm
        assert set(nc.groups) == {"hamiltonian", "state"}
        for group in (nc, *nc.groups.values()):
            for name, var in group.variables.items():
                assert {"long_name", "units"} <= set(var.ncattrs()), (group.path, name)
                assert var.ndim == 0 or var.filters()["fletcher32"], (group.path, name)


# ---------------------------------------------------------------------- bounded loss on interruption
def _stream_and_signal(path, sig, at_record, sync_seconds=5.0):
    """Start a streamed run with pyrbm's default buffers, signal it once it made ``at_record`` records."""
    return _signal_when_recording([RUN_AND_SIGNAL, path, Path(__file__).parent, at_record, 100000, "SYNC_SECONDS",
                                   sync_seconds], sig)


@pytest.mark.parametrize("sig, raised", [(signal.SIGINT, "KeyboardInterrupt"), (signal.SIGTERM, "Terminated")])
def test_ctrl_c_and_sigterm_keep_every_record_so_far(tmp_path, ham, sig, raised):
    """Before: records reached the file only when an 8 MiB buffer filled; a Ctrl-C after 40 s left no file."""
    path = tmp_path / "run.nc"
    err = _stream_and_signal(path, sig, at_record=30)
    assert raised in err, err
    kept = tr.load(path)  # checksum verified
    n = kept.sizes["step"]
    assert n >= 29 and kept.attrs["n_steps"] == 2 * n  # the observable of record 30 ran when the signal came
    state = pyrbm.load_state(path)
    assert state.step == 2 * n
    gibbs_run(ham, 10, path, state=state)  # the run goes on from its file
    gibbs_run(ham, 2 * n + 10, tmp_path / "long.nc")
    xr.testing.assert_identical(tr.load(path).drop_attrs(), tr.load(tmp_path / "long.nc").drop_attrs())
    assert temporaries(tmp_path) == []


def test_sigkill_loses_at_most_the_last_sync_interval(tmp_path, ham):
    path = tmp_path / "run.nc"
    err = _stream_and_signal(path, signal.SIGKILL, at_record=60, sync_seconds=0.3)  # ≥ 1.2 s of records
    kept = tr.load(path)  # a complete, checksummed file from the last sync
    n = kept.sizes["step"]
    assert 1 <= n <= 60 and kept.attrs["n_steps"] == 2 * n, err
    assert pyrbm.load_state(path).step == 2 * n
    gibbs_run(ham, 4, path, state=pyrbm.load_state(path))


def test_streamed_records_reach_the_file_every_sync_interval(tmp_path, ham, monkeypatch):
    """A fake clock: a sync is due once SYNC_SECONDS passed, whatever the buffer holds."""
    clock = [0.0]
    monkeypatch.setattr(pyrbm.io.storage.time, "monotonic", lambda: clock[0])
    path = tmp_path / "run.nc"
    real = CFEnergy.compute
    seen = []

    def ticking(self, ham_, v, h):
        seen.append(tr.load(path).sizes["step"] if path.exists() else 0)  # what the file holds before this record
        clock[0] += 1.0  # each record takes one "second"
        return real(self, ham_, v, h)

    monkeypatch.setattr(CFEnergy, "compute", ticking)
    gibbs_run(ham, 2 * 12, path)
    # records 1..5 take 5 s: after the 5th the file holds 5 records, after the 10th 10
    assert seen == [0] * 5 + [5] * 5 + [10] * 2, seen
    assert tr.load(path).sizes["step"] == 12


# ---------------------------------------------------------------------- continuation as documented
def readme_continuation_recipe() -> str:
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = text.split("### Continuing a run", 1)[1]
    return re.search(r"```python\n(.*?)```", section, flags=re.S).group(1)


def test_readme_continuation_recipe_runs_and_equals_one_long_run(tmp_path, ham, monkeypatch):
    """Before: load_state returned a Dataset and the recipe raised FileExistsError (TypeError without out=)."""
    recipe = readme_continuation_recipe()
    assert 'state=pyrbm.load_state("c.nc"), n_steps=5, out="c.nc"' in recipe
    monkeypatch.chdir(tmp_path)
    sampler = pyrbm.GibbsSampler(4, seed=0)
    scope = {"pyrbm": pyrbm, "sampler": sampler, "ham": ham}
    exec(recipe, scope)
    scope["ds"].close()
    assert isinstance(pyrbm.load_state("c.nc"), pyrbm.GibbsState)
    long, _ = pyrbm.GibbsSampler(4, seed=0).run(ham, n_steps=15)
    cont = tr.load("c.nc")
    assert cont["step"].values.tolist() == list(range(1, 16)) and cont.attrs["n_steps"] == 15
    for name in long.data_vars:
        assert np.array_equal(cont[name].values, long[name].values), name
    assert_same_state(scope["state"], pyrbm.load_state("c.nc"))


def test_rerunning_a_script_is_refused_not_appended(tmp_path, ham):
    """Before: the same run twice left steps 1..20 in the file without a word."""
    path = tmp_path / "c.nc"
    ds, _ = pyrbm.GibbsSampler(10, seed=0).run(ham, n_steps=10, out=path)
    ds.close()
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match=r"state=pyrbm\.load_state\(.*overwrite=True"):
        pyrbm.GibbsSampler(10, seed=0).run(ham, n_steps=10, out=path)
    assert path.read_bytes() == before
    ds, _ = pyrbm.GibbsSampler(10, seed=0).run(ham, n_steps=4, out=path, overwrite=True)
    ds.close()
    assert tr.load(path).attrs["n_steps"] == 4


def test_another_seeds_run_is_never_continued(tmp_path, ham):
    """Before: a seed=22 run with out= a seed=11 file continued seed 11's run."""
    path = tmp_path / "c.nc"
    pyrbm.GibbsSampler(8, seed=11).run(ham, n_steps=6, out=path)[0].close()
    before = path.read_bytes()
    other = pyrbm.GibbsSampler(8, seed=22)
    with pytest.raises(FileExistsError, match=r"seed 11.*seed 22"):
        other.run(ham, state=other.init_state(ham).__class__(**{**_fields(pyrbm.load_state(path)), "seed": 22}),
                  n_steps=6, out=path)
    with pytest.raises(FileExistsError, match="state="):
        other.run(ham, n_steps=6, out=path)
    assert path.read_bytes() == before


def _fields(state):
    return {f: getattr(state, f) for f in ("step", "seed", *state._evolving)}


def test_continuing_through_a_symlink_writes_the_target(tmp_path, ham):
    """Before: the link was replaced by a regular file and the target kept the old run."""
    target = tmp_path / "data" / "run.nc"
    target.parent.mkdir()
    link = tmp_path / "run.nc"
    pyrbm.GibbsSampler(4, seed=0).run(ham, n_steps=4, out=target)[0].close()
    link.symlink_to(target)
    pyrbm.GibbsSampler(4, seed=0).run(ham, state=pyrbm.load_state(link), n_steps=3, out=link)[0].close()
    assert link.is_symlink() and tr.load(target).attrs["n_steps"] == 7
