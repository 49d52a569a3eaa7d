"""The ``b24hook`` console script (docs/cli.md).

Commands: ``call``, ``list``, ``export``, ``batch``, ``ping``, ``health`` and
``emulator``. The webhook comes from ``--webhook`` or ``B24_WEBHOOK_URL`` and is
never printed; errors are one line on stderr and an exit code per class
(:class:`ExitCode`). Also runnable as ``python -m b24hook``.

Parameters are given as ``key=value`` (a string), ``key:=json`` (a JSON value)
with PHP-style nested keys (``filter[>ID]:=5``, ``select[]=ID``), and/or a
whole JSON object with ``--params-json``.
"""
from __future__ import annotations

import contextlib
import copy
import csv
import enum
import importlib
import json
import logging
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any, Callable, Iterator, Mapping, NoReturn, Sequence, TypeVar

import click

from . import _core
from ._errors import SdkError
from ._hook import B24Hook
from ._params import ParamsFactory
from ._result import AjaxResult, Result

__all__ = ["ExitCode", "CliError", "main", "parse_params", "exit_code_for", "cli"]

ENV_WEBHOOK = "B24_WEBHOOK_URL"
ENV_CA_BUNDLE = "B24HOOK_CA_BUNDLE"
ENV_SHARED = "B24HOOK_SHARED"
PROG = "b24hook"

F = TypeVar("F", bound=Callable[..., Any])


class ExitCode(enum.IntEnum):
    """Exit status of the ``b24hook`` command, one per class of failure."""

    OK = 0
    ERROR = 1          #: anything else (an output file that cannot be written, a bug)
    USAGE = 2          #: bad command line, bad parameters, no or malformed webhook URL
    AUTH = 3           #: the portal refused the credentials or the scope
    LIMIT = 4          #: a portal limit: QUERY_LIMIT_EXCEEDED, OPERATION_TIME_LIMIT, OVERLOAD_LIMIT
    NETWORK = 5        #: no REST answer: DNS, connect, TLS, timeout, reset, a non-JSON gateway page
    PORTAL = 6         #: the portal answered with an error (unknown method, not found, ...)
    INTERRUPTED = 130  #: Ctrl-C


_LABELS = {
    ExitCode.ERROR: "error",
    ExitCode.USAGE: "usage error",
    ExitCode.AUTH: "auth error",
    ExitCode.LIMIT: "limit error",
    ExitCode.NETWORK: "network error",
    ExitCode.PORTAL: "portal error",
    ExitCode.INTERRUPTED: "interrupted",
}

#: Error codes meaning "these credentials may not do this" (spec portal.md §4).
AUTH_CODES = frozenset({
    "INVALID_CREDENTIALS", "insufficient_scope", "NO_AUTH_FOUND", "expired_token",
    "invalid_token", "authorization_error", "user_access_error", "WRONG_AUTH_TYPE",
    "AUTHORIZE_ERROR", "METHOD_CONFIRM_WAITING", "METHOD_CONFIRM_DENIED", "ACCESS_DENIED",
    "BITRIX_REST_V3_EXCEPTION_INSUFFICIENTSCOPEEXCEPTION",
    "BITRIX_REST_V3_EXCEPTION_ACCESSDENIEDEXCEPTION",
})
#: The portal's limits (portal.md §5).
LIMIT_CODES = frozenset({"QUERY_LIMIT_EXCEEDED", "OPERATION_TIME_LIMIT", "OVERLOAD_LIMIT"})
#: No REST answer came back (results-and-errors.md, the client's transport codes).
NETWORK_CODES = frozenset({
    "NETWORK_ERROR", "REQUEST_TIMEOUT", "ERR_BAD_RESPONSE", "ERR_BAD_REQUEST",
    "ERROR_UNEXPECTED_ANSWER", "JSSDK_AXIOS_ERROR", "PORTAL_MOVED", "ERR_FR_TOO_MANY_REDIRECTS",
})
#: Refused by the client before anything was sent.
USAGE_CODES = frozenset({"JSSDK_INVALID_PARAMS", "JSSDK_BATCH_TOO_LARGE", "JSSDK_BATCH_EMPTY",
                         "JSSDK_INTERACTION_BATCH_ROW_FAIL"})


class CliError(Exception):
    """A failure the command reports as one line with its own exit code."""

    def __init__(self, message: str, code: ExitCode = ExitCode.ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def exit_code_for(exc: BaseException) -> ExitCode:
    """The exit-code class of an exception raised by the library."""
    if isinstance(exc, CliError):
        return exc.code
    if isinstance(exc, click.UsageError):
        return ExitCode.USAGE
    if isinstance(exc, SdkError):
        code = exc.code
        if code in LIMIT_CODES:
            return ExitCode.LIMIT
        if code in AUTH_CODES:
            return ExitCode.AUTH
        if code in NETWORK_CODES:
            return ExitCode.NETWORK
        if code in USAGE_CODES:
            return ExitCode.USAGE
        if exc.status == 401:
            return ExitCode.AUTH
        return ExitCode.PORTAL
    if isinstance(exc, ValueError):
        return ExitCode.USAGE  # the library's input checks (method name, URL, ...)
    if isinstance(exc, KeyboardInterrupt):
        return ExitCode.INTERRUPTED
    return ExitCode.ERROR


# ------------------------------------------------------------------ secrets
class _Secrets:
    """Every secret this process knows, to mask in anything it prints."""

    def __init__(self) -> None:
        self.values: set[str] = set()

    def add(self, secret: str) -> None:
        if secret:
            self.values.add(secret)

    def scrub(self, text: str) -> str:
        for secret in sorted(self.values, key=len, reverse=True):
            text = text.replace(secret, "***")
        return _core.scrub_secret(text)


_SECRETS = _Secrets()


def _error_line(exc: BaseException) -> str:
    code = exit_code_for(exc)
    label = _LABELS.get(code, "error")
    if isinstance(exc, SdkError):
        status = f" (HTTP {exc.status})" if exc.status else ""
        text = f"{exc.code}{status}: {exc.message}"
        cause = exc.original_error
        if code == ExitCode.NETWORK and cause is not None and str(cause):
            text += f" ({cause})"  # libcurl's reason (TLS, refused, DNS...), secret removed
    elif isinstance(exc, CliError):
        text = exc.message
    elif isinstance(exc, click.ClickException):
        text = exc.format_message()
        cmd = getattr(getattr(exc, "ctx", None), "command_path", None)
        if cmd:
            text += f" (see '{cmd} --help')"
    elif isinstance(exc, KeyboardInterrupt):
        text = "stopped by Ctrl-C"
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    line = " ".join(f"{PROG}: {label}: {text}".split())
    return _SECRETS.scrub(line)


def _fail(exc: BaseException) -> int:
    try:
        click.echo(_error_line(exc), err=True)
    except Exception:  # noqa: BLE001 - stderr gone: the exit code still tells
        pass
    return int(exit_code_for(exc))


class _ScrubbingFormatter(logging.Formatter):
    """The library never logs the secret; this masks it again, in case."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        context = getattr(record, "b24", None)
        if context:
            try:
                text += " " + json.dumps(context, ensure_ascii=False, default=str)
            except (TypeError, ValueError):
                text += f" {context!r}"
        return _SECRETS.scrub(text)


def _setup_logging(verbose: int) -> None:
    if verbose <= 0:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_ScrubbingFormatter("%(levelname)s %(name)s: %(message)s"))
    log = logging.getLogger("b24hook")
    log.addHandler(handler)
    log.setLevel(logging.INFO if verbose == 1 else logging.DEBUG)


# ------------------------------------------------------------------ params
def _split_pair(pair: str, pos: int) -> tuple[list[str], bool, str]:
    """``name[seg]...=value`` / ``name[seg]...:=json`` -> (path, is_json, text).

    Error messages name the argument's position and at most its key, never
    its value (a pasted webhook URL must not come back on the screen)."""
    i = 0
    n = len(pair)
    while i < n and pair[i] not in "[=":
        i += 1
    name = pair[:i]
    is_json = False
    if i < n and pair[i] == "=" and name.endswith(":"):
        name = name[:-1]
        is_json = True
    if not name or i >= n:
        raise CliError(f"parameter #{pos} is not key=value or key:=json", ExitCode.USAGE)
    path = [name]
    while i < n and pair[i] == "[":
        j = pair.find("]", i + 1)
        if j < 0:
            raise CliError(f"parameter #{pos} ({name!r}): unclosed '['", ExitCode.USAGE)
        path.append(pair[i + 1:j])
        i = j + 1
    if not is_json and pair.startswith(":=", i):
        is_json = True
        i += 2
    elif i < n and pair[i] == "=":
        i += 1
    else:
        raise CliError(f"parameter #{pos} ({name!r}): expected '=' or ':=' after the key",
                       ExitCode.USAGE)
    return path, is_json, pair[i:]


def _assign(root: dict[str, Any], path: list[str], value: Any, shown: str) -> None:
    node: Any = root
    for depth, seg in enumerate(path):
        last = depth == len(path) - 1
        nxt_is_list = not last and path[depth + 1] == ""
        if isinstance(node, list):
            # seg is "" (an append): node gets a new element
            if last:
                node.append(value)
                return
            child: Any = [] if nxt_is_list else {}
            node.append(child)
            node = child
            continue
        if seg == "":
            raise CliError(f"parameter {shown!r}: '[]' needs a list", ExitCode.USAGE)
        if last:
            if seg in node and isinstance(node[seg], (dict, list)) and isinstance(value, (dict, list)):
                node[seg] = _merge(node[seg], value)
            else:
                node[seg] = value
            return
        cur = node.get(seg)
        if cur is None:
            cur = [] if nxt_is_list else {}
            node[seg] = cur
        elif nxt_is_list and not isinstance(cur, list):
            raise CliError(f"parameter {shown!r}: {seg!r} is already set to a non-list", ExitCode.USAGE)
        elif not nxt_is_list and not isinstance(cur, dict):
            raise CliError(f"parameter {shown!r}: {seg!r} is already set to a non-object",
                           ExitCode.USAGE)
        node = cur


def _merge(base: Any, extra: Any) -> Any:
    """Deep merge of JSON-like values: objects key by key, anything else replaced."""
    if isinstance(base, dict) and isinstance(extra, dict):
        out = dict(base)
        for key, value in extra.items():
            out[key] = _merge(out[key], value) if key in out else value
        return out
    return extra


def parse_params(pairs: Sequence[str], base: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Build the params of a call from ``key=value`` / ``key:=json`` arguments.

    ``key=value`` sets a string, ``key:=json`` a JSON value (number, true,
    null, list, object, "string"); ``a[b][c]=v`` nests objects, ``a[]=v``
    appends to a list. The pairs are applied in order on top of ``base``
    (e.g. the object of ``--params-json``), objects merged key by key.

    >>> parse_params(["entityTypeId:=2", "select[]=id", "select[]=title", "filter[>id]:=5"])
    {'entityTypeId': 2, 'select': ['id', 'title'], 'filter': {'>id': 5}}
    """
    out: dict[str, Any] = copy.deepcopy(dict(base)) if base else {}
    for pos, pair in enumerate(pairs, 1):
        path, is_json, text = _split_pair(pair, pos)
        shown = pair[: len(pair) - len(text)] + ("…" if text else "")
        value: Any = text
        if is_json:
            try:
                value = json.loads(text)
            except json.JSONDecodeError as err:
                raise CliError(f"parameter {shown!r}: the value is not valid JSON ({err.msg})",
                               ExitCode.USAGE) from None
        _assign(out, path, value, shown)
    return out


def _read_source(spec: str, what: str) -> str:
    """The text of ``-`` (stdin), ``@FILE`` or the argument itself."""
    if spec == "-":
        return sys.stdin.read()
    if spec.startswith("@"):
        try:
            return Path(spec[1:]).read_text(encoding="utf-8")
        except OSError as err:
            raise CliError(f"{what}: cannot read {spec[1:]!r}: {err.strerror}", ExitCode.USAGE) from None
    return spec


def _params_json(spec: str | None) -> dict[str, Any] | None:
    if spec is None:
        return None
    text = _read_source(spec, "--params-json")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise CliError(f"--params-json is not valid JSON ({err.msg}, line {err.lineno})",
                       ExitCode.USAGE) from None
    if not isinstance(value, dict):
        raise CliError("--params-json must be a JSON object", ExitCode.USAGE)
    return value


# ------------------------------------------------------------------ client
class _Conn:
    """Connection options shared by every portal command."""

    def __init__(self, webhook: str | None, ca_bundle: str | None, timeout: float,
                 attempts: int, shared: str | None, verbose: int) -> None:
        self.webhook = webhook
        self.shared = shared
        if webhook:
            # known from the start, so that any text printed later is masked
            with contextlib.suppress(ValueError, TypeError):
                _SECRETS.add(_core.parse_webhook_url(webhook)[2])
        self.ca_bundle = ca_bundle
        self.timeout = timeout
        self.attempts = attempts
        self.verbose = verbose

    def hook(self) -> B24Hook:
        if not self.webhook:
            raise CliError(f"no webhook: set {ENV_WEBHOOK} or pass --webhook", ExitCode.USAGE)
        try:
            origin, user_id, secret = _core.parse_webhook_url(self.webhook)
        except ValueError as err:
            # the library's message never echoes the URL
            raise CliError(f"webhook URL: {err}", ExitCode.USAGE) from None
        _SECRETS.add(secret)
        params = ParamsFactory.get_default()
        params["max_retries"] = self.attempts
        params["shared"] = self.shared
        verify: bool | str = True
        if self.ca_bundle:
            if not os.path.isfile(self.ca_bundle):
                raise CliError(f"CA bundle {self.ca_bundle!r} is not a file", ExitCode.USAGE)
            verify = self.ca_bundle
        return B24Hook(origin, user_id, secret, restriction_params=params,
                       timeout=self.timeout, verify=verify)


def _connection_options(func: F) -> F:
    opts = [
        click.option("--webhook", metavar="URL", envvar=ENV_WEBHOOK, show_envvar=True,
                     help="Inbound webhook URL https://<portal>/rest/<user>/<secret>/ "
                          "(prefer the environment variable: a command line is visible to "
                          "other users of the machine). Never printed."),
        click.option("--ca-bundle", metavar="PATH", envvar=ENV_CA_BUNDLE, show_envvar=True,
                     help="Verify the portal's TLS certificate against this CA file "
                          "(the emulator prints its own). Default: the system CAs."),
        click.option("--timeout", type=click.FloatRange(min=0.001, max=86400), default=30.0,
                     show_default=True, metavar="SECONDS", help="Seconds for one HTTP exchange."),
        click.option("--attempts", type=click.IntRange(min=1, max=20), default=3, show_default=True,
                     metavar="N", help="Attempts per request (limit errors and network failures "
                                       "are retried with back-off; 1 = fail fast)."),
        click.option("--shared", metavar="host", envvar=ENV_SHARED, show_envvar=True,
                     default=None,
                     help="Share the portal's request budget with every b24hook process of "
                          "this machine (\"host\"; docs/workers.md), e.g. for parallel cron "
                          "jobs. Default: this process only."),
        click.option("-v", "--verbose", count=True,
                     help="Log the client's events on stderr (-v INFO, -vv DEBUG); "
                          "the secret is never logged."),
    ]
    for opt in reversed(opts):
        func = opt(func)
    return func


def _conn(webhook: str | None, ca_bundle: str | None, timeout: float, attempts: int,
          shared: str | None, verbose: int) -> _Conn:
    _setup_logging(verbose)
    return _Conn(webhook, ca_bundle, timeout, attempts, shared, verbose)


# ------------------------------------------------------------------ output
def _json_text(value: Any, pretty: bool) -> str:
    if pretty:
        return json.dumps(value, ensure_ascii=False, indent=2, default=str)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _is_tty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


@contextlib.contextmanager
def _output(path: str | None, binary: bool = False) -> Iterator[IO[Any]]:
    """stdout, or a file written next to ``path`` and renamed into place on
    success (a failed export leaves no partial file behind)."""
    if path is None or path == "-":
        yield sys.stdout.buffer if binary else sys.stdout
        if not binary:
            sys.stdout.flush()
        return
    target = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part",
                                   dir=str(target.parent) or ".")
    except OSError as err:
        raise CliError(f"cannot write {path!r}: {err.strerror}") from None
    ok = False
    try:
        if binary:
            fh: IO[Any] = os.fdopen(fd, "wb")
        else:
            fh = os.fdopen(fd, "w", encoding="utf-8", newline="")
        with fh:
            yield fh
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
        ok = True
    finally:
        if not ok:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class _Resumable:
    """``export --resume CHECKPOINT``: the rows go to ``FILE.part`` (kept when the run
    stops), and CHECKPOINT holds the export's token with the part's length after the
    rows that token covers. A rerun cuts the part back to that length and goes on
    from the token, so a run killed mid-write reads and writes each row once."""

    def __init__(self, checkpoint: str, output: str, fmt: str) -> None:
        self.path = checkpoint
        self.fmt = fmt
        self.target = Path(output)
        self.part = self.target.with_name(self.target.name + ".part")
        self.token: dict[str, Any] = {}
        self.size = 0
        self.rows = 0
        self.columns: list[str] | None = None
        try:
            with open(checkpoint, encoding="utf-8") as f:
                saved = json.load(f)
        except FileNotFoundError:
            return
        except (OSError, ValueError) as err:
            raise CliError(f"--resume: cannot read {checkpoint!r} ({err})", ExitCode.USAGE) from None
        try:
            self.token = dict(saved["export"])
            self.size, self.rows = int(saved["bytes"]), int(saved["rows"])
            columns = saved.get("columns")
            self.columns = [str(c) for c in columns] if columns is not None else None
        except (KeyError, TypeError, ValueError):
            raise CliError(f"--resume: {checkpoint!r} is not a checkpoint of this command",
                           ExitCode.USAGE) from None
        if saved.get("output") != str(self.target.resolve()):
            raise CliError(f"--resume: {checkpoint!r} belongs to the output "
                           f"{saved.get('output')!r}, not {output!r}", ExitCode.USAGE)
        if saved.get("format") != fmt:
            raise CliError(f"--resume: {checkpoint!r} was written as {saved.get('format')}, "
                           f"not {fmt}", ExitCode.USAGE)
        if not self.part.exists() or self.part.stat().st_size < self.size:
            raise CliError(f"--resume: {str(self.part)!r} is missing or shorter than the "
                           "checkpoint says; remove the checkpoint to start over", ExitCode.USAGE)

    @contextlib.contextmanager
    def open(self) -> Iterator[IO[str]]:
        """The part file, cut back to the checkpoint's length; renamed into place on success."""
        try:
            fh = open(self.part, "r+" if self.size else "w", encoding="utf-8", newline="")
        except OSError as err:
            raise CliError(f"cannot write {str(self.part)!r}: {err.strerror}") from None
        with fh:
            fh.truncate(self.size)
            fh.seek(self.size)
            yield fh
        # the checkpoint goes first: a kill between the two leaves a complete part file
        # that a rerun writes again from the start, never a checkpoint without its part
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.path)
        os.replace(self.part, self.target)

    def save(self, out: IO[str], writer: _RowWriter) -> None:
        """Record the part's length now, with the token of the rows written so far."""
        out.flush()
        os.fsync(out.fileno())
        cp = {"output": str(self.target.resolve()), "format": self.fmt, "bytes": out.tell(),
              "rows": self.rows + writer.rows, "export": self.token,
              "columns": getattr(writer, "columns", None)}
        tmp = self.path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(cp, f)
        os.replace(tmp, self.path)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


class _RowWriter:
    """Writes rows chunk by chunk; nothing is kept between chunks."""

    rows = 0

    def write(self, chunk: list[Any]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Finish the output (CSV/JSONL: nothing to do)."""


class _JsonlWriter(_RowWriter):
    def __init__(self, out: IO[str]) -> None:
        self.out = out

    def write(self, chunk: list[Any]) -> None:
        self.out.write("".join(json.dumps(row, ensure_ascii=False, separators=(",", ":"),
                                          default=str) + "\n" for row in chunk))
        self.out.flush()
        self.rows += len(chunk)


class _CsvWriter(_RowWriter):
    """CSV with a header taken from the first chunk's keys (in order of first
    appearance); nested values as JSON text, ``None`` as an empty cell. A key
    first seen in a later chunk is reported once on stderr and left out."""

    def __init__(self, out: IO[str], columns: list[str] | None = None) -> None:
        self.out = out
        self.writer = csv.writer(out)
        self.columns: list[str] | None = columns  # a resumed file has its header already
        self.dropped: set[str] = set()

    def write(self, chunk: list[Any]) -> None:
        if not chunk:
            return
        if self.columns is None:
            cols: dict[str, None] = {}
            for row in chunk:
                for key in (row if isinstance(row, dict) else {"value": None}):
                    cols.setdefault(str(key), None)
            self.columns = list(cols)
            self.writer.writerow(self.columns)
        columns = self.columns
        known = set(columns)
        for row in chunk:
            if not isinstance(row, dict):
                row = {"value": row}
            extra = row.keys() - known - self.dropped
            if extra:
                self.dropped |= {str(k) for k in extra}
                click.echo(f"{PROG}: warning: CSV columns are fixed by the first chunk; "
                           f"left out: {', '.join(sorted(map(str, extra)))}", err=True)
            self.writer.writerow([_cell(row.get(c)) for c in columns])
        self.out.flush()
        self.rows += len(chunk)


FORMATS = ("jsonl", "csv", "parquet")


def _check_format(fmt: str, output: str | None) -> None:
    """Refuse a format the command cannot write before anything is sent."""
    if fmt != "parquet":
        return
    if output is None or output == "-":
        raise CliError("--format parquet needs -o FILE (a Parquet file is not a stream)",
                       ExitCode.USAGE)
    try:
        importlib.import_module("pyarrow.parquet")
    except ImportError:
        raise CliError("--format parquet needs pyarrow: pip install 'b24hook[arrow]'",
                       ExitCode.USAGE) from None


def _parquet_schema(b24: B24Hook, method: str, params: Mapping[str, Any]) -> Any:
    """Column types from the method's ``*.fields`` answer (b24hook.frames);
    None, with a warning, when there is none (Arrow then infers the types)."""
    frames = importlib.import_module("b24hook.frames")
    try:
        return frames.schema_for(b24, method, params)
    except (SdkError, ValueError) as err:
        click.echo(_SECRETS.scrub(f"{PROG}: warning: no field types for {method} ({err}); "
                                  f"Parquet column types are inferred from the values"), err=True)
        return None


# ------------------------------------------------------------------ progress
class _Progress:
    """A progress bar on stderr: tqdm when installed, else a one-line counter.

    Called by the library as ``progress(fetched, total_or_None)``; the bar is
    created on the first call, when the total (an estimate for an export) is
    known."""

    def __init__(self, label: str, enabled: bool) -> None:
        self.label = label
        self.enabled = enabled
        self.bar: Any = None
        self.last = 0.0
        self.fetched = 0
        self.total: int | None = None
        self._tqdm: Any = None
        if enabled:
            try:
                self._tqdm = importlib.import_module("tqdm").tqdm
            except ImportError:
                self._tqdm = None

    def __call__(self, fetched: int, total: int | None) -> None:
        self.fetched, self.total = fetched, total
        if not self.enabled:
            return
        if self._tqdm is not None:
            if self.bar is None:
                self.bar = self._tqdm(desc=self.label, unit="rows", total=total, file=sys.stderr,
                                      dynamic_ncols=True)
            elif total is not None and self.bar.total != total:
                self.bar.total = total
            self.bar.update(fetched - self.bar.n)
            return
        now = time.monotonic()
        if now - self.last >= 0.2:
            self.last = now
            self._line(end="")

    def _line(self, end: str) -> None:
        of = f"/{self.total}" if self.total else ""
        sys.stderr.write(f"\r{self.label}: {self.fetched}{of} rows{end}")
        sys.stderr.flush()

    def close(self) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            if self.bar.total != self.fetched:
                self.bar.total = self.fetched
            self.bar.close()
            self.bar = None
        elif self._tqdm is None:
            self._line(end="\n")
        self.enabled = False


# ------------------------------------------------------------------ list shapes
#: (id_key, cursor_id_key, result key) of the v2 list methods whose shape is
#: not the classic one (rows in ``result``, id ``ID``).
V2_LIST_SHAPES: dict[str, tuple[str, str | None, str | None]] = {
    "crm.item.list": ("id", None, "items"),
    "tasks.task.list": ("id", "ID", "tasks"),
}


def _list_shape(method: str, v3: bool, id_key: str | None, cursor_id_key: str | None,
                result_key: str | None) -> tuple[str, str | None, str | None]:
    if v3:
        base: tuple[str, str | None, str | None] = ("id", None, "items")
    else:
        base = V2_LIST_SHAPES.get(method.lower(), ("ID", None, None))
    return (id_key or base[0], cursor_id_key if cursor_id_key is not None else base[1],
            result_key if result_key is not None else base[2])


# ------------------------------------------------------------------ commands
class _Group(click.Group):
    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_paragraph()
        formatter.write_text(
            "Exit codes: 0 ok, 1 other error, 2 usage, 3 auth, 4 limit, 5 network, "
            "6 portal error, 130 Ctrl-C. Documentation: docs/cli.md.")


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"],
                                           "max_content_width": 100})
@click.version_option(package_name="b24hook", prog_name=PROG, message="%(prog)s %(version)s")
def cli() -> None:
    """Call a Bitrix24 portal through its inbound webhook: methods, lists,
    exports, batches.

    The webhook URL comes from B24_WEBHOOK_URL (or --webhook) and is never
    printed. Parameters: key=value (string), key:=json (JSON value), nested
    keys filter[>ID]:=5, lists select[]=ID, or --params-json '{...}'.
    """


_params_arg = click.argument("params", nargs=-1, metavar="[KEY=VALUE | KEY:=JSON]...")
_params_json_opt = click.option(
    "--params-json", metavar="JSON|@FILE|-",
    help="The params as one JSON object (text, @file or - for stdin); KEY=VALUE pairs "
         "are applied on top.")
_pretty_opt = click.option("--pretty/--compact", default=None,
                           help="Indented JSON (default when stdout is a terminal) or one line.")
_out_opt = click.option("-o", "--output", metavar="FILE",
                        help="Write to FILE (replaced only when the command succeeds) "
                             "instead of stdout.")


@cli.command("call")
@click.argument("method")
@_params_arg
@_params_json_opt
@click.option("--v3", "v3", is_flag=True, help="Use REST 3.0 (/rest/api/...).")
@click.option("--envelope", is_flag=True,
              help="Print the whole answer (result, time, total, next), not only result.")
@_pretty_opt
@_out_opt
@_connection_options
def call_cmd(method: str, params: tuple[str, ...], params_json: str | None, v3: bool,
             envelope: bool, pretty: bool | None, output: str | None, webhook: str | None,
             ca_bundle: str | None, timeout: float, attempts: int, shared: str | None,
             verbose: int) -> int:
    """Call one METHOD and print its result as JSON.

    \b
    b24hook call server.time
    b24hook call crm.deal.get ID=42
    b24hook call crm.deal.add 'fields[TITLE]=New deal' 'fields[OPPORTUNITY]:=1500'
    b24hook call tasks.task.get id:=1 --v3
    """
    conn = _conn(webhook, ca_bundle, timeout, attempts, shared, verbose)
    body = parse_params(params, _params_json(params_json))
    with conn.hook() as b24:
        actions = b24.actions.v3 if v3 else b24.actions.v2
        res = actions.call.make(method, body)
        _raise_failed(res)
        data = res.get_data()
    value: Any = data
    if not envelope and isinstance(data, dict) and "result" in data:
        value = data["result"]
    with _output(output) as out:
        use_pretty = pretty if pretty is not None else (output is None and _is_tty(sys.stdout))
        out.write(_json_text(value, use_pretty) + "\n")
    return ExitCode.OK


def _raise_failed(res: Result[Any]) -> None:
    """Raise the first error of a failed (not raised) result."""
    if res.is_success:
        return
    for err in res.get_errors():
        if isinstance(err, SdkError):
            raise err
        raise CliError(str(err), ExitCode.PORTAL)
    raise CliError("the call failed", ExitCode.PORTAL)


def _rows_options(func: F) -> F:
    opts = [
        _params_arg,
        _params_json_opt,
        click.option("--select", "select", multiple=True, metavar="FIELDS",
                     help="Fields to return, comma separated (repeatable); same as select[]=F."),
        click.option("-f", "--format", "fmt", type=click.Choice(FORMATS), default="jsonl",
                     show_default=True, help="Output format; parquet (typed columns from the method's *.fields, "
                          "needs -o and pyarrow)."),
        _out_opt,
        click.option("--id-key", metavar="KEY",
                     help="Row id field (default: ID; id for crm.item.list, tasks.task.list, v3)."),
        click.option("--cursor-id-key", metavar="KEY",
                     help="Filter/order field of the id if it differs (tasks.task.list: ID)."),
        click.option("--result-key", metavar="KEY",
                     help="Key of the rows inside result (crm.item.list: items, "
                          "tasks.task.list: tasks, v3: items)."),
        click.option("--progress/--no-progress", default=None,
                     help="A progress bar on stderr (default: when stderr is a terminal)."),
    ]
    for opt in reversed(opts):
        func = opt(func)
    return func


def _rows_params(params: tuple[str, ...], params_json: str | None,
                 select: tuple[str, ...]) -> dict[str, Any]:
    body = parse_params(params, _params_json(params_json))
    fields = [f.strip() for s in select for f in s.split(",") if f.strip()]
    if fields:
        have = body.get("select")
        if have is not None and not isinstance(have, list):
            raise CliError("--select and a select parameter that is not a list", ExitCode.USAGE)
        body["select"] = list(have or []) + fields
    return body


def _write_rows(chunks: Iterator[list[Any]], fmt: str, output: str | None, progress: _Progress,
                label: str, b24: B24Hook, method: str, params: Mapping[str, Any],
                resume: _Resumable | None = None) -> int:
    """Stream every chunk into the output; the number of rows written."""
    try:
        if resume is not None:
            with resume.open() as out:
                writer: _RowWriter = (_CsvWriter(out, resume.columns) if fmt == "csv"
                                      else _JsonlWriter(out))
                for chunk in chunks:
                    # the token now covers every chunk before this one: those are in the file
                    resume.save(out, writer)
                    writer.write(chunk)
                writer.close()
                rows = resume.rows + writer.rows
        elif fmt == "parquet":
            frames = importlib.import_module("b24hook.frames")
            schema = _parquet_schema(b24, method, params)
            with _output(output, binary=True) as fh:
                rows = int(frames.write_parquet(chunks, fh, schema=schema))
        else:
            with _output(output) as out:
                writer = _CsvWriter(out) if fmt == "csv" else _JsonlWriter(out)
                for chunk in chunks:
                    writer.write(chunk)
                writer.close()
                rows = writer.rows
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()  # an export's shard threads stop now, not at garbage collection
        progress.close()
    if output not in (None, "-"):
        click.echo(f"{PROG}: {rows} rows written to {output} ({label})", err=True)
    return rows


@cli.command("list")
@click.argument("method")
@_rows_options
@click.option("--v3", "v3", is_flag=True, help="Use REST 3.0 (pages of --limit rows).")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True,
              help="Page size on REST 3.0.")
@_connection_options
def list_cmd(method: str, params: tuple[str, ...], params_json: str | None,
             select: tuple[str, ...], fmt: str, output: str | None, id_key: str | None,
             cursor_id_key: str | None, result_key: str | None, progress: bool | None,
             v3: bool, limit: int, webhook: str | None, ca_bundle: str | None, timeout: float,
             attempts: int, shared: str | None, verbose: int) -> int:
    """Every row of a list METHOD, one page per request (keyset by id), as
    JSON Lines (default), CSV or Parquet.

    \b
    b24hook list crm.contact.list --select ID,NAME,LAST_NAME
    b24hook list crm.item.list entityTypeId:=2 --select id,title --format csv
    b24hook list tasks.task.list --v3 --select id,title
    """
    conn = _conn(webhook, ca_bundle, timeout, attempts, shared, verbose)
    body = _rows_params(params, params_json, select)
    _check_format(fmt, output)
    ikey, ckey, rkey = _list_shape(method, v3, id_key, cursor_id_key, result_key)
    prog = _Progress(method, progress if progress is not None else _is_tty(sys.stderr))
    with conn.hook() as b24:
        if v3:
            chunks = b24.actions.v3.fetch_list.make(
                method, body, id_key=ikey, cursor_id_key=ckey,
                custom_key_for_result=rkey or "items", limit=limit, progress=prog)
        else:
            chunks = b24.actions.v2.fetch_list.make(
                method, body, id_key=ikey, cursor_id_key=ckey,
                custom_key_for_result=rkey, progress=prog)
        _write_rows(chunks, fmt, output, prog, "list", b24, method, body)
    return ExitCode.OK


@cli.command("export")
@click.argument("method")
@_rows_options
@click.option("--shards", type=click.IntRange(1, 250), default=None,
              help="At most this many requests at once (default: the planner's choice; "
                   "1 = one ascending stream).")
@click.option("--resume", "resume", metavar="CHECKPOINT", default=None,
              help="Resumable: keep a checkpoint in this file and the rows in FILE.part; "
                   "after Ctrl-C or a crash, the same command goes on where it stopped "
                   "(needs -o FILE, JSON Lines or CSV).")
@_connection_options
def export_cmd(method: str, params: tuple[str, ...], params_json: str | None,
               select: tuple[str, ...], fmt: str, output: str | None, id_key: str | None,
               cursor_id_key: str | None, result_key: str | None, progress: bool | None,
               shards: int | None, resume: str | None, webhook: str | None,
               ca_bundle: str | None, timeout: float, attempts: int, shared: str | None,
               verbose: int) -> int:
    """Export a whole table fast: up to 2,500 rows per request (chained
    batches, docs/export.md), written chunk by chunk, with a progress bar
    on stderr.

    \b
    b24hook export crm.deal.list --select ID,TITLE,OPPORTUNITY --format csv -o deals.csv
    b24hook export crm.item.list entityTypeId:=2 --select id,title > deals.jsonl
    b24hook export crm.contact.list -o contacts.jsonl --resume contacts.ckpt
    """
    conn = _conn(webhook, ca_bundle, timeout, attempts, shared, verbose)
    body = _rows_params(params, params_json, select)
    _check_format(fmt, output)
    store: _Resumable | None = None
    if resume is not None:
        if output is None or output == "-" or fmt == "parquet":
            raise CliError("--resume needs -o FILE in JSON Lines or CSV (a stream or a "
                           "Parquet file cannot be continued)", ExitCode.USAGE)
        store = _Resumable(resume, output, fmt)
    ikey, ckey, rkey = _list_shape(method, False, id_key, cursor_id_key, result_key)
    prog = _Progress(f"export {method}", progress if progress is not None else _is_tty(sys.stderr))
    with conn.hook() as b24:
        chunks = b24.actions.v2.fetch_list.make(
            method, body, id_key=ikey, cursor_id_key=ckey, custom_key_for_result=rkey,
            progress=prog, fast=True, shards=shards,
            resume=store.token if store is not None else None)
        label = f"export, resumed after {store.rows}" if store is not None and store.size else "export"
        _write_rows(chunks, fmt, output, prog, label, b24, method, body, store)
    return ExitCode.OK


# ------------------------------------------------------------------ batch
def _load_commands(file: str) -> Any:
    text = _read_source(file if file == "-" else "@" + file, "batch")
    yaml_file = file.lower().endswith((".yaml", ".yml"))
    if not yaml_file:
        try:
            return json.loads(text)
        except json.JSONDecodeError as err:
            if file.lower().endswith(".json"):
                raise CliError(f"{file}: not valid JSON ({err.msg}, line {err.lineno})",
                               ExitCode.USAGE) from None
    try:
        yaml = importlib.import_module("yaml")
    except ImportError:
        raise CliError("YAML batch files need PyYAML: pip install 'b24hook[yaml]' "
                       "(or write the file as JSON)", ExitCode.USAGE) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        line = f", line {where.line + 1}" if where is not None else ""
        raise CliError(f"{file}: not valid YAML or JSON{line}", ExitCode.USAGE) from None


def _command_row(cmd: Any, where: str) -> Any:
    """A command of the file as the library takes it."""
    if isinstance(cmd, str):
        return [cmd, {}]
    if isinstance(cmd, list) and 1 <= len(cmd) <= 2 and isinstance(cmd[0], str):
        return cmd
    if isinstance(cmd, dict) and isinstance(cmd.get("method"), str):
        return cmd
    raise CliError(f"batch command {where}: expected \"method\", [method, params] or "
                   f"{{method: ..., params: ...}}", ExitCode.USAGE)


def _parse_batch(doc: Any) -> tuple[Any, bool | None]:
    """(commands as a list or a name -> command dict, halt from the file)."""
    halt: bool | None = None
    if isinstance(doc, dict) and "cmd" in doc and set(doc) <= {"cmd", "halt"}:
        if "halt" in doc:
            if not isinstance(doc["halt"], bool):
                raise CliError("batch: 'halt' must be true or false", ExitCode.USAGE)
            halt = doc["halt"]
        doc = doc["cmd"]
    if isinstance(doc, list):
        cmds: Any = [_command_row(c, f"#{i}") for i, c in enumerate(doc)]
    elif isinstance(doc, dict):
        cmds = {str(k): _command_row(v, repr(str(k))) for k, v in doc.items()}
    else:
        raise CliError("batch: the file must hold a list of commands, a map name -> command, "
                       "or {cmd: ..., halt: ...}", ExitCode.USAGE)
    if not cmds:
        raise CliError("batch: no commands", ExitCode.USAGE)
    return cmds, halt


def _chunks(cmds: Any, size: int) -> Iterator[Any]:
    if isinstance(cmds, dict):
        items = list(cmds.items())
        for i in range(0, len(items), size):
            yield dict(items[i:i + size])
    else:
        for i in range(0, len(cmds), size):
            yield cmds[i:i + size]


@cli.command("batch")
@click.argument("file", metavar="FILE")
@click.option("--v3", "v3", is_flag=True, help="A REST 3.0 batch (all or nothing).")
@click.option("--halt/--no-halt", default=None,
              help="Stop at the first failing command (default: the file's 'halt', else halt).")
@_pretty_opt
@_out_opt
@_connection_options
def batch_cmd(file: str, v3: bool, halt: bool | None, pretty: bool | None, output: str | None,
              webhook: str | None, ca_bundle: str | None, timeout: float, attempts: int,
              shared: str | None, verbose: int) -> int:
    """Run the commands of FILE (JSON or YAML; - for stdin) as batches of 50
    and print their results as JSON.

    \b
    FILE holds a list of commands, a map name -> command, or
    {"halt": false, "cmd": <list or map>}; a command is "method",
    [method, params] or {method: ..., params: ...}. Later commands can
    use $result[name][...] of earlier ones in the same 50.
    Output: the results in the file's shape (null for a failed command);
    each failure is one line on stderr and the exit code is that of the
    first failure.
    """
    conn = _conn(webhook, ca_bundle, timeout, attempts, shared, verbose)
    cmds, file_halt = _parse_batch(_load_commands(file))
    is_halt = halt if halt is not None else (file_halt if file_halt is not None else True)
    named = isinstance(cmds, dict)
    out_map: dict[str, Any] = {}
    out_list: list[Any] = []
    failures: list[tuple[str, BaseException]] = []
    with conn.hook() as b24:
        actions = b24.actions.v3 if v3 else b24.actions.v2
        offset = 0
        for chunk in _chunks(cmds, B24Hook.batch_size):
            res = actions.batch.make(chunk, is_halt_on_error=is_halt, return_ajax_result=True)
            data = res.get_data()
            keys = list(chunk) if named else [str(offset + i) for i in range(len(chunk))]
            got: dict[str, Any] = {}
            if isinstance(data, dict):
                got = {str(k): v for k, v in data.items()}
            elif isinstance(data, list):
                got = {str(offset + i): v for i, v in enumerate(data)}
            errors = {str(k): e for k, e in res.errors.items()}
            if not named:
                errors = {(str(offset + int(k)) if k.isdigit() else k): e for k, e in errors.items()}
            for key in keys:
                sub = got.get(key)
                value: Any = None
                if isinstance(sub, AjaxResult):
                    if sub.is_success:
                        payload = sub.get_data()
                        value = payload.get("result") if isinstance(payload, dict) else payload
                    elif key not in errors:
                        errors[key] = next(iter(sub.get_errors()), CliError("failed", ExitCode.PORTAL))
                if named:
                    out_map[key] = value
                else:
                    out_list.append(value)
            for key, err in errors.items():
                failures.append((key, err))
            offset += len(chunk)
            if failures and is_halt:
                break
    result: Any = out_map if named else out_list
    with _output(output) as out:
        use_pretty = pretty if pretty is not None else (output is None and _is_tty(sys.stdout))
        out.write(_json_text(result, use_pretty) + "\n")
    for key, err in failures:
        line = _error_line(err).replace(f"{PROG}: ", f"{PROG}: command {key}: ", 1)
        click.echo(line, err=True)
    if failures:
        return exit_code_for(failures[0][1])
    return ExitCode.OK


# ------------------------------------------------------------------ tools
def _server_time(conn: _Conn) -> tuple[int, AjaxResult]:
    with conn.hook() as b24:
        start = time.monotonic()
        res = b24.actions.v2.call.make("server.time", {})
        ms = int(round((time.monotonic() - start) * 1000.0))
        _raise_failed(res)
    return ms, res


@cli.command("ping")
@_connection_options
def ping_cmd(webhook: str | None, ca_bundle: str | None, timeout: float, attempts: int,
             shared: str | None, verbose: int) -> int:
    """Print the milliseconds of one server.time call (tools.ping).

    A failure is reported with its exit code instead of tools.ping's -1."""
    ms, _ = _server_time(_conn(webhook, ca_bundle, timeout, attempts, shared, verbose))
    click.echo(str(ms))
    return ExitCode.OK


@cli.command("health")
@_connection_options
def health_cmd(webhook: str | None, ca_bundle: str | None, timeout: float, attempts: int,
               shared: str | None, verbose: int) -> int:
    """Check that the portal answers (tools.health_check): print "ok" and
    exit 0, or the reason on stderr and its exit code."""
    ms, res = _server_time(_conn(webhook, ca_bundle, timeout, attempts, shared, verbose))
    data: Mapping[str, Any] = res.get_data() or {}
    click.echo(f"ok (server time {data.get('result')}, {ms} ms)")
    return ExitCode.OK


# ------------------------------------------------------------------ emulator
def _fault_spec(spec: str) -> tuple[str, dict[str, Any]]:
    kind, *pairs = spec.split(",")
    kw: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise CliError(f"--fault {spec!r}: expected KIND[,key=value...]", ExitCode.USAGE)
        try:
            if key in ("count", "status", "truncate_at", "seed"):
                kw[key] = int(value)
            elif key in ("delay", "fraction"):
                kw[key] = float(value)
            else:
                kw[key] = value
        except ValueError:
            raise CliError(f"--fault {spec!r}: {key} must be a number", ExitCode.USAGE) from None
    return kind.strip(), kw


def _write_env_file(path: str, lines: Sequence[str]) -> None:
    tmp = f"{path}.part"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("".join(line + "\n" for line in lines))
    os.replace(tmp, path)


@cli.command("emulator")
@click.option("--seed-demo", type=click.IntRange(min=0), default=0, show_default=True,
              metavar="N", help="Seed N demo CRM records (companies, contacts, leads, deals...).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="0 = any free port.")
@click.option("--db", default=":memory:", show_default=True, help="SQLite file or :memory:.")
@click.option("--secret", default=None, help="Webhook secret (default: random).")
@click.option("--user-id", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--ca-file", metavar="PATH", help="Write the CA certificate here (default: a temp file).")
@click.option("--env-file", metavar="PATH",
              help="Once serving, write B24_WEBHOOK_URL and B24HOOK_CA_BUNDLE export lines "
                   "here (mode 0600), for scripts: '. PATH'.")
@click.option("--rate-limit", metavar="X/Y",
              help="The portal's leaky bucket: X/Y, 'standard' (50/2) or 'enterprise' (250/5).")
@click.option("--operating-limit", type=float, metavar="S",
              help="Operating seconds per method in 10 minutes (cloud: 480).")
@click.option("--fault", "faults", multiple=True, metavar="KIND[,key=value...]",
              help="Inject a fault (repeatable), e.g. 'status,status=503,count=5' "
                   "(docs/emulator.md).")
@click.option("-v", "--verbose", count=True, help="Log every request (secret masked).")
def emulator_cmd(seed_demo: int, host: str, port: int, db: str, secret: str | None, user_id: int,
                 ca_file: str | None, env_file: str | None, rate_limit: str | None,
                 operating_limit: float | None, faults: tuple[str, ...], verbose: int) -> int:
    """Start an emulator portal on this machine, print its webhook URL and
    CA path, and serve until Ctrl-C.

    The printed webhook is the emulator's own (a local test portal), so it
    is shown in full: paste the two export lines into another shell.
    """
    parsed = [_fault_spec(f) for f in faults]
    try:
        from .emulator import EmulatorPortal
    except ImportError as err:
        raise CliError(f"the emulator needs its extra: pip install 'b24hook[emulator]' ({err})") \
            from None
    if verbose:
        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr,
                            format="%(asctime)s %(levelname)s %(message)s")
    switches: dict[str, Any] = {}
    if rate_limit is not None:
        switches["rate_limit"] = rate_limit
    if operating_limit is not None:
        switches["operating_limit"] = operating_limit
    try:
        portal = EmulatorPortal(db=db, seed_demo=seed_demo, host=host, port=port,
                                user_id=user_id, secret=secret, ca_path=ca_file, **switches)
    except (ValueError, TypeError) as err:
        raise CliError(f"emulator: {err}", ExitCode.USAGE) from None
    done = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:  # noqa: ARG001
        done.set()

    old_int = signal.signal(signal.SIGINT, on_signal)
    old_term = signal.signal(signal.SIGTERM, on_signal)
    try:
        for kind, kw in parsed:
            try:
                portal.inject(kind, **kw)
            except (ValueError, TypeError) as err:
                raise CliError(f"--fault {kind}: {err}", ExitCode.USAGE) from None
        portal.start()
        v2 = f"{portal.v2_url}/"
        exports = [f"export {ENV_WEBHOOK}={v2}", f"export {ENV_CA_BUNDLE}={portal.ca_path}"]
        if env_file:
            _write_env_file(env_file, exports)
        click.echo(f"Bitrix24 emulator portal at {portal.origin} (Ctrl-C to stop)")
        click.echo(f"v2 webhook: {v2}")
        click.echo(f"v3 webhook: {portal.v3_url}/")
        click.echo(f"CA certificate: {portal.ca_path}")
        click.echo("In another shell:")
        for line in exports:
            click.echo(f"  {line}")
        sys.stdout.flush()
        while not done.wait(0.2):
            pass
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)
        portal.close()
        if env_file:
            with contextlib.suppress(OSError):
                os.unlink(env_file)
    click.echo("stopped")
    return ExitCode.OK


# ------------------------------------------------------------------ entry point
def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (the console script exits with it)."""
    try:
        rv = cli.main(args=list(argv) if argv is not None else None, prog_name=PROG,
                      standalone_mode=False)
    except click.exceptions.Exit as ex:
        return int(ex.exit_code)
    except click.Abort:
        return _fail(KeyboardInterrupt())
    except BrokenPipeError:
        # the reader went away (| head): no traceback, no further writes
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return int(ExitCode.ERROR)
    except KeyboardInterrupt as exc:
        return _fail(exc)
    except (click.ClickException, CliError, SdkError, ValueError) as exc:
        return _fail(exc)
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback with data in it
        return _fail(exc)
    if isinstance(rv, int):
        return rv
    return int(ExitCode.OK)


def run() -> NoReturn:
    """Console-script entry point."""
    sys.exit(main())
