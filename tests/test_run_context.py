"""One RunContext: the run's settings are resolved once, at an entry point, and passed down as an object.

:meth:`ramancmp.config.RunContext.from_env` is the one place the ``RAMANCMP_*`` environment is read; the CLI, the
book runner, a chapter (:class:`ramancmp.book.Chapter`) and the benchmark scripts build the context, everything below
them receives a :class:`~ramancmp.config.Profile` (or the folders) and never resolves one by name.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ramancmp.config import (
    CHECKPOINT_DIR_ENV,
    PROFILES,
    PROJECT_ROOT,
    RESULTS_DIR_ENV,
    RUN_ENV,
    RunContext,
    env_setting,
)

PACKAGE = PROJECT_ROOT / "ramancmp"
# Where a run starts: the only modules that may read the environment or resolve a profile by name.
ENTRY_POINTS = {"config.py", "cli.py", "book/runner.py", "book/chapter.py", "book/__init__.py"}


def test_from_env_defaults_to_the_quick_profile_and_its_build_folders():
    ctx = RunContext.from_env(environ={})
    assert ctx.profile is PROFILES["quick"] and ctx.seed == 0 and ctx.scheduler is None and ctx.static_figures
    assert ctx.results_dir == PROJECT_ROOT / "build" / "quick" / "results"
    assert ctx.checkpoints_dir == PROJECT_ROOT / "build" / "quick" / "checkpoints"
    assert ctx.data_dir == PROJECT_ROOT / "data" / "raw"
    full = RunContext.from_env("full", environ={})
    assert full.results_dir == PROJECT_ROOT / "results" and full.checkpoints_dir == PROJECT_ROOT / "checkpoints"


def test_from_env_reads_every_setting_from_the_environment(tmp_path):
    env = {"RAMANCMP_PROFILE": "full", "RAMANCMP_SEED": "3", "RAMANCMP_DATA_DIR": str(tmp_path / "data"),
           "RAMANCMP_RESULTS_DIR": str(tmp_path / "results"), "RAMANCMP_CHECKPOINT_DIR": str(tmp_path / "ckpt"),
           "RAMANCMP_SCHEDULER": "serial", "RAMANCMP_STATIC_FIGURES": "0"}
    assert set(env) == set(RUN_ENV)
    ctx = RunContext.from_env(environ=env)
    assert (ctx.profile.name, ctx.seed, ctx.scheduler, ctx.static_figures) == ("full", 3, "serial", False)
    assert ctx.data_dir == tmp_path / "data" and ctx.checkpoints_dir == tmp_path / "ckpt"
    # another seed than the book's never overwrites the book's results
    assert ctx.results_root == tmp_path / "results" and ctx.results_dir == tmp_path / "results" / "seed3"
    # the environment a kernel is given resolves to the same context there
    assert RunContext.from_env(environ=ctx.to_env()) == ctx


def test_explicit_arguments_take_precedence_over_the_environment(tmp_path):
    env = {"RAMANCMP_PROFILE": "full", "RAMANCMP_SEED": "3", "RAMANCMP_RESULTS_DIR": str(tmp_path / "env"),
           "RAMANCMP_SCHEDULER": "serial", "RAMANCMP_STATIC_FIGURES": "0"}
    ctx = RunContext.from_env("quick", 0, results_dir=tmp_path / "mine", checkpoints_dir=tmp_path / "ck",
                              data_dir=tmp_path / "d", scheduler="local:2", static_figures=True, environ=env)
    assert (ctx.profile.name, ctx.seed, ctx.scheduler, ctx.static_figures) == ("quick", 0, "local:2", True)
    assert (ctx.results_dir, ctx.checkpoints_dir, ctx.data_dir) == (tmp_path / "mine", tmp_path / "ck", tmp_path / "d")
    assert RunContext.from_env(PROFILES["full"], environ={}).profile is PROFILES["full"]  # a Profile as it is


def test_from_env_rejects_bad_values():
    with pytest.raises(ValueError, match="unknown profile 'huge'"):
        RunContext.from_env(environ={"RAMANCMP_PROFILE": "huge"})
    with pytest.raises(ValueError, match="non-negative"):
        RunContext.from_env(environ={"RAMANCMP_SEED": "minus one"})
    with pytest.raises(ValueError, match="non-negative"):
        RunContext.from_env(seed=-1, environ={})
    with pytest.raises(TypeError, match="must be a Profile"):
        RunContext("quick")
    with pytest.raises(ValueError, match="not one of the run's settings"):
        env_setting("HOME")


def test_the_context_is_frozen():
    ctx = RunContext(PROFILES["quick"])
    with pytest.raises(AttributeError):
        ctx.seed = 1  # type: ignore[misc]
    assert ctx.replace(seed=1).seed == 1 and ctx.seed == 0


def test_chapter_builds_the_context_and_leaves_the_environment_alone(monkeypatch, tmp_path):
    import os

    from ramancmp.book import chapter as chapter_module

    monkeypatch.setattr(chapter_module, "configure_outputs", lambda **kw: None)
    for key in RUN_ENV:
        monkeypatch.delenv(key, raising=False)
    before = dict(os.environ)
    ch = chapter_module.Chapter("00_x", profile="full", seed=2)
    assert ch.context == RunContext.from_env("full", 2) and ch.profile is PROFILES["full"]
    assert ch.results_dir == PROJECT_ROOT / "results" / "seed2"
    given = RunContext(PROFILES["quick"], results_root=tmp_path)
    assert chapter_module.Chapter("00_x", context=given).results_dir == tmp_path
    assert dict(os.environ) == before


def test_the_runner_runs_every_chapter_in_the_context_it_resolved(monkeypatch, tmp_path):
    from ramancmp.book import runner

    monkeypatch.setenv(RESULTS_DIR_ENV, str(tmp_path / "results"))
    monkeypatch.setenv(CHECKPOINT_DIR_ENV, str(tmp_path / "ckpt"))
    seen = []

    def fake_run_chapter(chapter, *, ctx, output, book_dir):
        import os

        seen.append((chapter, ctx, {k: os.environ.get(k) for k in RUN_ENV}))
        return output / f"{chapter}.ipynb"

    monkeypatch.setattr(runner, "run_chapter", fake_run_chapter)
    assert runner.run_book("full", chapters=["0", "1"], output=tmp_path / "build", seed=4, scheduler="serial") == 0
    assert [c for c, _, _ in seen] == ["00_introduction", "01_data"]
    ctx = seen[0][1]
    assert all(c is ctx for _, c, _ in seen)
    assert (ctx.profile.name, ctx.seed, ctx.scheduler) == ("full", 4, "serial")
    assert ctx.results_dir == tmp_path / "results" / "seed4" and ctx.checkpoints_dir == tmp_path / "ckpt"


def test_the_kernel_environment_is_the_context_and_is_restored(monkeypatch, tmp_path):
    import os

    from ramancmp.book import runner

    for key in RUN_ENV:
        monkeypatch.delenv(key, raising=False)
    ctx = RunContext.from_env("full", 5, results_dir=tmp_path, scheduler="local:1")
    before = dict(os.environ)
    with runner._kernel_environment(ctx):
        assert RunContext.from_env() == ctx  # what the chapter's parameters cell builds in the kernel
    assert dict(os.environ) == before


def _python_files() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_nothing_below_the_entry_points_reads_the_environment_or_resolves_a_profile():
    """``os.environ`` / ``os.getenv`` only in config.py (the one reader) and the entry points; ``get_profile`` only
    there. plots.py may point kaleido at a browser (``$BROWSER_PATH`` is kaleido's setting, not the run's)."""
    allowed_env = {"plots.py": {"BROWSER_PATH"}}
    offenders = []
    for path in _python_files():
        rel = path.relative_to(PACKAGE).as_posix()
        if rel in ENTRY_POINTS:
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            if re.search(r"\bget_profile\s*\(", code):
                offenders.append(f"{rel}:{n}: {line.strip()}")
            if re.search(r"os\.environ|os\.getenv|getenv\(", code) and "``" not in code:
                if not any(name in code for name in allowed_env.get(rel, ())):
                    offenders.append(f"{rel}:{n}: {line.strip()}")
    assert not offenders, "read the run's settings from the RunContext, not here:\n" + "\n".join(offenders)


def test_chapters_and_solutions_resolve_no_profile_by_name():
    book = PROJECT_ROOT / "book"
    for path in sorted(book.glob("[0-9][0-9]_*.py")) + sorted((book / "solutions").glob("*.py")):
        text = path.read_text(encoding="utf-8")
        assert "get_profile" not in text and "os.environ" not in text, path.name


def test_profile_parameters_are_typed_one_way():
    """Every ``profile`` parameter of the package below the entry points is a ``Profile`` (no str, no None)."""
    import ast

    loose = []
    for path in _python_files():
        rel = path.relative_to(PACKAGE).as_posix()
        if rel in ENTRY_POINTS:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            args = node.args
            positional = args.posonlyargs + args.args
            defaults = dict(zip([a.arg for a in positional][len(positional) - len(args.defaults):], args.defaults))
            defaults.update({a.arg: d for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None})
            for arg in positional + args.kwonlyargs:
                if arg.arg == "profile":
                    annotation = ast.unparse(arg.annotation) if arg.annotation is not None else None
                    if annotation != "Profile" or "profile" in defaults:
                        loose.append(f"{rel}:{node.lineno} {node.name}(profile: {annotation})")
    assert not loose, loose


def _chapter_texts() -> list[tuple[str, str]]:
    book = PROJECT_ROOT / "book"
    paths = sorted(book.glob("[0-9][0-9]_*.py")) + sorted((book / "solutions").glob("*.py"))
    return [(p.name, p.read_text(encoding="utf-8")) for p in paths]


def test_chapters_use_the_facade_only_and_the_facade_lists_only_what_they_use():
    from ramancmp import book as rc

    texts = _chapter_texts()
    for name, text in texts:
        assert re.findall(r"^from ramancmp(\S*) import", text, flags=re.M) == [""], f"{name} reaches past the facade"
    everything = "\n".join(text for _, text in texts)
    unused = [n for n in rc.__all__ if not re.search(rf"\brc\.{re.escape(n)}\b", everything)]
    assert not unused, f"facade names no chapter or solution uses: {unused}"


def test_chapters_plumb_no_jobs():
    """One experiment function per section: no chapter builds jobs or units and runs them itself."""
    plumbing = re.compile(r"rc\.\w+\.(run_units|trained|variant_jobs|pretrain_jobs|finetune_jobs|\w+_items)\(")
    for name, text in _chapter_texts():
        if "_solutions" not in name:
            assert not plumbing.findall(text), f"{name} plumbs jobs: {plumbing.findall(text)}"
