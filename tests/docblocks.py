"""The code blocks of README.md and docs/**/*.md, extracted and run (issue 14 item 4).

Used two ways:

* imported by tests/test_docblocks.py, which finds the pages (:func:`pages`),
  parses them (:func:`parse_page`), runs each page in a subprocess against an
  emulator portal and type-checks its Python blocks (:func:`mypy_source`);
* run as a script, ``python tests/docblocks.py PAGE``: the driver that
  subprocess executes.  It runs the page's blocks in order, in the current
  directory (a fresh temporary one), with ``B24_WEBHOOK_URL`` and
  ``B24HOOK_CA_BUNDLE`` already in its environment:

  - ``python`` blocks: ``exec`` in one namespace shared by the page (like a
    doctest), compiled with the page as file name and the block at its own
    line numbers, so a traceback reads ``File "docs/export.md", line 12``;
  - ``pycon`` blocks (``>>>`` prompts): the same namespace, through doctest
    (ELLIPSIS, NORMALIZE_WHITESPACE);
  - a block marked ``<!-- docs: pytest -->``: a pytest module, written to a
    file and run with ``python -m pytest`` (the b24hook plugin is active);
  - ``sh``/``bash``/``shell`` blocks: each command line that runs b24hook
    (``b24hook ...``, ``python -m b24hook...``) is run by bash; other lines
    (``make``, ``pip``, ``apt-get``, ``pytest``, ``export ...``) are not;
  - ``console`` blocks: ``$ command`` lines as above, the lines after one are
    its expected output (stdout and stderr as a terminal shows them), matched
    line by line; ``...`` or ``…`` inside a line matches any text, a line
    that is only ``...``/``…`` matches any number of lines.  A block marked
    ``<!-- docs: server -->`` starts a command that runs until Ctrl-C: the
    driver waits for the output shown, then sends SIGINT.

  Other languages (``json``, ``text``, ``js``...) are shown, not run.  A
  block that cannot run is marked ``<!-- docs: no-run (reason) -->`` on the
  line before its fence (blank lines between are allowed).
"""
from __future__ import annotations

import dataclasses
import doctest
import linecache
import os
import re
import selectors
import shlex
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Iterator

PYTHON = frozenset({"python", "py", "python3"})
PYCON = frozenset({"pycon"})
SHELL = frozenset({"sh", "bash", "shell", "zsh"})
CONSOLE = frozenset({"console", "shell-session"})
#: Languages shown and never run (data, output, other languages' code).
SHOWN = frozenset({
    "text", "txt", "output", "json", "jsonl", "json5", "yaml", "yml", "toml", "ini", "cfg", "csv",
    "tsv", "xml", "html", "css", "http", "diff", "js", "javascript", "ts", "typescript", "php",
    "c", "h", "make", "makefile", "dockerfile", "mermaid", "sql", "nginx", "jinja", "md", "markdown",
})
KNOWN_LANGS = PYTHON | PYCON | SHELL | CONSOLE | SHOWN
#: ``<!-- docs: KIND -->`` / ``<!-- docs: KIND (reason) -->``.
DIRECTIVES = frozenset({"no-run", "pytest", "server"})

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`]*?)[ \t]*$")
_MARKER = re.compile(r"^\s*<!--\s*docs:\s*(?P<kind>[\w-]+)\s*(?:\((?P<reason>.*)\))?\s*-->\s*$")
_ANY_MARKER = re.compile(r"^\s*<!--\s*docs:")
_ELLIPSIS = re.compile(r"\.\.\.|…")

#: Seconds a shell command may take (a server: until its output appears).
COMMAND_TIMEOUT = 120.0
#: Seconds a server has to exit after SIGINT.
SERVER_STOP_TIMEOUT = 15.0


@dataclasses.dataclass(frozen=True)
class Block:
    """One fenced block of a Markdown page."""

    page: str          #: path relative to the repository root, e.g. ``docs/export.md``
    fence_line: int    #: 1-based line of the opening fence
    lang: str          #: first word of the info string, lower case ("" when none)
    code: str          #: the block's text, the fence's indentation removed
    directive: str | None = None  #: the ``<!-- docs: ... -->`` kind before it, if any
    reason: str | None = None     #: the marker's reason

    @property
    def line(self) -> int:
        """1-based line of the block's first code line."""
        return self.fence_line + 1

    @property
    def where(self) -> str:
        return f"{self.page}:{self.fence_line}"

    @property
    def runs(self) -> bool:
        """Whether the driver executes anything of this block."""
        if self.directive == "no-run":
            return False
        if self.lang in PYTHON or self.lang in PYCON:
            return True
        if self.lang in SHELL or self.lang in CONSOLE:
            return any(c.runs for c in shell_commands(self))
        return False


@dataclasses.dataclass(frozen=True)
class Marker:
    """A ``<!-- docs: ... -->`` comment and the block it belongs to."""

    page: str
    line: int
    text: str
    kind: str | None
    reason: str | None
    block_line: int | None  #: fence line of the block it precedes (None: stray)


@dataclasses.dataclass(frozen=True)
class Command:
    """One command of a shell block."""

    line: int                 #: 1-based line in the page
    text: str                 #: the command, continuation lines joined
    expected: tuple[str, ...] | None = None  #: console blocks: the output shown

    @property
    def runs(self) -> bool:
        return runs_b24hook(self.text)


@dataclasses.dataclass
class Page:
    path: str
    blocks: list[Block]
    markers: list[Marker]


# ---------------------------------------------------------------- discovery
def pages(root: Path) -> list[Path]:
    """README.md and every docs/**/*.md, sorted: new pages are picked up as
    soon as they exist."""
    found = [root / "README.md"] if (root / "README.md").is_file() else []
    docs = root / "docs"
    if docs.is_dir():
        found += sorted(p for p in docs.rglob("*.md") if p.is_file())
    return found


def parse_page(path: Path, root: Path | None = None) -> Page:
    rel = str(path.relative_to(root)) if root is not None else str(path)
    return parse_markdown(path.read_text(encoding="utf-8"), rel)


def fence_language(info: str) -> str:
    """The language of an info string: ``python``, ``python title="a.py"``,
    ``{ .python .annotate }`` (attribute lists, as MkDocs Material writes)."""
    info = info.strip()
    if info.startswith("{"):
        m = re.search(r"\.([\w+-]+)", info)
        return m.group(1).lower() if m else ""
    return info.split()[0].split("{")[0].lower() if info else ""


def parse_markdown(text: str, page: str) -> Page:
    """The fenced blocks (CommonMark: ``` or ~~~, three or more, closed by
    a fence of the same character at least as long) and docs markers."""
    lines = text.splitlines()
    blocks: list[Block] = []
    markers: list[Marker] = []
    pending: Marker | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        m = _FENCE.match(line)
        if m is None:
            if _ANY_MARKER.search(line):
                if pending is not None:
                    markers.append(pending)
                mm = _MARKER.match(line)
                pending = Marker(page, i + 1, line.strip(), mm["kind"] if mm else None,
                                 (mm["reason"] or "").strip() or None if mm else None, None)
            elif line.strip() and pending is not None:
                markers.append(pending)  # text between the marker and a fence: stray
                pending = None
            i += 1
            continue
        indent, fence, info = m["indent"], m["fence"], m["info"]
        lang = fence_language(info)
        body: list[str] = []
        j = i + 1
        close = re.compile(r"^[ \t]*" + re.escape(fence[0]) + "{" + str(len(fence)) + r",}[ \t]*$")
        while j < len(lines) and not close.match(lines[j]):
            body.append(lines[j][len(indent):] if lines[j].startswith(indent) else lines[j].lstrip())
            j += 1
        directive = reason = None
        if pending is not None:
            directive, reason = pending.kind, pending.reason
            markers.append(dataclasses.replace(pending, block_line=i + 1))
            pending = None
        blocks.append(Block(page, i + 1, lang, "\n".join(body) + ("\n" if body else ""),
                            directive, reason))
        i = j + 1
    if pending is not None:
        markers.append(pending)
    return Page(page, blocks, markers)


# ---------------------------------------------------------------- shell
_PY = re.compile(r"^(?:.*/)?python(?:3(?:\.\d+)?)?$")
_ASSIGN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def runs_b24hook(command: str) -> bool:
    """True for a command line that invokes b24hook: ``b24hook ...`` or
    ``python -m b24hook[.x] ...`` (after optional ``VAR=value`` prefixes)."""
    try:
        words = shlex.split(command, comments=True)
    except ValueError:
        return False
    while words and _ASSIGN.match(words[0]):
        words.pop(0)
    if not words:
        return False
    if os.path.basename(words[0]) == "b24hook":
        return True
    if _PY.match(words[0]) and len(words) >= 3 and words[1] == "-m":
        return words[2] == "b24hook" or words[2].startswith("b24hook.")
    return False


def shell_commands(block: Block) -> list[Command]:
    """The commands of a shell or console block, continuation lines joined."""
    out: list[Command] = []
    lines = block.code.splitlines()
    console = block.lang in CONSOLE
    i = 0
    while i < len(lines):
        raw = lines[i]
        start = block.line + i
        if console:
            if not raw.startswith("$ ") and raw.rstrip() != "$":
                i += 1  # output before any command: nothing to compare it with
                continue
            raw = raw[2:]
        elif not raw.strip() or raw.lstrip().startswith("#"):
            i += 1
            continue
        parts = [raw]
        while parts[-1].rstrip().endswith("\\") and i + 1 < len(lines):
            i += 1
            nxt = lines[i]
            parts.append(nxt[2:] if console and nxt.startswith("> ") else nxt)
        text = "\n".join(parts)
        i += 1
        expected: tuple[str, ...] | None = None
        if console:
            shown: list[str] = []
            while i < len(lines) and not lines[i].startswith("$ ") and lines[i].rstrip() != "$":
                shown.append(lines[i].rstrip())
                i += 1
            while shown and not shown[-1]:
                shown.pop()
            expected = tuple(shown)
        out.append(Command(start, text, expected))
    return out


def output_pattern(expected: tuple[str, ...]) -> re.Pattern[str]:
    """A regex over whole output (lines joined by newlines, each right-stripped):
    ``...``/``…`` in a line is any text, a line of only that is any lines."""
    parts: list[str] = []
    for line in expected:
        if _ELLIPSIS.fullmatch(line.strip()):
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            parts.append(".*?".join(re.escape(p) for p in _ELLIPSIS.split(line)) + r"\n")
    return re.compile("".join(parts))


def terminal_text(raw: str) -> str:
    """What a terminal would show: each line's text after its last carriage
    return (progress bars redraw), right-stripped, one newline after each."""
    shown = [ln.rsplit("\r", 1)[-1].rstrip() for ln in raw.replace("\r\n", "\n").split("\n")]
    while shown and not shown[-1]:
        shown.pop()
    return "".join(ln + "\n" for ln in shown)


# ---------------------------------------------------------------- mypy
def _python_lines(block: Block) -> list[tuple[int, str]]:
    """(page line, source line) of a python block, or of a pycon block's
    ``>>>``/``...`` examples (prompts removed, expected output left out)."""
    if block.lang in PYTHON:
        return [(block.line + i, ln) for i, ln in enumerate(block.code.splitlines())]
    out: list[tuple[int, str]] = []
    for ex in doctest.DocTestParser().get_examples(block.code):
        for i, ln in enumerate(ex.source.splitlines()):
            out.append((block.line + ex.lineno + i, ln))
    return out


def mypy_source(page: Page) -> str | None:
    """The page's Python (python and pycon blocks) at its own line numbers
    (blank lines between), so mypy's line numbers are the page's; None
    without any."""
    lines = [pair for b in page.blocks if b.lang in PYTHON or b.lang in PYCON
             for pair in _python_lines(b)]
    if not lines:
        return None
    out: list[str] = []
    for lineno, text in lines:
        while len(out) < lineno - 1:
            out.append("")
        out.append(text)
    return "\n".join(out) + "\n"


def padded(block: Block) -> str:
    return "\n" * (block.line - 1) + block.code


# ---------------------------------------------------------------- driver
class BlockFailed(Exception):
    pass


def _show(cmd: Command, proc_out: str, why: str) -> str:
    shown = "\n".join(cmd.expected or ())
    return (f"{why}\n--- command (line {cmd.line}) ---\n{cmd.text}\n"
            f"--- output ---\n{proc_out}" + (f"--- expected ---\n{shown}\n" if cmd.expected else ""))


def _run_command(block: Block, cmd: Command) -> None:
    server = block.directive == "server"
    # Unbuffered: a terminal would show a server's banner line by line.
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(["bash", "-c", cmd.text], stdout=subprocess.PIPE, env=env,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=server)
    assert proc.stdout is not None
    pattern = output_pattern(cmd.expected) if cmd.expected else None
    raw = b""
    deadline = time.monotonic() + COMMAND_TIMEOUT
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    matched_running = False
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BlockFailed(_show(cmd, terminal_text(raw.decode("utf-8", "replace")),
                                        f"{block.page}:{cmd.line}: still running after "
                                        f"{COMMAND_TIMEOUT:.0f} s"))
            if not sel.select(timeout=min(left, 0.5)):
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            raw += chunk
            if server and pattern is not None and pattern.fullmatch(
                    terminal_text(raw.decode("utf-8", "replace"))):
                matched_running = True
                break
    finally:
        sel.close()
        if server and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(SERVER_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                raise BlockFailed(f"{block.page}:{cmd.line}: did not stop within "
                                  f"{SERVER_STOP_TIMEOUT:.0f} s of SIGINT") from None
        elif proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()
    text = terminal_text(raw.decode("utf-8", "replace"))
    if server:
        if not matched_running:
            raise BlockFailed(_show(cmd, text, f"{block.page}:{cmd.line}: the server ended "
                                    f"(status {proc.returncode}) before printing what the page shows"))
        return
    if proc.returncode != 0:
        raise BlockFailed(_show(cmd, text, f"{block.page}:{cmd.line}: exit status {proc.returncode}"))
    if pattern is not None and not pattern.fullmatch(text):
        raise BlockFailed(_show(cmd, text, f"{block.page}:{cmd.line}: output differs from the page"))


def _run_python(block: Block, ns: dict[str, Any]) -> None:
    source = padded(block)
    linecache.cache[block.page] = (len(source), None, source.splitlines(True), block.page)
    try:
        exec(compile(source, block.page, "exec"), ns)
    except BaseException as exc:  # noqa: BLE001 - reported with the page's line
        if isinstance(exc, KeyboardInterrupt):
            raise
        # From the page's own frame on: the driver's exec frame says nothing.
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__.tb_next
                                                if exc.__traceback__ else None))
        raise BlockFailed(f"{block.where}: the block raised\n{tb}") from None


def _run_pycon(block: Block, ns: dict[str, Any]) -> None:
    parser = doctest.DocTestParser()
    test = parser.get_doctest(block.code, ns, block.page, block.page, block.line - 1)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report: list[str] = []
    runner.run(test, out=report.append, clear_globs=False)
    if runner.failures:
        raise BlockFailed(f"{block.where}: doctest failed\n" + "".join(report))


def _run_pytest(block: Block, n: int) -> None:
    name = f"test_docblock_{n}_{re.sub(r'[^A-Za-z0-9]+', '_', block.page)}.py"
    Path(name).write_text(padded(block), encoding="utf-8")
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", name],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         timeout=COMMAND_TIMEOUT, text=True)
    if res.returncode != 0:
        out = res.stdout.replace(name, block.page)
        raise BlockFailed(f"{block.where}: the pytest block failed (status {res.returncode})\n{out}")


def run_page(page: Page) -> Iterator[str]:
    """Run the page's blocks in order; yields a line per block run, raises
    :class:`BlockFailed` naming the page and line of the first failure."""
    ns: dict[str, Any] = {"__name__": "__main__", "__builtins__": __builtins__}
    for n, block in enumerate(page.blocks):
        if not block.runs:
            continue
        if block.directive == "pytest":
            _run_pytest(block, n)
        elif block.lang in PYTHON:
            _run_python(block, ns)
        elif block.lang in PYCON:
            _run_pycon(block, ns)
        else:
            for cmd in shell_commands(block):
                if cmd.runs:
                    _run_command(block, cmd)
        yield f"docblocks: ok {block.where} ({block.lang}{', ' + block.directive if block.directive else ''})"


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python tests/docblocks.py PAGE.md", file=sys.stderr)
        return 2
    # The script's own folder (tests/) must not shadow what a page imports.
    if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
        del sys.path[0]
    page = parse_markdown(Path(argv[1]).read_text(encoding="utf-8"),
                          os.environ.get("DOCBLOCKS_PAGE_NAME", argv[1]))
    try:
        for line in run_page(page):
            print(line, file=sys.stderr, flush=True)
    except BlockFailed as exc:
        print(f"docblocks: FAILED {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
