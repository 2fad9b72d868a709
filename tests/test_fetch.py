"""Verified, atomic fetching: mirror, HTTP download on loopback, hash mismatch, offline."""

import hashlib
import http.server
import threading
from pathlib import Path

import pytest

from genshare_widgets import FetchError
from genshare_widgets.catalog import FileSpec, get_entry
from genshare_widgets.fetch import fetch_cohort, fetch_file, sha256_file

PAYLOAD = b"##fileformat=VCFv4.2\n" * 1000


class _Handler(http.server.SimpleHTTPRequestHandler):
    truncate = False

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        if self.path.startswith("/truncated"):
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD[:100])
            self.wfile.flush()
            self.connection.close()
            return
        super().do_GET()


_ROOTS: dict[str, Path] = {}


def http_root_dir(url: str) -> Path:
    return _ROOTS[url]


@pytest.fixture
def http_root(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    (root / "good.vcf").write_bytes(PAYLOAD)
    handler = lambda *a, **k: _Handler(*a, directory=str(root), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    _ROOTS[url] = root
    yield url
    server.shutdown()
    server.server_close()


def _spec(url: str, digest: str | None, name: str = "good.vcf") -> FileSpec:
    return FileSpec(name=name, url=url, sha256=digest, role="genotypes")


def _cache_files(cache: Path) -> list[Path]:
    return sorted(p for p in cache.rglob("*") if p.is_file()) if cache.exists() else []


def test_download_verifies_and_caches(http_root, isolated_cache, monkeypatch):
    monkeypatch.delenv("GENSHARE_MIRROR", raising=False)
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    path = fetch_file(_spec(f"{http_root}/good.vcf", digest), cohort_id="t")
    assert path == isolated_cache / "downloads" / "t" / "good.vcf"
    assert sha256_file(path) == digest
    assert _cache_files(isolated_cache) == [path, path.with_name("good.vcf.sha256")]
    # A second fetch uses the cache (the server is not needed any more).
    assert fetch_file(_spec("http://127.0.0.1:9/gone", digest), cohort_id="t") == path


def test_hash_mismatch_quarantines(http_root, isolated_cache, monkeypatch):
    monkeypatch.delenv("GENSHARE_MIRROR", raising=False)
    with pytest.raises(FetchError) as info:
        fetch_file(_spec(f"{http_root}/good.vcf", "1" * 64), cohort_id="t")
    msg = str(info.value)
    assert "the catalog " + "1" * 64 in msg and "quarantined" in msg
    assert not (isolated_cache / "downloads" / "t" / "good.vcf").exists()
    quarantined = list((isolated_cache / "quarantine").iterdir())
    assert len(quarantined) == 1 and quarantined[0].read_bytes() == PAYLOAD
    assert [p for p in _cache_files(isolated_cache) if "downloads" in p.parts] == []


def test_interrupted_download_leaves_nothing(http_root, isolated_cache, monkeypatch):
    monkeypatch.delenv("GENSHARE_MIRROR", raising=False)
    with pytest.raises(FetchError, match=r"could not download good\.vcf"):
        fetch_file(_spec(f"{http_root}/truncated/good.vcf", None), cohort_id="t")
    assert [p for p in _cache_files(isolated_cache) if "downloads" in p.parts] == []


def test_offline_error_says_file_url_and_remedy(isolated_cache, monkeypatch):
    monkeypatch.delenv("GENSHARE_MIRROR", raising=False)
    url = "http://127.0.0.1:9/1KG_phase3_subset_chr1.vcf.gz"  # discard port: refused
    with pytest.raises(FetchError) as info:
        fetch_file(_spec(url, "2" * 64, name="1KG_phase3_subset_chr1.vcf.gz"), cohort_id="x")
    msg = str(info.value)
    assert "1KG_phase3_subset_chr1.vcf.gz" in msg and url in msg
    assert "GENSHARE_MIRROR" in msg
    assert _cache_files(isolated_cache) == []


def test_cloud_bucket_urls_explain_themselves(isolated_cache, monkeypatch):
    monkeypatch.delenv("GENSHARE_MIRROR", raising=False)
    entry = get_entry("gnomad-hgdp-1kg")
    with pytest.raises(FetchError, match="gsutil"):
        fetch_file(entry.files[0], cohort_id=entry.id)


def test_unknown_hash_is_recorded_on_first_fetch(http_root, isolated_cache, monkeypatch):
    monkeypatch.delenv("GENSHARE_MIRROR", raising=False)
    path = fetch_file(_spec(f"{http_root}/good.vcf", None), cohort_id="t")
    record = path.with_name("good.vcf.sha256")
    assert record.read_text().split()[0] == hashlib.sha256(PAYLOAD).hexdigest()
    # The cached copy gets damaged: it is re-hashed, quarantined, and fetched again.
    path.write_bytes(b"changed")
    assert fetch_file(_spec(f"{http_root}/good.vcf", None), cohort_id="t").read_bytes() == PAYLOAD
    assert len(list((isolated_cache / "quarantine").iterdir())) == 1
    # Upstream changes after the first fetch: the recorded hash catches it.
    path.unlink()
    (Path(http_root_dir(http_root)) / "good.vcf").write_bytes(b"upstream changed")
    with pytest.raises(FetchError, match="the first fetch recorded"):
        fetch_file(_spec(f"{http_root}/good.vcf", None), cohort_id="t")


def test_mirror_fetch_verifies(mirror, isolated_cache):
    entry = get_entry("hapmap3")
    paths = fetch_cohort(entry)
    assert set(paths) == {f.name for f in entry.files}
    for spec in entry.files:
        assert sha256_file(paths[spec.name]) == spec.sha256
        assert paths[spec.name].parent == isolated_cache / "downloads" / "hapmap3"


def test_corrupt_mirror_copy_is_refused(tmp_path, isolated_cache, monkeypatch, mirror):
    bad_mirror = tmp_path / "mirror"
    bad_mirror.mkdir()
    spec = get_entry("hapmap3").files[2]  # the .fam
    original = (mirror / "hapmap3" / spec.name).read_bytes()
    (bad_mirror / spec.name).write_bytes(original.replace(b"NA", b"XX", 1))
    monkeypatch.setenv("GENSHARE_MIRROR", str(bad_mirror))
    with pytest.raises(FetchError, match="mirror copies do not verify") as info:
        fetch_file(spec, cohort_id="hapmap3")
    assert spec.sha256 in str(info.value)
    assert _cache_files(isolated_cache) == []
