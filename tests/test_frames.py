"""b24hook.frames and the Pages surface (issue 14 item 2): typed Arrow tables,
DataFrames and Parquet files from list and export results, against the emulator."""
from __future__ import annotations

import gc
import json
import subprocess
import sys
import tracemalloc
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from b24hook import B24Hook, SdkError, frames
from b24hook.emulator import EmulatorPortal

from _list_rows import bulk_items

FIXTURES = Path("/work/shared/fixtures/real-responses")
if not FIXTURES.is_dir():  # a copy of shared/ beside the clone (CI)
    FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "real-responses"

MONEY, VIP, TAGS = "UF_CRM_1700000001", "UF_CRM_1700000002", "UF_CRM_1700000003"
BIG = 1256  # smart process holding the rows of the memory test

# deals written through the API, with every kind of value and the nulls
DEALS: list[dict[str, Any]] = [
    {"TITLE": "Full", "OPPORTUNITY": 1500.5, "CURRENCY_ID": "EUR", "PROBABILITY": 70,
     MONEY: "1500.50|EUR", VIP: "Y", TAGS: [45, 47], "BEGINDATE": "2024-01-31T00:00:00+03:00",
     "CLOSED": "Y", "COMMENTS": "first"},
    {"TITLE": "Empty"},
    {"TITLE": "Other", "OPPORTUNITY": 99, MONEY: "12|USD", VIP: "N", TAGS: [46],
     "CLOSEDATE": "2025-12-31T00:00:00+03:00"},
]


@pytest.fixture(scope="module")
def fp() -> Iterator[EmulatorPortal]:
    p = EmulatorPortal(db=":memory:").start()
    b = B24Hook.from_webhook_url(p.v2_url, verify=p.ca_path)
    try:
        for d in DEALS:
            assert b.actions.v2.call.make("crm.deal.add", {"fields": d}).is_success
        for i in range(3):
            lead = {"TITLE": f"Lead {i}", "PHONE": [{"VALUE": f"+4930{i}", "VALUE_TYPE": "WORK"}]
                    if i != 1 else []}
            assert b.actions.v2.call.make("crm.lead.add", {"fields": lead}).is_success
    finally:
        b.close()
    bulk_items(p, BIG, 100_000)
    try:
        yield p
    finally:
        p.close()


@pytest.fixture
def hook(fp: EmulatorPortal) -> Iterator[B24Hook]:
    b = B24Hook.from_webhook_url(fp.v2_url, verify=fp.ca_path)
    try:
        yield b
    finally:
        b.close()


def raw_deals(b: B24Hook) -> list[dict[str, Any]]:
    return b.actions.v2.call.make("crm.deal.list", {"order": {"ID": "ASC"}}).get_data()["result"]


# ---------------------------------------------------------------- schema
def test_schema_for_legacy_deal_reads_crm_deal_fields(hook: B24Hook, fp: EmulatorPortal) -> None:
    fp.reset_stats()
    s = frames.schema_for(hook, "crm.deal.list")
    assert fp.stats()["requests"]["crm.deal.fields"]
    kinds = {n: (s[n].kind, s[n].multiple) for n in
             ("ID", "OPPORTUNITY", MONEY, "OPENED", VIP, "DATE_CREATE", "BEGINDATE", TAGS,
              "STAGE_ID", "ASSIGNED_BY_ID", "COMPANY_ID")}
    assert kinds == {
        "ID": ("int", False), "OPPORTUNITY": ("float", False), MONEY: ("money", False),
        "OPENED": ("bool", False), VIP: ("bool", False), "DATE_CREATE": ("datetime", False),
        "BEGINDATE": ("date", False), TAGS: ("int", True), "STAGE_ID": ("string", False),
        "ASSIGNED_BY_ID": ("int", False), "COMPANY_ID": ("int", False),
    }
    assert s[MONEY].title == "Budget"  # a user field's label, not its code


def test_schema_for_crm_item_sends_entity_type_and_knows_upper_names(hook: B24Hook) -> None:
    s = frames.schema_for(hook, "crm.item.list", {"entityTypeId": 2, "select": ["id"]})
    assert s["id"].kind == "int" and s["opened"].portal_type == "boolean"
    assert s["ufCrm_1700000001"].kind == "money"
    assert s.get("UF_CRM_1700000003") is not None and s["UF_CRM_1700000003"].multiple
    with pytest.raises(SdkError, match="not found"):  # the portal's own error
        frames.schema_for(hook, "crm.item.list", {"entityTypeId": 999})


def test_tasks_schema_from_get_fields_types_the_camel_case_rows(hook: B24Hook, fp: EmulatorPortal) -> None:
    for i in range(3):
        task = {"TITLE": f"Task {i}", "RESPONSIBLE_ID": 1, "DEADLINE": f"2025-0{i + 1}-15T18:00:00+03:00"}
        assert hook.actions.v2.call.make("tasks.task.add", {"fields": task}).is_success
    pages = hook.actions.v2.fetch_list.make(
        "tasks.task.list", {"select": ["ID", "TITLE", "STATUS", "DEADLINE", "RESPONSIBLE_ID"]},
        id_key="id", cursor_id_key="ID", custom_key_for_result="tasks")
    raw = hook.actions.v2.call.make("tasks.task.list", {"select": ["ID", "DEADLINE"], "order": {"ID": "ASC"}})
    src = raw.get_data()["result"]["tasks"]
    assert isinstance(src[0]["id"], str)  # v2 tasks: ids as strings, camelCase keys
    t = pages.to_arrow()
    types = {f.name: f.type for f in t.schema}
    assert types == {"id": pa.int64(), "title": pa.string(), "status": pa.int64(),
                     "deadline": pa.timestamp("us", tz="UTC"), "responsibleId": pa.int64()}
    assert t.column("id").to_pylist() == [int(r["id"]) for r in src]
    assert t.column("deadline").to_pylist() == [datetime.fromisoformat(r["deadline"]) for r in src]


def test_enum_fields_by_their_values() -> None:
    s = frames.Schema.from_fields({"fields": {  # the shape of a real tasks.task.getFields answer
        "PRIORITY": {"title": "Priority", "type": "enum", "values": {"2": "High", "1": "Normal", "0": "Low"}},
        "MULTITASK": {"title": "Multiple task", "type": "enum", "values": {"Y": "Yes", "N": "No"}},
        "MARK": {"title": "Mark", "type": "enum", "values": {"N": "Negative", "P": "Positive"}},
    }})
    assert [s[n].kind for n in ("PRIORITY", "MULTITASK", "MARK")] == ["int", "bool", "string"]
    assert s["multitask"].kind == "bool"  # rows name it in camelCase


def test_fields_method_for() -> None:
    assert frames.fields_method_for("crm.deal.list") == "crm.deal.fields"
    assert frames.fields_method_for("crm.item.list") == "crm.item.fields"
    assert frames.fields_method_for("tasks.task.list") == "tasks.task.getFields"
    assert frames.fields_method_for("user.get") == "user.fields"
    with pytest.raises(ValueError):
        frames.fields_method_for("batch")


def test_schema_from_a_real_portals_lead_fields() -> None:
    answer = json.loads((FIXTURES / "crm_lead_fields_success.json").read_text())["response"]["result"]
    s = frames.Schema.from_fields(answer, "crm.lead.list")
    assert (s["ID"].kind, s["OPPORTUNITY"].kind, s["IS_MANUAL_OPPORTUNITY"].kind) == ("int", "float", "bool")
    assert (s["UF_CRM_1594289659496"].kind, s["BIRTHDATE"].kind, s["DATE_CREATE"].kind) == \
        ("money", "date", "datetime")
    assert s["PHONE"].kind == "multifield" and not s["PHONE"].multiple
    assert s["CONTACT_IDS"].kind == "int" and s["CONTACT_IDS"].multiple
    assert s["HONORIFIC"].kind == "string" and s["UF_CRM_1594290129890"].kind == "string"  # url
    page = json.loads((FIXTURES / "crm_lead_list_one_page_success.json").read_text())["response"]["result"]
    t = frames.to_arrow(page, s)
    assert t.schema.field("ID").type == pa.int64()
    assert t.column("ID").to_pylist() == [int(r["ID"]) for r in page]


# ---------------------------------------------------------------- dtypes and values
def test_legacy_deal_list_to_pandas_dtypes_and_values(hook: B24Hook) -> None:
    raw = raw_deals(hook)
    df = hook.actions.v2.fetch_list.make("crm.deal.list").to_pandas()
    dt = df.dtypes.astype(str).to_dict()
    assert dt["ID"] == "Int64" and dt["ASSIGNED_BY_ID"] == "Int64" and dt["PROBABILITY"] == "Int64"
    assert dt["OPPORTUNITY"] == "Float64"
    assert dt["OPENED"] == "boolean" and dt["CLOSED"] == "boolean" and dt[VIP] == "boolean"
    assert dt["DATE_CREATE"] == "datetime64[us, UTC]" and dt["BEGINDATE"] == "datetime64[s]"
    assert dt["TITLE"] == "string" and dt[MONEY + "_currency"] == "string"
    assert df["ID"].tolist() == [int(r["ID"]) for r in raw]
    full, empty, other = (df.iloc[i] for i in range(3))
    # money as decimals, with the currency beside
    assert full[MONEY] == Decimal("1500.50") and full[MONEY + "_currency"] == "EUR"
    assert other[MONEY] == Decimal("12.00") and other[MONEY + "_currency"] == "USD"
    # Y/N (CLOSED) and 1/0 (a boolean user field) both become booleans
    assert (full["CLOSED"], full[VIP], other[VIP], empty["CLOSED"]) == (True, True, False, False)
    # a multiple enumeration: lists of ints
    assert full[TAGS] == [45, 47] and other[TAGS] == [46] and empty[TAGS] == []
    assert full["BEGINDATE"] == pd.Timestamp("2024-01-31")  # the portal's calendar date
    assert full["OPPORTUNITY"] == 1500.5 and full["PROBABILITY"] == 70
    # nulls: pd.NA / NaT, never "" or None strings
    for col in (MONEY, MONEY + "_currency", "COMMENTS", "PROBABILITY", "COMPANY_ID"):
        assert empty[col] is pd.NA, col
    assert empty["BEGINDATE"] is pd.NaT and other["BEGINDATE"] is pd.NaT
    assert raw[1]["BEGINDATE"] == ""  # what the portal sent for the NaT


def test_timestamps_are_the_source_instants(hook: B24Hook) -> None:
    raw = raw_deals(hook)
    t = hook.actions.v2.fetch_list.make("crm.deal.list").to_arrow()
    assert t.schema.field("DATE_CREATE").type == pa.timestamp("us", tz="UTC")
    got = t.column("DATE_CREATE").to_pylist()
    for row, value in zip(raw, got):
        src = datetime.fromisoformat(row["DATE_CREATE"])
        assert src.utcoffset() is not None and value == src  # the same instant
        assert value.tzinfo is not None
    df = frames.to_pandas(t)
    assert df["DATE_CREATE"][0] == pd.Timestamp(raw[0]["DATE_CREATE"])


def test_crm_item_answers_give_the_same_table_as_the_legacy_list(hook: B24Hook) -> None:
    legacy = hook.actions.v2.fetch_list.make("crm.deal.list").to_arrow()
    item = hook.actions.v2.fetch_list.make("crm.item.list", {"entityTypeId": 2}, id_key="id",
                                            custom_key_for_result="items").to_arrow()
    pairs = {"ID": "id", "OPPORTUNITY": "opportunity", "CLOSED": "closed", "DATE_CREATE": "createdTime",
             "BEGINDATE": "begindate", MONEY: "ufCrm_1700000001", VIP: "ufCrm_1700000002",
             TAGS: "ufCrm_1700000003", "COMPANY_ID": "companyId"}
    for up, camel in pairs.items():
        assert legacy.column(up).type == item.column(camel).type, up
        assert legacy.column(up).to_pylist() == item.column(camel).to_pylist(), up
    v3 = hook.actions.v3.fetch_list.make("crm.item.list", {"entityTypeId": 2, "select": list(pairs.values())},
                                         custom_key_for_result="items").to_arrow()
    for camel in pairs.values():
        assert v3.column(camel).to_pylist() == item.column(camel).to_pylist(), camel


def test_multifields_are_lists_of_structs(hook: B24Hook) -> None:
    df = hook.actions.v2.fetch_list.make("crm.lead.list", {"select": ["ID", "PHONE"]}).to_pandas(
        dtype_backend="pyarrow")
    assert str(df["ID"].dtype) == "int64[pyarrow]"
    phones = df["PHONE"].tolist()
    assert phones[0][0]["VALUE"] == "+49300" and phones[0][0]["TYPE_ID"] == "PHONE"
    assert phones[1] == [] and phones[2][0]["VALUE"] == "+49302"
    assert set(phones[0][0]) == {"ID", "VALUE_TYPE", "VALUE", "TYPE_ID"}


def test_pyarrow_backend_keeps_decimals_lists_and_dates(hook: B24Hook) -> None:
    df = hook.actions.v2.fetch_list.make("crm.deal.list").to_pandas(dtype_backend="pyarrow")
    assert isinstance(df[MONEY].dtype, pd.ArrowDtype)
    assert df[MONEY].dtype.pyarrow_dtype == pa.decimal128(18, 2)
    assert df[TAGS].dtype.pyarrow_dtype == pa.list_(pa.int64())
    assert df["BEGINDATE"].dtype.pyarrow_dtype == pa.date32()
    assert df["BEGINDATE"][0] == date(2024, 1, 31)


def test_pages_stay_an_iterator_and_convert_what_is_left(hook: B24Hook, fp: EmulatorPortal) -> None:
    params = {"entityTypeId": BIG, "filter": {"<=id": 120}, "select": ["id", "title"]}
    pages = hook.actions.v2.fetch_list.make("crm.item.list", params, id_key="id",
                                             custom_key_for_result="items")
    assert iter(pages) is pages
    first = next(pages)
    assert [r["id"] for r in first] == list(range(1, 51))
    rest = pages.to_arrow(schema=None)  # no *.fields call: types from the values
    assert rest.column("id").to_pylist() == list(range(51, 121))
    assert list(pages) == []


def test_no_schema_when_the_fields_call_fails_logs_a_warning(hook: B24Hook, fp: EmulatorPortal) -> None:
    records: list[tuple[Any, str, Any]] = []

    class Log:
        def __getattr__(self, level: str) -> Any:
            return lambda msg, ctx=None, *a, **k: records.append((level, msg, ctx))

    hook.set_logger(Log())  # type: ignore[arg-type]
    t = hook.actions.v2.fetch_list.make("user.get").to_arrow()
    assert t.num_rows > 0 and t.schema.field("ID").type == pa.string()  # inferred: text
    assert any("no schema" in str(m) for _, m, _ in records)


# ---------------------------------------------------------------- conversion rules (rows given)
def test_odd_values_mixed_lists_false_and_single_values() -> None:
    s = frames.Schema([frames.Column("T", "int", multiple=True), frames.Column("F", "bool"),
                       frames.Column("D", "datetime"), frames.Column("M", "money")])
    rows = [{"T": ["1", "2"], "F": "y", "D": "2024-01-01T10:00:00", "M": "7.5"},
            {"T": False, "F": "0", "D": "2024-01-02", "M": None},
            {"T": "3", "F": True, "D": None, "M": ""}]
    t = frames.to_arrow(rows, s)
    assert t.column("T").to_pylist() == [[1, 2], [], [3]]
    assert t.column("F").to_pylist() == [True, False, True]
    assert t.column("D").to_pylist() == [datetime(2024, 1, 1, 10, tzinfo=timezone.utc),
                                         datetime(2024, 1, 2, tzinfo=timezone.utc), None]
    assert t.column("M").to_pylist() == [Decimal("7.50"), None, None]
    assert t.column("M_currency").to_pylist() == [None, None, None]


def test_values_that_do_not_fit_name_the_column() -> None:
    s = frames.Schema([frames.Column("FLAG", "bool"), frames.Column("SUM", "money"),
                       frames.Column("N", "int")])
    with pytest.raises(ValueError, match="'FLAG'.*'maybe'"):
        frames.to_arrow([{"FLAG": "maybe"}], s)
    with pytest.raises(ValueError, match="'SUM'"):
        frames.to_arrow([{"SUM": "1.005|EUR"}], s)  # more decimals than the portal keeps
    with pytest.raises(ValueError, match="'N'.*override"):
        frames.to_arrow([{"N": "abc"}], s)
    t = frames.to_arrow([{"N": "abc"}], s.override({"N": "string"}))
    assert t.column("N").to_pylist() == ["abc"]


def test_empty_rows_give_the_schemas_columns() -> None:
    s = frames.Schema([frames.Column("ID", "int"), frames.Column("SUM", "money")])
    t = frames.to_arrow([], s)
    assert t.num_rows == 0 and t.schema.names == ["ID", "SUM", "SUM_currency"]
    assert frames.to_arrow([]).num_columns == 0


# ---------------------------------------------------------------- parquet
def test_export_to_parquet_reads_back_equal(hook: B24Hook, tmp_path: Path) -> None:
    path = tmp_path / "deals.parquet"
    n = hook.actions.v2.fetch_list.make("crm.deal.list", fast=True).to_parquet(path)
    assert n == len(DEALS)
    back = pq.read_table(path)
    again = hook.actions.v2.fetch_list.make("crm.deal.list").to_arrow()
    assert back.schema.equals(again.schema) and back.equals(again)
    rows = raw_deals(hook)
    assert back.column("ID").to_pylist() == [int(r["ID"]) for r in rows]
    assert back.column(MONEY).to_pylist()[0] == Decimal(rows[0][MONEY].split("|")[0])


def test_big_export_to_parquet_in_row_groups(hook: B24Hook, tmp_path: Path) -> None:
    path = tmp_path / "items.parquet"
    params = {"entityTypeId": BIG, "filter": {"<=id": 30_000}, "select": ["id", "title", "createdTime", "opened"]}
    n = hook.actions.v2.fetch_list.make("crm.item.list", params, id_key="id", custom_key_for_result="items",
                                        fast=True, shards=1).to_parquet(path, row_group_rows=10_000)
    assert n == 30_000
    f = pq.ParquetFile(path)
    assert f.metadata.num_rows == 30_000 and 3 <= f.metadata.num_row_groups <= 4
    t = f.read()
    assert t.column("id").to_pylist() == list(range(1, 30_001))
    assert t.schema.field("opened").type == pa.bool_() and all(t.column("opened").to_pylist())
    assert t.column("createdTime")[0].as_py() == datetime.fromisoformat("2025-01-01T00:00:00+03:00")


def test_write_parquet_conforms_later_chunks(tmp_path: Path) -> None:
    s = frames.Schema([frames.Column("ID", "int"), frames.Column("X", "string")])
    path = tmp_path / "c.parquet"
    with pytest.warns(RuntimeWarning, match="NEW"):
        n = frames.write_parquet([[{"ID": "1", "X": "a"}], [], [{"ID": "2", "NEW": 1}]], path, s)
    assert n == 2
    assert pq.read_table(path).to_pylist() == [{"ID": 1, "X": "a"}, {"ID": 2, "X": None}]
    empty = tmp_path / "e.parquet"
    assert frames.write_parquet([], empty, s) == 0
    assert pq.read_table(empty).schema.names == ["ID", "X"]


def _export_peak(ep: EmulatorPortal, rows: int, path: Path) -> int:
    """Peak bytes (Python allocations + Arrow's pool) of one fast export of ``rows`` rows to Parquet."""
    b = B24Hook.from_webhook_url(ep.v2_url, verify=ep.ca_path)
    pool = pa.proxy_memory_pool(pa.default_memory_pool())
    old = pa.default_memory_pool()
    gc.collect()
    pa.set_memory_pool(pool)
    tracemalloc.start()
    try:
        params = {"entityTypeId": BIG, "filter": {"<=id": rows}, "select": ["id", "title", "createdTime", "opened"]}
        n = b.actions.v2.fetch_list.make("crm.item.list", params, id_key="id", custom_key_for_result="items",
                                         fast=True, shards=2).to_parquet(path, schema=None, row_group_rows=10_000)
        _, py_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        pa.set_memory_pool(old)
        b.close()
    assert n == rows and pq.ParquetFile(path).metadata.num_rows == rows
    return py_peak + pool.max_memory()


def test_parquet_export_memory_is_flat(fp: EmulatorPortal, tmp_path: Path) -> None:
    small = _export_peak(fp, 20_000, tmp_path / "s.parquet")
    big = _export_peak(fp, 100_000, tmp_path / "b.parquet")
    print(f"\npeak memory of a Parquet export: 20k rows {small / 1e6:.1f} MB, 100k rows {big / 1e6:.1f} MB")
    # five times the rows, about the same peak (holding the rows would be ~5x)
    assert big < small * 1.6, (small, big)


# ---------------------------------------------------------------- without pyarrow / pandas
def test_import_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for mod in ("pyarrow", "pyarrow.compute", "pyarrow.parquet"):
        monkeypatch.setitem(sys.modules, mod, None)  # import raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'b24hook\[arrow\]'"):
        frames.to_arrow([{"ID": "1"}])
    with pytest.raises(ImportError, match=r"b24hook\[arrow\]"):
        frames.write_parquet([[{"ID": "1"}]], "/nonexistent/x.parquet")
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"pip install 'b24hook\[pandas\]'"):
        frames.to_pandas([{"ID": "1"}])


def test_the_package_imports_without_pyarrow() -> None:
    code = ("import sys\nfor m in ('pyarrow', 'pandas'): sys.modules[m] = None\n"
            "import b24hook, b24hook.frames\n"
            "from b24hook.frames import Schema, Column\n"
            "s = Schema.from_fields({'ID': {'type': 'integer'}})\n"
            "assert s['ID'].kind == 'int'\n"
            "try:\n    b24hook.frames.to_arrow([])\nexcept ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'b24hook[arrow]'" in out.stdout
