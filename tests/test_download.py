"""course.download (with course.transfer and course.safe_zip) against a local HTTP server (127.0.0.1 only, no internet).

The server serves a temporary folder, understands ``Range: bytes=N-`` (206 +
Content-Range, 416 past the end), counts every request and can be told to
cut transfers short after N bytes to simulate an interrupted download.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import stat
import subprocess
import sys
import threading
import zipfile
from collections import namedtuple
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import pytest
from PIL import Image

from course import download as dl
from course import transfer
from course.download import Archive, download_flickr8k
from course.safe_zip import safe_extract_zip
from course.transfer import DownloadError, download_file

IMAGE_IDS = ["1000268201_693b08cb0e", "1001773457_577c3a7d70", "1002674143_1b742ab4b8"]
SPLITS = {
    "Flickr_8k.trainImages.txt": IMAGE_IDS[:1],
    "Flickr_8k.devImages.txt": IMAGE_IDS[1:2],
    "Flickr_8k.testImages.txt": IMAGE_IDS[2:],
}


# --------------------------------------------------------------------------- server


class ServerState:
    def __init__(self, root: Path):
        self.root = root
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.cut_after: int | None = None  # bytes of body to send before closing
        self.cuts_left = 0  # how many transfers to cut short
        self.support_range = True
        self.lock = threading.Lock()

    def range_requests(self) -> list[str]:
        return [h["Range"] for _, h in self.requests if "Range" in h]


def make_handler(state: ServerState):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # keep pytest output quiet
            pass

        def do_GET(self):
            with state.lock:
                state.requests.append((self.path, dict(self.headers)))
            path = state.root / unquote(self.path.split("?")[0].lstrip("/"))
            if not path.is_file() or state.root.resolve() not in path.resolve().parents:
                self.send_error(404)
                return
            data = path.read_bytes()
            body, status, extra = data, 200, {}
            match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
            if match and state.support_range:
                start = int(match.group(1))
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body, status = data[start:], 206
                extra["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
            self.send_response(status)
            self.send_header("Content-Type", "application/zip")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Accept-Ranges", "bytes" if state.support_range else "none")
            for key, value in extra.items():
                self.send_header(key, value)
            self.end_headers()
            with state.lock:
                cut = state.cut_after is not None and state.cuts_left > 0
                if cut:
                    state.cuts_left -= 1
            if cut:
                # Full Content-Length announced, only N bytes sent, then hang up.
                self.wfile.write(body[: state.cut_after])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body)

    return Handler


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "mirror"
    root.mkdir()
    state = ServerState(root)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/"
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@pytest.fixture(autouse=True)
def _fast_and_offline(monkeypatch):
    monkeypatch.setattr(transfer, "RETRY_WAIT", 0.0)
    monkeypatch.delenv(transfer.MIRROR_ENV, raising=False)


# --------------------------------------------------------------------------- archives


def tiny_jpeg(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), (40 * seed % 256, 90, 160)).save(buffer, format="JPEG")
    return buffer.getvalue()


def make_archives(root: Path, *, text_subfolder: str = "", mac_junk: bool = True) -> tuple[Archive, ...]:
    """Write Flickr8k_Dataset.zip and Flickr8k_text.zip in the real layout; return Archives."""
    root.mkdir(parents=True, exist_ok=True)
    images = root / "Flickr8k_Dataset.zip"
    with zipfile.ZipFile(images, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("Flicker8k_Dataset/", "")
        for i, image_id in enumerate(IMAGE_IDS):
            zf.writestr(f"Flicker8k_Dataset/{image_id}.jpg", tiny_jpeg(i))
            if mac_junk:
                zf.writestr(f"__MACOSX/Flicker8k_Dataset/._{image_id}.jpg", b"junk")
        # some padding so interrupted transfers have something to cut
        zf.writestr("Flicker8k_Dataset/padding.bin", bytes(range(256)) * 200, zipfile.ZIP_STORED)
    text = root / "Flickr8k_text.zip"
    tokens = "".join(
        f"{image_id}.jpg#{n}\tA dog runs through the grass number {n} .\n" for image_id in IMAGE_IDS for n in range(5)
    )
    with zipfile.ZipFile(text, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{text_subfolder}Flickr8k.token.txt", tokens)
        zf.writestr(f"{text_subfolder}Flickr8k.lemma.token.txt", tokens)
        for name, ids in SPLITS.items():
            zf.writestr(f"{text_subfolder}{name}", "".join(f"{i}.jpg\n" for i in ids))
    return tuple(
        Archive(path.name, hashlib.md5(path.read_bytes()).hexdigest(), path.stat().st_size) for path in (images, text)
    )


def assert_layout(target: Path):
    jpgs = sorted(p.stem for p in (target / "Flicker8k_Dataset").glob("*.jpg"))
    assert jpgs == sorted(IMAGE_IDS)
    for path in (target / "Flicker8k_Dataset").glob("*.jpg"):
        with Image.open(path) as im:
            assert im.size == (8, 6)
    token_lines = (target / "Flickr8k.token.txt").read_text().splitlines()
    assert len(token_lines) == 5 * len(IMAGE_IDS)
    assert token_lines[0].startswith(f"{IMAGE_IDS[0]}.jpg#0\t")
    for name, ids in SPLITS.items():
        assert (target / name).read_text().split() == [f"{i}.jpg" for i in ids]
    assert not (target / "__MACOSX").exists()
    assert not list(target.glob(".extracting-*"))


# --------------------------------------------------------------------------- tests


@pytest.mark.course  # starts a fresh Python process
def test_module_is_light():
    code = "import sys, course.download; assert 'tensorflow' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])
    assert dl.__doc__.splitlines()[2].startswith("Role: course machinery")
    names = [a.name for a in dl.FLICKR8K_ARCHIVES]
    assert names == ["Flickr8k_Dataset.zip", "Flickr8k_text.zip"]
    assert dl.FLICKR8K_ARCHIVES[0].md5 == "f18a1e2920de5bd84dae7cf08ec78978"
    assert dl.FLICKR8K_ARCHIVES[1].md5 == "bf6c1abcb8e4a833b7f922104de18627"
    assert dl.DEFAULT_MIRROR == "https://github.com/jbrownlee/Datasets/releases/download/Flickr8k/"


def test_end_to_end_layout_marker_and_no_second_request(server, tmp_path):
    archives = make_archives(server.root)
    target = tmp_path / "flickr8k"
    assert download_flickr8k(target, mirror=server.url, archives=archives, progress=False) == target
    assert_layout(target)
    for archive in archives:
        assert (target / "downloads" / archive.name).is_file()
        assert not (target / "downloads" / (archive.name + ".part")).exists()
    marker = json.loads((target / ".complete.json").read_text())
    assert [(a["name"], a["md5"]) for a in marker["archives"]] == [(a.name, a.md5) for a in archives]
    assert len(server.requests) == 2

    server.requests.clear()
    assert download_flickr8k(target, mirror=server.url, archives=archives, progress=False) == target
    assert server.requests == []
    # also without any reachable mirror at all
    download_flickr8k(target, mirror="http://127.0.0.1:9/nothing/", archives=archives, progress=False)


def test_downloaded_archive_is_not_fetched_again(server, tmp_path):
    archives = make_archives(server.root)
    target = tmp_path / "flickr8k"
    download_flickr8k(target, mirror=server.url, archives=archives, progress=False)
    (target / ".complete.json").unlink()  # e.g. extraction was interrupted last time
    shutil.rmtree(target / "Flicker8k_Dataset")
    server.requests.clear()
    download_flickr8k(target, mirror=server.url, archives=archives, progress=False)
    assert server.requests == []  # the verified archives were reused
    assert_layout(target)


def test_interrupted_download_keeps_part_and_resumes_with_range(server, tmp_path):
    archives = make_archives(server.root)
    name = archives[0].name
    expected = (server.root / name).read_bytes()
    dest = tmp_path / "out" / name
    server.cut_after, server.cuts_left = 1000, 1

    with pytest.raises(DownloadError, match="interrupted.*run the same command again"):
        download_file(server.url + name, dest, md5=archives[0].md5, progress=False, retries=0)
    part = dest.with_name(name + ".part")
    assert part.stat().st_size == 1000
    assert not dest.exists()

    server.requests.clear()
    download_file(server.url + name, dest, md5=archives[0].md5, progress=False, retries=0)
    assert server.range_requests() == ["bytes=1000-"]
    assert dest.read_bytes() == expected
    assert not part.exists()


def test_flickr8k_resumes_after_interruption(server, tmp_path):
    archives = make_archives(server.root)
    target = tmp_path / "flickr8k"
    server.cut_after, server.cuts_left = 500, 100  # every transfer dies; 2 retries aren't enough
    with pytest.raises(DownloadError, match="interrupted"):
        download_flickr8k(target, mirror=server.url, archives=archives, progress=False)
    part = target / "downloads" / (archives[0].name + ".part")
    assert part.stat().st_size == 3 * 500  # first try + 2 resumed retries
    assert not (target / ".complete.json").exists()
    assert not (target / "Flicker8k_Dataset").exists()

    server.cuts_left = 0
    server.requests.clear()
    download_flickr8k(target, mirror=server.url, archives=archives, progress=False)
    assert server.range_requests()[0] == "bytes=1500-"
    assert (target / "downloads" / archives[0].name).read_bytes() == (server.root / archives[0].name).read_bytes()
    assert_layout(target)


def test_automatic_retry_resumes_within_one_call(server, tmp_path):
    archives = make_archives(server.root)
    name = archives[0].name
    server.cut_after, server.cuts_left = 700, 1
    dest = download_file(server.url + name, tmp_path / name, md5=archives[0].md5, progress=False)
    assert server.range_requests() == ["bytes=700-"]
    assert dest.read_bytes() == (server.root / name).read_bytes()


def test_server_without_range_support_restarts_from_zero(server, tmp_path):
    archives = make_archives(server.root)
    name = archives[1].name
    dest = tmp_path / name
    dest.with_name(name + ".part").write_bytes(b"stale bytes from somewhere else")
    server.support_range = False
    download_file(server.url + name, dest, md5=archives[1].md5, progress=False)
    assert server.range_requests()  # it asked...
    assert dest.read_bytes() == (server.root / name).read_bytes()  # ...and coped with a 200


def test_complete_part_gets_416_and_is_verified(server, tmp_path):
    archives = make_archives(server.root)
    name = archives[1].name
    dest = tmp_path / name
    shutil.copy(server.root / name, dest.with_name(name + ".part"))
    download_file(server.url + name, dest, md5=archives[1].md5, progress=False)
    assert server.range_requests() == [f"bytes={archives[1].approx_size}-"]  # answered 416
    assert dest.read_bytes() == (server.root / name).read_bytes()
    assert not dest.with_name(name + ".part").exists()


def test_wrong_md5_raises_and_leaves_nothing(server, tmp_path):
    archives = make_archives(server.root)
    wrong = (archives[0], Archive(archives[1].name, "0" * 32, archives[1].approx_size))
    target = tmp_path / "flickr8k"
    with pytest.raises(DownloadError) as info:
        download_flickr8k(target, mirror=server.url, archives=wrong, progress=False)
    message = str(info.value)
    assert server.url + archives[1].name in message
    assert "0" * 32 in message and archives[1].md5 in message
    downloads = target / "downloads"
    assert not (downloads / archives[1].name).exists()
    assert not (downloads / (archives[1].name + ".part")).exists()
    assert not (target / "Flicker8k_Dataset").exists()
    assert not (target / "Flickr8k.token.txt").exists()
    assert not (target / ".complete.json").exists()


def test_truncated_archive_is_rejected(server, tmp_path):
    archives = make_archives(server.root)
    path = server.root / archives[0].name
    path.write_bytes(path.read_bytes()[:-300])  # the mirror serves a truncated file
    dest = tmp_path / archives[0].name
    with pytest.raises(DownloadError, match=f"expected md5 {archives[0].md5}"):
        download_file(server.url + archives[0].name, dest, md5=archives[0].md5, progress=False)
    assert not dest.exists()
    assert not dest.with_name(dest.name + ".part").exists()


def test_corrupt_zip_without_checksum_is_detected(server, tmp_path):
    (server.root / "Flickr8k_Dataset.zip").write_bytes(b"this is not a zip file" * 50)
    archives = (Archive("Flickr8k_Dataset.zip", None, 1000),)
    target = tmp_path / "flickr8k"
    with pytest.raises(DownloadError, match="Flickr8k_Dataset.zip is not a valid zip"):
        download_flickr8k(target, mirror=server.url, archives=archives, progress=False)
    assert sorted(p.name for p in target.iterdir()) == ["downloads"]


def test_crc_error_is_detected_and_nothing_extracted(tmp_path):
    archive = tmp_path / "bad.zip"
    payload = b"A" * 5000
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("Flicker8k_Dataset/ok.jpg", b"fine")
        zf.writestr("Flicker8k_Dataset/broken.jpg", payload)
    data = bytearray(archive.read_bytes())
    data[data.index(payload) + 10] ^= 0xFF
    archive.write_bytes(bytes(data))
    target = tmp_path / "target"
    with pytest.raises(DownloadError, match=r"bad\.zip is corrupt.*broken\.jpg"):
        safe_extract_zip(archive, target)
    assert not target.exists() or list(target.iterdir()) == []


@pytest.mark.parametrize("member", ["../evil.txt", "ABSOLUTE", "ok/../../evil.txt", "C:/evil.txt"])
def test_path_traversal_is_refused(tmp_path, member):
    if member == "ABSOLUTE":
        member = str(tmp_path / "evil_abs.txt")
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("Flicker8k_Dataset/fine.jpg", b"fine")
        zf.writestr(member, b"pwned")
    target = tmp_path / "a" / "target"
    with pytest.raises(DownloadError, match="Refusing to extract"):
        safe_extract_zip(archive, target)
    assert not target.exists()
    assert not (tmp_path / "a" / "evil.txt").exists()
    assert not (tmp_path / "evil.txt").exists()
    assert not (tmp_path / "evil_abs.txt").exists()


def test_symlink_member_is_refused(tmp_path):
    archive = tmp_path / "link.zip"
    info = zipfile.ZipInfo("Flicker8k_Dataset/link.jpg")
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(info, "/etc/passwd")
    target = tmp_path / "target"
    with pytest.raises(DownloadError, match="symbolic link"):
        safe_extract_zip(archive, target)
    assert not target.exists()


def test_evil_archive_from_mirror_writes_nothing(server, tmp_path):
    archives = make_archives(server.root)
    evil = server.root / "Flickr8k_text.zip"
    with zipfile.ZipFile(evil, "a") as zf:
        zf.writestr("../evil.txt", b"pwned")
    archives = (archives[0], Archive(evil.name, hashlib.md5(evil.read_bytes()).hexdigest(), 1000))
    target = tmp_path / "flickr8k"
    with pytest.raises(DownloadError, match="Refusing"):
        download_flickr8k(target, mirror=server.url, archives=archives, progress=False)
    assert not (tmp_path / "evil.txt").exists()
    assert not (target / ".complete.json").exists()


def test_text_files_in_a_subfolder_are_moved_up(server, tmp_path):
    archives = make_archives(server.root, text_subfolder="Flickr8k_text/")
    target = tmp_path / "flickr8k"
    download_flickr8k(target, mirror=server.url, archives=archives, progress=False)
    assert_layout(target)


def test_env_var_mirror_is_honoured(server, tmp_path, monkeypatch):
    archives = make_archives(server.root / "classroom")
    monkeypatch.setenv(transfer.MIRROR_ENV, server.url + "classroom")  # no trailing slash
    target = tmp_path / "flickr8k"
    download_flickr8k(target, archives=archives, progress=False)
    assert sorted(path for path, _ in server.requests) == [
        "/classroom/Flickr8k_Dataset.zip",
        "/classroom/Flickr8k_text.zip",
    ]
    assert_layout(target)


def test_mirror_argument_beats_env_var(server, tmp_path, monkeypatch):
    archives = make_archives(server.root)
    monkeypatch.setenv(transfer.MIRROR_ENV, "http://127.0.0.1:9/unreachable/")
    download_flickr8k(tmp_path / "t", mirror=server.url, archives=archives, progress=False)
    assert len(server.requests) == 2


def test_missing_file_gives_clear_error(server, tmp_path):
    with pytest.raises(DownloadError, match=r"404.*FLICKR8K_MIRROR"):
        download_file(server.url + "nope.zip", tmp_path / "nope.zip", progress=False)
    assert not (tmp_path / "nope.zip").exists()


Usage = namedtuple("Usage", "total used free")


def test_disk_space_check(server, tmp_path, monkeypatch):
    archives = make_archives(server.root)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: Usage(10**6, 10**6 - 1234, 1234))
    target = tmp_path / "flickr8k"
    with pytest.raises(DownloadError) as info:
        download_flickr8k(target, mirror=server.url, archives=archives, progress=False)
    message = str(info.value)
    assert "Not enough free disk space" in message and str(target) in message
    assert "free 1234 bytes" in message and re.search(r"needed \d+ bytes", message)
    assert server.requests == []

    with pytest.raises(DownloadError, match="Not enough free disk space"):
        download_file(server.url + archives[0].name, tmp_path / "x.zip", expected_size=10**9, progress=False)
    # without a size given, the server's Content-Length is checked before writing
    monkeypatch.setattr(transfer, "SPACE_HEADROOM_BYTES", 0)
    with pytest.raises(DownloadError, match="Not enough free disk space"):
        download_file(server.url + archives[0].name, tmp_path / "y.zip", progress=False)
    assert not (tmp_path / "y.zip").exists()


def test_real_archive_table_needs_space_for_gigabytes(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "disk_usage", lambda path: Usage(10**12, 10**12 - 10**9, 10**9))
    with pytest.raises(DownloadError, match="Not enough free disk space"):
        download_flickr8k(tmp_path / "real", progress=False)  # fails before any network


def test_mirror_base_says_where_the_archives_come_from(monkeypatch):
    monkeypatch.delenv(transfer.MIRROR_ENV, raising=False)
    assert dl.mirror_base() == dl.DEFAULT_MIRROR
    monkeypatch.setenv(transfer.MIRROR_ENV, "http://10.0.0.5:8000/flickr8k")
    assert dl.mirror_base() == "http://10.0.0.5:8000/flickr8k/"
    assert dl.mirror_base("http://other/") == "http://other/"


def test_dataset_flickr8k_downloads_then_loads_the_official_layout(server, tmp_path, monkeypatch):
    """DATASET="flickr8k" end to end: load_dataset downloads into paths.FLICKR8K_DIR, then reads it."""
    from course import paths
    from helpers import datasets

    archives = make_archives(server.root)
    real_download = dl.download_flickr8k
    monkeypatch.setattr(paths, "FLICKR8K_DIR", tmp_path / "data" / "flickr8k")
    monkeypatch.setattr(
        dl,
        "download_flickr8k",
        lambda target: real_download(target, mirror=server.url, archives=archives, progress=False),
    )
    dataset = datasets.load_dataset("flickr8k")
    assert (dataset.name, dataset.format, dataset.root) == ("flickr8k", "flickr8k", tmp_path / "data" / "flickr8k")
    assert dataset.images_dir == tmp_path / "data" / "flickr8k" / "Flicker8k_Dataset"
    assert sorted(dataset.captions_by_image) == sorted(f"{i}.jpg" for i in IMAGE_IDS)
    assert all(len(captions) == 5 for captions in dataset.captions_by_image.values())
    assert dataset.splits == {
        "train": [f"{IMAGE_IDS[0]}.jpg"],
        "dev": [f"{IMAGE_IDS[1]}.jpg"],
        "test": [f"{IMAGE_IDS[2]}.jpg"],
    }
    assert not dataset.skipped
    requests = len(server.requests)
    assert datasets.load_dataset("flickr8k").splits == dataset.splits
    assert len(server.requests) == requests, "a second load needs no network"


# --------------------------------------------------------------------------- broken archives (issue 15)


def _patch_first_member(archive: Path, local_offset: int, central_offset: int, value: bytes) -> None:
    """Overwrite a field of the first member in both its local header and its central-directory entry."""
    data = bytearray(archive.read_bytes())
    local, central = data.index(b"PK\x03\x04"), data.index(b"PK\x01\x02")
    data[local + local_offset : local + local_offset + len(value)] = value
    data[central + central_offset : central + central_offset + len(value)] = value
    archive.write_bytes(bytes(data))


def _corrupt_deflate(archive: Path) -> None:
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("Flicker8k_Dataset/photo.jpg", bytes(range(256)) * 400)
    data = bytearray(archive.read_bytes())
    start = 30 + len("Flicker8k_Dataset/photo.jpg")  # the compressed data follows the local header
    data[start : start + 40] = b"\xff" * 40
    archive.write_bytes(bytes(data))


def _encrypted(archive: Path) -> None:
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("Flicker8k_Dataset/photo.jpg", b"x" * 100)
    _patch_first_member(archive, 6, 8, b"\x01\x00")  # general-purpose flag bit 0: encrypted


def _unknown_compression(archive: Path) -> None:
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("Flicker8k_Dataset/photo.jpg", b"x" * 100)
    _patch_first_member(archive, 8, 10, b"\x63\x00")  # method 99 (AES), unknown to zipfile


def _long_name(archive: Path) -> None:
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("Flicker8k_Dataset/ok.jpg", b"fine")
        zf.writestr("Flicker8k_Dataset/" + "a" * 300 + ".jpg", b"x")


def _file_where_folder_goes(archive: Path) -> None:
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("Flicker8k_Dataset/photos", b"I am a file")
        zf.writestr("Flicker8k_Dataset/photos/a.jpg", b"x")


@pytest.mark.parametrize(
    "make, member, cause",
    [
        (_corrupt_deflate, "Flicker8k_Dataset/photo.jpg", r"corrupt|CRC"),
        (_encrypted, "Flicker8k_Dataset/photo.jpg", "encrypted"),
        (_unknown_compression, "Flicker8k_Dataset/photo.jpg", "compression method is not supported"),
        (_long_name, "Flicker8k_Dataset/" + "a" * 300 + ".jpg", "name too long"),
        (_file_where_folder_goes, "Flicker8k_Dataset/photos/a.jpg", "Not a directory|File exists"),
    ],
    ids=["corrupt-deflate", "encrypted", "unknown-compression", "300-character-name", "file-where-a-folder-goes"],
)
def test_every_extraction_failure_is_a_download_error_naming_archive_member_and_cause(tmp_path, make, member, cause):
    archive = tmp_path / "broken.zip"
    make(archive)
    target = tmp_path / "target"
    with pytest.raises(DownloadError) as raised:
        safe_extract_zip(archive, target)
    message = str(raised.value)
    assert "\n" not in message and str(archive) in message and repr(member) in message, message
    assert re.search(cause, message, re.IGNORECASE), message
    # nothing half-extracted: no member in place, no temporary folder left
    assert not target.exists() or sorted(p.name for p in target.iterdir()) == [], list(target.iterdir())


def test_leftover_extracting_folder_is_removed_by_the_next_extraction(tmp_path):
    target = tmp_path / "target"
    leftover = target / ".extracting-killed"
    (leftover / "Flicker8k_Dataset").mkdir(parents=True)
    (leftover / "Flicker8k_Dataset" / "half.jpg").write_bytes(b"half")
    archive = tmp_path / "good.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("Flicker8k_Dataset/a.jpg", b"whole")
    extracted = safe_extract_zip(archive, target)
    assert [p.name for p in extracted] == ["a.jpg"]
    assert sorted(p.name for p in target.iterdir()) == ["Flicker8k_Dataset"]
    assert not (target / "Flicker8k_Dataset" / "half.jpg").exists()
