"""Shared fixtures: one private cache per test session, the offline mirror, opened cohorts.

Real-data tests read ../shared/data through GENSHARE_MIRROR (set by `make test`); when the
folder is missing they skip with the reason. Fixtures are session-scoped: each cohort is built
and converted once per session.
"""

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MIRROR = REPO.parent / "shared" / "data"


def _mirror() -> Path | None:
    env = os.environ.get("GENSHARE_MIRROR")
    path = Path(env) if env else DEFAULT_MIRROR
    return path if (path / "SHA256SUMS").is_file() else None


def pytest_addoption(parser):
    parser.addoption(
        "--overwrite-figures",
        action="store_true",
        help="rewrite tests/expected_figures/*.json from the current builders "
        "(or set GENSHARE_OVERWRITE_FIGURES=1)",
    )


@pytest.fixture(scope="session")
def overwrite_figures(request) -> bool:
    """True when the expected figure JSON files are to be regenerated, not compared."""
    return bool(request.config.getoption("--overwrite-figures")) or (
        os.environ.get("GENSHARE_OVERWRITE_FIGURES") == "1"
    )


@pytest.fixture(scope="session", autouse=True)
def genshare_env(tmp_path_factory):
    """Private cache, quiet progress and no internet for the whole session."""
    cache = tmp_path_factory.mktemp("genshare-cache")
    names = (
        "GENSHARE_CACHE",
        "GENSHARE_STATE",
        "GENSHARE_PROGRESS",
        "GENSHARE_MIRROR",
        "GENSHARE_OFFLINE",
    )
    old = {k: os.environ.get(k) for k in names}
    os.environ["GENSHARE_CACHE"] = str(cache)
    os.environ["GENSHARE_STATE"] = str(cache)  # ledgers and release logs beside the cache
    os.environ["GENSHARE_PROGRESS"] = "0"
    os.environ["GENSHARE_OFFLINE"] = "1"  # no test may reach beyond this machine
    mirror = _mirror()
    if mirror is not None:
        os.environ["GENSHARE_MIRROR"] = str(mirror)
    yield cache
    for key, value in old.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(autouse=True)
def fresh_release_log(genshare_env):
    """Each test starts with no earlier releases: the publishing release log (rule 6) is
    per cohort and persistent, so one test's groups would refuse another's. A test that plays
    a sequence of releases does so within itself. Cleared after the test too: a session
    fixture set up for the next test (a Beacon or site, whose start is a release) runs before
    this fixture does."""
    shutil.rmtree(genshare_env / "releases", ignore_errors=True)
    yield
    shutil.rmtree(genshare_env / "releases", ignore_errors=True)


@pytest.fixture(scope="session")
def mirror() -> Path:
    """The offline mirror of real data (../shared/data); skips when absent."""
    path = _mirror()
    if path is None:
        pytest.skip(
            f"real-data mirror not found (GENSHARE_MIRROR unset and {DEFAULT_MIRROR} missing)"
        )
    return path


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch) -> Path:
    """A fresh, empty cache for tests that check what gets (or does not get) written."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("GENSHARE_CACHE", str(cache))
    monkeypatch.setenv("GENSHARE_STATE", str(cache))  # its ledgers and logs start empty too
    return cache


@pytest.fixture(scope="session")
def sim_ooa():
    from genshare_widgets import open_cohort

    return open_cohort("sim-ooa")


@pytest.fixture(scope="session")
def sim_admix():
    from genshare_widgets import open_cohort

    return open_cohort("sim-admix")


@pytest.fixture(scope="session")
def kg_subset(mirror):
    from genshare_widgets import open_cohort

    return open_cohort("1kg-phase3-subset")


@pytest.fixture(scope="session")
def chr1_region(mirror):
    from genshare_widgets import open_cohort

    return open_cohort("1kg-phase3-chr1-region")


@pytest.fixture(scope="session")
def hapmap3(mirror):
    from genshare_widgets import open_cohort

    return open_cohort("hapmap3")


@pytest.fixture(scope="session")
def hail_session():
    """Hail started once for the session on local[2]; skips (with the reason) without Hail/Java."""
    pytest.importorskip("hail", reason="Hail not installed: pip install 'genshare_widgets[hail]'")
    from genshare_widgets import GenShareError
    from genshare_widgets.engines import _hail_session

    try:
        _hail_session.find_java()
    except GenShareError as exc:
        pytest.skip(f"no Java for Hail: {exc}")
    old = os.environ.get("GENSHARE_SPARK_MASTER")
    os.environ["GENSHARE_SPARK_MASTER"] = "local[2]"
    yield _hail_session.hail_session()
    if old is None:
        os.environ.pop("GENSHARE_SPARK_MASTER", None)
    else:
        os.environ["GENSHARE_SPARK_MASTER"] = old
