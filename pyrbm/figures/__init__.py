"""Figures of the paper reproduction (docs/physics.md §13), one function per figure.

Every ``figure_NN_*(..., out_path) -> Path`` draws from datasets of a study directory
(:func:`pyrbm.experiments.load_study`) and writes a PNG atomically; matplotlib is
imported only when a figure is drawn (a regular dependency of pyrbm).
:func:`draw_all` draws every figure a study has data for.
"""

from .initialisation import figure_01_marchenko_pastur, figure_03_uniform_measure, figure_05_kurtosis
from .training import (figure_02_trained_spectra, figure_07_order_parameters, figure_10_js_divergence,
                       figure_11_likelihood, figure_history)
from .landscape import figure_04_xy_scatter, figure_06_landscape, figure_langevin
from .samples import figure_08_samples, figure_09_probing
from ._draw import FIGURES, draw_all, figure_main

__all__ = ["figure_01_marchenko_pastur", "figure_02_trained_spectra", "figure_03_uniform_measure",
           "figure_04_xy_scatter", "figure_05_kurtosis", "figure_06_landscape", "figure_07_order_parameters",
           "figure_08_samples", "figure_09_probing", "figure_10_js_divergence", "figure_11_likelihood",
           "figure_history", "figure_langevin", "FIGURES", "draw_all", "figure_main"]
