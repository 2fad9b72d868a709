"""Attacks on reference PCA and projection (issue 19), through the public interface.

The attacker holds a registered cohort (k = 20 publishing rules) and wants (1) per-person
coordinates that join to population labels, (2) a reference fitted on it (its SNP weights
point at the carriers of its rarer variants, issue 13's attack 1), or (3) genotypes read
out through a crafted reference (identity-like weights, rare frequencies). Each is refused;
nothing is written.
"""

import numpy as np
import pytest
from cli_runner import run_genshare

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def registered():
    from genshare_widgets import open_cohort

    return open_cohort("sim-ooa-gru-registered", purpose="GRU")


@pytest.fixture(scope="module")
def open_reference(sim_ooa, tmp_path_factory):
    from genshare_widgets.projection import fit_reference

    path = tmp_path_factory.mktemp("attack-ref") / "ref.json"
    return fit_reference(sim_ooa, k=3), path


def test_attack_per_person_projection_of_a_registered_cohort(registered, open_reference, tmp_path):
    from genshare_widgets.disclosure import ReleaseRefused
    from genshare_widgets.projection import project

    ref, path = open_reference
    ref.save(path)
    with pytest.raises(ReleaseRefused, match="projected PCA coordinates"):
        project(registered, ref)
    with pytest.raises(ReleaseRefused):
        project(registered, ref, assign=True)
    env = {"GENSHARE_PURPOSE": "GRU;publish"}
    cli = run_genshare("project", "sim-ooa-gru-registered", "--reference", str(path), "--out",
                       str(tmp_path / "p"), env=env)  # fmt: skip
    assert cli.returncode == 2 and "projected PCA coordinates" in cli.stderr
    fig = run_genshare("figure", "sim-ooa-gru-registered", "--kind", "projection", "--reference",
                       str(path), "--out", str(tmp_path / "f.json"), env=env)  # fmt: skip
    assert fig.returncode == 2, fig.stderr
    assert not (tmp_path / "p").exists() and not (tmp_path / "f.json").exists()


def test_attack_reference_fitted_on_registered_data(registered, sim_ooa, tmp_path):
    from genshare_widgets._errors import GenShareError
    from genshare_widgets.projection import fit_reference

    with pytest.raises(GenShareError, match=r"registered-tier.*only from open-tier"):
        fit_reference(registered, k=3)
    env = {"GENSHARE_PURPOSE": "GRU;publish"}
    cli = run_genshare("reference", "sim-ooa-gru-registered", "--pca", "3", "--out",
                       str(tmp_path / "r.json"), env=env)  # fmt: skip
    assert cli.returncode == 2 and "open-tier" in cli.stderr
    assert not (tmp_path / "r.json").exists()
    # nor on rare variants of open data (weights of a singleton are its carrier's PCs)
    with pytest.raises(GenShareError, match=r"min_maf >= 0\.05"):
        fit_reference(sim_ooa, k=3, min_maf=0.001)


def test_attack_crafted_reference_reads_no_genotype(sim_ooa, open_reference, tmp_path):
    """Identity weights on 60 variants (each PC one genotype) or p → 0 would make a
    projection a genotype read-out: such files are refused at load and at projection."""
    from genshare_widgets._errors import GenShareError
    from genshare_widgets._pca_reference import PCAReference
    from genshare_widgets.projection import project

    ref, _ = open_reference
    variants = ref.variants.iloc[:60].reset_index(drop=True)
    identity = PCAReference(
        variants=variants,
        p=np.full(60, 0.5),
        weights=np.eye(60)[:, :3],
        eigenvalues=np.ones(3),
    )
    rare = PCAReference(
        variants=variants,
        p=np.full(60, 1e-3),
        weights=ref.weights[:60],
        eigenvalues=ref.eigenvalues,
    )
    for name, crafted, words in (
        ("identity", identity, "puts its weight on about 1 variants"),
        ("rare", rare, "every MAF >= 0.05"),
    ):
        path = tmp_path / f"{name}.json"
        digest = crafted.save(path)
        with pytest.raises(GenShareError, match=words):
            PCAReference.load(path, sha256=digest)
        with pytest.raises(GenShareError, match=words):
            project(sim_ooa, crafted, min_matched=10)
