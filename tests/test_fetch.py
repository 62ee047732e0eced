"""fetch(): downloads from a local HTTP server, local copies, verification, and failures that leave nothing behind."""

from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ramancmp import config
from ramancmp.cli import main
from ramancmp.data.fetch import FetchError, archive_path, fetch, file_sha256, record_path
from ramancmp.data.rruff import load_archive

from conftest import make_rruff_name, make_rruff_text, write_rruff_zip


@pytest.fixture()
def small_zip(tmp_path) -> Path:
    files = {make_rruff_name(f"Mineral{k}", f"R07000{k}", index=k): make_rruff_text(f"Mineral-{k}", f"R07000{k}",
                                                                                     seed=k) for k in range(3)}
    (tmp_path / "src").mkdir()
    return write_rruff_zip(tmp_path / "src" / "synthetic.zip", files)


@pytest.fixture()
def server(small_zip):
    """An HTTP server on 127.0.0.1 serving /rruff.zip, /cut.zip (drops the connection half way), /notzip.zip."""
    payload = small_zip.read_bytes()
    hits = {"/rruff.zip": 0}
    stall = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            if self.path == "/rruff.zip":
                hits["/rruff.zip"] += 1
                body = payload
            elif self.path == "/notzip.zip":
                body = b"<html>maintenance</html>" * 10
            elif self.path == "/slow.zip":  # sends half, then stalls until the test ends
                self.send_response(200)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload[: len(payload) // 2])
                self.wfile.flush()
                stall.wait(30)
                return
            elif self.path == "/trickle.zip":  # one byte every 0.2 s, never silent long enough to time out
                self.send_response(200)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                for b in payload[:200]:
                    if stall.wait(0.2):
                        return
                    self.wfile.write(bytes([b]))
                    self.wfile.flush()
                return
            elif self.path == "/cut.zip":
                self.send_response(200)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload[: len(payload) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            else:
                self.send_error(404, "Not Found")
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", hits
    finally:
        stall.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_archive_path_defaults_to_data_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RAMANCMP_DATA_DIR", str(tmp_path))
    assert archive_path() == tmp_path / config.RRUFF_ZIP_NAME
    assert archive_path(tmp_path / "x") == tmp_path / "x" / config.RRUFF_ZIP_NAME


def test_download_writes_zip_and_record_then_skips(server, small_zip, tmp_path):
    url, hits = server
    dest = tmp_path / "cache"
    path = fetch(f"{url}/rruff.zip", dest_dir=dest)
    assert path == dest / "excellent_unoriented.zip"
    assert path.read_bytes() == small_zip.read_bytes()
    record = json.loads(record_path(path).read_text())
    assert record["sha256"] == file_sha256(small_zip) == file_sha256(path)
    assert record["size"] == small_zip.stat().st_size
    assert record["source"] == f"{url}/rruff.zip" and record["n_txt_files"] == 3
    assert record["date"].endswith("+00:00")
    assert leftovers(dest) == ["excellent_unoriented.json", "excellent_unoriented.zip"]
    assert len(load_archive(path)) == 3

    stamps = (path.stat().st_mtime_ns, record_path(path).stat().st_mtime_ns)
    assert fetch(f"{url}/rruff.zip", dest_dir=dest) == path  # verified copy present: nothing happens
    assert hits["/rruff.zip"] == 1
    assert (path.stat().st_mtime_ns, record_path(path).stat().st_mtime_ns) == stamps

    fetch(f"{url}/rruff.zip", dest_dir=dest, force=True)
    assert hits["/rruff.zip"] == 2


def test_stale_record_triggers_a_new_fetch(server, tmp_path):
    url, hits = server
    path = fetch(f"{url}/rruff.zip", dest_dir=tmp_path / "cache")
    record = json.loads(record_path(path).read_text())
    record_path(path).write_text(json.dumps({**record, "sha256": "0" * 64}))
    fetch(f"{url}/rruff.zip", dest_dir=tmp_path / "cache")
    assert hits["/rruff.zip"] == 2
    assert json.loads(record_path(path).read_text())["sha256"] == file_sha256(path)


def test_connection_cut_half_way(server, tmp_path):
    url, _ = server
    with pytest.raises(FetchError, match=r"cut\.zip.*(incomplete|broke off)"):
        fetch(f"{url}/cut.zip", dest_dir=tmp_path / "cache")
    assert leftovers(tmp_path / "cache") == []  # no zip, no record, no temporary file


def test_a_trickling_server_meets_the_overall_deadline_with_progress_lines(server, tmp_path, monkeypatch, caplog):
    import logging
    import sys
    import time

    fetch_module = sys.modules["ramancmp.data.fetch"]  # the package's `fetch` name is the function

    url, _ = server
    monkeypatch.setattr(fetch_module, "_DEADLINE_S", 1.5)
    monkeypatch.setattr(fetch_module, "_PROGRESS_EVERY_S", 0.5)
    start = time.monotonic()
    with caplog.at_level(logging.INFO, logger="ramancmp.data.fetch"), pytest.raises(FetchError, match="gave up after"):
        fetch(f"{url}/trickle.zip", dest_dir=tmp_path / "cache")
    assert time.monotonic() - start < 20
    assert any("MiB of" in r.getMessage() for r in caplog.records)  # stderr is not a terminal under pytest
    assert leftovers(tmp_path / "cache") == []


def test_http_404(server, tmp_path):
    url, _ = server
    with pytest.raises(FetchError, match=r"could not download .*/missing\.zip: HTTP 404"):
        fetch(f"{url}/missing.zip", dest_dir=tmp_path / "cache")
    assert leftovers(tmp_path / "cache") == []


def test_download_that_is_not_a_zip(server, tmp_path):
    url, _ = server
    with pytest.raises(FetchError, match=r"notzip\.zip is not a valid zip archive"):
        fetch(f"{url}/notzip.zip", dest_dir=tmp_path / "cache")
    assert leftovers(tmp_path / "cache") == []


def test_failed_refetch_keeps_the_verified_copy(server, tmp_path):
    url, _ = server
    path = fetch(f"{url}/rruff.zip", dest_dir=tmp_path / "cache")
    good = file_sha256(path)
    with pytest.raises(FetchError):
        fetch(f"{url}/cut.zip", dest_dir=tmp_path / "cache", force=True)
    assert file_sha256(path) == good == json.loads(record_path(path).read_text())["sha256"]
    assert leftovers(tmp_path / "cache") == ["excellent_unoriented.json", "excellent_unoriented.zip"]


def test_local_copy(small_zip, tmp_path):
    dest = tmp_path / "cache"
    path = fetch(str(small_zip), dest_dir=dest)
    assert file_sha256(path) == file_sha256(small_zip)
    assert json.loads(record_path(path).read_text())["source"] == str(small_zip.resolve())


def test_local_file_already_in_place_gets_a_record(small_zip):
    dest = small_zip.parent
    in_place = dest / config.RRUFF_ZIP_NAME
    small_zip.rename(in_place)
    assert fetch(str(in_place), dest_dir=dest) == in_place
    assert json.loads(record_path(in_place).read_text())["sha256"] == file_sha256(in_place)


@pytest.mark.parametrize("content, match", [(b"just text\n", "is not a valid zip archive"),
                                            (None, "without any .txt spectrum files")])
def test_local_non_zip_or_empty_zip(tmp_path, content, match):
    src = tmp_path / "bad.zip"
    if content is None:
        write_rruff_zip(src, {"README.md": "no spectra here"})
    else:
        src.write_bytes(content)
    dest = tmp_path / "cache"
    with pytest.raises(FetchError, match=match) as info:
        fetch(str(src), dest_dir=dest)
    assert str(src) in str(info.value)
    assert leftovers(dest) == []


def test_missing_local_source(tmp_path):
    with pytest.raises(FetchError, match="no such file"):
        fetch(str(tmp_path / "nowhere.zip"), dest_dir=tmp_path / "cache")
    assert leftovers(tmp_path / "cache") == []


def test_cli_fetch(small_zip, tmp_path, capsys):
    dest = tmp_path / "cache"
    assert main(["data", "fetch", "--from", str(small_zip), "--dest", str(dest)]) == 0
    assert capsys.readouterr().out.strip() == str(dest / config.RRUFF_ZIP_NAME)
    assert file_sha256(dest / config.RRUFF_ZIP_NAME) == file_sha256(small_zip)

    bad = tmp_path / "bad.zip"
    bad.write_text("nope")
    assert main(["data", "fetch", "--from", str(bad), "--dest", str(tmp_path / "other"), "--force"]) == 2
    assert "is not a valid zip archive" in capsys.readouterr().err


def test_a_data_folder_that_is_a_file_or_read_only_is_a_clear_error(tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("x")
    zpath = write_rruff_zip(tmp_path / "src.zip", {make_rruff_name(): make_rruff_text()})
    assert main(["data", "fetch", "--from", str(zpath), "--dest", str(blocker)]) == 2
    err = capsys.readouterr().err
    assert "is a file, not a folder" in err and str(blocker) in err and "Traceback" not in err
    if os.geteuid() != 0:  # root may write anywhere: the permission case only means something for other users
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        assert main(["data", "fetch", "--from", str(zpath), "--dest", str(locked)]) == 2
        assert "not writable" in capsys.readouterr().err


def test_summary_works_without_a_writable_cache(tmp_path, monkeypatch, capsys):
    from ramancmp.data.summary import summarize

    blocker = tmp_path / "cache_is_a_file"
    blocker.write_text("x")
    monkeypatch.setenv("RAMANCMP_DATA_DIR", str(blocker))
    folder = tmp_path / "rruff"
    folder.mkdir()
    for k in range(3):
        (folder / make_rruff_name("Calcite", f"R0{k}0000", index=k)).write_text(make_rruff_text("Calcite", f"R0{k}0000",
                                                                                                 seed=k))
    with pytest.warns(UserWarning, match="cannot write the task cache"):
        summary = summarize("rruff-groups-10", source=folder)
    assert summary["n_spectra"] == 3


def test_a_zip_that_is_not_rruff_is_refused_and_nothing_is_recorded(tmp_path, capsys):
    zpath = write_rruff_zip(tmp_path / "notes.zip",
                            {f"note{k}.txt": f"shopping list {k}\nmilk\nbread\n" for k in range(3)})
    dest = tmp_path / "cache"
    assert main(["data", "fetch", "--from", str(zpath), "--dest", str(dest)]) == 2
    err = capsys.readouterr().err
    assert "does not look like a RRUFF Raman archive: 0 of the 3 .txt files" in err
    assert not archive_path(dest).exists() and not record_path(archive_path(dest)).exists()


def test_the_record_says_whether_this_is_the_books_snapshot(tmp_path, caplog):
    import logging

    from ramancmp import config

    zpath = write_rruff_zip(tmp_path / "src.zip", {make_rruff_name(index=k): make_rruff_text(seed=k) for k in range(3)})
    with caplog.at_level(logging.WARNING, logger="ramancmp.data.fetch"):
        dest = fetch(str(zpath), dest_dir=tmp_path / "cache")
    record = json.loads(record_path(dest).read_text())
    assert record["snapshot"] is None and "not the book's" in caplog.text
    assert config.RRUFF_SNAPSHOT_SHA256 == "dacbe9ba38d5dbfe5ef497fef899a479184a6758ac27d7bb6247d43975d4a37e"


def test_data_summary_of_a_source_without_usable_spectra_fails(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RAMANCMP_DATA_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "rruff"
    folder.mkdir()
    (folder / make_rruff_name("Nothingite", "R090000")).write_text(make_rruff_text("Nothingite", "R090000"))
    assert main(["data", "summary", "--source", str(folder)]) == 1
    assert "no usable spectrum" in capsys.readouterr().err


def test_sigterm_during_a_download_leaves_no_partial_file(server, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    url, _ = server
    dest = tmp_path / "cache"
    proc = subprocess.Popen([sys.executable, "-m", "ramancmp", "data", "fetch", "--from", f"{url}/slow.zip",
                             "--dest", str(dest)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not any(p.name.endswith(".part") for p in dest.glob(".*")) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert any(p.name.endswith(".part") for p in dest.glob(".*")), "the download never started"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM and "Traceback" not in err
    assert leftovers(dest) == []  # the temporary .part file is gone, nothing was recorded


# --------------------------------------------------------------------------------------- content fingerprint
def _spectra(n: int = 4) -> dict[str, str]:
    return {make_rruff_name(f"Mineral{k}", f"R08000{k}", index=k): make_rruff_text(f"Mineral-{k}", f"R08000{k}", seed=k)
            for k in range(n)}


def test_the_content_fingerprint_survives_rezipping_and_unzipping(tmp_path):
    import zipfile

    from ramancmp.data.fetch import content_fingerprint

    files = _spectra()
    a = write_rruff_zip(tmp_path / "a.zip", files)
    b = tmp_path / "b.zip"  # other order, no compression, inside a folder, with a macOS fork and a folder entry
    with zipfile.ZipFile(b, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("excellent_unoriented/", b"")
        for name in reversed(list(files)):
            zf.writestr(f"excellent_unoriented/{name}", files[name].encode())
        zf.writestr(f"__MACOSX/._{next(iter(files))}", b"\x00\x05\x16\x07")
    folder = tmp_path / "unzipped"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_bytes(text.encode())
    assert file_sha256(a) != file_sha256(b)
    assert content_fingerprint(a) == content_fingerprint(b) == content_fingerprint(folder)


def test_a_changed_added_or_renamed_spectrum_changes_the_content_fingerprint(tmp_path):
    from ramancmp.data.fetch import content_fingerprint

    files = _spectra()
    base = content_fingerprint(write_rruff_zip(tmp_path / "base.zip", files))
    first = next(iter(files))
    edited = {**files, first: files[first].replace(",", ", ", 1)}
    renamed = {("X" + k if k == first else k): v for k, v in files.items()}
    added = {**files, **_spectra(5)}
    for name, variant in (("edited", edited), ("renamed", renamed), ("added", added)):
        assert content_fingerprint(write_rruff_zip(tmp_path / f"{name}.zip", variant)) != base, name


def test_the_record_and_the_cli_name_the_archive_by_its_content(tmp_path, capsys, monkeypatch):
    from ramancmp.data.fetch import content_fingerprint, describe_archive, snapshot_of

    zpath = write_rruff_zip(tmp_path / "src.zip", _spectra())
    dest = tmp_path / "cache"
    assert main(["data", "fetch", "--from", str(zpath), "--dest", str(dest)]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == str(dest / config.RRUFF_ZIP_NAME)  # stdout stays the path
    assert "NOT the book's" in err and "charlesll/RaMin" in err and "8d0293f" in err
    record = json.loads(record_path(archive_path(dest)).read_text())
    assert record["content_sha256"] == content_fingerprint(zpath) and record["snapshot"] is None
    # a re-zipped copy of the snapshot is recognised by its content, whatever its zip digest
    monkeypatch.setattr(config, "RRUFF_SNAPSHOT_CONTENT_SHA256", record["content_sha256"])
    assert snapshot_of("0" * 64, record["content_sha256"]) == config.RRUFF_SNAPSHOT_NAME
    described = describe_archive(archive_path(dest))
    assert described["is_book_snapshot"] and "another zip" in described["note"]
    assert config.RRUFF_SNAPSHOT_CONTENT_SHA256 != config.RRUFF_SNAPSHOT_SHA256


def test_an_old_record_without_the_fingerprint_is_completed_on_demand(tmp_path):
    from ramancmp.data.fetch import archive_content_fingerprint, content_fingerprint, describe_archive

    dest = fetch(str(write_rruff_zip(tmp_path / "src.zip", _spectra())), dest_dir=tmp_path / "cache")
    old = json.loads(record_path(dest).read_text())
    old.pop("content_sha256")
    record_path(dest).write_text(json.dumps(old))  # as written before content fingerprints existed
    described = describe_archive(dest)
    assert described["content_sha256"] == content_fingerprint(dest) and not described["is_book_snapshot"]
    assert json.loads(record_path(dest).read_text())["content_sha256"] == described["content_sha256"]  # written back
    assert fetch(str(tmp_path / "src.zip"), dest_dir=tmp_path / "cache") == dest  # still a verified copy

    record_path(dest).unlink()  # no record at all: still described, computed from the file
    assert describe_archive(dest)["sha256"] == file_sha256(dest)
    with pytest.raises(FetchError, match="no RRUFF archive at"):
        describe_archive(tmp_path / "nowhere" / "excellent_unoriented.zip")
    assert archive_content_fingerprint(None) is None


def test_results_name_their_archive_by_content_and_old_results_still_load(tmp_path, monkeypatch):
    from ramancmp.data.fetch import content_fingerprint
    from ramancmp.experiments.results import load_result, save_result

    monkeypatch.setenv("RAMANCMP_DATA_DIR", str(tmp_path / "cache"))
    dest = fetch(str(write_rruff_zip(tmp_path / "src.zip", _spectra())))
    save_result("r", {"x": 1}, directory=tmp_path / "results", data_sha256=file_sha256(dest))
    prov = load_result("r", directory=tmp_path / "results")["provenance"]
    assert prov["data_content_sha256"] == content_fingerprint(dest)
    save_result("other", {"x": 1}, directory=tmp_path / "results", data_sha256="f" * 64)  # not the cached archive
    assert load_result("other", directory=tmp_path / "results")["provenance"]["data_content_sha256"] is None
    old = {"name": "old", "metrics": {"x": 1}, "provenance": {"data_sha256": file_sha256(dest)}}
    (tmp_path / "results" / "old.json").write_text(json.dumps(old))
    assert load_result("old", directory=tmp_path / "results")["metrics"] == {"x": 1}


def test_the_pinned_content_fingerprint_is_the_snapshots(rruff_zip):
    from ramancmp.data.fetch import content_fingerprint, snapshot_of

    if file_sha256(rruff_zip) != config.RRUFF_SNAPSHOT_SHA256:
        pytest.skip("the archive at hand is not the book's 2019 snapshot")
    assert content_fingerprint(rruff_zip) == config.RRUFF_SNAPSHOT_CONTENT_SHA256
    assert snapshot_of(None, config.RRUFF_SNAPSHOT_CONTENT_SHA256) == config.RRUFF_SNAPSHOT_NAME


def test_a_stale_record_is_not_trusted_by_describe_archive(tmp_path):
    from ramancmp.data.fetch import content_fingerprint, describe_archive

    dest = fetch(str(write_rruff_zip(tmp_path / "src.zip", _spectra())), dest_dir=tmp_path / "cache")
    write_rruff_zip(dest, _spectra(2))  # replaced by hand after the fetch: the record describes another file
    described = describe_archive(dest)
    assert described["sha256"] == file_sha256(dest) and described["content_sha256"] == content_fingerprint(dest)
    assert "record_problem" in described
