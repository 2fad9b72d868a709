"""One colour scheme for every figure: colour-blind-safe and deterministic.

Rules (the same inputs always give the same colours, in every figure):

1. Known super-populations have fixed colours from the Okabe-Ito palette (Okabe & Ito 2008,
   safe for the common forms of colour blindness): AFR orange, AMR vermillion, EAS bluish
   green, EUR blue, SAS reddish purple, MID/CSA sky blue, OCE yellow.
2. When every group has a super-population (``superpopulation_of``) with a fixed colour, a
   population takes its super-population's colour: the colour itself if it is the only one of
   its super-population, else one of evenly spaced shades from darker to lighter around it, in
   sorted order. YRI and AFR then share a hue in every figure of the cohort, as in the IGSR
   browser.
3. Otherwise groups take colours in sorted order: Okabe-Ito (without black) for up to 7
   groups, then Paul Tol's "muted" palette (9 more colour-blind-safe colours, Tol 2021), so up
   to 16 distinct colours; beyond that colours repeat (a figure with so many groups also labels
   them in hover text and legends).

Figures always compute the mapping over ALL groups of their data (not only those shown), so a
population keeps its colour between, e.g., a two-group allele-frequency comparison and the
Fst heatmap of the same counts.
"""

from collections.abc import Iterable, Mapping

#: Okabe-Ito palette (black left out: it is used for text and outlines).
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442")
#: Paul Tol's colour-blind-safe "muted" scheme: the extension after Okabe-Ito.
TOL_MUTED = (
    "#332288",
    "#88CCEE",
    "#44AA99",
    "#117733",
    "#999933",
    "#DDCC77",
    "#CC6677",
    "#882255",
    "#AA4499",
)
#: Fixed colours of the usual continental groups (1000 Genomes, gnomAD/HGDP codes).
SUPERPOPULATION_COLORS = {
    "AFR": "#E69F00",
    "AMR": "#D55E00",
    "EAS": "#009E73",
    "EUR": "#0072B2",
    "SAS": "#CC79A7",
    "CSA": "#CC79A7",
    "MID": "#56B4E9",
    "OCE": "#F0E442",
}
#: Colours of an allele in pies and stacked bars: ALT (dark blue) and REF (light grey).
ALT_COLOR = "#0072B2"
REF_COLOR = "#DDDDDD"
#: Neutral colours for elements that are not groups.
NEUTRAL = "#555555"
LIGHT = "#BBBBBB"


def _hex_to_rgb(color: str) -> tuple[int, int, int]:
    color = color.lstrip("#")
    return int(color[0:2], 16), int(color[2:4], 16), int(color[4:6], 16)


def _shade(color: str, amount: float) -> str:
    """Mix ``color`` with black (amount < 0) or white (amount > 0); ``amount`` in [-1, 1]."""
    r, g, b = _hex_to_rgb(color)
    target = 255 if amount > 0 else 0
    mix = abs(amount)
    out = (round(c + (target - c) * mix) for c in (r, g, b))
    return "#" + "".join(f"{c:02X}" for c in out)


def categorical_colors(n: int) -> list[str]:
    """The first ``n`` colours of the extended palette (Okabe-Ito, then Tol muted, repeating)."""
    palette = OKABE_ITO + TOL_MUTED
    return [palette[i % len(palette)] for i in range(n)]


def group_colors(
    groups: Iterable[str], *, superpopulation_of: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Deterministic group → colour mapping (see the module docstring for the rules).

    Parameters
    ----------
    groups
        Every group of the data (order does not matter: groups are sorted).
    superpopulation_of
        Optional population → super-population mapping (e.g. from the sample table).

    Examples
    --------
    >>> group_colors(["YRI", "CEU", "CHB"], superpopulation_of={"YRI": "AFR", "CEU": "EUR",
    ...                                                         "CHB": "EAS"})
    {'CEU': '#0072B2', 'CHB': '#009E73', 'YRI': '#E69F00'}
    """
    names = sorted({str(g) for g in groups})
    if all(name in SUPERPOPULATION_COLORS for name in names):
        return {name: SUPERPOPULATION_COLORS[name] for name in names}
    sup = {str(k): str(v) for k, v in (superpopulation_of or {}).items() if v is not None}
    if names and all(sup.get(name) in SUPERPOPULATION_COLORS for name in names):
        members: dict[str, list[str]] = {}
        for name in names:
            members.setdefault(sup[name], []).append(name)
        out: dict[str, str] = {}
        for parent, pops in members.items():
            base = SUPERPOPULATION_COLORS[parent]
            k = len(pops)
            for i, pop in enumerate(pops):
                # evenly spaced from 35 % darker to 45 % lighter; the base colour when alone
                amount = 0.0 if k == 1 else -0.35 + 0.8 * i / (k - 1)
                out[pop] = _shade(base, amount)
        return dict(sorted(out.items()))
    return dict(zip(names, categorical_colors(len(names)), strict=True))


def pair_colors(pairs: Iterable[str]) -> dict[str, str]:
    """Colours for group pairs (``"CEU–YRI"`` lines of window plots), in sorted order."""
    names = sorted(set(pairs))
    return dict(zip(names, categorical_colors(len(names)), strict=True))
