"""Figures of the trained replicas: spectra (2), order parameters (7), JS (10), likelihood (11),
and the singular values against epoch (hierarchical learning)."""

from __future__ import annotations

import numpy as np

from ._common import pyplot, save


def figure_02_trained_spectra(histories, out_path, *, s_max: float = 41.0):
    """Density of the final singular values per hidden size (replicas pooled), log-y, 0–s_max."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    last = histories["singular_value"].isel(epoch=-1)
    bins = np.linspace(0, s_max, 83)
    for i, m in enumerate(histories["n_hidden"].values):
        s = last.sel(n_hidden=m).values.ravel()
        s = s[np.isfinite(s)]
        ax.hist(s, bins=bins, density=True, histtype="step", lw=1.3, color=f"C{i}",
                label=f"M = {m} ({histories.sizes['replica']} replicas)")
    ax.axvline(4.0, color="k", ls="--", lw=1, label="4T")
    ax.set(yscale="log", xlim=(0, s_max), xlabel="singular value σ_k (energy units)", ylabel="density",
           title=f"Trained spectra (epoch {float(histories['epoch'][-1]):g})")
    ax.legend(fontsize=7)
    return save(fig, out_path)


def figure_history(histories, out_path, *, n_modes: int = 8):
    """σ_k(epoch) of the top tracked modes (replica 0 of each size) with the MP edge and 4T; mode counts.

    Modes follow the history's tracked identity (labels: rank at initialisation).
    """
    plt = pyplot()
    sizes = histories["n_hidden"].values
    fig, axes = plt.subplots(1, len(sizes) + 1, figsize=(3.3 * (len(sizes) + 1), 3.2), squeeze=False)
    ep = histories["epoch"].values
    for ax, m in zip(axes[0], sizes):
        h = histories.sel(n_hidden=m).isel(replica=0)
        for k in range(min(n_modes, h.sizes["mode"])):
            ax.plot(ep, h["singular_value"].isel(mode=k), lw=1.1, label=f"mode {k + 1}" if k < 4 else None)
        ax.axhline(float(h["mp_edge"]), color="gray", ls=":", lw=1, label="MP edge")
        ax.axhline(4.0, color="C3", ls="--", lw=1, label="4T")
        ax.set(xlabel="epoch", ylabel="singular value (energy units)", yscale="log", title=f"M = {m}")
        ax.legend(fontsize=6, ncol=2)
    ax = axes[0, -1]
    for i, m in enumerate(sizes):
        h = histories.sel(n_hidden=m)
        ax.plot(ep, h["n_above_4T"].mean("replica"), f"C{i}-", lw=1.2, label=f"> 4T, M = {m}")
        ax.plot(ep, h["n_above_mp"].mean("replica"), f"C{i}:", lw=1.2, label=f"> MP edge, M = {m}")
    ax.set(xlabel="epoch", ylabel="modes (replica mean)", title="symmetry-breaking modes")
    ax.legend(fontsize=6)
    return save(fig, out_path)


def figure_07_order_parameters(results, out_path, *, mode: int = 1):
    """u_k and w_k of mode ``mode`` against epoch: saddle, uniform mean, test data, Gibbs samples.

    Lines are replica means, bands ± one standard deviation over replicas; one column per size.
    """
    plt = pyplot()
    sizes = results["n_hidden"].values
    fig, axes = plt.subplots(2, len(sizes), figsize=(3.4 * len(sizes), 5.0), squeeze=False, sharex=True)
    ep = results["epoch"].values
    r = results.sel(mode=mode)
    for j, m in enumerate(sizes):
        rm = r.sel(n_hidden=m)
        for i, name in enumerate(("u", "w")):
            ax = axes[i, j]
            curves = [(rm[f"{name}_saddle"], "saddle", "k--"), (rm[f"{name}_uniform"], "uniform mean", "C7:")]
            curves += [(rm[f"{name}_mean"].sel(source=s), s, f"C{n}-") for n, s in enumerate(rm["source"].values)]
            for da, label, style in curves:
                mean, sd = da.mean("replica"), da.std("replica")
                ax.plot(ep, mean, style, lw=1.2, label=label)
                ax.fill_between(ep, mean - sd, mean + sd, color=style[:2] if style[0] == "C" else "k", alpha=0.15)
            ax.set(ylabel=f"{name}_{mode} (dimensionless)", title=f"M = {m}" if i == 0 else "")
            if i == 1:
                ax.set_xlabel("epoch")
    axes[0, 0].legend(fontsize=6)
    fig.suptitle(f"Order parameters of mode {mode}: u = (x+y)/√2, w = (y−x)/√2", fontsize=10)
    return save(fig, out_path)


def figure_10_js_divergence(results, out_path):
    """Rotation-test JS divergence of the trained W against 1/M, with the untrained level."""
    plt = pyplot()
    js = results["js"]
    sizes = results["n_hidden"].values
    valid = js.notnull().any(["n_hidden", "replica"])
    first, last = js.isel(epoch=0), js.sel(epoch=js["epoch"][valid][-1])
    fig, ax = plt.subplots(figsize=(5, 3.4))
    inv = 1.0 / sizes
    ax.errorbar(inv, last.mean("replica"), yerr=last.std("replica"), fmt="o-", capsize=3,
                label=f"trained (epoch {int(last['epoch'])})")
    ax.errorbar(inv, first.mean("replica"), yerr=first.std("replica"), fmt="s--", color="gray", capsize=3,
                label="untrained (epoch 0)")
    ax.set(xlabel="1/M", ylabel="JS divergence (nats)", yscale="log", title="Rotation test of W (mean ± sd)")
    ax.legend(fontsize=8)
    return save(fig, out_path)


def figure_11_likelihood(results, out_path):
    """Test log-likelihood per image against epoch, per hidden size and replica: the interval
    :func:`pyrbm.test_log_likelihood` gives at each evaluated epoch (a thick bar where it is
    defended, dotted where it is not), forward
    AIS, reverse AIS, RAISE, the upper bound from the rigorous ln Z bound, and exact when small."""
    plt = pyplot()
    sizes = results["n_hidden"].values
    fig, axes = plt.subplots(1, len(sizes), figsize=(4.2 * len(sizes), 3.6), squeeze=False)
    for ax, m in zip(axes[0], sizes):
        r = results.sel(n_hidden=m)
        drawn = False
        for j, rep in enumerate(r["replica"].values):
            rr = r.sel(replica=rep)
            if "ll_low" not in rr or not bool(rr["ll_low"].notnull().any()):
                continue
            ok = rr["ll_interval_valid"].dropna("epoch")
            for defended, style in ((True, "-"), (False, ":")):
                at = ok.epoch[(ok.values == 1) == defended]
                if at.size:
                    ax.vlines(at, rr["ll_low"].sel(epoch=at), rr["ll_high"].sel(epoch=at), color=f"C{j}",
                              lw=6 if defended else 2, alpha=0.35 if defended else 0.8, linestyles=style,
                              label=("defended interval" if defended else "interval not defended") if j == 0 else None)
            for var, style, label in (("ll_ais", "o", "AIS"), ("ll_reverse_ais", "s", "reverse AIS"),
                                      ("ll_raise", "^", "RAISE"), ("ll_lower_bound", "_", "bound (upper)"),
                                      ("ll_exact", "x", "exact")):
                if var in rr and bool(rr[var].notnull().any()):
                    da = rr[var].dropna("epoch")
                    ax.plot(da.epoch, da, style, color=f"C{j}", ms=4, mfc="none",
                            label=label if j == 0 else None)
            drawn = True
        if drawn:
            ax.legend(fontsize=6)
        else:
            ax.text(0.5, 0.5, "no likelihood estimates", ha="center", va="center", transform=ax.transAxes)
        ax.set(xlabel="epoch", ylabel="test log-likelihood (nats per image)", title=f"M = {m} (colour: replica)")
    return save(fig, out_path)
