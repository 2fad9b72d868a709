"""Figures: pure plotly builders — data in, ``plotly.graph_objects.Figure`` out.

Every builder takes the data first and options keyword-only, never shows or writes anything,
uses the one colour scheme of :mod:`genshare_widgets.plots._colors` (same group, same colour in
every figure of a cohort) and stamps ``provenance`` into ``fig.layout.meta`` and a footer.

===========================  ==========================================================
``pca_scatter``              samples on PCs, 2-D or 3-D, coloured by any sample column
``pca_centroids``            group centroids (± 1 SD) on PCs: the PCA under a policy
``af_compare``               ALT frequency of two groups (scatter; density above 20,000)
``manhattan_plot``           association: −log10 P along the genome (thinned, Scattergl)
``qq_plot``                  association: observed vs expected −log10 P, 95 % band, λ
``fst_heatmap``              pairwise Hudson Fst, average-linkage order
``fst_windows_plot``         Fst in windows along the genome, one line per pair
``heterozygosity_plot``      observed vs expected heterozygosity per group
``sfs_plot``                 site frequency spectrum per group
``joint_sfs_heatmap``        joint SFS of two groups, log colour
``shared_private_plot``      UpSet plot of shared/private variants
``representation_panel``     samples per group, small groups flagged
``who_is_missing_plot``      samples vs world population share per region (UN WPP 2024)
``variant_card``             one variant: bars + pies on a world map
``famous_panel``             famous variants × groups: frequency of the allele of interest
``ld_decay_plot``            LD decay: mean r² by distance bin, one line per group
``ld_heatmap``               local LD: r² between every pair of a region's variants
``scan_track``               a selection scan along the genome, top windows labelled
``haplotype_spectrum_plot``  a window's haplotype classes, largest first (door-pooled)
``roc_plot``                 membership attacks: ROC per attack × protection (risk lab)
``power_vs_epsilon_plot``    attack power versus DP epsilon (risk lab)
``utility_vs_epsilon_plot``  AF and Fst error versus DP epsilon (risk lab)
===========================  ==========================================================
plotly is imported when a builder runs, never when ``genshare_widgets`` is imported.
"""

from typing import TYPE_CHECKING

from genshare_widgets._lazy import lazy_exports

if TYPE_CHECKING:
    from genshare_widgets.plots._association import contig_order, manhattan_plot, qq_plot
    from genshare_widgets.plots._cohort_colors import cohort_colors, superpopulations_of
    from genshare_widgets.plots._colors import group_colors
    from genshare_widgets.plots._diversity import (
        heterozygosity_plot,
        joint_sfs_heatmap,
        sfs_plot,
    )
    from genshare_widgets.plots._famous import famous_panel
    from genshare_widgets.plots._frequency import af_compare
    from genshare_widgets.plots._fst import cluster_order, fst_heatmap, fst_windows_plot
    from genshare_widgets.plots._ld import ld_decay_plot, ld_heatmap
    from genshare_widgets.plots._pca import pca_centroids, pca_scatter
    from genshare_widgets.plots._projection import projection_scatter
    from genshare_widgets.plots._provenance import figure_provenance, footer_of
    from genshare_widgets.plots._representation import representation_panel
    from genshare_widgets.plots._risk import (
        power_vs_epsilon_plot,
        roc_plot,
        utility_vs_epsilon_plot,
    )
    from genshare_widgets.plots._scans import haplotype_spectrum_plot, scan_track
    from genshare_widgets.plots._sharing import shared_private_plot
    from genshare_widgets.plots._variant import find_variant, variant_card
    from genshare_widgets.plots._who_is_missing import who_is_missing_plot

_LAZY = {
    "af_compare": "_frequency",
    "cluster_order": "_fst",
    "cohort_colors": "_cohort_colors",
    "contig_order": "_association",
    "famous_panel": "_famous",
    "figure_provenance": "_provenance",
    "find_variant": "_variant",
    "footer_of": "_provenance",
    "fst_heatmap": "_fst",
    "fst_windows_plot": "_fst",
    "group_colors": "_colors",
    "haplotype_spectrum_plot": "_scans",
    "heterozygosity_plot": "_diversity",
    "joint_sfs_heatmap": "_diversity",
    "ld_decay_plot": "_ld",
    "ld_heatmap": "_ld",
    "manhattan_plot": "_association",
    "pca_centroids": "_pca",
    "pca_scatter": "_pca",
    "projection_scatter": "_projection",
    "power_vs_epsilon_plot": "_risk",
    "qq_plot": "_association",
    "representation_panel": "_representation",
    "roc_plot": "_risk",
    "scan_track": "_scans",
    "sfs_plot": "_diversity",
    "shared_private_plot": "_sharing",
    "superpopulations_of": "_cohort_colors",
    "utility_vs_epsilon_plot": "_risk",
    "variant_card": "_variant",
    "who_is_missing_plot": "_who_is_missing",
}

__all__ = [
    "af_compare",
    "cluster_order",
    "cohort_colors",
    "contig_order",
    "famous_panel",
    "figure_provenance",
    "find_variant",
    "footer_of",
    "fst_heatmap",
    "fst_windows_plot",
    "group_colors",
    "haplotype_spectrum_plot",
    "heterozygosity_plot",
    "joint_sfs_heatmap",
    "ld_decay_plot",
    "ld_heatmap",
    "manhattan_plot",
    "pca_centroids",
    "pca_scatter",
    "power_vs_epsilon_plot",
    "projection_scatter",
    "qq_plot",
    "representation_panel",
    "roc_plot",
    "scan_track",
    "sfs_plot",
    "shared_private_plot",
    "superpopulations_of",
    "utility_vs_epsilon_plot",
    "variant_card",
    "who_is_missing_plot",
]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
