"""Download (pooch, sha256, resume, mirrors), preparation orchestration and the prepared manifest.

Layout under ``$REXMLE_HOME/data/<id>[@synthetic]/``:
``raw/`` (downloads, or the synthetic archive), ``public/`` (what the agent sees),
``private/`` (test answers; never handed to an agent), ``manifest.json`` (layout version,
source checksums, sha256 of every prepared file). ``public/`` and ``private/`` are built in
temporary folders and renamed into place, and the manifest is written last, so a killed
prepare never leaves a half-prepared dataset that looks complete.

The challenge's ``prepare.py`` provides ``prepare(raw_dir, public_dir, private_dir, spec,
progress)``; ``synthetic.py`` provides ``generate(raw_dir, spec, seed)``, which writes raw
files with the real download's names and archive form so that the same prepare code runs.
"""

from __future__ import annotations

import csv
import fcntl
import hashlib
import json
import os
import re
import shutil
import stat
import time
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal, NamedTuple

import pooch
import requests
from pydantic import BaseModel, ConfigDict

from rexmle import __version__, paths
from rexmle.challenge import Challenge, DataFile
from rexmle.challenge_api import ProgressFn, grader_of
from rexmle.errors import DataError
from rexmle.manifest import Manifest, is_prepared, read_manifest, write_json_atomic

pooch.get_logger().setLevel("WARNING")  # we report progress ourselves
CHUNK = 1 << 20


# --- hashing and atomic writes ----------------------------------------------------------


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """Streamed digest of a file (memory stays at one chunk, whatever the file's size)."""
    h = hashlib.new(algorithm, usedforsecurity=False)
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def hash_tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): file_digest(p)
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


# --- downloading ------------------------------------------------------------------------


#: Google Drive's direct-download endpoint; ``confirm=t`` skips the "cannot scan this large file
#: for viruses" page. ``$REXMLE_GDRIVE_URL`` (a template with ``{id}``) replaces it: a mirror, or a
#: loopback server in tests.
GDRIVE_URL = "https://drive.usercontent.google.com/download?id={id}&export=download&confirm=t"


def gdrive_url(file_id: str) -> str:
    return os.environ.get("REXMLE_GDRIVE_URL", GDRIVE_URL).format(id=file_id)


def source_urls(df: DataFile) -> list[str]:
    """Where ``df`` can be downloaded from, in the order tried: its mirrors, then Google Drive."""
    return [str(u) for u in df.urls] + ([gdrive_url(df.gdrive_id)] if df.gdrive_id else [])


class WebPageInstead(OSError):
    """The server answered with an HTML page instead of the file: Google Drive does this when a
    file's download quota is exhausted or it is not shared publicly, hosts behind a login too."""

    def __init__(self, url: str) -> None:
        super().__init__(f"{url} answered with a web page instead of the file")


def _is_web_page(content_type: str, name: str) -> bool:
    return content_type.split(";")[0].strip().lower() == "text/html" and not name.lower().endswith(
        (".html", ".htm")
    )


_ZENODO = re.compile(r"^https://zenodo\.org/(?:api/)?records/(\d+)/")


def source_page(df: DataFile) -> str | None:
    """The page a person opens to download ``df`` in a browser: its ``page``, else the Zenodo
    record or Google Drive file its urls point at (Figshare file urls name no article: those
    entries give ``page``)."""
    if df.page:
        return str(df.page)
    for url in map(str, df.urls):
        if m := _ZENODO.match(url):
            return f"https://zenodo.org/records/{m.group(1)}"
    if df.gdrive_id:
        return f"https://drive.google.com/file/d/{df.gdrive_id}/view"
    return str(df.urls[0]) if df.urls else None


def describe_file(df: DataFile, recorded: str | None = None) -> str:
    """Size and checksums of ``df`` as a user must see them to check a copy by hand."""
    facts = [f"{df.size_bytes:,} bytes"] if df.size_bytes is not None else []
    if df.sha256 or recorded:
        facts.append(f"sha256 {df.sha256 or recorded}" + ("" if df.sha256 else " (recorded at first use)"))
    if df.md5:
        facts.append(f"md5 {df.md5}")
    if not (df.sha256 or recorded or df.md5):
        facts.append("no published checksum: the first copy's sha256 is recorded and checked from then on")
    return ", ".join(facts)


def by_hand(df: DataFile, target: Path, recorded: str | None = None) -> str:
    """The manual route for ``df`` (one line): what to open, where to save it, how to check it.
    ``rexmle prepare`` picks a file saved there up without downloading it."""
    steps = [df.manual.strip().rstrip(". ")] if df.manual else []
    page = source_page(df)
    if page and not (df.manual and page in df.manual):
        steps.append(f"open {page} in a browser and download {df.name}")
    alt = []
    if df.inside:
        alt.append(f"or save the larger archive that holds it as {target.parent / df.inside}")
    if df.unpacked_as:
        alt.append(f"or unpack it into the folder {target.parent / df.unpacked_as}")
    return (
        f"{'; '.join(steps)}; save it as {target} ({describe_file(df, recorded)})"
        f"{'; ' + '; '.join(alt) if alt else ''}; then run prepare again"
    )


class ResumableDownloader:
    """A pooch downloader that resumes an interrupted download with an HTTP Range request.

    pooch downloads into a temporary name and deletes it on failure, so the partial bytes
    live in ``part`` (``raw/<name>.part``, stable across attempts) and are moved onto pooch's
    target only when complete. A server that ignores Range (status 200) restarts from zero.
    Progress goes to ``progress(name, done, total)``.
    """

    def __init__(self, part: Path, progress: ProgressFn | None = None, timeout: float = 60.0) -> None:
        self.part = part
        self.progress = progress
        self.timeout = timeout

    def __call__(
        self, url: str, output_file: str | Any, pooch_obj: Any, check_only: bool = False
    ) -> bool | None:
        if check_only:
            try:
                return requests.head(url, timeout=self.timeout, allow_redirects=True).status_code == 200
            except requests.RequestException:
                return False
        out = Path(str(output_file))
        part = self.part
        name = part.name.removesuffix(".part")
        have = part.stat().st_size if part.exists() else 0
        headers = {"Range": f"bytes={have}-"} if have else {}
        with requests.get(url, headers=headers, stream=True, timeout=self.timeout) as r:
            if r.status_code == 416:  # already complete
                pass
            else:
                r.raise_for_status()
                if _is_web_page(r.headers.get("Content-Type", ""), name):
                    raise WebPageInstead(url)
                if r.status_code == 200:
                    have = 0  # no range support: start over
                mode = "ab" if r.status_code == 206 else "wb"
                length = r.headers.get("Content-Length")
                total = have + int(length) if length is not None else 0
                done = have
                with part.open(mode) as f:
                    for chunk in r.iter_content(1 << 16):
                        f.write(chunk)
                        done += len(chunk)
                        if self.progress:
                            self.progress(name, done, total)
        os.replace(part, out)
        return None


def _recorded_hashes(raw_dir: Path) -> dict[str, str]:
    path = raw_dir / "downloads.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def shared_dir(raw_dir: Path, key: str) -> Path:
    """``data/_shared/<key>``, beside the challenges' own ``data/<id>`` folders."""
    return raw_dir.parent.parent / "_shared" / key


def fetch(files: list[DataFile], raw_dir: Path, progress: ProgressFn | None = None) -> dict[str, str]:
    """Download every raw file (trying mirrors in order) and verify its checksum.

    A pinned sha256 is verified by pooch. An unknown one is recorded on first download in
    ``raw/downloads.json`` (trust on first use) and verified on every later call.
    A file with a ``shared`` key is fetched once into ``data/_shared/<key>/`` (under a lock,
    with its own ``downloads.json``) and symlinked into ``raw_dir``.
    Returns name -> sha256.
    """
    raw_dir.mkdir(parents=True, exist_ok=True)
    result: dict[str, str] = {}
    for key in sorted({df.shared for df in files if df.shared}):
        home = shared_dir(raw_dir, key)
        home.mkdir(parents=True, exist_ok=True)
        with (home / ".lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one download per key, whichever challenge asks first
            result.update(_fetch_into([df for df in files if df.shared == key], home, progress))
        for df in files:
            if df.shared == key:
                link = raw_dir / df.name
                if not (link.is_symlink() and link.resolve() == (home / df.name).resolve()):
                    link.unlink(missing_ok=True)
                    link.symlink_to(home / df.name)
    result.update(_fetch_into([df for df in files if not df.shared], raw_dir, progress))
    return {df.name: result[df.name] for df in files}


def _take_out_of(archive: Path, name: str, target: Path) -> bool:
    """Copy the member of zip ``archive`` whose file name is ``name`` to ``target``; False
    when the archive holds no such member."""
    try:
        with zipfile.ZipFile(archive) as zf:
            member = next(
                (i for i in zf.infolist() if Path(i.filename).name == name and not i.is_dir()), None
            )
            if member is None:
                return False
            tmp = target.with_name(f".{name}.tmp")
            with zf.open(member) as src, tmp.open("wb") as out:
                shutil.copyfileobj(src, out, CHUNK)
            os.replace(tmp, target)
            return True
    except zipfile.BadZipFile:
        raise DataError(f"{archive} is not a valid zip; delete it and prepare again") from None


def _unpacked_by_hand(df: DataFile, raw_dir: Path) -> bool:
    folder = raw_dir / df.unpacked_as if df.unpacked_as else None
    return folder is not None and folder.is_dir() and any(p.is_file() for p in folder.rglob("*"))


#: What the manifest records as the source of a file a user unpacked by hand (nothing to hash).
UNPACKED = "unpacked by hand"


def _fetch_into(files: list[DataFile], raw_dir: Path, progress: ProgressFn | None) -> dict[str, str]:
    """Make each of ``files`` present and verified in ``raw_dir``: a copy already there (placed
    by hand, taken out of a larger archive, or downloaded before) is checked and kept when it is
    right; otherwise each source is tried in turn. Every failure names the manual route."""
    if not files:
        return {}
    recorded = _recorded_hashes(raw_dir)
    result: dict[str, str] = {}
    for df in files:
        known = df.sha256 or recorded.get(df.name)
        target = raw_dir / df.name
        if not target.is_file() and _unpacked_by_hand(df, raw_dir):
            result[df.name] = UNPACKED
            continue
        if not target.is_file() and df.inside and (raw_dir / df.inside).is_file():
            _take_out_of(raw_dir / df.inside, df.name, target)
        errors: list[str] = []
        if target.is_file():
            have = file_digest(target)
            if known is None or have == known:
                _check_record(df, target, recorded.get(df.name))
                result[df.name] = have
                continue
            if df.manual or not source_urls(df):  # a copy placed by hand is never replaced
                raise DataError(
                    f"{df.name}: the file at {target} has sha256 {have}, not {known}; "
                    f"replace it: {by_hand(df, target, recorded.get(df.name))}"
                )
            errors.append(f"the copy at {target} had sha256 {have}, not {known}")
        urls = source_urls(df)
        if not urls:
            raise DataError(f"{df.name} needs a manual step: {by_hand(df, target, recorded.get(df.name))}")
        for url in urls:
            try:
                pooch.retrieve(
                    str(url),
                    known_hash=f"sha256:{known}" if known else None,
                    fname=df.name,
                    path=raw_dir,
                    downloader=ResumableDownloader(raw_dir / f"{df.name}.part", progress),
                    progressbar=False,
                )
                break
            except ValueError as exc:  # pooch: hash mismatch
                target.unlink(missing_ok=True)
                raise DataError(
                    f"{df.name}: checksum mismatch ({' '.join(str(exc).split())[:160]}); the file was removed; "
                    f"run prepare again, or get it by hand: {by_hand(df, target, recorded.get(df.name))}"
                ) from None
            except WebPageInstead:
                errors.append(f"{url}: a web page instead of the file")
                (raw_dir / f"{df.name}.part").unlink(missing_ok=True)
            except requests.HTTPError as exc:
                errors.append(f"{url}: HTTP {exc.response.status_code if exc.response is not None else '?'}")
            except (requests.RequestException, OSError) as exc:
                errors.append(f"{url}: {type(exc).__name__}")
        else:
            raise DataError(
                f"{df.name}: download failed from every source ({'; '.join(errors)}); check the network and "
                f"retry, or get it by hand: {by_hand(df, target, recorded.get(df.name))}"
            )
        _check_record(df, target, recorded.get(df.name))
        # pooch has verified a known hash while fetching; hash here only to record an unknown one.
        result[df.name] = known or file_digest(target)
    if any(recorded.get(k) != v for k, v in result.items() if v != UNPACKED):
        write_json_atomic(
            raw_dir / "downloads.json", {**recorded, **{k: v for k, v in result.items() if v != UNPACKED}}
        )
    return result


def _check_record(df: DataFile, target: Path, recorded: str | None) -> None:
    """What a record publishes besides a sha256 (a size, an md5) must hold too."""
    if df.size_bytes is not None and target.stat().st_size != df.size_bytes:
        raise DataError(
            f"{df.name}: {target.stat().st_size:,} bytes, not the record's {df.size_bytes:,}; "
            f"replace it: {by_hand(df, target, recorded)}"
        )
    if df.md5:
        md5 = file_digest(target, "md5")
        if md5 != df.md5:
            raise DataError(
                f"{df.name}: md5 {md5} differs from the record's {df.md5}; replace it: {by_hand(df, target, recorded)}"
            )


# --- asking the sources, without downloading ----------------------------------------------

Verdict = Literal["ok", "missing", "restricted", "web page", "size differs", "error", "unreachable"]


class SourceAnswer(BaseModel):
    """How one source of a data file answered a one-byte range request."""

    model_config = ConfigDict(frozen=True)

    file: str
    url: str
    verdict: Verdict
    status: int | None = None
    #: The file's full size as the server gave it (Content-Range, else Content-Length).
    size: int | None = None
    #: Where redirects led, when they did; ``permanent``: a 301/308 among them (update the url).
    moved_to: str | None = None
    permanent: bool = False

    @property
    def usable(self) -> bool:
        return self.verdict == "ok"

    def line(self) -> str:
        size = f", {self.size:,} bytes" if self.size is not None else ""
        moved = ""
        if self.moved_to:
            moved = f", {'moved permanently' if self.permanent else 'redirected'} to {self.moved_to}"
        status = f" (HTTP {self.status})" if self.status is not None else ""
        return f"{self.verdict}{status}{size}{moved}"


def _full_size(r: requests.Response) -> int | None:
    content_range = r.headers.get("Content-Range", "")
    if r.status_code == 206 and "/" in content_range:
        total = content_range.rsplit("/", 1)[1].strip()
        return int(total) if total.isdigit() else None
    length = r.headers.get("Content-Length")
    return int(length) if r.status_code == 200 and length and length.isdigit() else None


def ask_source(df: DataFile, url: str, timeout: float = 20.0, max_redirects: int = 10) -> SourceAnswer:
    """Ask ``url`` for the first byte of ``df`` (a range request: nothing more is transferred)
    and say what came back: the file (and its size), a move, a refusal, a web page."""
    moved_to, permanent, current = None, False, url
    try:
        for _ in range(max_redirects + 1):
            with requests.get(
                current, headers={"Range": "bytes=0-0"}, stream=True, timeout=timeout, allow_redirects=False
            ) as r:
                if r.is_redirect and "Location" in r.headers:
                    permanent = permanent or r.status_code in (301, 308)
                    current = requests.compat.urljoin(current, r.headers["Location"])
                    moved_to = current
                    continue
                size = _full_size(r)
                ans = {"file": df.name, "url": url, "status": r.status_code, "moved_to": moved_to}
                ans |= {"permanent": permanent, "size": size}
                if r.status_code in (401, 403):
                    return SourceAnswer(verdict="restricted", **ans)
                if r.status_code in (404, 410):
                    return SourceAnswer(verdict="missing", **ans)
                if r.status_code not in (200, 206):
                    return SourceAnswer(verdict="error", **ans)
                if _is_web_page(r.headers.get("Content-Type", ""), df.name):
                    return SourceAnswer(verdict="web page", **ans)
                if df.size_bytes is not None and size is not None and size != df.size_bytes:
                    return SourceAnswer(verdict="size differs", **ans)
                return SourceAnswer(verdict="ok", **ans)
        return SourceAnswer(file=df.name, url=url, verdict="error", moved_to=moved_to, permanent=permanent)
    except requests.RequestException:
        return SourceAnswer(
            file=df.name, url=url, verdict="unreachable", moved_to=moved_to, permanent=permanent
        )


def check_sources(files: Iterable[DataFile]) -> list[SourceAnswer]:
    """Every source of every file, asked once (``rexmle prepare --check``)."""
    return [ask_source(df, url) for df in files for url in source_urls(df)]


class PlannedFile(NamedTuple):
    """One data file a prepare needs: where it goes, whether it is there, about how big it is."""

    challenge: str
    file: DataFile
    target: Path
    present: bool
    #: The recorded size, else the challenge's ``download_gb`` shared among its files.
    size_bytes: int
    size_known: bool


def file_target(df: DataFile, raw_dir: Path) -> Path:
    """Where ``df`` is saved: ``raw/<name>``, or ``data/_shared/<key>/<name>`` for a shared file."""
    return shared_dir(raw_dir, df.shared) / df.name if df.shared else raw_dir / df.name


def download_plan(chs: Iterable[Challenge], home: Path | None = None) -> list[PlannedFile]:
    """The files preparing ``chs`` needs, each once (a shared release counts once), with
    whether it is already there; challenges already prepared need none."""
    plan: dict[Path, PlannedFile] = {}
    for ch in chs:
        root = paths.data_dir(ch.id, False, home)
        if is_prepared(ch, root):
            continue
        share = int(ch.spec.download_gb * 1e9 / len(ch.spec.data))
        for df in ch.spec.data:
            target = file_target(df, root / "raw")
            present = target.is_file() or _unpacked_by_hand(df, root / "raw")
            size = df.size_bytes if df.size_bytes is not None else share
            plan.setdefault(target, PlannedFile(ch.id, df, target, present, size, df.size_bytes is not None))
    return list(plan.values())


# --- prepare orchestration ----------------------------------------------------------------


def public_expected_ids(challenge: Challenge, public_dir: Path) -> list[str]:
    """The test ids as the public folder lists them (what ``prepare`` records in the manifest)."""
    id_column = grader_of(challenge).format.id_column
    with (public_dir / "test.csv").open(newline="") as f:
        return [row[id_column] for row in csv.DictReader(f)]


def verify(data_root: Path) -> list[str]:
    """Re-hash every prepared file against the manifest; returns the list of problems."""
    m = read_manifest(data_root)
    if m is None:
        return ["no manifest.json"]
    problems = []
    for part, files in (("public", m.public), ("private", m.private)):
        for rel, digest in files.items():
            p = data_root / part / rel
            if not p.is_file():
                problems.append(f"{part}/{rel} is missing")
            elif file_digest(p) != digest:
                problems.append(f"{part}/{rel} changed")
    return problems


#: Next to a data root's manifest: (inode, size, mtime, ctime) of every public file, so that the
#: check before each grading re-hashes only what changed since the last check. ctime cannot be
#: set back by an unprivileged process, so a file rewritten and re-dated still shows.
PUBLIC_STAT = "public.stat.json"


def _stat_key(p: Path) -> list[int]:
    st = p.lstat()
    # last: 1 for a regular file, 0 for anything put in a file's place (a symlink, a FIFO)
    return [st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, int(stat.S_ISREG(st.st_mode))]


def check_public(data_root: Path) -> list[str]:
    """What differs between ``public/`` and the manifest written when it was prepared: files
    changed, missing, replaced by something else, or added. Empty: the public folder is what
    ``prepare`` made, and grading (and the next agent) may read it.

    Cost: one stat per file, plus a re-hash of files whose stat changed since the last clean
    check (all of them the first time)."""
    m = read_manifest(data_root)
    if m is None:
        return ["no manifest.json"]
    public = data_root / "public"
    try:
        seen = json.loads((data_root / PUBLIC_STAT).read_text())
    except (OSError, ValueError):
        seen = {}
    problems: list[str] = []
    stats: dict[str, list[int]] = {}
    for rel, digest in m.public.items():
        p = public / rel
        try:
            key = _stat_key(p)
        except OSError:
            problems.append(f"public/{rel} is missing")
            continue
        if key[4] != 1:
            problems.append(f"public/{rel} is no longer a regular file")
            continue
        if seen.get(rel) != key and file_digest(p) != digest:
            problems.append(f"public/{rel} changed")
            continue
        stats[rel] = key
    known = set(m.public)
    for p in sorted(public.rglob("*")) if public.is_dir() else []:
        rel = str(p.relative_to(public))
        if rel not in known and not p.is_dir():
            problems.append(f"public/{rel} was added")
    if not problems and stats != seen:
        write_json_atomic(data_root / PUBLIC_STAT, stats)
    return problems


def restore_public(challenge: Challenge, data_root: Path, progress: ProgressFn | None = None) -> None:
    """Rebuild ``data_root`` from its raw files (the verified downloads, or the synthetic
    generator) after its public folder was found changed: the same prepare, so the same
    files, and a new manifest."""
    m = read_manifest(data_root)
    synthetic = bool(m.synthetic) if m is not None else data_root.name.endswith("@synthetic")
    with (data_root / ".prepare.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _prepare_locked(challenge, data_root, synthetic, progress)


def prepare(
    challenge: Challenge,
    synthetic: bool = False,
    home: Path | None = None,
    force: bool = False,
    progress: ProgressFn | None = None,
) -> Path:
    """Make ``data/<id>[@synthetic]`` ready; idempotent (skips when the manifest matches).

    A file lock serialises preparers of the same folder (parallel runs of a sweep), and the
    check is repeated under it, so the second one finds the first one's work done.
    """
    root = paths.data_dir(challenge.id, synthetic, home)
    if not force and is_prepared(challenge, root):
        return root
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".prepare.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not force and is_prepared(challenge, root):
            return root
        return _prepare_locked(challenge, root, synthetic, progress)


def _prepare_locked(challenge: Challenge, root: Path, synthetic: bool, progress: ProgressFn | None) -> Path:
    raw = root / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    if synthetic:
        challenge.module("synthetic").generate(raw, challenge.spec, seed=0)
        sources = {df.name: file_digest(raw / df.name) for df in challenge.spec.data}
    else:
        sources = fetch(list(challenge.spec.data), raw, progress)
    tmp_public, tmp_private = root / ".public.tmp", root / ".private.tmp"
    for d in (tmp_public, tmp_private):
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
    counts = challenge.module("prepare").prepare(raw, tmp_public, tmp_private, challenge.spec, progress)
    shutil.copyfile(challenge.description_path, tmp_public / "description.md")
    (root / "manifest.json").unlink(missing_ok=True)
    for name, tmp in (("public", tmp_public), ("private", tmp_private)):
        final = root / name
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    manifest = Manifest(
        challenge=challenge.id,
        layout_version=challenge.spec.layout_version,
        synthetic=synthetic,
        rexmle_version=__version__,
        sources=sources,
        public=hash_tree(root / "public"),
        private=hash_tree(root / "private"),
        n_train=int(counts["train"]),
        n_test=int(counts["test"]),
        prepared_at=time.time(),
        test_ids=public_expected_ids(challenge, root / "public"),
    )
    write_json_atomic(root / "manifest.json", manifest.model_dump())
    # the fresh files' stats, so the first check before grading hashes nothing
    write_json_atomic(root / PUBLIC_STAT, {rel: _stat_key(root / "public" / rel) for rel in manifest.public})
    return root


def require_prepared(challenge: Challenge, synthetic: bool, home: Path | None = None) -> Path:
    root = paths.data_dir(challenge.id, synthetic, home)
    if not is_prepared(challenge, root):
        flag = " --synthetic" if synthetic else ""
        raise DataError(
            f"{challenge.id}{'@synthetic' if synthetic else ''} is not prepared; run `rexmle prepare {challenge.id}{flag}`"
        )
    return root
