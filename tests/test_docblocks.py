"""Every code block of README.md and docs/**/*.md runs, and its Python type-checks.

One test id per page (``test_page_runs[docs/export.md]``,
``test_page_type_checks[docs/export.md]``); a failure names the page and the
line. How the blocks are run, and how to mark one: docs/contributing.md.
tests/docblocks.py holds the extractor and the driver.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests import docblocks as db

ROOT = Path(__file__).resolve().parent.parent
DRIVER = Path(db.__file__).resolve()
#: Rows the page's portal starts with (deals, contacts, leads, items, tasks).
SEED = 1000
PAGE_TIMEOUT = 280.0

PAGES = [db.parse_page(p, ROOT) for p in db.pages(ROOT)]
RUN_PAGES = [p for p in PAGES if any(b.runs for b in p.blocks)]
TYPED_PAGES = [p for p in PAGES if db.mypy_source(p) is not None]


@pytest.fixture(scope="module")
def docs_portal() -> Iterator[Any]:
    from b24hook.emulator import EmulatorPortal

    portal = EmulatorPortal(db=":memory:", seed_demo=SEED).start()
    try:
        yield portal
    finally:
        portal.stop()


def _run_driver(page_file: Path, name: str, cwd: Path, portal: Any) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    for k in list(env):
        if k.startswith(("PYTEST_", "B24HOOK_")):
            del env[k]  # the page runs as a user's program would, not inside this test
    shm = cwd.parent / f"{cwd.name}-shm"   # a page's shared="host" files, not /dev/shm
    shm.mkdir(exist_ok=True)
    env.update({
        "B24_WEBHOOK_URL": portal.v2_url + "/",
        "B24HOOK_CA_BUNDLE": portal.ca_path,
        "B24HOOK_SHM_DIR": str(shm),
        "DOCBLOCKS_PAGE_NAME": name,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
    })
    # Its own process group: a page stuck in a block is stopped with all it started.
    proc = subprocess.Popen([sys.executable, str(DRIVER), str(page_file)], cwd=cwd, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=PAGE_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"{name}: still running after {PAGE_TIMEOUT:.0f} s; the blocks that "
                    f"finished:\n{err}\n--- stdout ---\n{out}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.mark.parametrize("page", RUN_PAGES, ids=[p.path for p in RUN_PAGES])
def test_page_runs(page: db.Page, docs_portal: Any, tmp_path: Path) -> None:
    """The page's blocks, in order, in one subprocess against a clean portal."""
    docs_portal.reset()
    res = _run_driver(ROOT / page.path, page.path, tmp_path, docs_portal)
    out = f"--- stdout ---\n{res.stdout}\n--- stderr ---\n{res.stderr}"
    assert docs_portal.secret not in out, "the page's output shows the webhook secret"
    assert res.returncode == 0, out
    ran = [b for b in page.blocks if b.runs]
    assert len(re.findall(r"^docblocks: ok ", res.stderr, re.M)) == len(ran), out


# ---------------------------------------------------------------- mypy --strict
@pytest.fixture(scope="module")
def mypy_report() -> dict[str, list[str]]:
    """One mypy --strict run over every page's Python (pages as modules), its
    messages grouped by page, the page's line numbers kept."""
    out_dir = ROOT / "build" / "docblocks"
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("*.py"):
        old.unlink()
    files: dict[str, str] = {}
    for page in TYPED_PAGES:
        mod = "docpage_" + re.sub(r"[^A-Za-z0-9]+", "_", page.path)
        f = out_dir / f"{mod}.py"
        f.write_text(db.mypy_source(page) or "", encoding="utf-8")
        files[str(f.relative_to(ROOT))] = page.path
    cmd = [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent",
           "--disable-error-code=import-untyped", "--no-error-summary", "--show-error-codes",
           "--no-pretty", "--cache-dir", str(ROOT / "build" / "mypy-cache-docblocks"), *files]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    report: dict[str, list[str]] = {p: [] for p in files.values()}
    for line in res.stdout.splitlines():
        path, sep, rest = line.partition(":")
        if sep and path in files:
            report[files[path]].append(f"{files[path]}:{rest}")
        elif line.strip():
            report.setdefault("(mypy)", []).append(line)
    if res.returncode not in (0, 1) or report.get("(mypy)"):
        pytest.fail(f"mypy did not run (status {res.returncode}):\n{res.stdout}\n{res.stderr}")
    return report


@pytest.mark.parametrize("page", TYPED_PAGES, ids=[p.path for p in TYPED_PAGES])
def test_page_type_checks(page: db.Page, mypy_report: dict[str, list[str]]) -> None:
    """The page's Python blocks, concatenated in order, are mypy --strict clean."""
    errors = [m for m in mypy_report[page.path] if ": note:" not in m]
    assert not errors, "\n".join(mypy_report[page.path])


# ---------------------------------------------------------------- the pages' markup
def test_pages_are_found() -> None:
    found = {p.path for p in PAGES}
    assert "README.md" in found and "docs/export.md" in found
    assert all(p.endswith(".md") for p in found)


def test_every_block_names_a_known_language() -> None:
    """The language decides whether a block runs: it is never left implicit."""
    bad = [f"{b.where}: {b.lang or '(none)'}" for p in PAGES for b in p.blocks
           if b.lang not in db.KNOWN_LANGS]
    assert not bad, "fenced blocks without a known language (python, sh, console, text, json...):\n" \
        + "\n".join(bad)


def test_markers_are_known_attached_and_give_reasons() -> None:
    bad: list[str] = []
    for p in PAGES:
        for m in p.markers:
            where = f"{m.page}:{m.line}: {m.text}"
            if m.kind not in db.DIRECTIVES:
                bad.append(f"{where}: unknown (use one of {sorted(db.DIRECTIVES)})")
            elif m.block_line is None:
                bad.append(f"{where}: not right before a fenced block")
            elif m.kind == "no-run" and not m.reason:
                bad.append(f"{where}: no-run needs a reason: <!-- docs: no-run (why) -->")
    assert not bad, "\n".join(bad)


def test_no_run_markers_stay_rare() -> None:
    marked = [m for p in PAGES for m in p.markers if m.kind == "no-run"]
    blocks = [b for p in PAGES for b in p.blocks if b.lang in db.PYTHON | db.SHELL | db.CONSOLE]
    assert len(marked) <= max(3, len(blocks) // 10), [f"{m.page}:{m.line}" for m in marked]


def test_shell_blocks_have_no_prompts() -> None:
    """``$ b24hook ...`` in an sh block would never run (its first word is
    ``$``): prompts belong in console blocks, which compare the output too."""
    bad = [f"{b.where}: line {b.line + i}" for p in PAGES for b in p.blocks if b.lang in db.SHELL
           for i, ln in enumerate(b.code.splitlines()) if ln.startswith(("$ ", "> "))]
    assert not bad, "prompts in sh/bash blocks (use ```console):\n" + "\n".join(bad)


def test_server_and_pytest_markers_fit_their_blocks() -> None:
    for p in PAGES:
        for b in p.blocks:
            if b.directive == "pytest":
                assert b.lang in db.PYTHON, b.where
            if b.directive == "server":
                cmds = db.shell_commands(b)
                assert b.lang in db.CONSOLE and cmds and all(c.expected for c in cmds), \
                    f"{b.where}: a server block is a console block showing the output to wait for"


# ---------------------------------------------------------------- the extractor itself
SAMPLE = textwrap.dedent("""\
    # Title

    ```python
    x = 1
    ```

    Text `<!-- docs: no-run -->` inline is not a marker.

    <!-- docs: no-run (needs a real portal) -->

    ````sh
    b24hook call profile
    make demo
    ```
    ````

    - a list item:

      ```console
      $ python -m b24hook.emulator --help | head -1
      usage: ...
      $ pip install b24hook
      ```

    ~~~
    plain
    ~~~
    <!-- docs: pytest -->
    ```py
    def test_x() -> None: ...
    ```
    <!-- docs: no-run -->
    text in between
    """)


def test_parse_finds_fences_languages_lines_and_markers() -> None:
    page = db.parse_markdown(SAMPLE, "x.md")
    assert [(b.fence_line, b.lang) for b in page.blocks] == \
        [(3, "python"), (11, "sh"), (19, "console"), (25, ""), (29, "py")]
    first, sh, console, plain, pyt = page.blocks
    assert first.code == "x = 1\n" and first.line == 4 and first.directive is None
    assert sh.code == "b24hook call profile\nmake demo\n```\n"  # a shorter fence does not close ````
    assert (sh.directive, sh.reason) == ("no-run", "needs a real portal") and not sh.runs
    assert console.code.startswith("$ python -m b24hook.emulator")  # list indentation removed
    assert pyt.directive == "pytest" and pyt.runs
    assert plain.code == "plain\n" and not plain.runs
    stray = [m for m in page.markers if m.block_line is None]
    assert [(m.line, m.kind, m.reason) for m in stray] == [(32, "no-run", None)]


@pytest.mark.parametrize(("info", "lang"), [
    ("python", "python"), ("Python", "python"), ('py title="export.py"', "py"),
    ("{ .python .annotate }", "python"), ("console{.x}", "console"), ("", ""),
])
def test_fence_language(info: str, lang: str) -> None:
    assert db.fence_language(info) == lang


def test_only_b24hook_commands_run() -> None:
    runs = ["b24hook call profile", "python -m b24hook.emulator --help",
            ".venv/bin/python -m b24hook", "B24_X=1 b24hook list crm.deal.list | head -3",
            "python3 -m b24hook.cli export crm.deal.list -o deals.csv"]
    not_run = ["make demo", "pip install b24hook", "sudo apt-get install -y gcc",
               ".venv/bin/python -m pytest -m fidelity", "python -m bench",
               "export B24_WEBHOOK_URL=https://example.bitrix24.com/rest/1/xxxxxxxx/",
               "# b24hook call profile", "echo b24hook", "python -c 'import b24hook'"]
    assert [c for c in runs if not db.runs_b24hook(c)] == []
    assert [c for c in not_run if db.runs_b24hook(c)] == []


def test_console_commands_and_expected_output() -> None:
    block = db.Block("x.md", 10, "console", textwrap.dedent("""\
        $ b24hook call profile \\
        >   --v3
        {"ID": ...}
        ...

        $ make demo
        $ b24hook ping
        """))
    cmds = db.shell_commands(block)
    assert [(c.line, c.text, c.expected) for c in cmds] == [
        (11, "b24hook call profile \\\n  --v3", ('{"ID": ...}', "...")),
        (16, "make demo", ()),
        (17, "b24hook ping", ()),
    ]
    assert [c.runs for c in cmds] == [True, False, True]


@pytest.mark.parametrize(("expected", "output", "ok"), [
    (("a", "b"), "a\nb\n", True),
    (("a", "b"), "a\nb\nc\n", False),
    (("a …", "..."), "a 1\nb\nc\n", True),
    (("a …", "..."), "a 1\n", True),
    (("x: ...", "y"), "x: 1 2 3\ny\n", True),
    (("x: ...", "y"), "x: 1\nz\ny\n", False),
    (("(a+b)",), "(a+b)\n", True),
    (("(a+b)",), "aab\n", False),
])
def test_output_pattern(expected: tuple[str, ...], output: str, ok: bool) -> None:
    assert bool(db.output_pattern(expected).fullmatch(output)) is ok


def test_terminal_text_keeps_what_a_terminal_shows() -> None:
    assert db.terminal_text(" 10%|█\r 50%|██\r100%|███ \nrows: 3  \n\n") == "100%|███\nrows: 3\n"


def test_mypy_source_keeps_page_line_numbers() -> None:
    page = db.parse_markdown("text\n```python\na = 1\n```\n\n```sh\nls\n```\n```python\nb = a\n```\n",
                             "x.md")
    src = db.mypy_source(page)
    assert src is not None
    lines = src.splitlines()
    assert lines[2] == "a = 1" and lines[9] == "b = a" and len(lines) == 10


def test_mypy_source_takes_pycon_examples_without_output() -> None:
    page = db.parse_markdown("intro\n```pycon\n>>> x = [1,\n...      2]\n>>> len(x)\n2\n```\n", "x.md")
    assert db.mypy_source(page) == "\n\nx = [1,\n     2]\nlen(x)\n"


# ---------------------------------------------------------------- the driver can fail
def _driver_on(text: str, tmp_path: Path, portal: Any) -> subprocess.CompletedProcess[str]:
    """Run the driver on a page given as text, in a fresh folder under tmp_path."""
    work = tmp_path / f"run{len(list(tmp_path.iterdir()))}"
    work.mkdir()
    page = work / "page.md"
    page.write_text(textwrap.dedent(text), encoding="utf-8")
    return _run_driver(page, "docs/sample.md", work, portal)


def test_driver_shares_one_namespace_and_names_the_failing_line(tmp_path: Path, docs_portal: Any) -> None:
    res = _driver_on("""\
        ```python
        import os
        from b24hook import B24Hook
        b24 = B24Hook.from_webhook_url(os.environ["B24_WEBHOOK_URL"])
        ```
        Then:
        ```python
        assert b24.actions.v2.call.make(method="profile").is_success
        b24.close()
        b24.actions.v2.call.make(method="profile")
        ```
        ```python
        raise SystemExit("never reached")
        ```
        """, tmp_path, docs_portal)
    assert res.returncode == 1, res.stderr
    assert "docblocks: ok docs/sample.md:1 (python)" in res.stderr
    assert 'File "docs/sample.md", line 10' in res.stderr
    assert "b24.actions.v2.call.make(method=\"profile\")" in res.stderr  # the source line is shown
    assert "FAILED docs/sample.md:7" in res.stderr
    assert "never reached" not in res.stderr


def test_driver_runs_pycon_in_the_page_namespace(tmp_path: Path, docs_portal: Any) -> None:
    page = """\
        ```python
        n = 41
        ```
        ```pycon
        >>> n + 1
        42
        >>> "x" * 30
        'xxx...'
        ```
        """
    assert _driver_on(page, tmp_path, docs_portal).returncode == 0
    res = _driver_on(page.replace("42", "43"), tmp_path, docs_portal)
    assert res.returncode == 1 and "FAILED docs/sample.md:4: doctest failed" in res.stderr
    assert "Expected:\n    43\nGot:\n    42" in res.stderr, res.stderr


def test_driver_runs_commands_and_compares_output(tmp_path: Path, docs_portal: Any) -> None:
    good = _driver_on("""\
        ```console
        $ python -m b24hook.emulator --help | head -n 2
        usage: python -m b24hook.emulator [-h] ...
        ...
        $ make this-is-never-run
        ```
        """, tmp_path, docs_portal)
    assert good.returncode == 0, good.stderr
    bad = _driver_on("""\
        ```console
        $ python -m b24hook.emulator --help | head -n 1
        usage: b24hook-emulator [-h]
        ```
        """, tmp_path, docs_portal)
    assert bad.returncode == 1
    assert "docs/sample.md:2: output differs from the page" in bad.stderr
    failing = _driver_on("""\
        ```sh
        python -m b24hook.emulator --no-such-option
        ```
        """, tmp_path, docs_portal)
    assert "docs/sample.md:2: exit status 2" in failing.stderr


def test_driver_waits_for_a_servers_banner_then_interrupts_it(tmp_path: Path, docs_portal: Any) -> None:
    res = _driver_on("""\
        <!-- docs: server -->
        ```console
        $ python -m b24hook.emulator --seed-demo 10
        Bitrix24 emulator portal at https://127.0.0.1:…
        …
        CA certificate: …/ca.pem
        stats: https://127.0.0.1:…/_emulator/stats   (Ctrl-C to stop)
        ```
        """, tmp_path, docs_portal)
    assert res.returncode == 0, res.stderr
    assert "docblocks: ok docs/sample.md:2 (console, server)" in res.stderr


def test_driver_runs_a_pytest_block_with_the_plugin(tmp_path: Path, docs_portal: Any) -> None:
    res = _driver_on("""\
        <!-- docs: pytest -->
        ```python
        def test_ok(b24_hook):
            assert b24_hook.actions.v2.call.make(method="profile").is_success

        def test_fails(b24_portal):
            b24_portal.assert_called("crm.deal.add", times=1)
        ```
        """, tmp_path, docs_portal)
    assert res.returncode == 1
    assert "1 failed, 1 passed" in res.stderr and "docs/sample.md:7" in res.stderr, res.stderr


def test_a_stuck_page_is_stopped_and_reported(tmp_path: Path, docs_portal: Any,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.modules[__name__], "PAGE_TIMEOUT", 3.0)
    with pytest.raises(pytest.fail.Exception, match="still running after 3 s") as info:
        _driver_on("""\
            ```python
            print("first")
            ```
            ```python
            import time
            time.sleep(60)
            ```
            """, tmp_path, docs_portal)
    assert "docblocks: ok docs/sample.md:1 (python)" in str(info.value)
