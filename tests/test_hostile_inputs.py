"""Hostile inputs (issue 23): inputs built to cost time or memory, spoof the terminal, or leave state behind.

Every input is generated here, in a temporary folder (no spectra, zips or weights are committed). Each test asserts
the class of outcome -- a clear error naming the file, a reported skip, or a correct answer -- never a hang or a
traceback. The quadratic-parsing cases use inputs large enough that an O(n^2) parser would take minutes.
"""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from ramancmp.data.rruff import (
    MAX_HEADER_LINES,
    MAX_KEPT_HEADER_CHARS,
    MAX_KEPT_VALUE_CHARS,
    SpectrumParseError,
    load_archive,
    parse_spectrum,
)

from conftest import make_rruff_name, make_rruff_text, write_rruff_zip

NAME = make_rruff_name()


# ------------------------------------------------------------------------------------------- bounded header cost
def test_four_megabytes_of_continuation_lines_are_refused_at_once():
    """4 MB of wrapped header lines: an O(n^2) join took about 2 minutes; the line cap refuses it immediately."""
    text = "##NAMES=Calcite\n##DESCRIPTION=start\n" + "continued header text, 40 chars long....\n" * 100_000
    with pytest.raises(SpectrumParseError, match=r"header too long .*not a RRUFF spectrum file") as err:
        parse_spectrum(text, NAME)
    assert NAME in str(err.value)


def test_one_huge_continuation_line_is_joined_linearly_and_kept_short():
    """A few long continuation lines (under the line cap) are joined once; the kept value is capped."""
    rows = [f"{150 + 2 * k:.1f}, {10.0 + k:.1f}" for k in range(20)]
    text = make_rruff_text(rows=rows).replace("##DESCRIPTION=Synthetic test spectrum",
                                              "##DESCRIPTION=start\n" + ("y" * 400_000 + "\n") * 8)
    s = parse_spectrum(text, NAME)
    assert len(s) == 20 and s.header["DESCRIPTION"].startswith("start y")
    assert len(s.header["DESCRIPTION"]) == MAX_KEPT_VALUE_CHARS


def test_many_header_keys_are_refused_and_kept_headers_are_bounded():
    rows = [f"{150 + 2 * k:.1f}, {10.0 + k:.1f}" for k in range(20)]
    many = "".join(f"##KEY{k}=v\n" for k in range(MAX_HEADER_LINES + 5))
    with pytest.raises(SpectrumParseError, match="header too long"):
        parse_spectrum(many + "\n".join(rows), NAME)
    some = "".join(f"##KEY{k}={'v' * 200}\n" for k in range(MAX_HEADER_LINES // 2))
    s = parse_spectrum("##NAMES=Calcite\n" + some + "\n".join(rows), NAME)
    assert s.mineral == "Calcite" and "NAMES" in s.header
    assert sum(len(v) for v in s.header.values()) <= MAX_KEPT_HEADER_CHARS


def test_header_lines_after_the_blank_line_are_read():
    """Today's rruff.info: a continuation line and more ## lines may follow the blank line before the data."""
    text = make_rruff_text(layout="modern").replace(
        "\n\n", "\n\nwrapped part of the file type\n##DIFFRACTION SAMPLE DESCRIPTION=Powder\n"
        "##CELL PARAMETERS=a=1\n", 1)
    s = parse_spectrum(text, NAME)
    assert s.header["CELL PARAMETERS"] == "a=1" and len(s) == 200


def test_a_small_zip_of_continuation_members_is_skipped_quickly(tmp_path):
    body = "##NAMES=X\n##DESCRIPTION=a\n" + "more text\n" * 400_000
    path = write_rruff_zip(tmp_path / "bomb.zip", {f"m{k}__R0500{k:02d}__Raman__532__0__unoriented__"
                                                   f"Raman_Data_Processed__1.txt": body for k in range(4)})
    contents = load_archive(path)
    assert len(contents) == 0 and len(contents.skipped) == 4
    assert all("header too long" in s.reason for s in contents.skipped)


# ------------------------------------------------------------------------------------------- checkpoints
@pytest.fixture
def tiny_checkpoint(tmp_path):
    import torch

    from ramancmp.models import create_model
    from ramancmp.training import save_checkpoint

    torch.manual_seed(0)
    model = create_model("cnn", 3, 128)
    return save_checkpoint(tmp_path / "cnn", model, extra={"class_names": ["a", "b", "c"],
                                                           "preprocess": {"n_points": 128}})


def test_nan_weights_are_refused_with_a_clear_error(tiny_checkpoint):
    import torch

    from ramancmp.training import load_checkpoint

    state = torch.load(tiny_checkpoint, weights_only=True)
    first = next(k for k, v in state.items() if v.is_floating_point())
    state[first] = torch.full_like(state[first], float("nan"))
    torch.save(state, tiny_checkpoint)
    with pytest.raises(ValueError, match=r"cnn\.pt hold NaN or infinite values.*retrain"):
        load_checkpoint(tiny_checkpoint)


@pytest.mark.parametrize("edit, pattern", [
    (lambda info: info["model"].update(in_length=200_000_000), r"model\.in_length is 200000000"),
    (lambda info: info["model"].update(num_classes=50_000_000), r"model\.num_classes is 50000000"),
    (lambda info: info["preprocess"].update(n_points=200_000_000), r"preprocess\.n_points"),
])
def test_unbounded_sidecar_values_are_refused_before_allocating(tiny_checkpoint, edit, pattern):
    from ramancmp.training import load_checkpoint

    side = tiny_checkpoint.with_suffix(".json")
    info = json.loads(side.read_text())
    edit(info)
    side.write_text(json.dumps(info))
    with pytest.raises(ValueError, match=pattern):
        load_checkpoint(tiny_checkpoint)


@pytest.mark.parametrize("text, pattern", [
    ('{"format": NaN}', r"holds NaN is not a number"),
    ("[" * 200_000 + "]" * 200_000, r"nested too deeply|not valid JSON"),
])
def test_sidecar_with_nan_or_deep_nesting_is_refused(tiny_checkpoint, text, pattern):
    from ramancmp.training import load_checkpoint

    tiny_checkpoint.with_suffix(".json").write_text(text)
    with pytest.raises(ValueError, match=pattern):
        load_checkpoint(tiny_checkpoint)


def test_sidecar_with_a_utf8_bom_is_read(tiny_checkpoint):
    from ramancmp.training import load_checkpoint

    side = tiny_checkpoint.with_suffix(".json")
    side.write_bytes(b"\xef\xbb\xbf" + side.read_bytes())
    _, info = load_checkpoint(tiny_checkpoint)
    assert info["class_names"] == ["a", "b", "c"]


@pytest.mark.parametrize("which", [".pt", ".json"])
def test_a_fifo_as_checkpoint_file_is_refused_not_waited_on(tiny_checkpoint, which):
    import os

    from ramancmp.training import load_checkpoint

    target = tiny_checkpoint.with_suffix(which)
    target.unlink()
    os.mkfifo(target)
    with pytest.raises(ValueError, match="not a regular file"):
        load_checkpoint(tiny_checkpoint)


# ------------------------------------------------------------------------------------------- terminal spoofing
@pytest.mark.parametrize("hostile", ["name\x1b[2K\x1b]0;title\x07.txt", "gra\u202etenr.txt", "a.txt\n  -> garnet "
                                     "(score 0.9999)", "tab\there\rback", "c1\x9bcsi"])
def test_printable_escapes_control_bidi_and_newlines(hostile):
    from ramancmp.fileio import printable

    shown = printable(hostile)
    assert shown.isprintable() and "\n" not in shown and "\x1b" not in shown and "\u202e" not in shown
    assert printable("Agardite-(Y) México.txt") == "Agardite-(Y) México.txt"  # ordinary text unchanged


def test_text_report_escapes_untrusted_names():
    from ramancmp.predict import format_predictions

    evil = "x.txt\n  -> garnet (score 0.9999)\x1b[2J\u202e"
    report = {"model": {"name": "cnn\x1b]0;pwned\x07", "classes": 2, "task": "t", "profile": "custom",
                        "checkpoint": "/tmp/ck\npt", "notes": ["note\x1b[1A"], "open_set": False},
              "predictions": [{"source": evil, "label_in_file": "Calcite\r", "identified": "a\nb", "score": None,
                               "top": [{"class": "gar\x1bnet", "probability": 0.5}], "warnings": []}],
              "errors": [{"source": evil, "reason": "bad\nline"}]}
    text = format_predictions(report)
    assert "\x1b" not in text and "\u202e" not in text and "\r" not in text
    assert not any(line.lstrip().startswith("-> garnet") for line in text.splitlines())


def test_predict_json_is_strict_even_with_nan(monkeypatch, capsys):
    from ramancmp import cli, predict

    monkeypatch.setattr(predict, "predict_paths", lambda *a, **k: {"model": {"x": float("nan")}, "errors": [],
                                                                    "predictions": [{"score": float("inf")}]})
    assert cli.main(["predict", "--json", "whatever.txt"]) == 0
    json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(f"{c} in --json output"))


# ------------------------------------------------------------------------------------------- report compare
@pytest.mark.parametrize("content, pattern", [
    ("[]", r"holds list .*not a results object"),
    ('{"metrics": {"claims": [{"key": "k", "verdict": "reached", "ours": NaN}]}}', r"holds NaN"),
    ('{"metrics": {"claims": [{"key": "k", "verdict": "reached", "ours": "91.2"}]}}',
     r"'ours' is '91.2', not a number"),
    ('{"metrics": {"claims": [{"key": "k", "verdict": 3}]}}', r"must be text"),
    ('{"metrics": {"claims": {"key": "k"}}}', r"'claims' is dict, not a list"),
    ("[" * 100_000 + "]" * 100_000, r"nested too deeply|not valid JSON"),
])
def test_report_compare_refuses_malformed_results(tmp_path, capsys, content, pattern):
    from ramancmp import cli

    good = {"metrics": {"claims": [{"key": "k", "verdict": "reached", "ours": 1.0}]}, "provenance": {}}
    for run in ("a", "b"):
        (tmp_path / run).mkdir()
        (tmp_path / run / "01.json").write_text(json.dumps(good))
    (tmp_path / "b" / "02_bad.json").write_text(content)
    assert cli.main(["report", "compare", str(tmp_path / "a"), str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert "02_bad.json" in err and __import__("re").search(pattern, err), err


# ------------------------------------------------------------------------------------------- interrupted chapters
def _fake_book(tmp_path, monkeypatch):
    from ramancmp.book import runner

    results = tmp_path / "results"
    monkeypatch.setenv("RAMANCMP_RESULTS_DIR", str(results))
    monkeypatch.setenv("RAMANCMP_CHECKPOINT_DIR", str(tmp_path / "ckpt"))
    monkeypatch.setattr(runner, "select_chapters", lambda chapters, book_dir=None: ["05_x"])
    return runner, results


@pytest.mark.parametrize("stop", [KeyboardInterrupt, SystemExit])
def test_a_chapter_interrupted_after_its_first_save_does_not_count_as_finished(tmp_path, monkeypatch, capsys, stop):
    runner, results = _fake_book(tmp_path, monkeypatch)

    def first_save_then_stop(chapter, *, ctx, output, book_dir):
        results.mkdir(parents=True, exist_ok=True)
        (results / f"{chapter}.json").write_text(json.dumps({"metrics": {}, "provenance": {
            "profile": ctx.profile.name, "seed": ctx.seed}}))
        raise stop

    monkeypatch.setattr(runner, "run_chapter", first_save_then_stop)
    with pytest.raises(stop):
        runner.run_book("quick", output=tmp_path / "build")
    assert "05_x: interrupted; it does not count as finished" in capsys.readouterr().err
    assert not runner.chapter_finished("05_x", "quick", 0, results) and not (results / "05_x.json").exists()


def test_a_killed_chapter_leaves_its_marker_and_is_rerun(tmp_path, monkeypatch, capsys):
    """SIGKILL gives no chance to clean up: the marker written before the chapter started keeps it unfinished."""
    runner, results = _fake_book(tmp_path, monkeypatch)
    results.mkdir()
    (results / "05_x.json").write_text(json.dumps({"metrics": {}, "provenance": {"profile": "quick", "seed": 0}}))
    (results / ".05_x.running").write_text("{}")
    assert not runner.chapter_finished("05_x", "quick", 0, results)
    ran = []

    def completes(chapter, *, ctx, output, book_dir):
        ran.append(chapter)
        return output / f"{chapter}.ipynb"

    monkeypatch.setattr(runner, "run_chapter", completes)
    assert runner.run_book("quick", output=tmp_path / "build") == 0 and ran == ["05_x"]
    assert runner.chapter_finished("05_x", "quick", 0, results) and not (results / ".05_x.running").exists()


# ------------------------------------------------------------------------------------------- archives and caches
def _zip_of(path, n=3, seed=0):
    return write_rruff_zip(path, {make_rruff_name(f"M{k}", f"R05001{k}", index=k): make_rruff_text(f"M{k}",
                                  f"R05001{k}", seed=seed + k) for k in range(n)})


def test_an_archive_replaced_after_fetch_is_flagged_where_it_is_read(tmp_path, monkeypatch):
    from ramancmp.data.fetch import archive_path, fetch
    from ramancmp.data.rruff import ReplacedArchiveWarning

    monkeypatch.setenv("RAMANCMP_DATA_DIR", str(tmp_path / "cache"))
    fetch(str(_zip_of(tmp_path / "a.zip")))
    load_archive(archive_path())  # the verified one: no warning (pytest would show it)
    _zip_of(archive_path(), n=4, seed=7)  # replaced by hand with another archive
    with pytest.warns(ReplacedArchiveWarning, match=r"not the archive `data fetch` verified.*--force"):
        load_archive(archive_path())


def test_layout_check_does_not_inflate_a_huge_member(tmp_path):
    """A member declaring more than a spectrum file may hold is never read by fetch's layout check."""
    from ramancmp.data.fetch import FetchError, _check_rruff_layout
    from ramancmp.data.rruff import MAX_FILE_BYTES

    path = tmp_path / "big.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a__R1__Raman__532__0__unoriented__Raman_Data_Processed__1.txt", b"0" * (MAX_FILE_BYTES + 10))
    with pytest.raises(FetchError, match=r"more than a spectrum file"):
        _check_rruff_layout(path, str(path))


def test_a_truncated_task_cache_is_rebuilt_not_a_traceback(tmp_path):
    from ramancmp.data import tasks

    stem = tmp_path / "cache" / "x"
    stem.parent.mkdir()
    tasks._save(stem, "k", {"X": np.zeros((3, 4))}, {})
    npz = stem.with_suffix(".npz")
    npz.write_bytes(npz.read_bytes()[:40])
    assert tasks._load(stem, "k") is None
