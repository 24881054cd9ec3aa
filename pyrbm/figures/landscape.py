"""Figures in the (x_k, y_k) plane: scatter (4), energy landscape (6); Langevin divergence."""

from __future__ import annotations

import numpy as np

from ._common import pyplot, save


def figure_04_xy_scatter(result, out_path, *, modes=2):
    """x_k against y_k of uniform configurations and of Gibbs samples of a trained model."""
    plt = pyplot()
    labels = result["lmode"].values[:modes]
    fig, axes = plt.subplots(1, len(labels), figsize=(3.8 * len(labels), 3.4), squeeze=False)
    for ax, k in zip(axes[0], labels):
        r = result.sel(lmode=k)
        ax.scatter(r["x_uniform"], r["y_uniform"], s=3, alpha=0.4, label="uniform measure")
        ax.scatter(r["x_gibbs"], r["y_gibbs"], s=3, alpha=0.5, label="Gibbs samples")
        ax.plot(float(r["landscape_x_saddle"]), float(r["landscape_y_saddle"]), "k+", ms=10, label="saddle")
        ax.set(xlabel=f"x_{k} (dimensionless)", ylabel=f"y_{k} (dimensionless)",
               title=f"mode {k}, σ = {float(r['landscape_sigma']):.2f}")
    axes[0, 0].legend(fontsize=7, markerscale=3)
    fig.suptitle(f"M = {result.attrs['n_hidden']}, seed {result.attrs['seed']}, final epoch", fontsize=9)
    return save(fig, out_path)


def figure_06_landscape(result, out_path):
    r"""Contours of ``E_k(x, y) = −ã_k x − b̃_k y − σ_k x y`` with the saddle, samples and data."""
    plt = pyplot()
    labels = result["lmode"].values
    fig, axes = plt.subplots(1, len(labels), figsize=(3.4 * len(labels), 3.3), squeeze=False)
    for ax, k in zip(axes[0], labels):
        r = result.sel(lmode=k)
        pts = np.concatenate([np.c_[r["x_gibbs"], r["y_gibbs"]], np.c_[r["x_data"], r["y_data"]],
                              [[float(r["landscape_x_saddle"]), float(r["landscape_y_saddle"])]]])
        lo, hi = np.percentile(pts, 1, axis=0), np.percentile(pts, 99, axis=0)
        pad = 0.3 * (hi - lo) + 0.5
        gx = np.linspace(lo[0] - pad[0], hi[0] + pad[0], 120)
        gy = np.linspace(lo[1] - pad[1], hi[1] + pad[1], 120)
        X, Y = np.meshgrid(gx, gy)
        s, a, b = float(r["landscape_sigma"]), float(r["landscape_a_tilde"]), float(r["landscape_b_tilde"])
        E = -a * X - b * Y - s * X * Y
        cs = ax.contourf(X, Y, E, levels=20, cmap="RdBu_r", alpha=0.8)
        fig.colorbar(cs, ax=ax, label="E_k (energy units)")
        ax.scatter(r["x_gibbs"], r["y_gibbs"], s=2, c="k", alpha=0.4, label="Gibbs samples")
        ax.scatter(r["x_data"], r["y_data"], s=2, c="gold", alpha=0.6, label="test data")
        ax.plot(float(r["landscape_x_saddle"]), float(r["landscape_y_saddle"]), "wx", ms=9, mew=2, label="saddle")
        ax.set(xlim=(gx[0], gx[-1]), ylim=(gy[0], gy[-1]), xlabel=f"x_{k}", ylabel=f"y_{k}",
               title=f"mode {k}: σ = {s:.2f}")
    axes[0, 0].legend(fontsize=6, markerscale=3, loc="lower left")
    return save(fig, out_path)


def figure_langevin(langevin: dict, out_path):
    """Var u_k against time per β (until a chain froze), log-y, with the stationary value below threshold."""
    plt = pyplot()
    betas = sorted(langevin)
    fig, axes = plt.subplots(1, len(betas), figsize=(4.2 * len(betas), 3.4), squeeze=False)
    for ax, b in zip(axes[0], betas):
        ds = langevin[b]
        for i, k in enumerate(ds["mode"].values):
            d = ds.sel(mode=k)
            s = float(d["singular_value"])
            div = bool(d["unstable"])
            ax.plot(ds["time"], d["var_curve"], color=f"C{i % 10}", ls="-" if div else "--", lw=1.1,
                    label=f"σ = {s:g}{' > 4T' if div else ''}")
            if not div:
                ax.axhline(float(d["variance_theory"]), color=f"C{i % 10}", lw=0.6, ls=":")
        ax.set(yscale="log", xlabel="time t (dt = %g)" % ds.attrs["dt"], ylabel="Var u_k over chains",
               title=f"β = {b:g}: threshold σ = {ds.attrs['threshold']:g}")
        ax.legend(fontsize=6, ncol=2)
    fig.suptitle("Langevin diffusion: modes above 4T diverge (dotted: Euler–Maruyama stationary Var u)", fontsize=10)
    return save(fig, out_path)
