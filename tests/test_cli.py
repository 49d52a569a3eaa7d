"""The ``b24hook`` console script (docs/cli.md), run as a real subprocess
against the emulator portal of ``b24hook.testing`` (a clean portal per test).

Every run is checked for the webhook secret in stdout and stderr, and every
failing run for exactly one error line (no traceback).
"""
from __future__ import annotations

import csv
import fcntl
import importlib
import io
import json
import os
import pty
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from b24hook import B24Hook
from b24hook import cli as cli_mod
from b24hook.cli import CliError, ExitCode, parse_params
from b24hook.testing import PortalHandle

SCRIPT = Path(sys.executable).with_name("b24hook")
FAKE_SECRET = "notarealsecret0123456789"


@pytest.fixture(scope="module", autouse=True)
def _script_installed() -> None:
    assert SCRIPT.is_file(), f"console script not installed at {SCRIPT}: rerun scripts/bootstrap.sh"


class Run:
    def __init__(self, proc: subprocess.CompletedProcess[str]) -> None:
        self.rc = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr

    def json(self) -> Any:
        return json.loads(self.out)

    def rows(self) -> list[Any]:
        return [json.loads(line) for line in self.out.splitlines()]

    def __repr__(self) -> str:
        return f"Run(rc={self.rc}, out={self.out[:300]!r}, err={self.err[:600]!r})"


def _env(emu: PortalHandle | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("B24_WEBHOOK_URL", "B24HOOK_CA_BUNDLE")}
    env["COLUMNS"] = "100"
    if emu is not None:
        env["B24_WEBHOOK_URL"] = emu.webhook_url + "/"
        env["B24HOOK_CA_BUNDLE"] = str(emu.verify)
    env.update(extra)
    return env


def _secrets(emu: PortalHandle | None) -> list[str]:
    out = [FAKE_SECRET]
    if emu is not None and emu.emulator is not None:
        out.append(emu.emulator.secret)
    return out


def run(emu: PortalHandle | None, *args: str, env: dict[str, str] | None = None,
        input: str | None = None, timeout: float = 60, cmd: list[str] | None = None,
        cwd: str | None = None) -> Run:
    """Run the console script; assert no secret in its output."""
    proc = subprocess.run((cmd or [str(SCRIPT)]) + list(args), capture_output=True, text=True,
                          env=env if env is not None else _env(emu), input=input,
                          timeout=timeout, cwd=cwd)
    res = Run(proc)
    for secret in _secrets(emu):
        assert secret not in res.out, "the secret appeared on stdout"
        assert secret not in res.err, "the secret appeared on stderr"
    assert "Traceback" not in res.err, res
    return res


def assert_one_error_line(res: Run, code: ExitCode, label: str) -> str:
    assert res.rc == code, res
    lines = res.err.strip().splitlines()
    assert len(lines) == 1, res
    assert lines[0].startswith(f"b24hook: {label}: "), res
    return lines[0]


@pytest.fixture
def emu(b24_portal: PortalHandle) -> Iterator[PortalHandle]:
    """A clean emulator portal; idle again before the next test starts."""
    yield b24_portal
    assert b24_portal.emulator is not None
    b24_portal.emulator.wait_idle(15)


# ---------------------------------------------------------------- parameters (in-process)
def test_params_strings_json_nesting_and_lists() -> None:
    got = parse_params([
        "entityTypeId:=2", "ID=42", "select[]=id", "select[]=title",
        "filter[>=id]:=5", "filter[!=STAGE_ID]=WON", "fields[TITLE]=A = b",
        "fields[PHONE][][VALUE]=+1 555", "fields[PHONE][][VALUE]=+1 556",
        'flag:=true', 'empty:=null', 'text:="007"', "eq==x",
    ])
    assert got == {
        "entityTypeId": 2, "ID": "42", "select": ["id", "title"],
        "filter": {">=id": 5, "!=STAGE_ID": "WON"},
        "fields": {"TITLE": "A = b", "PHONE": [{"VALUE": "+1 555"}, {"VALUE": "+1 556"}]},
        "flag": True, "empty": None, "text": "007", "eq": "=x",
    }


def test_params_pairs_apply_on_top_of_params_json() -> None:
    base = {"select": ["ID"], "filter": {">ID": 1, "TYPE_ID": "SALE"}}
    got = parse_params(["filter[>ID]:=10", "order[ID]=DESC"], base)
    assert got == {"select": ["ID"], "filter": {">ID": 10, "TYPE_ID": "SALE"},
                   "order": {"ID": "DESC"}}
    assert base == {"select": ["ID"], "filter": {">ID": 1, "TYPE_ID": "SALE"}}  # not mutated


@pytest.mark.parametrize("pair, fragment", [
    ("novalue", "is not key=value"),
    ("=x", "is not key=value"),
    ("a[b=1", "unclosed '['"),
    ("a[b]x=1", "expected '=' or ':='"),
    ("n:={bad", "not valid JSON"),
    ("t=1", None),  # control: fine on its own
])
def test_params_refused_with_a_clear_message(pair: str, fragment: str | None) -> None:
    if fragment is None:
        assert parse_params([pair]) == {"t": "1"}
        return
    with pytest.raises(CliError) as info:
        parse_params([pair])
    assert info.value.code == ExitCode.USAGE
    assert fragment in info.value.message


def test_params_type_conflicts_are_usage_errors() -> None:
    with pytest.raises(CliError, match="non-object"):
        parse_params(["a=1", "a[b]=2"])
    with pytest.raises(CliError, match="non-list"):
        parse_params(["a[b]=1", "a[]=2"])
    # a JSON value's text is never echoed (it may hold anything)
    with pytest.raises(CliError) as info:
        parse_params(["token:={hidden-value"])
    assert "hidden-value" not in info.value.message


def test_rows_are_written_chunk_by_chunk() -> None:
    """The writer emits each chunk before the next one is fetched (memory
    holds one chunk): checked from inside the chunk generator."""
    for writer_cls, header in ((cli_mod._JsonlWriter, 0), (cli_mod._CsvWriter, 1)):
        buf = io.StringIO()
        writer = writer_cls(buf)

        def chunks() -> Iterator[list[dict[str, Any]]]:
            for i in range(5):
                if i:
                    assert buf.getvalue().count("\n") == header + 100 * i
                yield [{"ID": str(i * 100 + k), "TITLE": f"t{k}", "TAGS": [k]} for k in range(100)]

        for chunk in chunks():
            writer.write(chunk)
        assert writer.rows == 500
        assert buf.getvalue().count("\n") == header + 500


# ---------------------------------------------------------------- help, completion, entry points
COMMANDS = ["call", "list", "export", "batch", "ping", "health", "emulator"]


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_of_every_command(command: str | None, emu: PortalHandle) -> None:
    args = ([command] if command else []) + ["--help"]
    res = run(emu, *args)  # B24_WEBHOOK_URL is set: its value must not show
    assert res.rc == 0, res
    assert res.out.startswith(f"Usage: b24hook {command or ''}".rstrip()), res
    if command not in (None, "emulator"):
        assert "[env var: B24_WEBHOOK_URL]" in " ".join(res.out.split())
    if command is None:
        for name in COMMANDS:
            assert name in res.out
        assert "Exit codes: 0 ok" in res.out


def test_python_m_b24hook_runs_the_same_cli(emu: PortalHandle) -> None:
    res = run(emu, "call", "server.time", cmd=[sys.executable, "-m", "b24hook"])
    assert res.rc == 0, res
    assert isinstance(res.json(), str) and res.json().startswith("20")
    res = run(emu, "--version", cmd=[sys.executable, "-m", "b24hook"])
    assert res.rc == 0 and res.out.startswith("b24hook ")


def test_shell_completion_from_click() -> None:
    env = _env(None, _B24HOOK_COMPLETE="bash_source")
    res = run(None, env=env)
    assert res.rc == 0 and "_b24hook_completion" in res.out, res
    env = _env(None, _B24HOOK_COMPLETE="bash_complete", COMP_WORDS="b24hook ex", COMP_CWORD="1")
    res = run(None, env=env)
    assert res.rc == 0 and "plain,export" in res.out.splitlines(), res


# ---------------------------------------------------------------- call
def test_call_prints_the_result_and_sends_nested_params(emu: PortalHandle) -> None:
    res = run(emu, "call", "crm.deal.add", "fields[TITLE]=From the shell",
              "fields[OPPORTUNITY]:=1500.5", "fields[CURRENCY_ID]=EUR")
    assert res.rc == 0, res
    deal_id = res.json()
    assert isinstance(deal_id, int)
    res = run(emu, "call", "crm.deal.get", f"ID={deal_id}")
    assert res.rc == 0, res
    deal = res.json()
    assert deal["TITLE"] == "From the shell" and deal["CURRENCY_ID"] == "EUR"
    assert float(deal["OPPORTUNITY"]) == 1500.5
    assert res.out.count("\n") == 1  # compact: one line when stdout is not a terminal
    emu.assert_called("crm.deal.add", times=1, status=200)


def test_call_params_json_from_file_and_stdin(emu: PortalHandle, tmp_path: Path) -> None:
    emu.seed(100)
    f = tmp_path / "p.json"
    f.write_text(json.dumps({"entityTypeId": 2, "select": ["id", "title"], "filter": {">id": 0}}))
    res = run(emu, "call", "crm.item.list", "--params-json", f"@{f}", "filter[<=id]:=3")
    assert res.rc == 0, res
    assert [r["id"] for r in res.json()["items"]] == [1, 2, 3]
    assert set(res.json()["items"][0]) == {"id", "title"}
    res = run(emu, "call", "crm.item.list", "--params-json", "-", "filter[<=id]:=2",
              input=f.read_text())
    assert [r["id"] for r in res.json()["items"]] == [1, 2]


def test_call_v3_envelope_and_pretty(emu: PortalHandle) -> None:
    res = run(emu, "call", "tasks.task.add", "--v3", "fields[title]=Call back")
    assert res.rc == 0, res
    task = res.json()["item"]
    res = run(emu, "call", "tasks.task.get", f"id:={task['id']}", "--v3", "--envelope",
              "--pretty")
    assert res.rc == 0, res
    data = res.json()
    assert data["result"]["item"]["title"] == "Call back" and "time" in data
    assert res.out.startswith("{\n  ")
    assert emu.requests("tasks.task.get")[0]["api"] == "v3"


def test_call_output_is_pretty_on_a_terminal(emu: PortalHandle) -> None:
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen([str(SCRIPT), "call", "profile"], stdout=slave,
                                stderr=subprocess.PIPE, env=_env(emu))
        os.close(slave)
        chunks = []
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        proc.wait(30)
    finally:
        os.close(master)
    text = b"".join(chunks).decode().replace("\r\n", "\n")
    assert proc.returncode == 0
    assert text.startswith("{\n  \"ID\"") and emu.secret not in text


def test_call_output_file(emu: PortalHandle, tmp_path: Path) -> None:
    out = tmp_path / "time.json"
    res = run(emu, "call", "server.time", "-o", str(out))
    assert res.rc == 0 and res.out == "", res
    assert json.loads(out.read_text()).startswith("20")


# ---------------------------------------------------------------- list / export
def _all_deals(emu: PortalHandle) -> list[dict[str, Any]]:
    with B24Hook.from_webhook_url(emu.webhook_url, verify=emu.verify) as b24:
        rows = b24.actions.v2.call_list.make("crm.deal.list", {"select": ["ID", "TITLE"]}).get_data()
    assert isinstance(rows, list)
    return rows


def test_list_jsonl_streams_every_row(emu: PortalHandle) -> None:
    emu.seed(1000)  # 200 deals
    expected = _all_deals(emu)
    assert len(expected) == 200
    before = len(emu.requests())
    res = run(emu, "list", "crm.deal.list", "--select", "ID,TITLE")
    assert res.rc == 0, res
    assert res.rows() == expected
    assert res.err == ""  # no bar when stderr is not a terminal
    # keyset pages of 50: 4 full ones and the empty one that ends the walk
    assert [r["method"] for r in emu.requests()[before:]] == ["crm.deal.list"] * 5


def test_list_csv_of_a_controller_method_and_v3(emu: PortalHandle) -> None:
    emu.seed(1000)
    res = run(emu, "list", "crm.item.list", "entityTypeId:=2", "--select", "id,title",
              "--format", "csv")
    assert res.rc == 0, res
    table = list(csv.reader(io.StringIO(res.out)))
    assert table[0] == ["id", "title"] and len(table) == 201
    assert [int(r[0]) for r in table[1:]] == sorted(int(r[0]) for r in table[1:])
    res = run(emu, "list", "tasks.task.list", "--v3", "--select", "id,title", "--limit", "20")
    assert res.rc == 0, res
    rows = res.rows()
    assert len(rows) == 50 and all(set(r) >= {"id", "title"} for r in rows)  # 1000/20 tasks
    assert all(r["api"] == "v3" for r in emu.requests("tasks.task.list"))


def test_export_csv_equals_the_plain_walk(emu: PortalHandle, tmp_path: Path) -> None:
    emu.seed(20000)  # 4,000 deals: the export's batches of 50 pages
    expected = _all_deals(emu)
    before = len(emu.requests())
    out = tmp_path / "deals.csv"
    res = run(emu, "export", "crm.deal.list", "--select", "ID,TITLE", "-f", "csv",
              "-o", str(out))
    assert res.rc == 0, res
    assert res.out == ""
    assert res.err.strip() == f"b24hook: 4000 rows written to {out} (export)"
    with out.open(newline="", encoding="utf-8") as fh:
        table = list(csv.DictReader(fh))
    assert sorted(table, key=lambda r: int(r["ID"])) == expected
    # the fast path: batches of chained pages, as many at once as the planner finds
    # fastest within the rate bucket's burst (issue 12), never one request per page
    reqs = emu.requests()[before:]
    assert {r["method"] for r in reqs} == {"batch"} and len(reqs) <= 46, reqs


def test_export_jsonl_with_progress_on_stderr(emu: PortalHandle) -> None:
    emu.seed(5000)  # 1000 deals
    res = run(emu, "export", "crm.item.list", "entityTypeId:=2", "--select", "id,title",
              "--progress", "--shards", "2")
    assert res.rc == 0, res
    rows = res.rows()
    assert sorted(r["id"] for r in rows) == list(range(1, 1001))
    assert "export crm.item.list" in res.err and "1000" in res.err and "rows" in res.err


def test_export_progress_bar_by_default_on_a_terminal(emu: PortalHandle) -> None:
    emu.seed(1000)
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a real size
    try:
        proc = subprocess.Popen([str(SCRIPT), "export", "crm.deal.list", "--select", "ID"],
                                stdout=subprocess.PIPE, stderr=slave, env=_env(emu))
        os.close(slave)
        out, _ = proc.communicate(timeout=30)
        chunks = []
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(master)
    err = b"".join(chunks).decode(errors="replace")
    assert proc.returncode == 0
    assert len(out.splitlines()) == 200
    assert "export crm.deal.list" in err and "200/200" in err, err


def test_export_progress_without_tqdm(emu: PortalHandle) -> None:
    emu.seed(500)
    code = ("import sys; sys.modules['tqdm'] = None; from b24hook.cli import main; "
            "sys.exit(main(sys.argv[1:]))")
    res = run(emu, "export", "crm.deal.list", "--select", "ID", "--progress",
              cmd=[sys.executable, "-c", code])
    assert res.rc == 0, res
    assert len(res.rows()) == 100
    assert res.err.endswith("export crm.deal.list: 100/100 rows\n"), res


def test_export_parquet_has_the_fields_types(emu: PortalHandle, tmp_path: Path) -> None:
    pq: Any = importlib.import_module("pyarrow.parquet")  # the test extra has pyarrow
    emu.seed(5000)  # 1000 deals
    expected = {int(r["ID"]): r["TITLE"] for r in _all_deals(emu)}
    out = tmp_path / "deals.parquet"
    res = run(emu, "export", "crm.deal.list", "--select", "ID,TITLE,OPPORTUNITY,OPENED",
              "--format", "parquet", "-o", str(out))
    assert res.rc == 0, res
    assert res.err.strip() == f"b24hook: 1000 rows written to {out} (export)"
    table = pq.read_table(out)
    types = {f.name: str(f.type) for f in table.schema}
    assert types["ID"] == "int64" and types["TITLE"] == "string" and types["OPENED"] == "bool"
    assert types["OPPORTUNITY"] in ("double", "decimal128(18, 2)")
    got = dict(zip(table.column("ID").to_pylist(), table.column("TITLE").to_pylist()))
    assert got == expected
    emu.assert_called("crm.deal.fields", times=1)


def test_list_parquet_v3_and_a_method_without_fields(emu: PortalHandle, tmp_path: Path) -> None:
    pq: Any = importlib.import_module("pyarrow.parquet")  # the test extra has pyarrow
    emu.seed(1000)  # 50 tasks
    out = tmp_path / "tasks.parquet"
    res = run(emu, "list", "tasks.task.list", "--v3", "--select", "id,title", "-f", "parquet",
              "-o", str(out))
    assert res.rc == 0, res
    table = pq.read_table(out)
    assert table.num_rows == 50 and str(table.schema.field("id").type) == "int64"
    # no *.fields method: a warning, and the types Arrow infers
    out = tmp_path / "users.parquet"
    res = run(emu, "list", "user.get", "-f", "parquet", "-o", str(out))
    assert res.rc == 0, res
    assert "warning: no field types for user.get" in res.err
    assert pq.read_table(out).num_rows == 8


def test_parquet_needs_a_file_and_pyarrow(emu: PortalHandle, tmp_path: Path) -> None:
    res = run(emu, "export", "crm.deal.list", "-f", "parquet")
    assert "needs -o FILE" in assert_one_error_line(res, ExitCode.USAGE, "usage error")
    code = ("import sys; sys.modules['pyarrow'] = None; from b24hook.cli import main; "
            "sys.exit(main(sys.argv[1:]))")
    res = run(emu, "export", "crm.deal.list", "-f", "parquet", "-o", str(tmp_path / "x.parquet"),
              cmd=[sys.executable, "-c", code])
    line = assert_one_error_line(res, ExitCode.USAGE, "usage error")
    assert "pip install 'b24hook[arrow]'" in line
    assert emu.requests() == [] and list(tmp_path.iterdir()) == []


_HWM = """
import sys
from b24hook.cli import main
rc = main(sys.argv[1:])
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        print("HWM", int(line.split()[1]), file=sys.stderr)
sys.exit(rc)
"""


@pytest.mark.slow
def test_export_memory_stays_flat(emu: PortalHandle) -> None:
    """Peak RSS of the whole command for 5,000 and 25,000 deals (every field,
    one shard: at most two chunks of 2,500 rows in flight): the same within a
    few MB. Holding the rows would add about 2.5 kB per row (some 50 MB)."""
    emu.seed(125_000)  # 25,000 deals
    peaks = {}
    for n in (5_000, 25_000):
        proc = subprocess.run([sys.executable, "-c", _HWM, "export", "crm.deal.list",
                               f"filter[<=ID]:={n}", "--shards", "1"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=_env(emu), timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.count("\n") == n
        peaks[n] = int(proc.stderr.split("HWM ")[1].split()[0])  # kB
    assert peaks[25_000] - peaks[5_000] < 15_000, peaks


def test_failed_export_keeps_the_old_file(emu: PortalHandle, tmp_path: Path) -> None:
    emu.seed(20000)
    out = tmp_path / "deals.jsonl"
    out.write_text("previous\n")
    emu.inject("error500", "batch", count=100)
    res = run(emu, "export", "crm.deal.list", "-o", str(out), "--attempts", "1")
    assert_one_error_line(res, ExitCode.PORTAL, "portal error")
    assert out.read_text() == "previous\n"
    assert [p.name for p in tmp_path.iterdir()] == ["deals.jsonl"]  # no .part left behind


def test_broken_pipe_is_quiet(emu: PortalHandle) -> None:
    emu.seed(20000)
    proc = subprocess.Popen([str(SCRIPT), "export", "crm.deal.list"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=_env(emu))
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.wait(30)
    assert json.loads(first)["ID"]
    assert "Traceback" not in err and "BrokenPipe" not in err
    assert proc.returncode == ExitCode.ERROR


# ---------------------------------------------------------------- batch
def test_batch_named_json_with_a_reference(emu: PortalHandle, tmp_path: Path) -> None:
    emu.seed(100)
    f = tmp_path / "cmds.json"
    f.write_text(json.dumps({
        "first": ["crm.deal.list", {"select": ["ID", "TITLE"], "order": {"ID": "ASC"}}],
        "again": {"method": "crm.deal.get", "params": {"ID": "$result[first][0][ID]"}},
        "time": "server.time",
    }))
    res = run(emu, "batch", str(f))
    assert res.rc == 0, res
    got = res.json()
    assert list(got) == ["first", "again", "time"]
    assert got["again"]["ID"] == got["first"][0]["ID"]
    emu.assert_called("batch", times=1)


def test_batch_yaml_no_halt_failure_and_chunks(emu: PortalHandle, tmp_path: Path) -> None:
    f = tmp_path / "cmds.yaml"
    f.write_text("halt: false\ncmd:\n" + "".join(
        "  - [crm.item.get, {entityTypeId: 2, id: 999999}]\n" if i == 51 else "  - server.time\n"
        for i in range(60)))
    res = run(emu, "batch", str(f))
    line = assert_one_error_line(res, ExitCode.PORTAL, "command 51: portal error")
    assert "NOT_FOUND" in line
    got = res.json()
    assert len(got) == 60 and got[51] is None
    assert all(isinstance(v, str) for i, v in enumerate(got) if i != 51)
    emu.assert_called("batch", times=2)  # 50 + 10


def test_batch_halts_by_default_and_runs_v3(emu: PortalHandle) -> None:
    cmds = json.dumps([["crm.item.get", {"entityTypeId": 2, "id": 999999}], "server.time"])
    res = run(emu, "batch", "-", input=cmds)
    assert_one_error_line(res, ExitCode.PORTAL, "command 0: portal error")
    assert res.json() == [None, None]
    v3 = json.dumps({"add": {"method": "tasks.task.add", "params": {"fields": {"title": "b"}}},
                     "list": ["tasks.task.list", {"select": ["id", "title"]}]})
    res = run(emu, "batch", "-", "--v3", input=v3)
    assert res.rc == 0, res
    assert res.json()["add"]["item"]["title"] == "b"
    assert emu.requests("batch")[-1]["api"] == "v3"


def test_batch_bad_files_are_usage_errors(emu: PortalHandle, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert_one_error_line(run(emu, "batch", str(bad)), ExitCode.USAGE, "usage error")
    res = run(emu, "batch", "-", input=json.dumps([{"params": {}}]))
    assert "#0" in assert_one_error_line(res, ExitCode.USAGE, "usage error")
    res = run(emu, "batch", str(tmp_path / "missing.json"))
    assert_one_error_line(res, ExitCode.USAGE, "usage error")
    yml = tmp_path / "c.yaml"
    yml.write_text("- server.time\n")
    code = ("import sys; sys.modules['yaml'] = None; from b24hook.cli import main; "
            "sys.exit(main(sys.argv[1:]))")
    res = run(emu, "batch", str(yml), cmd=[sys.executable, "-c", code])
    assert "pip install 'b24hook[yaml]'" in assert_one_error_line(res, ExitCode.USAGE,
                                                                   "usage error")
    assert emu.requests() == []


# ---------------------------------------------------------------- ping, health
def test_shared_host_option(emu: PortalHandle, tmp_path: Path) -> None:
    """--shared host (or $B24HOOK_SHARED) puts the command on the host-wide budget
    (its files in $B24HOOK_SHM_DIR); an unknown value is a usage error."""
    res = run(emu, "ping", "--shared", "host", env=_env(emu, B24HOOK_SHM_DIR=str(tmp_path)))
    assert res.rc == 0 and int(res.out) >= 0, res
    assert sorted(p.name.split("-")[1] for p in tmp_path.iterdir()) == ["ops", "rate"]
    res = run(emu, "health", env=_env(emu, B24HOOK_SHARED="host", B24HOOK_SHM_DIR=str(tmp_path)))
    assert res.rc == 0, res
    res = run(emu, "ping", "--shared", "hots")
    assert res.rc == ExitCode.USAGE and "redis://host:port/db" in res.err, res
    emu.assert_called("server.time", times=2)


def test_ping_and_health(emu: PortalHandle) -> None:
    res = run(emu, "ping")
    assert res.rc == 0 and int(res.out) >= 0, res
    res = run(emu, "health")
    assert res.rc == 0 and res.out.startswith("ok (server time 20"), res
    emu.assert_called("server.time", times=2)


# ---------------------------------------------------------------- exit codes
def _bad_secret_env(emu: PortalHandle) -> dict[str, str]:
    url = emu.webhook_url.rsplit("/", 1)[0] + "/" + FAKE_SECRET + "/"
    return _env(emu, B24_WEBHOOK_URL=url)


def test_usage_errors_exit_2(emu: PortalHandle) -> None:
    env = _env(None)
    line = assert_one_error_line(run(emu, "ping", env=env), ExitCode.USAGE, "usage error")
    assert "B24_WEBHOOK_URL" in line
    env = _env(emu, B24_WEBHOOK_URL=f"http://example.bitrix24.com/rest/1/{FAKE_SECRET}/")
    assert "HTTPS" in assert_one_error_line(run(emu, "ping", env=env), ExitCode.USAGE,
                                            "usage error")
    env = _env(emu, B24_WEBHOOK_URL=f"https://example.bitrix24.com/rest/x/{FAKE_SECRET}/")
    assert_one_error_line(run(emu, "ping", env=env), ExitCode.USAGE, "usage error")
    assert_one_error_line(run(emu, "call"), ExitCode.USAGE, "usage error")
    assert_one_error_line(run(emu, "call", "x", "--nope"), ExitCode.USAGE, "usage error")
    assert_one_error_line(run(emu, "call", "x", "a[b"), ExitCode.USAGE, "usage error")
    assert_one_error_line(run(emu, "call", "crm..list"), ExitCode.USAGE, "usage error")
    assert_one_error_line(run(emu, "list", "crm.deal.list", "-f", "xml"), ExitCode.USAGE,
                          "usage error")
    assert_one_error_line(run(emu, "call", "x", "--ca-bundle", "/nonexistent/ca.pem"),
                          ExitCode.USAGE, "usage error")
    assert emu.requests() == []


def test_auth_errors_exit_3(emu: PortalHandle) -> None:
    env = _bad_secret_env(emu)
    for args in (["call", "server.time"], ["export", "crm.deal.list"], ["ping"]):
        line = assert_one_error_line(run(emu, *args, env=env), ExitCode.AUTH, "auth error")
        assert "INVALID_CREDENTIALS" in line
    emu.inject("status", "profile", count=1, status=401)
    line = assert_one_error_line(run(emu, "call", "profile"), ExitCode.AUTH, "auth error")
    assert "NO_AUTH_FOUND (HTTP 401)" in line


@pytest.mark.parametrize("how, code", [
    ("status503", "QUERY_LIMIT_EXCEEDED"),
    ("status429", "OPERATION_TIME_LIMIT"),
    ("overload", "OVERLOAD_LIMIT"),
])
def test_limit_errors_exit_4(emu: PortalHandle, how: str, code: str) -> None:
    if how == "overload":
        emu.configure(overload=True)
    else:
        emu.inject("status", "server.time", count=5, status=int(how[-3:]))
    line = assert_one_error_line(run(emu, "call", "server.time", "--attempts", "1"),
                                 ExitCode.LIMIT, "limit error")
    assert code in line


def test_export_classes_its_failures_too(emu: PortalHandle) -> None:
    emu.seed(1000)
    emu.inject("status", "batch", count=5, status=503)
    res = run(emu, "export", "crm.deal.list", "--attempts", "1")
    assert "QUERY_LIMIT_EXCEEDED" in assert_one_error_line(res, ExitCode.LIMIT, "limit error")
    emu.clear_faults()
    emu.inject("reset_before", "batch", count=5)
    res = run(emu, "export", "crm.deal.list", "--attempts", "1")
    assert_one_error_line(res, ExitCode.NETWORK, "network error")
    emu.clear_faults()
    # one refusal, retried by the library (default 3 attempts): the export succeeds
    emu.inject("status", "batch", count=1, status=503)
    res = run(emu, "export", "crm.deal.list", "--select", "ID")
    assert res.rc == 0 and len(res.rows()) == 200, res


@pytest.mark.parametrize("how", ["refused", "untrusted", "reset", "timeout", "html"])
def test_network_errors_exit_5(emu: PortalHandle, how: str) -> None:
    env = _env(emu)
    args = ["call", "server.time", "--attempts", "1"]
    expect = "NETWORK_ERROR"
    if how == "refused":
        env["B24_WEBHOOK_URL"] = f"https://127.0.0.1:1/rest/1/{FAKE_SECRET}/"
        reason = "connect"
    elif how == "untrusted":
        del env["B24HOOK_CA_BUNDLE"]
        reason = "certificate"
    elif how == "reset":
        emu.inject("reset_before", "server.time", count=1)
        reason = ""
    elif how == "timeout":
        emu.inject("hang", "server.time", count=1, delay=1.5)
        args += ["--timeout", "0.3"]
        expect, reason = "REQUEST_TIMEOUT", ""
    else:
        emu.inject("html", "server.time", count=1, status=502)
        expect, reason = "ERR_BAD_RESPONSE (HTTP 502)", ""
    line = assert_one_error_line(run(emu, *args, env=env), ExitCode.NETWORK, "network error")
    assert expect in line and reason in line


def test_portal_errors_exit_6(emu: PortalHandle) -> None:
    line = assert_one_error_line(run(emu, "call", "no.such.method"), ExitCode.PORTAL,
                                 "portal error")
    assert line == "b24hook: portal error: ERROR_METHOD_NOT_FOUND (HTTP 404): Method not found!"
    line = assert_one_error_line(run(emu, "call", "crm.item.get", "entityTypeId:=2", "id:=9"),
                                 ExitCode.PORTAL, "portal error")
    assert "NOT_FOUND (HTTP 400)" in line
    # a soft v3 error comes back as a failed result (not raised): same class
    line = assert_one_error_line(run(emu, "call", "tasks.task.get", "id:=999", "--v3"),
                                 ExitCode.PORTAL, "portal error")
    assert "ENTITYNOTFOUNDEXCEPTION" in line


def test_other_errors_exit_1(emu: PortalHandle, tmp_path: Path) -> None:
    res = run(emu, "call", "server.time", "-o", str(tmp_path / "no" / "such" / "dir.json"))
    assert "cannot write" in assert_one_error_line(res, ExitCode.ERROR, "error")


def test_ctrl_c_exits_130(emu: PortalHandle) -> None:
    emu.inject("hang", "server.time", count=1, delay=3)
    proc = subprocess.Popen([str(SCRIPT), "call", "server.time", "--attempts", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env(emu))
    deadline = time.monotonic() + 20
    while emu.stats()["in_flight"] < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    t0 = time.monotonic()
    out, err = proc.communicate(timeout=20)
    assert time.monotonic() - t0 < 2.0
    assert proc.returncode == ExitCode.INTERRUPTED
    assert "Traceback" not in err and err.strip().endswith("b24hook: interrupted: stopped by Ctrl-C")
    assert emu.secret not in err + out


def test_ctrl_c_stops_an_export_and_leaves_no_file(emu: PortalHandle, tmp_path: Path) -> None:
    emu.seed(50_000)  # 4,000 deals: a probe, then shard batches
    emu.inject("latency", "batch", count=20, delay=2)
    out = tmp_path / "deals.csv"
    proc = subprocess.Popen([str(SCRIPT), "export", "crm.deal.list", "-f", "csv", "-o", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env(emu))
    deadline = time.monotonic() + 20
    while emu.stats()["in_flight"] < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    t0 = time.monotonic()
    _, err = proc.communicate(timeout=20)
    assert time.monotonic() - t0 < 2.5, err
    assert proc.returncode == ExitCode.INTERRUPTED, err
    assert "Traceback" not in err and err.strip().splitlines()[-1] == \
        "b24hook: interrupted: stopped by Ctrl-C"
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- secrets
def test_verbose_logs_carry_no_secret(emu: PortalHandle) -> None:
    res = run(emu, "call", "server.time", "-vv")
    assert res.rc == 0, res
    # the events are there, with their context (method, request id)
    assert "b24hook.http: post/send" in res.err and '"method": "server.time"' in res.err
    res = run(emu, "call", "no.such", "-vv", env=_bad_secret_env(emu))
    assert res.rc == ExitCode.PORTAL and "ERROR_METHOD_NOT_FOUND" in res.err


def test_webhook_on_the_command_line_is_not_echoed(emu: PortalHandle) -> None:
    env = _env(None, B24HOOK_CA_BUNDLE=str(emu.verify))
    url = emu.webhook_url + "/"
    res = run(emu, "call", "server.time", "--webhook", url, env=env)
    assert res.rc == 0, res
    # the URL pasted where the method or a parameter goes: refused, not echoed
    # (run() asserts the secret is in neither stream)
    assert_one_error_line(run(emu, "call", url, "--webhook", url, env=env), ExitCode.USAGE,
                          "usage error")
    line = assert_one_error_line(run(emu, "call", "server.time", url, env=env), ExitCode.USAGE,
                                 "usage error")
    assert "parameter #1 is not key=value" in line
    line = assert_one_error_line(run(emu, "call", "server.time", f"x[{url}"), ExitCode.USAGE,
                                 "usage error")
    assert "unclosed '['" in line


def test_error_lines_mask_known_secrets() -> None:
    """Any text the CLI prints about a failure goes through the mask: the
    exact secret of the webhook in use and any /rest/<id>/<token> path."""
    cli_mod._SECRETS.add("plainsecretvalue42")
    try:
        line = cli_mod._error_line(CliError("bad: plainsecretvalue42 and "
                                            "https://x.example/rest/7/othertoken99/m"))
    finally:
        cli_mod._SECRETS.values.discard("plainsecretvalue42")
    assert "plainsecretvalue42" not in line and "othertoken99" not in line
    assert line.startswith("b24hook: error: bad: ")


# ---------------------------------------------------------------- emulator
def test_emulator_command_serves_until_ctrl_c(tmp_path: Path) -> None:
    env_file = tmp_path / "emu.env"
    ca = tmp_path / "ca.pem"
    proc = subprocess.Popen([str(SCRIPT), "emulator", "--seed-demo", "100", "--env-file",
                             str(env_file), "--ca-file", str(ca)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env(None))
    try:
        deadline = time.monotonic() + 30
        while not env_file.exists() and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.05)
        assert oct(env_file.stat().st_mode & 0o777) == "0o600"
        values = dict(line.removeprefix("export ").split("=", 1)
                      for line in env_file.read_text().splitlines())
        assert values["B24HOOK_CA_BUNDLE"] == str(ca) and ca.is_file()
        assert values["B24_WEBHOOK_URL"].startswith("https://127.0.0.1:")
        res = run(None, "list", "crm.deal.list", "--select", "ID",
                  env=_env(None, **values))
        assert res.rc == 0 and len(res.rows()) == 20, res
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("Bitrix24 emulator portal at https://127.0.0.1:")
    assert f"v2 webhook: {values['B24_WEBHOOK_URL']}" in lines
    assert f"CA certificate: {ca}" in lines
    assert f"  export B24_WEBHOOK_URL={values['B24_WEBHOOK_URL']}" in lines
    assert lines[-1] == "stopped"
    assert not env_file.exists()


def test_emulator_bad_fault_is_a_usage_error() -> None:
    res = run(None, "emulator", "--fault", "status,count=x")
    assert_one_error_line(res, ExitCode.USAGE, "usage error")
    res = run(None, "emulator", "--fault", "nosuchkind")
    assert_one_error_line(res, ExitCode.USAGE, "usage error")


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_export_resume_after_a_kill_writes_each_row_once(emu: PortalHandle, tmp_path: Path,
                                                         fmt: str) -> None:
    """``export --resume``: SIGKILL mid-export, the same command again: the file holds
    every deal once, and the second run reads only what the checkpoint had not."""
    emu.seed(20000)  # 4,000 deals
    assert emu.emulator is not None
    # one stream of slow pages (a batch takes 1-2 s), so the kill lands mid-table
    emu.configure(sleep_simulated_cost=True, exec_time_per_call={"crm.deal.list": 0.04})
    out, ckpt = tmp_path / f"deals.{fmt}", tmp_path / "deals.ckpt"
    args = ["export", "crm.deal.list", "--select", "ID,TITLE", "-f", fmt, "-o", str(out),
            "--resume", str(ckpt), "--shards", "1"]
    proc = subprocess.Popen([str(SCRIPT), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=_env(emu))
    saved: dict[str, Any] = {}
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                saved = json.loads(ckpt.read_text())
            except (FileNotFoundError, ValueError):
                saved = {}
            if saved.get("rows", 0) > 0:
                break
            time.sleep(0.01)
        assert proc.poll() is None, "the export ended before the kill"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    saved = json.loads(ckpt.read_text())
    done_then = saved["rows"]
    assert 0 < done_then < 4000 and not out.exists()
    assert Path(str(out) + ".part").stat().st_size >= saved["bytes"]
    emu.configure(sleep_simulated_cost=False, exec_time_per_call={})
    res = run(emu, *args)
    assert res.rc == 0, res
    assert res.err.strip() == (f"b24hook: 4000 rows written to {out} "
                               f"(export, resumed after {done_then})")
    assert not ckpt.exists() and not Path(str(out) + ".part").exists()
    if fmt == "csv":
        with out.open(newline="", encoding="utf-8") as fh:
            table = list(csv.DictReader(fh))
    else:
        table = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    ids = [int(r["ID"]) for r in table]
    assert len(ids) == len(set(ids)) == 4000
    assert sorted(table, key=lambda r: int(r["ID"])) == _all_deals(emu)


def test_export_resume_refuses_what_it_cannot_continue(emu: PortalHandle, tmp_path: Path) -> None:
    ckpt = tmp_path / "c.json"
    res = run(emu, "export", "crm.deal.list", "--resume", str(ckpt))
    assert res.rc == ExitCode.USAGE and "--resume needs -o FILE" in res.err, res
    ckpt.write_text(json.dumps({"output": str(tmp_path / "other.jsonl"), "bytes": 0, "rows": 0,
                                "export": {}}))
    res = run(emu, "export", "crm.deal.list", "-o", str(tmp_path / "d.jsonl"), "--resume", str(ckpt))
    assert res.rc == ExitCode.USAGE and "belongs to the output" in res.err, res
    ckpt.write_text(json.dumps({"output": str((tmp_path / "d.jsonl").resolve()), "format": "csv",
                                "bytes": 0, "rows": 0, "export": {}}))
    res = run(emu, "export", "crm.deal.list", "-o", str(tmp_path / "d.jsonl"), "--resume", str(ckpt))
    assert res.rc == ExitCode.USAGE and "was written as csv, not jsonl" in res.err, res
    ckpt.write_text("{not json")
    res = run(emu, "export", "crm.deal.list", "-o", str(tmp_path / "d.jsonl"), "--resume", str(ckpt))
    assert res.rc == ExitCode.USAGE and "cannot read" in res.err, res
