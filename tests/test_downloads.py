"""The manual route of every data file of every challenge, and `prepare --check`, against real
HTTP on 127.0.0.1: a refused download names the page to open, the exact path, the size and the
checksum; a file saved there is picked up without any download; each kind of source answer
(the file, a move, a 404, a 403, a web page) is reported for what it is."""

from __future__ import annotations

import hashlib
import http.server
import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import offline, rexmle_cli

from rexmle import challenge, data, paths
from rexmle.challenge import DataFile
from rexmle.errors import DataError

BODY = b"PK\x03\x04" + bytes(range(256)) * 64


class _Handler(http.server.BaseHTTPRequestHandler):
    """``/restricted/...`` (and anything unknown) 403; the rest per path."""

    seen: list[str] = []  # noqa: RUF012

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        _Handler.seen.append(self.path)
        if self.path.startswith("/good"):
            rng = self.headers.get("Range")
            body = BODY[:1] if rng == "bytes=0-0" else BODY
            self.send_response(206 if rng else 200)
            if rng:
                self.send_header("Content-Range", f"bytes 0-0/{len(BODY)}")
            self.send_header("Content-Type", "application/zip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path.startswith(("/moved", "/temporary")):
            self.send_response(301 if self.path.startswith("/moved") else 302)
            self.send_header("Location", "/good/new-home.zip")
            self.end_headers()
        elif self.path.startswith("/missing"):
            self.send_error(404)
        elif self.path.startswith("/page"):
            page = b"<!DOCTYPE html><html><title>Log in</title></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)
        else:
            self.send_error(403)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    _Handler.seen = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    monkeypatch.setenv("REXMLE_GDRIVE_URL", base + "/restricted/drive?id={id}")
    yield base
    httpd.shutdown()


PAGES = ("https://zenodo.org/records/", "https://figshare.com/articles/", "https://drive.google.com/file/d/")


@pytest.mark.parametrize("cid", sorted(challenge.discover()))
def test_every_data_file_has_a_manual_route_that_prepare_picks_up(
    cid: str, server: str, tmp_path: Path
) -> None:
    real = challenge.get(cid)
    refused = offline(real, server + "/restricted")
    raw = paths.data_dir(cid, False, tmp_path) / "raw"
    for df, real_df in zip(refused.spec.data, real.spec.data, strict=True):
        with pytest.raises(DataError) as err:
            data.fetch([df], raw)
        msg = str(err.value)
        target = data.file_target(df, raw)
        assert "\n" not in msg and f"save it as {target} (" in msg and "then run prepare again" in msg
        page = data.source_page(real_df)
        assert page is not None and page.startswith(PAGES) and page in msg
        if real_df.manual:
            assert " ".join(real_df.manual.split()).rstrip(". ") in " ".join(msg.split())
        if real_df.size_bytes is not None:
            assert f"{real_df.size_bytes:,} bytes" in msg
        if real_df.sha256:
            assert f"sha256 {real_df.sha256}" in msg
        if real_df.md5:
            assert f"md5 {real_df.md5}" in msg
        if not (real_df.sha256 or real_df.md5):
            assert "no published checksum" in msg
        assert not target.exists() and not list(target.parent.glob("*.part"))
    # save the synthetic stand-ins where the messages said; a copy with the wrong checksum is refused
    stand_ins = tmp_path / "stand-ins"
    stand_ins.mkdir()
    real.module("synthetic").generate(stand_ins, real.spec, seed=0)
    for df in refused.spec.data:
        data.file_target(df, raw).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(stand_ins / df.name, data.file_target(df, raw))
    pinned = [df for df in refused.spec.data if df.sha256]
    if pinned:
        with pytest.raises(
            DataError, match=rf"{pinned[0].name}: .*sha256 [0-9a-f]{{64}}, not {pinned[0].sha256}"
        ):
            data.fetch(pinned, raw)
        for df in pinned:  # the wrong copy stays where the user put it, or was never replaced by a page
            assert data.file_target(df, raw).read_bytes() == (stand_ins / df.name).read_bytes()
    shas = {df.name: data.file_digest(stand_ins / df.name) for df in real.spec.data}
    asked = len(_Handler.seen)
    root = data.prepare(offline(real, server + "/restricted", shas), home=tmp_path)
    assert len(_Handler.seen) == asked  # picked up from where it was saved: nothing downloaded
    m = data.read_manifest(root)
    assert m is not None and m.sources == shas and m.n_test > 0


def test_a_placed_copy_of_a_downloadable_file_is_kept_when_it_matches(server: str, tmp_path: Path) -> None:
    sha = hashlib.sha256(BODY).hexdigest()
    df = DataFile(name="release.zip", urls=[f"{server}/good/release.zip"], sha256=sha, size_bytes=len(BODY))
    (tmp_path / "release.zip").write_bytes(BODY)
    assert data.fetch([df], tmp_path) == {"release.zip": sha} and _Handler.seen == []
    # a wrong copy of a file that can be downloaded is replaced by the download
    (tmp_path / "release.zip").write_bytes(b"half a file")
    assert data.fetch([df], tmp_path) == {"release.zip": sha} and _Handler.seen == ["/good/release.zip"]
    assert (tmp_path / "release.zip").read_bytes() == BODY


def test_a_file_inside_a_larger_archive_is_taken_out_and_verified(tmp_path: Path) -> None:
    import zipfile

    sha = hashlib.sha256(BODY).hexdigest()
    df = DataFile(name="KiTS.zip", urls=["http://127.0.0.1:9/KiTS.zip"], sha256=sha, inside="article.zip")
    with zipfile.ZipFile(tmp_path / "article.zip", "w") as zf:
        zf.writestr("KiTS.zip", BODY)
    assert data.fetch([df], tmp_path) == {"KiTS.zip": sha}
    wrong = df.model_copy(update={"name": "Rider.zip"})
    with zipfile.ZipFile(tmp_path / "article.zip", "a") as zf:
        zf.writestr("nested/Rider.zip", b"not the file")
    with pytest.raises(
        DataError, match=rf"the copy at {tmp_path / 'Rider.zip'} had sha256 [0-9a-f]{{64}}, not {sha}"
    ):
        data.fetch([wrong], tmp_path)


# --- prepare --check -----------------------------------------------------------------------


def test_check_reports_each_kind_of_source(server: str) -> None:
    df = DataFile(name="release.zip", urls=[f"{server}/x"], size_bytes=len(BODY))
    answers = {
        kind: data.ask_source(df, f"{server}/{kind}/release.zip")
        for kind in ("good", "moved", "temporary", "missing", "restricted", "page")
    }
    assert answers["good"].verdict == "ok" and answers["good"].size == len(BODY)
    assert answers["good"].status == 206 and answers["good"].moved_to is None
    assert answers["moved"].verdict == "ok" and answers["moved"].permanent
    assert answers["moved"].moved_to == f"{server}/good/new-home.zip"
    assert answers["temporary"].verdict == "ok" and not answers["temporary"].permanent
    assert answers["missing"].verdict == "missing" and answers["missing"].status == 404
    assert answers["restricted"].verdict == "restricted" and answers["restricted"].status == 403
    assert answers["page"].verdict == "web page"
    assert (
        data.ask_source(df.model_copy(update={"size_bytes": 5}), f"{server}/good/r.zip").verdict
        == "size differs"
    )
    assert data.ask_source(df, "http://127.0.0.1:9/closed").verdict == "unreachable"
    # nothing but one byte was asked for
    assert all(len(p) for p in _Handler.seen)
    assert (
        answers["moved"].line()
        == f"ok (HTTP 206), {len(BODY):,} bytes, moved permanently to {server}/good/new-home.zip"
    )


def test_prepare_check_on_the_command_line(server: str, tmp_path: Path) -> None:
    """A user challenge whose two files answer differently: the good one is reported with its
    size, the refused one with its manual route, and the exit status says not every file can
    be downloaded."""
    folder = tmp_path / "challenges" / "probe-me"
    shutil.copytree(challenge.get("isles22").folder, folder, ignore=shutil.ignore_patterns("__pycache__"))
    spec = (folder / "challenge.yaml").read_text()
    start, end = spec.index("data:"), spec.index("# Real-data budget")
    files = (
        f"data:\n  - name: ISLES-2022.zip\n    urls: ['{server}/missing/ISLES-2022.zip', '{server}/good/ISLES-2022.zip']\n"
        f"    size_bytes: {len(BODY)}\n  - name: extra.zip\n    urls: ['{server}/restricted/extra.zip']\n"
    )
    (folder / "challenge.yaml").write_text(
        spec[:start].replace("id: isles22", "id: probe-me") + files + spec[end:]
    )
    env = {"REXMLE_CHALLENGES_PATH": str(tmp_path / "challenges"), "COLUMNS": "200"}
    r = rexmle_cli("prepare", "probe-me", "--check", "--json", env=env)
    assert r.returncode == 1, r.stderr
    rows = json.loads(r.stdout)
    assert [(a["file"], a["verdict"]) for a in rows["sources"]] == [
        ("ISLES-2022.zip", "missing"),
        ("ISLES-2022.zip", "ok"),
        ("extra.zip", "restricted"),
    ]
    assert rows["downloadable"] == {"ISLES-2022.zip": True, "extra.zip": False}
    r = rexmle_cli("prepare", "probe-me", "--check", env=env)
    assert r.returncode == 1 and "restricted (HTTP 403)" in r.stdout and f"{len(BODY):,} bytes" in r.stdout
    assert "extra.zip: no source answers with the file; get it by hand:" in r.stdout
    assert not (paths.home() / "data" / "probe-me").exists()  # nothing was downloaded or made
    # a real prepare says what it will download, sizes first, then fails with the manual route
    r = rexmle_cli("prepare", "probe-me", env=env)
    assert r.returncode == 2
    share = int(challenge.get("isles22").spec.download_gb * 1e9 / 2)  # the estimate, half for each file
    assert f"to download: 2 file(s), ~{(share + len(BODY)) / 1e9:,.1f} GB in total" in r.stdout
    assert f"probe-me extra.zip ~{share / 1e9:,.1f} GB" in r.stdout
    assert "extra.zip: download failed from every source" in r.stderr and "save it as" in r.stderr


def test_the_plan_counts_a_shared_release_once_and_skips_what_is_there(tmp_path: Path) -> None:
    topcow = [challenge.get(c) for c in challenge.select("all") if c.startswith("topcow-")]
    plan = data.download_plan(topcow, tmp_path)
    assert [(f.file.name, f.size_bytes, f.size_known, f.present) for f in plan] == [
        ("TopCoW2024_Data_Release.zip", 10_512_833_650, True, False)
    ]
    assert plan[0].target == tmp_path / "data" / "_shared" / "topcow-2024" / "TopCoW2024_Data_Release.zip"
    seg_a = challenge.get("seg_a")
    (paths.data_dir("seg_a", False, tmp_path) / "raw" / "KiTS" / "K1").mkdir(parents=True)
    (paths.data_dir("seg_a", False, tmp_path) / "raw" / "KiTS" / "K1" / "K1.nrrd").write_bytes(b"x")
    present = {f.file.name: f.present for f in data.download_plan([seg_a], tmp_path)}
    assert present == {"KiTS.zip": True, "Rider.zip": False, "Dongyang.zip": False}
