"""Splits, downloads (real HTTP on 127.0.0.1 with Range/resume and checksums), prepare."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from rexmle import challenge, challenge_api, data
from rexmle.challenge import DataFile
from rexmle.errors import DataError


@pytest.mark.parametrize("n", [2, 5, 24, 250])
def test_split_matches_scikit_learn(n: int) -> None:
    sklearn = pytest.importorskip("sklearn.model_selection")
    ids = [f"case{i:04d}" for i in range(n)]
    train, test = challenge_api.train_test_split_ids(reversed(ids), 0.2, 42)
    ref_train, ref_test = sklearn.train_test_split(sorted(ids), test_size=0.2, random_state=42, shuffle=True)
    assert test == sorted(ref_test) and train == sorted(ref_train)


def test_split_is_disjoint_and_sized() -> None:
    train, test = challenge_api.train_test_split_ids([f"c{i}" for i in range(250)], 0.2, 42)
    assert len(test) == 50 and len(train) == 200 and not set(train) & set(test)


# --- a real HTTP server on loopback that supports Range requests -----------------------

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB


class _Handler(http.server.BaseHTTPRequestHandler):
    served: list[str] = []  # noqa: RUF012
    cut_first: list[bool] = [False]  # noqa: RUF012

    def log_message(self, *args: object) -> None:
        pass

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.end_headers()

    def do_GET(self) -> None:
        if self.path.startswith("/missing"):
            self.send_error(404)
            return
        if "id=QuotaSpent0001" in self.path:  # Google Drive's answer when the quota is spent
            _Handler.served.append(self.path)
            page = b"<!DOCTYPE html><html><title>Google Drive - Quota exceeded</title></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)
            return
        rng = self.headers.get("Range")
        _Handler.served.append(rng or "full")
        start = int(rng.split("=")[1].split("-")[0]) if rng else 0
        body = PAYLOAD[start:]
        self.send_response(206 if rng else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if _Handler.cut_first[0]:
            _Handler.cut_first[0] = False
            self.wfile.write(body[: len(body) // 3])
            self.wfile.flush()
            self.connection.shutdown(2)
            return
        self.wfile.write(body)


@pytest.fixture
def server() -> Iterator[str]:
    _Handler.served = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


SHA = hashlib.sha256(PAYLOAD).hexdigest()


def test_fetch_pinned_checksum_and_mirror_fallback(server: str, tmp_path: Path) -> None:
    df = DataFile(name="a.bin", urls=[f"{server}/missing/a.bin", f"{server}/a.bin"], sha256=SHA)
    assert data.fetch([df], tmp_path) == {"a.bin": SHA}
    assert (tmp_path / "a.bin").read_bytes() == PAYLOAD


def test_fetch_records_unknown_checksum_then_verifies(server: str, tmp_path: Path) -> None:
    df = DataFile(name="b.bin", urls=[f"{server}/b.bin"])
    data.fetch([df], tmp_path)
    assert json.loads((tmp_path / "downloads.json").read_text()) == {"b.bin": SHA}
    (tmp_path / "b.bin").write_bytes(b"tampered")  # a corrupted local copy is fetched again
    n_before = len(_Handler.served)
    data.fetch([df], tmp_path)
    assert (tmp_path / "b.bin").read_bytes() == PAYLOAD and len(_Handler.served) == n_before + 1


def test_fetch_wrong_pinned_checksum(server: str, tmp_path: Path) -> None:
    df = DataFile(name="c.bin", urls=[f"{server}/c.bin"], sha256="0" * 64)
    with pytest.raises(DataError, match="checksum mismatch"):
        data.fetch([df], tmp_path)


def test_fetch_checks_a_pinned_size_and_md5(server: str, tmp_path: Path) -> None:
    """What a record publishes besides a sha256 (TopBrain's Zenodo listing: md5 and size) is checked."""
    md5 = hashlib.md5(PAYLOAD).hexdigest()
    ok = DataFile(name="e.bin", urls=[f"{server}/e.bin"], md5=md5, size_bytes=len(PAYLOAD))
    assert data.fetch([ok], tmp_path / "ok") == {"e.bin": SHA}
    short = DataFile(name="e.bin", urls=[f"{server}/e.bin"], size_bytes=len(PAYLOAD) + 1)
    with pytest.raises(DataError, match=rf"{len(PAYLOAD):,} bytes, not the record's {len(PAYLOAD) + 1:,}"):
        data.fetch([short], tmp_path / "short")
    wrong = DataFile(name="e.bin", urls=[f"{server}/e.bin"], md5="0" * 32)
    with pytest.raises(DataError, match=r"md5 .* differs from the record"):
        data.fetch([wrong], tmp_path / "wrong")


def test_fetch_resumes_an_interrupted_download(server: str, tmp_path: Path) -> None:
    df = DataFile(name="d.bin", urls=[f"{server}/d.bin"], sha256=SHA)
    _Handler.cut_first[0] = True
    with pytest.raises(DataError):
        data.fetch([df], tmp_path)
    part = tmp_path / "d.bin.part"
    assert 0 < part.stat().st_size < len(PAYLOAD)
    data.fetch([df], tmp_path)
    assert (tmp_path / "d.bin").read_bytes() == PAYLOAD
    assert _Handler.served[-1].startswith("bytes=") and _Handler.served[-1] != "bytes=0-"


def test_fetch_all_mirrors_down(server: str, tmp_path: Path) -> None:
    df = DataFile(name="e.bin", urls=[f"{server}/missing/e.bin", f"{server}/missing/again"])
    with pytest.raises(DataError) as err:
        data.fetch([df], tmp_path)
    assert str(err.value) == (
        f"e.bin: download failed from every source ({server}/missing/e.bin: HTTP 404; {server}/missing/again: "
        f"HTTP 404); check the network and retry, or get it by hand: open {server}/missing/e.bin in a browser "
        f"and download e.bin; save it as {tmp_path / 'e.bin'} (no published checksum: the first copy's sha256 "
        "is recorded and checked from then on); then run prepare again"
    )


# --- prepare ------------------------------------------------------------------------------


def test_prepare_layout_and_manifest(prepared: Path) -> None:
    m = data.read_manifest(prepared)
    assert m is not None and m.synthetic and m.n_train == 19 and m.n_test == 5
    pub = prepared / "public"
    assert (pub / "description.md").is_file()
    assert len(list((pub / "train").glob("*_msk.nii.gz"))) == 19
    assert len(list((pub / "test").glob("*_dwi.nii.gz"))) == 5
    assert not list((pub / "test").glob("*_msk*"))
    assert len(list((prepared / "private" / "test").glob("*_msk.nii.gz"))) == 5
    assert data.verify(prepared) == []
    assert set(m.sources) == {"ISLES-2022.zip"}


def test_prepare_is_deterministic(prepared: Path, tmp_path: Path) -> None:
    isles = challenge.get("isles22")
    other = data.prepare(isles, synthetic=True, home=tmp_path)
    a, b = data.read_manifest(prepared), data.read_manifest(other)
    assert a is not None and b is not None
    assert a.public == b.public and a.private == b.private and a.sources == b.sources


def test_prepare_is_idempotent_and_repairs(tmp_path: Path) -> None:
    isles = challenge.get("isles22")
    root = data.prepare(isles, synthetic=True, home=tmp_path)
    stamp = (root / "manifest.json").stat().st_mtime_ns
    data.prepare(isles, synthetic=True, home=tmp_path)
    assert (root / "manifest.json").stat().st_mtime_ns == stamp  # skipped
    victim = next((root / "private" / "test").glob("*.nii.gz"))
    victim.unlink()
    assert not data.is_prepared(isles, root)
    data.prepare(isles, synthetic=True, home=tmp_path)
    assert victim.is_file() and data.verify(root) == []


def test_interrupted_prepare_is_not_taken_for_prepared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    isles = challenge.get("isles22")
    mod = isles.module("prepare")

    def boom(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(mod, "prepare", boom)
    with pytest.raises(KeyboardInterrupt):
        data.prepare(isles, synthetic=True, home=tmp_path)
    root = tmp_path / "data" / "isles22@synthetic"
    assert not data.is_prepared(isles, root) and not (root / "public").exists()
    with pytest.raises(DataError, match="not prepared"):
        data.require_prepared(isles, True, home=tmp_path)


def test_fetch_checks_the_record_md5(server: str, tmp_path: Path) -> None:
    good = DataFile(name="f.bin", urls=[f"{server}/f.bin"], md5=hashlib.md5(PAYLOAD).hexdigest())
    assert data.fetch([good], tmp_path) == {"f.bin": SHA}
    bad = DataFile(name="g.bin", urls=[f"{server}/g.bin"], md5="0" * 32)
    with pytest.raises(DataError, match="md5"):
        data.fetch([bad], tmp_path)


def test_shared_file_is_downloaded_once_and_linked_into_each_challenge(server: str, tmp_path: Path) -> None:
    df = DataFile(name="release.zip", urls=[f"{server}/release.zip"], shared="topcow-2024")
    raw_a, raw_b = tmp_path / "data" / "a" / "raw", tmp_path / "data" / "b" / "raw"
    assert data.fetch([df], raw_a) == {"release.zip": SHA}
    assert data.fetch([df], raw_b) == {"release.zip": SHA}
    assert _Handler.served == ["full"]  # one download for both
    shared = tmp_path / "data" / "_shared" / "topcow-2024"
    for raw in (raw_a, raw_b):
        assert (raw / "release.zip").is_symlink() and (raw / "release.zip").read_bytes() == PAYLOAD
        assert (raw / "release.zip").resolve() == (shared / "release.zip").resolve()
    assert json.loads((shared / "downloads.json").read_text()) == {"release.zip": SHA}
    with pytest.raises(ValueError, match="shared"):
        DataFile(name="x", urls=[f"{server}/x"], shared="Not OK")


# --- Google Drive and files placed by hand ---------------------------------------------------


@pytest.fixture
def gdrive(server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Drive's download endpoint, served by the loopback server."""
    monkeypatch.setenv("REXMLE_GDRIVE_URL", server + "/download?id={id}&export=download&confirm=t")
    return server


def test_gdrive_file_is_fetched_through_the_direct_download_endpoint(gdrive: str, tmp_path: Path) -> None:
    df = DataFile(name="test_dataset.zip", gdrive_id="1DbZfTj4it-3QRTuJO73r1iQyHLRwPS6H", sha256=SHA)
    assert data.fetch([df], tmp_path) == {"test_dataset.zip": SHA}
    assert _Handler.served == ["full"] and (tmp_path / "test_dataset.zip").read_bytes() == PAYLOAD
    assert data.source_urls(df) == [
        f"{gdrive}/download?id=1DbZfTj4it-3QRTuJO73r1iQyHLRwPS6H&export=download&confirm=t"
    ]


def test_gdrive_web_page_is_refused_with_what_to_do_by_hand(gdrive: str, tmp_path: Path) -> None:
    df = DataFile(name="train_dataset.zip", gdrive_id="QuotaSpent0001")
    with pytest.raises(DataError) as err:
        data.fetch([df], tmp_path)
    msg = str(err.value)
    assert "a web page instead of the file" in msg and "\n" not in msg
    assert "https://drive.google.com/file/d/QuotaSpent0001/view" in msg
    assert f"save it as {tmp_path / 'train_dataset.zip'}" in msg
    assert not (tmp_path / "train_dataset.zip").exists() and not list(tmp_path.glob("*.part"))
    assert not (tmp_path / "downloads.json").exists()  # a web page is never recorded as the file


MANUAL = "register at https://ravir.grand-challenge.org and download RAVIR Dataset.zip from its Data page"


def test_manual_file_stops_prepare_with_the_instructions(tmp_path: Path) -> None:
    df = DataFile(name="RAVIR Dataset.zip", manual=MANUAL, sha256=SHA)
    with pytest.raises(DataError) as err:
        data.fetch([df], tmp_path)
    assert str(err.value) == (
        f"RAVIR Dataset.zip needs a manual step: {MANUAL}; save it as {tmp_path / 'RAVIR Dataset.zip'} "
        f"(sha256 {SHA}); then run prepare again"
    )


def test_manual_file_placed_by_hand_is_verified_not_downloaded(server: str, tmp_path: Path) -> None:
    df = DataFile(name="placed.zip", urls=[f"{server}/placed.zip"], manual=MANUAL, sha256=SHA)
    (tmp_path / "placed.zip").write_bytes(b"the wrong file")
    with pytest.raises(DataError, match=r"has sha256 [0-9a-f]{64}, not " + SHA):
        data.fetch([df], tmp_path)
    assert (tmp_path / "placed.zip").read_bytes() == b"the wrong file"  # never overwritten
    (tmp_path / "placed.zip").write_bytes(PAYLOAD)
    assert data.fetch([df], tmp_path) == {"placed.zip": SHA}
    assert _Handler.served == []  # nothing was downloaded
    # with no pinned checksum the placed file's is recorded, and a later swap is caught
    loose = DataFile(name="loose.zip", manual=MANUAL)
    (tmp_path / "loose.zip").write_bytes(PAYLOAD)
    assert data.fetch([loose], tmp_path) == {"loose.zip": SHA}
    (tmp_path / "loose.zip").write_bytes(b"swapped")
    with pytest.raises(DataError, match="not " + SHA):
        data.fetch([loose], tmp_path)


def test_a_data_file_needs_some_source() -> None:
    with pytest.raises(ValueError, match="give urls, a gdrive_id or manual instructions"):
        DataFile(name="nothing.zip")


# --- reading a release in place ----------------------------------------------------------------


def test_raw_files_reads_zip_members_and_hand_unpacked_files(tmp_path: Path) -> None:
    import zipfile

    with zipfile.ZipFile(tmp_path / "release.zip", "w") as zf:
        zf.writestr("release/a.txt", b"from the zip")
        zf.writestr("release/sub/", b"")  # a folder entry is not a file
        zf.writestr("both.txt", b"member wins")
    (tmp_path / "release" / "b").mkdir(parents=True)
    (tmp_path / "release" / "b" / "c.txt").write_bytes(b"on disk")
    (tmp_path / "both.txt").write_bytes(b"loose copy")
    (tmp_path / "downloads.json").write_text("{}")
    (tmp_path / "other.zip.part").write_bytes(b"partial")
    files = challenge_api.raw_files(tmp_path)
    assert sorted(files) == ["both.txt", "release/a.txt", "release/b/c.txt"]
    assert files["release/a.txt"].read() == b"from the zip" and files["both.txt"].read() == b"member wins"
    files["release/b/c.txt"].copy(tmp_path / "out" / "c.txt")
    files["release/a.txt"].copy(tmp_path / "out" / "a.txt")
    assert (tmp_path / "out" / "c.txt").read_bytes() == b"on disk"
    assert (tmp_path / "out" / "a.txt").read_bytes() == b"from the zip"
    (tmp_path / "broken.zip").write_bytes(b"not a zip")
    with pytest.raises(DataError, match=r"broken.zip is not a valid zip; delete it and prepare again"):
        challenge_api.raw_files(tmp_path)


def test_ticker_counts_up_to_the_total() -> None:
    seen: list[tuple[str, int, int]] = []
    tick = challenge_api.ticker(lambda *a: seen.append(a), "prepare x", 2)
    tick()
    tick()
    assert seen == [("prepare x", 1, 2), ("prepare x", 2, 2)]
    challenge_api.ticker(None, "quiet", 1)()  # no progress callback: nothing to report, no error
