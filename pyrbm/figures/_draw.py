"""Draw every figure a study has data for."""

from __future__ import annotations

from pathlib import Path

from . import initialisation as _i, landscape as _l, samples as _s, training as _t

#: file name -> (function, study key, one-line caption)
FIGURES = {
    "fig01_marchenko_pastur.png": (_i.figure_01_marchenko_pastur, "marchenko_pastur",
                                   "singular values of random initialisations against the Marčenko–Pastur law"),
    "fig02_trained_spectra.png": (_t.figure_02_trained_spectra, "histories",
                                  "singular-value densities of the trained models per hidden size"),
    "fig03_uniform_measure.png": (_i.figure_03_uniform_measure, "kurtosis_hist",
                                  "reciprocal coordinates x_k under the uniform measure against N(μ_k, 1/4)"),
    "fig04_xy_scatter.png": (_l.figure_04_xy_scatter, "final",
                             "x_k against y_k: uniform measure versus Gibbs samples of a trained model"),
    "fig05_kurtosis.png": (_i.figure_05_kurtosis, "kurtosis", "kurtosis of x_k against 1/N with a linear fit"),
    "fig06_landscape.png": (_l.figure_06_landscape, "final",
                            "energy landscape E_k(x, y) of single modes with saddle, samples and test data"),
    "fig07_order_parameters.png": (_t.figure_07_order_parameters, "results",
                                   "u_1 and w_1 against epoch: saddle, uniform mean, test data, Gibbs samples"),
    "fig08_samples.png": (_s.figure_08_samples, "final", "Gibbs samples and Gaussian-surrogate samples"),
    "fig09_probing.png": (_s.figure_09_probing, "final",
                          "hierarchical probing: top modes flipped versus intermediate modes rotated"),
    "fig10_js_divergence.png": (_t.figure_10_js_divergence, "results",
                                "rotation-test JS divergence against 1/M with the untrained level"),
    "fig11_likelihood.png": (_t.figure_11_likelihood, "results",
                             "AIS and reverse-AIS test log-likelihood against epoch per hidden size"),
    "history_singular_values.png": (_t.figure_history, "histories",
                                    "top singular values against epoch with the MP edge and 4T"),
    "langevin_divergence.png": (_l.figure_langevin, "divergence",
                                "Langevin variance of u_k against time below and above 4T"),
}


def final_result(study: dict):
    """The result dataset of the first training point (smallest M, first seed)."""
    runs = study.get("training")
    return runs[min(runs)][1] if runs else None


def draw_all(study: dict, out_dir) -> dict:
    """Draw every figure of :data:`FIGURES` that ``study`` has data for.

    Returns
    -------
    dict
        file name -> Path of the written PNG.
    """
    out_dir = Path(out_dir)
    data = dict(study, final=final_result(study))
    written = {}
    for name, (func, key, _) in FIGURES.items():
        if data.get(key) is not None and (not isinstance(data[key], dict) or data[key]):
            written[name] = func(data[key], out_dir / name)
    return written


def figure_main(name: str, argv=None) -> int:
    """Command line of one figure: ``STUDY_DIR [--out PNG]`` (used by ``analysis/fig*.py``)."""
    import argparse

    from ..experiments import load_study

    func, key, caption = FIGURES[name]
    p = argparse.ArgumentParser(description=f"{name}: {caption}")
    p.add_argument("study", type=Path, help="study directory written by simulations/paper.py")
    p.add_argument("--out", type=Path, default=None, help=f"PNG to write (default STUDY/figures/{name})")
    args = p.parse_args(argv)
    study = load_study(args.study)
    data = dict(study, final=final_result(study)).get(key)
    if data is None or (isinstance(data, dict) and not data):
        p.error(f"{args.study} has no data for {name} (experiment results '{key}' missing); run it first")
    path = func(data, args.out or args.study / "figures" / name)
    print(f"wrote {path}")
    return 0
