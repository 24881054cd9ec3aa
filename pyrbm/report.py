r"""The report of a paper-reproduction study: every figure and the numbers the story rests on.

:func:`write_report` reads a study directory (``simulations/paper.py --out DIR``), draws
every figure into ``DIR/figures`` and writes ``DIR/report.md``; :func:`checks` returns the
physics checks (docs/physics.md §3, §4, §9, §11, §13) as ``{name: (passed, detail)}`` with
``passed`` None when the study lacks the data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .diffusion import RATE_TOLERANCE, VARIANCE_TOLERANCE
from .experiments import load_study
from .figures import FIGURES, draw_all
from .io.netcdf import atomic_path
from .spectra import edge_fluctuation, mp_edges
from .symmetry import fit_kurtosis_scaling, hierarchy

__all__ = ["write_report", "checks", "key_tables", "langevin_checks", "mp_checks", "kurtosis_checks", "js_checks",
           "likelihood_checks"]


def _pm(values, fmt="{:.4g}") -> str:
    v = np.asarray(values, dtype=float).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        return "–"
    if v.size == 1:
        return fmt.format(v[0])
    return f"{fmt.format(v.mean())} ± {fmt.format(v.std(ddof=1))}"


def _table(header, rows) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _hierarchies(study):

    return {key: hierarchy(h) for key, (h, _) in study.get("training", {}).items()}


# ----------------------------------------------------------------------------- tables
def key_tables(study: dict) -> dict:
    """Markdown tables of the key numbers, by section title."""
    out = {}
    if study.get("marchenko_pastur"):
        rows = []
        for m, ds in sorted(study["marchenko_pastur"].items()):
            s = ds["singular_value"].values
            rows.append([f"{ds.attrs['n_visible']}×{m}", ds.sizes["init"], f"{ds.attrs['mp_lower']:.4f}",
                         _pm(s.min(axis=1)), f"{ds.attrs['mp_upper']:.4f}", _pm(s.max(axis=1))])
        out["Marčenko–Pastur edges at initialisation"] = _table(
            ["N×M", "initialisations", "λ− theory", "smallest σ measured", "λ+ theory", "largest σ measured"], rows)
    if study.get("histories") is not None:
        h = study["histories"]
        rows = []
        for m in h["n_hidden"].values:
            hm = h.sel(n_hidden=m)
            s0 = hm["singular_value"].isel(epoch=0)
            last = hm.isel(epoch=-1)
            # modes carry their tracked identity: sort the final spectrum to get sigma_1 >= sigma_2 >= ...
            top = -np.sort(-np.nan_to_num(last["singular_value"].transpose("replica", "mode").values, nan=-1), axis=1)
            rows.append([m, f"{float(hm['mp_edge']):.4f}", _pm(s0.max("mode")), _pm(last["n_above_mp"], "{:.3g}"),
                         _pm(last["n_above_4T"], "{:.3g}")] + [_pm(top[:, k], "{:.3g}") for k in range(3)])
        out["Modes above the Marčenko–Pastur edge and above 4T (final epoch, mean ± sd over replicas)"] = _table(
            ["M", "MP edge", "σ_1 at epoch 0", "modes > edge", "modes > 4T", "σ_1", "σ_2", "σ_3"], rows)
        hier = _hierarchies(study)
        rows = []
        for m in h["n_hidden"].values:
            hs = [hier[k] for k in hier if k[0] == m]
            n = min(4, min(x.sizes["mode"] for x in hs))
            rows.append([m] + [f"{_pm([float(x['epoch_leaves_bulk'].isel(mode=k)) for x in hs], '{:.3g}')} / "
                               f"{_pm([float(x['epoch_above_4T'].isel(mode=k)) for x in hs], '{:.3g}')}"
                               for k in range(n)])
        out["Hierarchy: epoch the modes of final rank 1–4 (followed by tracked identity) leave the bulk / "
            "cross 4T (mean ± sd over replicas; – never)"] = _table(
            ["M"] + [f"final rank {k + 1}" for k in range(4)], rows)
    if study.get("kurtosis") is not None:
        k = study["kurtosis"]
        rows = [[int(n), _pm(k["kurtosis_exact"].sel(n_visible=n), "{:.5f}"),
                 _pm(k["kurtosis_sampled"].sel(n_visible=n), "{:.5f}"), f"{float(k['theory'].sel(n_visible=n)):.5f}"]
                for n in k["n_visible"].values]
        rows.append(["fit: intercept", _pm(k["fit_intercept_exact"], "{:.5f}"), _pm(k["fit_intercept_sampled"],
                                                                                   "{:.5f}"), "3"])
        rows.append(["fit: slope", _pm(k["fit_slope_exact"], "{:.3f}"), _pm(k["fit_slope_sampled"], "{:.3f}"),
                     "−6 (large N)"])
        out[f"Kurtosis of x_k against 1/N (M = {k.attrs['n_hidden']}; mean ± sd over models)"] = _table(
            ["N", "exact", "sampled", "Haar 3 − 6/(N+2)"], rows)
    if study.get("results") is not None:
        r = study["results"]
        js = r["js"]
        valid = js.notnull().any(["n_hidden", "replica"])
        last_ep = js["epoch"][valid][-1]
        rows = [[m, _pm(js.sel(n_hidden=m).isel(epoch=0), "{:.3g}"), _pm(js.sel(n_hidden=m, epoch=last_ep), "{:.3g}")]
                for m in r["n_hidden"].values]
        out[f"Rotation-test JS divergence (nats; untrained = epoch 0, trained = epoch {int(last_ep)})"] = _table(
            ["M", "untrained", "trained"], rows)
        cols = [("ll_low", "interval low"), ("ll_high", "interval high"), ("ll_ais", "AIS"),
                ("ll_reverse_ais", "reverse AIS"), ("ll_raise", "RAISE"), ("ll_lower_bound", "bound (upper)"),
                ("ll_exact", "exact")]
        cols = [(v, t) for v, t in cols if v in r]
        rows = []
        for m in r["n_hidden"].values:
            rm = r.sel(n_hidden=m)
            for e in rm["epoch"].values:
                re_ = rm.sel(epoch=e)
                if not any(bool(re_[v].notnull().any()) for v, _ in cols):
                    continue
                n_ok = int((re_["ll_interval_valid"] == 1).sum()) if "ll_interval_valid" in re_ else 0
                rows.append([m, int(e)] + [_pm(re_[v], "{:.2f}") for v, _ in cols] + [n_ok])
        title = "Test log-likelihood (nats per image; mean ± sd over replicas; pyrbm.test_log_likelihood)"
        out[title] = (_table(["M", "epoch"] + [t for _, t in cols] + ["replicas defended"], rows) if rows else
                      "Not computed.")
        rows = [[m, _pm(r["hamming_probe_top"].sel(n_hidden=m), "{:.3g}"),
                 _pm(r["hamming_probe_mid"].sel(n_hidden=m), "{:.3g}")] for m in r["n_hidden"].values]
        out["Hierarchical probing: visible units changed per image"] = _table(
            ["M", "top modes flipped", "intermediate modes rotated"], rows)
    if study.get("divergence"):
        rows = []
        for b, ds in sorted(study["divergence"].items()):
            for k in ds["mode"].values:
                d = ds.sel(mode=k)
                unstable = bool(d["unstable"])
                rows.append([f"{b:g}", f"{float(d['singular_value']):g}", f"{float(d['kappa']):.3g}",
                             f"{float(d['rate']):.3f}", f"{float(d['theory']):.3f}" if unstable else "0",
                             f"{float(d['theory_em']):.3f}" if unstable else "0",
                             "–" if unstable else f"{float(d['variance']):.4f}",
                             "–" if unstable else f"{float(d['variance_theory']):.4f}"])
        out["Langevin diffusion (docs/physics.md §4): growth rate of ln Var u before any chain froze, "
            "stationary Var u below the threshold"] = _table(
            ["β", "σ_k", "κ_u = 4 − βσ", "rate measured", "theory 2|κ_u|", "Euler–Maruyama 2 ln(1+|κ|dt)/dt",
             "Var u measured", "Euler–Maruyama 1/(κ(1−κdt/2))"], rows)
    return out


# ----------------------------------------------------------------------------- checks
def checks(study: dict) -> dict:
    """The paper's claims checked on a study: ``{name: (passed or None, detail)}``.

    Every detail states the measured value, the expected value and the tolerance;
    ``None`` means the study lacks the data.
    """
    out = {}
    mp = study.get("marchenko_pastur") or {}
    h = study.get("histories")
    if mp or h is not None:
        out.update(mp_checks(mp, h))
    if h is not None:
        hier = _hierarchies(study)
        fails, details = [], []
        for (m, s), hs in sorted(hier.items()):
            cross = hs["epoch_above_4T"].values
            crossed = cross[np.isfinite(cross)]
            ok = crossed.size >= 2 and np.unique(crossed).size >= 2 and float(hs["final_singular_value"].max()) > 4
            details.append(f"M={m} seed {s}: measured {crossed.size} modes > 4T at epochs "
                           f"{sorted(set(crossed.tolist()))}")
            if not ok:
                fails.append(f"M={m} seed {s}")
        out["trained top singular values above 4 with staggered crossing epochs"] = (
            not fails, "expected at least 2 modes above 4T, crossing at 2 or more distinct epochs; "
            + ("failed: " + ", ".join(fails) + "; " if fails else "") + "; ".join(details))
    r = study.get("results")
    if r is not None:
        out.update(js_checks(r))
        out.update(likelihood_checks(r))
    k = study.get("kurtosis")
    if k is not None:
        out.update(kurtosis_checks(k))
    lg = study.get("divergence")
    if lg:
        out.update(langevin_checks(lg))
    return out


#: Tolerances of the report's checks.
MP_TOLERANCE_TW = 6.0          # Tracy-Widom widths around each Marchenko-Pastur edge
KURTOSIS_INTERCEPT_TOLERANCE = 0.02
KURTOSIS_SLOPE_TOLERANCE = 0.25  # relative, against the fit of 3 - 6/(N+2) over the same N


def mp_checks(mp: dict, histories=None) -> dict:
    """The extreme singular values of random initialisations within 6 Tracy–Widom widths of
    the Marčenko–Pastur edges λ± (and each training history's initial σ₁ below λ+)."""

    rows, bad = [], []
    for m, ds in sorted(mp.items()):
        n, sw = int(ds.attrs["n_visible"]), float(ds.attrs["sigma_w"])
        s = ds["singular_value"].values
        lo, hi = mp_edges(n, int(m), sigma_w=sw)
        tw_lo, tw_hi = edge_fluctuation(n, int(m), sigma_w=sw)
        for what, val, exp, tol in (("largest", s.max(axis=1), hi, MP_TOLERANCE_TW * tw_hi),
                                    ("smallest", s.min(axis=1), lo, MP_TOLERANCE_TW * tw_lo)):
            if n == int(m) and what == "smallest":
                continue  # square: the lower edge is 0 and the smallest value has no Tracy-Widom scale
            worst = float(val[np.argmax(np.abs(val - exp))])
            rows.append(f"{n}×{m} {what} σ: measured {worst:.4f} (worst of {val.size}), expected {exp:.4f} ± {tol:.4f}")
            if not abs(worst - exp) <= tol:
                bad.append(f"{n}×{m} {what}")
    if histories is not None:
        for m in histories["n_hidden"].values:
            s0 = float(histories["singular_value"].sel(n_hidden=m).isel(epoch=0).max())
            edge = float(histories["mp_edge"].sel(n_hidden=m))
            tol = MP_TOLERANCE_TW * edge_fluctuation(784, int(m),
                                                     sigma_w=float(histories.attrs.get("trainer_sigma_w", 0.01)))[1]
            rows.append(f"trained M={m} at epoch 0: σ_1 measured {s0:.4f}, expected ≤ {edge:.4f} + {tol:.4f}")
            if s0 > edge + tol:
                bad.append(f"trained M={m}")
    detail = f"tolerance {MP_TOLERANCE_TW:g} Tracy–Widom widths; " + "; ".join(rows)
    return {"initial spectra at the MP edges": (not bad, detail + (f"; outside: {', '.join(bad)}" if bad else ""))}


def likelihood_checks(results) -> dict:
    """The test log-likelihood interval of every replica at its last evaluated epoch.

    PASS when :func:`pyrbm.test_log_likelihood` defended an interval: no AIS estimate below
    the rigorous lower bound on ln Z, forward and reverse AIS within the tolerance, a
    converged schedule series and an interval ``ll_high − ll_low`` no wider than the
    tolerance. Otherwise FAIL, with each replica's width and reasons.
    """
    name = "test log-likelihood interval (AIS, reverse AIS, RAISE, lower bound) narrower than the tolerance"
    if "ll_interval_valid" not in results or not bool(results["ll_interval_valid"].notnull().any()):
        return {name: (None, "not computed")}
    fails, details = [], []
    for m in results["n_hidden"].values:
        for rep in results["replica"].values:
            r = results.sel(n_hidden=m, replica=rep)
            done = r["ll_interval_valid"].notnull()
            if not bool(done.any()):
                continue
            last = r.isel(epoch=int(np.flatnonzero(done.values)[-1]))
            width = float(last["ll_high"] - last["ll_low"])
            ok = bool(last["ll_interval_valid"] == 1)
            what = (f"M={m} replica {rep} epoch {int(last['epoch'])}: measured [{float(last['ll_low']):.2f}, "
                    f"{float(last['ll_high']):.2f}] (width {width:.3g}), expected width ≤ "
                    f"{float(last['ll_tolerance']):.3g} nats per image with every estimate above the bound")
            if not ok:
                fails.append(f"{what}; failed: {str(last['ll_interval_reason'].values)}")
            details.append(what)
    return {name: (not fails, "; ".join(fails) if fails else "; ".join(details))}


def kurtosis_checks(k) -> dict:
    """The 1/N fit of the mean kurtosis: intercept 3 within 0.02, slope within 25 % of the fit of
    the Haar mean 3 − 6/(N+2) over the same sizes (≈ −6)."""

    n = k["n_visible"].values
    theory = fit_kurtosis_scaling(n, 3.0 - 6.0 / (n + 2.0))
    b0, b1 = float(k["fit_intercept_exact"].mean()), float(k["fit_slope_exact"].mean())
    e1 = float(theory["fit_slope"])
    ok0 = bool(np.isfinite(b0) and abs(b0 - 3.0) <= KURTOSIS_INTERCEPT_TOLERANCE)
    ok1 = bool(np.isfinite(b1) and abs(b1 / e1 - 1.0) <= KURTOSIS_SLOPE_TOLERANCE)
    return {"kurtosis of x_k against 1/N: intercept 3": (
                ok0, f"measured {b0:.4f}, expected 3, tolerance ±{KURTOSIS_INTERCEPT_TOLERANCE:g}"),
            "kurtosis of x_k against 1/N: slope of 3 − 6/(N+2)": (
                ok1, f"measured {b1:.3f}, expected {e1:.3f} (fit of 3 − 6/(N+2) over N = {n.tolist()}), "
                     f"tolerance {KURTOSIS_SLOPE_TOLERANCE:.0%} relative")}


def js_checks(results) -> dict:
    """Trained rotation-test JS (min over replicas, last estimate) above the untrained level
    (max over replicas, epoch 0) for every hidden size."""
    js = results["js"]
    valid = js.notnull().any(["n_hidden", "replica"])
    last = js.sel(epoch=js["epoch"][valid][-1])
    first = js.isel(epoch=0)
    rows, bad = [], []
    for m in results["n_hidden"].values:
        lo, up = float(last.sel(n_hidden=m).min()), float(first.sel(n_hidden=m).max())
        rows.append(f"M={m}: measured {lo:.2e} (trained, min over replicas), expected > {up:.2e} (untrained, max)")
        if not lo > up:
            bad.append(f"M={m}")
    return {"trained JS divergence above the untrained level": (
        not bad, "tolerance 0 (strict); " + "; ".join(rows) + (f"; failed: {', '.join(bad)}" if bad else ""))}


def _relative(name: str, rows, tol: float):
    """A check over ``(label, measured, expected)`` rows: every |measured/expected − 1| ≤ tol."""
    if not rows:
        return {name: (None, "no modes of this kind in the study")}
    bad = [r for r in rows if not (np.isfinite(r[1]) and abs(r[1] / r[2] - 1) <= tol)]
    detail = "; ".join(f"{lab}: measured {m:.4g}, expected {e:.4g}" for lab, m, e in rows)
    return {name: (not bad, f"tolerance {tol:.0%} relative; {detail}"
                   + (f"; outside: {', '.join(r[0] for r in bad)}" if bad else ""))}


def langevin_checks(langevin: dict) -> dict:
    """Checks of :func:`pyrbm.divergence_rates` results ``{beta: Dataset}`` against the theory.

    Unstable modes: fitted growth rate of ln Var u within
    :data:`pyrbm.diffusion.RATE_TOLERANCE` of the Euler–Maruyama rate ``2 ln(1+|κ_u|Δt)/Δt``
    (= 2|κ_u| to O(Δt)); stable modes: time-averaged Var u within
    :data:`pyrbm.diffusion.VARIANCE_TOLERANCE` of ``1/(κ_u(1 − κ_uΔt/2))``.
    """

    rates, variances = [], []
    for b, ds in sorted(langevin.items()):
        for k in ds["mode"].values:
            d = ds.sel(mode=k)
            lab = f"β={b:g} σ={float(d['singular_value']):g}"
            if bool(d["unstable"]):
                rates.append((lab, float(d["rate"]), float(d["theory_em"])))
            elif float(d["singular_value"]) > 1e-9:  # the free (σ = 0) modes only repeat κ = 1/s²
                variances.append((lab, float(d["variance"]), float(d["variance_theory"])))
    return {**_relative("Langevin growth rate of Var u past 4T equals 2|κ_u| (Euler–Maruyama)", rates,
                        RATE_TOLERANCE),
            **_relative("Langevin stationary Var u below 4T equals the Euler–Maruyama value", variances,
                        VARIANCE_TOLERANCE)}


# ----------------------------------------------------------------------------- report
def write_report(study_dir, *, out=None) -> Path:
    """Draw every figure of a study and write its ``report.md``.

    Parameters
    ----------
    study_dir : path-like
        A study directory written by ``simulations/paper.py`` (has ``study.json``).
    out : path-like, optional
        Report file; default ``study_dir/report.md``. Figures go to ``figures/`` beside it.

    Returns
    -------
    Path
        The report.
    """

    study = load_study(study_dir)
    out = Path(study_dir) / "report.md" if out is None else Path(out)
    fig_dir = out.parent / "figures"
    written = draw_all(study, fig_dir)
    lines = [f"# Reciprocal-space study of RBMs — profile `{study['profile']}`", "",
             f"Study directory `{Path(study_dir).resolve()}`. Likelihoods: `pyrbm.test_log_likelihood` "
             "(forward AIS, reverse AIS from replica exchange, RAISE, the rigorous lower bound on ln Z).",
             "", "## Checks", ""]
    for name, (ok, detail) in checks(study).items():
        mark = "n/a" if ok is None else ("PASS" if ok else "FAIL")
        lines.append(f"- **{mark}** {name}: {detail}")
    lines += ["", "## Key numbers", ""]
    for title, table in key_tables(study).items():
        lines += [f"### {title}", "", table, ""]
    lines += ["## Figures", ""]
    for name, path in written.items():
        rel = path.relative_to(out.parent) if path.is_relative_to(out.parent) else path
        lines += [f"**{name}** — {FIGURES[name][2]}.", "", f"![{FIGURES[name][2]}]({rel.as_posix()})", ""]
    with atomic_path(out, overwrite=True) as tmp:
        Path(tmp).write_text("\n".join(lines))
    return out
