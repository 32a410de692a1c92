"""Figures for the theory of local search (:mod:`jaxnas.analysis.theory`): neighbourhood distributions
of a tabular landscape, and theory against simulation over a smoothness knob.

Matplotlib is imported lazily (Agg backend); every function draws on a given ``Axes`` or writes
one PNG, and takes plain arrays/dicts computed by library functions.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from jaxnas.analysis import theory


def accuracy_densities(
    acc: np.ndarray, nbr: np.ndarray, num: int = 400, bandwidth: float = 0.4
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``pdf_n`` and ``pdf_e`` of validation *accuracy* (not normal scores), for plotting.

    Args:
        acc: accuracy of every architecture (%).  # [N]
        nbr: neighbour table.  # [N, S]
        num: grid cells over ``[min(acc), max(acc)]``.
        bandwidth: kernel width in accuracy points (a fixed small width keeps the narrow top
            of the distribution resolved; Scott's rule is dominated by the long bad tail).

    Returns:
        ``(x, pn, pe)``: grid midpoints, ``pdf_n`` and ``pdf_e`` (row = the architecture's
        accuracy).  # [G], [G], [G, G]
    """
    acc = np.asarray(acc, np.float32)
    grid = theory.make_grid(float(acc.min()) - 0.5, float(acc.max()) + 0.5, num)
    pn, pe = theory.estimate_densities(jnp.asarray(acc), jnp.asarray(nbr), grid, bandwidth)
    return np.asarray(grid.x), np.asarray(pn), np.asarray(pe)


def plot_neighbourhood(ax_slices, ax_joint, acc, nbr, title: str, quantiles=(0.5, 0.8, 0.95, 0.999)):
    """Draws ``pdf_e(x, .)`` slices (top) and the joint density of neighbour pairs (bottom).

    Slices are taken at the accuracies of the given quantiles of ``pdf_n``; each is drawn with
    a marker at its own ``x`` so one sees how neighbours' accuracy concentrates near it. The
    joint ``pdf_n(x) pdf_e(x, y)`` is shown on a log colour scale, zoomed on the top 80%.
    """
    from matplotlib import colors

    x, pn, pe = accuracy_densities(acc, nbr)
    acc = np.asarray(acc)
    for q in quantiles:
        xv = float(np.quantile(acc, q))
        i = int(np.argmin(np.abs(x - xv)))
        (line,) = ax_slices.plot(x, pe[i], lw=1.3, label=f"x = {xv:.1f}% (top {100 * (1 - q):.1f}%)")
        ax_slices.axvline(xv, color=line.get_color(), ls=":", lw=1)
    ax_slices.plot(x, pn, color="k", lw=1, ls="--", label="pdf_n (random arch.)")
    lo = float(np.quantile(acc, 0.2))
    ax_slices.set_xlim(lo, float(acc.max()) + 1)
    ax_slices.set_xlabel("neighbour's validation accuracy y (%)")
    ax_slices.set_ylabel("pdf_e(x, y)")
    ax_slices.set_title(title)
    ax_slices.legend(fontsize=7)
    joint = pn[:, None] * pe
    m = (x >= lo)
    j = joint[np.ix_(m, m)]
    ax_joint.imshow(j.T, origin="lower", aspect="auto", cmap="viridis",
                    extent=[x[m][0], x[m][-1], x[m][0], x[m][-1]],
                    norm=colors.LogNorm(vmin=max(j.max() * 1e-5, 1e-12), vmax=j.max()))
    ax_joint.plot([lo, x[-1]], [lo, x[-1]], color="w", lw=0.6, ls="--")
    ax_joint.set_xlim(x[m][0], x[m][-1])
    ax_joint.set_ylim(x[m][0], x[m][-1])
    ax_joint.set_title("joint pdf_n(x) pdf_e(x, y), log scale", fontsize=9)
    ax_joint.set_xlabel("architecture's accuracy x (%)")
    ax_joint.set_ylabel("neighbour's accuracy y (%)")


def neighbourhood_figure(panels: list[tuple[str, np.ndarray]], nbr, path) -> None:
    """One column per ``(title, accuracies)``: slices on top, joint density below; a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(panels), figsize=(4.6 * len(panels), 8), squeeze=False)
    for k, (title, acc) in enumerate(panels):
        plot_neighbourhood(axes[0, k], axes[1, k], acc, nbr, title)
    fig.suptitle("Neighbourhood distributions on NAS-Bench-201 (denoised validation accuracy)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def simulation_figure(series: dict[str, list[dict]], path) -> None:
    """Theory against simulation over the knob: one row per series, columns #local minima and
    fraction within eps. ``series`` maps a label to :func:`jaxnas.analysis.synthetic.compare` dicts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(series), 2, figsize=(10, 3.2 * len(series)), squeeze=False)
    for r, (label, pts) in enumerate(series.items()):
        rho = np.array([p["measured_rho"] for p in pts])
        for c, key in enumerate(("local_minima", "frac_within_eps")):
            ax = axes[r, c]
            mean = np.array([p[f"measured_{key}"] for p in pts])
            ci = np.array([p[f"measured_{key}_ci"] for p in pts])
            ax.errorbar(rho, mean, yerr=[mean - ci[:, 0], ci[:, 1] - mean], fmt="o", ms=4,
                        capsize=3, label="simulation (95% CI over seeds)")
            ax.plot(rho, [p[f"predicted_{key}"] for p in pts], "-", lw=1.5,
                    label="theory, Gaussian pdf_e")
            ax.plot(rho, [p[f"predicted_{key}_estimated"] for p in pts], "x--", lw=1,
                    label="theory, estimated pdf_e (seed 0)")
            ax.set_xlabel("measured neighbour correlation rho")
            ax.set_ylabel("# local minima" if c == 0 else f"frac. ending within eps={pts[0]['eps']:.2f}")
            ax.set_title(label, fontsize=9)
            if c == 0:
                ax.set_yscale("log")
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
