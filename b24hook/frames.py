"""List and export results as Arrow tables, pandas DataFrames and Parquet files
(docs/dataframes.md).

Portals send most values as text (``"ID": "35943"``, ``"OPENED": "Y"``,
``"DATE_CREATE": "2024-01-01T10:00:00+03:00"``, money as ``"1500.00|RUB"``);
the types are in the entity's ``*.fields`` answer. :func:`schema_for` reads
that answer into a :class:`Schema`, and :func:`to_arrow`, :func:`to_pandas`
and :func:`write_parquet` turn rows into typed columns with it:

=====================  ==============================================  ===================================
portal type            Arrow                                            pandas (``numpy_nullable``)
=====================  ==============================================  ===================================
integer, user, crm_*   ``int64``                                        ``Int64``
  ids, enumeration
double                 ``float64``                                      ``Float64``
money (``"1.5|RUB"``)  ``decimal128(18, 2)`` + ``<name>_currency``      ``object`` (``decimal.Decimal``) + ``string``
boolean, char (Y/N)    ``bool``                                         ``boolean``
date                   ``date32`` (the portal's calendar date)          ``datetime64[s]``
datetime               ``timestamp[us, tz=UTC]`` (the same instant)     ``datetime64[us, UTC]``
string, crm_status...  ``string``                                       ``string``
crm_multifield         ``list<struct<ID, VALUE_TYPE, VALUE, TYPE_ID>>``  ``object`` (lists of dicts)
isMultiple             ``list<…>`` of the element type                  ``object`` (lists)
=====================  ==============================================  ===================================

Columns are the keys the rows carry (a ``select`` narrows them); keys the
schema does not know keep the type Arrow infers. The conversion runs in
Arrow's compute kernels (C++), column by column; Python touches single
values only for columns whose raw values mix kinds (a list next to ``false``).

pyarrow (and pandas for :func:`to_pandas`) are imported when first needed:
``pip install 'b24hook[arrow]'`` or ``pip install 'b24hook[pandas]'``.
"""
from __future__ import annotations

import json
import os
import re
import warnings
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Literal, Mapping, Protocol, cast

from ._errors import SdkError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa
    # for annotations inside functions, where ``pa``/``pd`` are the lazily imported modules
    from pandas import DataFrame as _DataFrame
    from pyarrow import DataType as _DataType
    from pyarrow import Schema as _ArrowSchema
    from pyarrow import Table as _Table

    from ._result import AjaxResult

__all__ = [
    "Column", "Schema", "Kind", "schema_for", "fields_method_for", "to_arrow", "to_pandas",
    "write_parquet", "iter_arrow", "concat_arrow", "MONEY_PRECISION", "MONEY_SCALE",
]

Kind = Literal["int", "float", "money", "bool", "date", "datetime", "string", "multifield", "raw"]
_KINDS = frozenset(("int", "float", "money", "bool", "date", "datetime", "string", "multifield", "raw"))

#: Money amounts: ``decimal128(MONEY_PRECISION, MONEY_SCALE)``, the portal's own
#: money columns (DECIMAL(18,2)); an amount with more decimals raises ValueError.
MONEY_PRECISION = 18
MONEY_SCALE = 2

_INT_TYPES = frozenset((
    "integer", "int", "user", "employee", "enumeration", "crm_company", "crm_contact",
    "crm_lead", "crm_deal", "crm_quote", "crm_category", "crm_entity", "crm_requisite",
    "crm_mycompany", "iblock_element", "iblock_section", "group", "location",
))
_FLOAT_TYPES = frozenset(("double", "float", "number"))
_BOOL_TYPES = frozenset(("boolean", "bool", "char"))
_MULTIFIELD_PARTS = ("ID", "VALUE_TYPE", "VALUE", "TYPE_ID")
_TRUE = ("y", "1", "true")
_FALSE = ("n", "0", "false")


def _kind_of(portal_type: str | None) -> Kind:
    t = (portal_type or "").lower()
    if t in _INT_TYPES:
        return "int"
    if t in _FLOAT_TYPES:
        return "float"
    if t == "money":
        return "money"
    if t in _BOOL_TYPES:
        return "bool"
    if t == "date":
        return "date"
    if t == "datetime":
        return "datetime"
    if t == "crm_multifield":
        return "multifield"
    if t in ("file", "address", "crm_file", "diskfile", "disk_file", "array", "object"):
        return "raw"
    return "string"


def _enum_kind(values: Any) -> Kind:
    """``enum`` fields (tasks) by their values map: numeric keys are ints
    (PRIORITY, STATUS), Y/N flags booleans (MULTITASK), other codes text (MARK)."""
    keys = [str(k) for k in values] if isinstance(values, (Mapping, list)) else []
    if keys and all(k.lstrip("-").isdigit() for k in keys):
        return "int"
    if keys and set(keys) <= {"Y", "N"}:
        return "bool"
    return "string"


# ---------------------------------------------------------------- lazy imports
def _need_pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.compute  # noqa: F401 - the kernels used below
    except ImportError as exc:
        raise ImportError("b24hook.frames needs pyarrow: pip install 'b24hook[arrow]' "
                          "(or 'b24hook[pandas]' for DataFrames)") from exc
    return pyarrow


def _need_pandas() -> Any:
    try:
        import pandas
    except ImportError as exc:
        raise ImportError("to_pandas() needs pandas and pyarrow: pip install 'b24hook[pandas]'") from exc
    return pandas


def _need_parquet() -> Any:
    _need_pyarrow()
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:  # a pyarrow build without Parquet support
        raise ImportError("write_parquet() needs pyarrow with Parquet support: "
                          "pip install 'b24hook[arrow]'") from exc
    return pq


# ---------------------------------------------------------------- schema
@dataclass(frozen=True)
class Column:
    """One field of a :class:`Schema`: its row key, how it converts, what the portal said."""

    name: str
    kind: Kind
    multiple: bool = False
    portal_type: str | None = None
    title: str | None = None

    def arrow_type(self) -> "pa.DataType":
        """The Arrow type of the column (of the amount, for money)."""
        pa = _need_pyarrow()
        t: _DataType = _scalar_type(pa, self.kind)
        return pa.list_(t) if self.multiple and self.kind != "multifield" else t


def _scalar_type(pa: Any, kind: str) -> Any:
    if kind == "int":
        return pa.int64()
    if kind == "float":
        return pa.float64()
    if kind == "money":
        return pa.decimal128(MONEY_PRECISION, MONEY_SCALE)
    if kind == "bool":
        return pa.bool_()
    if kind == "date":
        return pa.date32()
    if kind == "datetime":
        return pa.timestamp("us", tz="UTC")
    if kind == "multifield":
        return pa.list_(pa.struct([(p, pa.string()) for p in _MULTIFIELD_PARTS]))
    return pa.string()


def _upper_snake(name: str) -> str:
    """``createdDate`` -> ``CREATED_DATE``, ``ufCrm2_1639669411830`` -> ``UF_CRM_2_1639669411830``."""
    s = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    s = re.sub(r"(?<=[A-Za-z])(?=[0-9])", "_", s)
    return s.upper()


class Schema:
    """Field name -> :class:`Column`, usually read from a ``*.fields`` answer.

    Lookup is by the exact row key, then by its UPPER_SNAKE form (so a
    ``tasks.task.getFields`` answer keyed ``CREATED_DATE`` types the
    ``createdDate`` key of ``tasks.task.list`` rows; ``crm.item.fields``
    answers also register their ``upperName``).
    """

    __slots__ = ("_columns", "_alias", "method")

    def __init__(self, columns: Iterable[Column], method: str | None = None,
                 aliases: Mapping[str, str] | None = None) -> None:
        self._columns: dict[str, Column] = {c.name: c for c in columns}
        self._alias: dict[str, str] = dict(aliases or {})
        self.method = method

    @classmethod
    def from_fields(cls, answer: Mapping[str, Any], method: str | None = None) -> "Schema":
        """Read a ``*.fields`` payload: ``{NAME: {type, isMultiple, title, ...}}``, optionally
        wrapped in ``{"fields": ...}`` (``crm.item.fields``, ``tasks.task.getFields``)."""
        inner = answer.get("fields") if isinstance(answer, Mapping) else None
        if isinstance(inner, Mapping) and inner and all(isinstance(v, Mapping) for v in inner.values()):
            answer = inner
        if not isinstance(answer, Mapping):
            raise TypeError("a *.fields answer is a mapping of field names to descriptions")
        cols: list[Column] = []
        aliases: dict[str, str] = {}
        for name, desc in answer.items():
            if isinstance(desc, Mapping):
                ptype = desc.get("type")
                ptype = str(ptype) if ptype is not None else None
                multiple = bool(desc.get("isMultiple")) or str(desc.get("isMultiple")).upper() == "Y"
                title = desc.get("title")
                if not title or title == name:  # user fields: the title is the code
                    title = desc.get("listLabel") or desc.get("formLabel") or title
                upper = desc.get("upperName")
                if isinstance(upper, str) and upper and upper != name:
                    aliases[upper] = str(name)
            else:  # user.fields: {NAME: title}, no types
                ptype, multiple, title = None, False, desc
            kind = _kind_of(ptype)
            if (ptype or "").lower() == "enum":
                kind = _enum_kind(desc.get("values") if isinstance(desc, Mapping) else None)
            cols.append(Column(str(name), kind, multiple and kind != "multifield", ptype,
                               str(title) if title is not None else None))
        return cls(cols, method, aliases)

    def get(self, name: str) -> Column | None:
        """The column for a row key, or None when the schema does not know it."""
        col = self._columns.get(name)
        if col is not None:
            return col
        alias = self._alias.get(name)
        if alias is not None:
            return replace(self._columns[alias], name=name)
        up = self._columns.get(_upper_snake(name)) or self._columns.get(name.upper())
        return replace(up, name=name) if up is not None else None

    def __getitem__(self, name: str) -> Column:
        col = self.get(name)
        if col is None:
            raise KeyError(name)
        return col

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[Column]:
        return iter(self._columns.values())

    def __len__(self) -> int:
        return len(self._columns)

    def names(self) -> list[str]:
        return list(self._columns)

    def override(self, kinds: Mapping[str, Kind | Column]) -> "Schema":
        """A copy with some columns converted differently: ``{"UF_CRM_X": "float"}``
        (a kind keeps the column's ``multiple``), or whole :class:`Column` objects."""
        cols = dict(self._columns)
        for name, k in kinds.items():
            if isinstance(k, Column):
                cols[name] = replace(k, name=name)
                continue
            if k not in _KINDS:
                raise ValueError(f"unknown kind {k!r} (one of {', '.join(sorted(_KINDS))})")
            old = cols.get(name)
            cols[name] = replace(old, kind=k) if old is not None else Column(name, k)
        return Schema(cols.values(), self.method, self._alias)

    def arrow_schema(self, names: Iterable[str] | None = None) -> "pa.Schema":
        """The Arrow schema of a table holding ``names`` (default: every column)."""
        pa = _need_pyarrow()
        fields = []
        for name in (self.names() if names is None else names):
            col = self.get(name) or Column(name, "string")
            fields.append(pa.field(name, col.arrow_type()))
            if col.kind == "money":
                fields.append(pa.field(name + "_currency",
                                       pa.list_(pa.string()) if col.multiple else pa.string()))
        out: _ArrowSchema = pa.schema(fields)
        return out

    def __repr__(self) -> str:
        return f"<Schema {self.method or '?'}: {len(self._columns)} columns>"


def fields_method_for(method: str) -> str:
    """The ``*.fields`` method describing a list method's rows."""
    m = method.strip()
    low = m.lower()
    if low in ("tasks.task.list", "tasks.task.get"):
        return "tasks.task.getFields"
    if low in ("user.get", "user.search"):
        return "user.fields"
    head, _, _ = m.rpartition(".")
    if not head:
        raise ValueError(f"cannot tell the *.fields method of {method!r}; pass fields_method=")
    return head + ".fields"


class _CallAction(Protocol):
    def make(self, method: str, params: Any = None, request_id: str | None = None) -> "AjaxResult": ...


class _VersionActions(Protocol):
    @property
    def call(self) -> _CallAction: ...


class _Actions(Protocol):
    @property
    def v2(self) -> _VersionActions: ...


class _Client(Protocol):
    """What :func:`schema_for` needs of its client: ``b24.actions.v2.call.make``
    (a :class:`~b24hook.B24Hook`)."""

    @property
    def actions(self) -> _Actions: ...


def schema_for(b24: _Client, method: str, params: Mapping[str, Any] | None = None, *,
               fields_method: str | None = None, request_id: str | None = None) -> Schema:
    """Call the ``*.fields`` method matching ``method`` and read its answer.

    ``crm.deal.list`` -> ``crm.deal.fields``; ``crm.item.list`` ->
    ``crm.item.fields`` with the params' ``entityTypeId`` (and
    ``useOriginalUfNames``); ``tasks.task.list`` -> ``tasks.task.getFields``.
    REST 3.0 lists (``actions.v3``) use the same field names, so their schema
    comes from the same v2 methods. Raises :class:`SdkError` when the call fails.
    """
    return _schema_from(
        lambda fm, send, rid: b24.actions.v2.call.make(method=fm, params=send, request_id=rid),
        method, params, fields_method=fields_method, request_id=request_id)


def _schema_from(call: Callable[[str, dict[str, Any], str | None], "AjaxResult"], method: str,
                 params: Mapping[str, Any] | None = None, *, fields_method: str | None = None,
                 request_id: str | None = None) -> Schema:
    """:func:`schema_for` with the v2 call given as ``call(method, params, request_id)``
    (``Pages.schema`` passes its transport's)."""
    fm = fields_method or fields_method_for(method)
    send: dict[str, Any] = {}
    p = params or {}
    for key in ("entityTypeId", "useOriginalUfNames"):
        if key in p:
            send[key] = p[key]
    res = call(fm, send, request_id)
    if not res.is_success:
        raise SdkError("B24HOOK_FRAMES_SCHEMA", 500, f"{fm} failed: "
                       + "; ".join(res.get_error_messages()))
    payload = res.get_data_or_raise()["result"]  # success: checked above
    if not isinstance(payload, Mapping):
        raise SdkError("B24HOOK_FRAMES_SCHEMA", 500, f"{fm} answered no map of fields")
    return Schema.from_fields(payload, method)


# ---------------------------------------------------------------- conversion
def _raw_columns(pa: Any, rows: list[Mapping[str, Any]]) -> dict[str, Any]:
    """Key -> Arrow array of the values as sent (nulls where a row lacks the key)."""
    if not rows:
        return {}
    try:
        st = pa.array(rows)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        keys = dict.fromkeys(k for r in rows for k in r)
        out = {}
        for k in keys:
            vals = [r.get(k) for r in rows]
            try:
                out[k] = pa.array(vals)
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                out[k] = _Mixed(vals)  # mixed kinds: normalised with the column's kind
        return out
    if not pa.types.is_struct(st.type):
        raise TypeError("rows must be mappings (dicts)")
    return {st.type.field(i).name: st.field(i) for i in range(st.type.num_fields)}


class _Mixed:
    """Values of one key that Arrow cannot put in one array as they are."""

    __slots__ = ("values",)

    def __init__(self, values: list[Any]) -> None:
        self.values = values


def _normalise(values: list[Any], col: Column) -> list[Any]:
    """Make mixed values uniform: lists for multiple columns (``false``/"" -> []),
    text for scalar columns (JSON for containers)."""
    if col.multiple or col.kind == "multifield":
        out: list[Any] = []
        for v in values:
            if v is None or isinstance(v, list):
                out.append(v)
            elif v is False or v == "":
                out.append([])
            else:
                out.append([v])
        if col.kind == "multifield":
            return out
        return [None if v is None else [_scalar_text(x) for x in v] for v in out]
    return [_scalar_text(v) for v in values]


def _scalar_text(v: Any) -> Any:
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "Y" if v else "N"
    if isinstance(v, (dict, list)):
        return json.dumps(v, ensure_ascii=False)
    return str(v)


def _blank_to_null(pa: Any, pc: Any, arr: Any) -> Any:
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        return pc.if_else(pc.equal(arr, ""), pa.nulls(len(arr), arr.type), arr)
    return arr


def _fail(name: str, kind: str, exc: Exception) -> ValueError:
    return ValueError(f"column {name!r}: cannot read the values as {kind} ({exc}); "
                      f"convert it differently with schema.override({{{name!r}: 'string'}})")


def _scalar(pa: Any, pc: Any, arr: Any, kind: str, name: str) -> tuple[Any, Any]:
    """(converted array, currency array or None) for one scalar column."""
    if kind == "raw":
        return arr, None
    if kind == "multifield":
        return _multifield(pa, pc, arr, name), None
    target = _scalar_type(pa, kind)
    if pa.types.is_null(arr.type):
        return pa.nulls(len(arr), target), (pa.nulls(len(arr), pa.string()) if kind == "money" else None)
    if kind == "string":
        if pa.types.is_string(arr.type):
            return arr, None
        if pa.types.is_nested(arr.type):
            return arr, None  # objects (file fields...) stay nested
        if pa.types.is_boolean(arr.type):
            return pc.if_else(arr, "Y", "N"), None
        return arr.cast(pa.string()), None
    is_text = pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)
    try:
        if kind == "money":
            if not is_text:
                return arr.cast(target), pa.nulls(len(arr), pa.string())
            parts = pc.extract_regex(arr, r"^(?P<amount>[^|]*)(?:\|(?P<currency>.*))?$")
            amount = _blank_to_null(pa, pc, pc.struct_field(parts, "amount"))
            currency = _blank_to_null(pa, pc, pc.struct_field(parts, "currency"))
            return amount.cast(target), currency
        if kind == "bool":
            if pa.types.is_boolean(arr.type):
                return arr, None
            if not is_text:
                return pc.not_equal(arr.cast(pa.float64()), 0.0), None
            low = pc.utf8_lower(_blank_to_null(pa, pc, arr))
            t = pc.is_in(low, value_set=pa.array(_TRUE))
            f = pc.is_in(low, value_set=pa.array(_FALSE))
            bad = pc.and_(pc.is_valid(low), pc.invert(pc.or_(t, f)))
            if pc.any(bad).as_py():
                first = pc.filter(arr, bad)[0].as_py()
                raise ValueError(f"{first!r} is not Y/N, 1/0 or true/false")
            return pc.if_else(pc.is_null(low), pa.nulls(len(arr), pa.bool_()), t), None
        if kind == "date":
            if is_text:
                arr = pc.utf8_slice_codeunits(_blank_to_null(pa, pc, arr), 0, 10)
            return arr.cast(target), None
        if kind == "datetime":
            if not is_text:
                return arr.cast(target), None
            arr = _blank_to_null(pa, pc, arr)
            try:
                return arr.cast(target), None
            except pa.ArrowInvalid:
                return _datetimes_one_by_one(pa, arr, target), None
        # int, float
        if is_text:
            arr = _blank_to_null(pa, pc, arr)
        return arr.cast(target), None
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, ValueError) as exc:
        raise _fail(name, kind, exc) from None


def _datetimes_one_by_one(pa: Any, arr: Any, target: Any) -> Any:
    """Values without a zone offset (``2024-01-01``, ``2024-01-01T10:00:00``) read as UTC."""
    out: list[datetime | None] = []
    for v in arr.to_pylist():
        if v is None:
            out.append(None)
            continue
        d = datetime.fromisoformat(v)
        out.append(d if d.tzinfo is not None else d.replace(tzinfo=timezone.utc))
    return pa.array(out, type=target)


def _multifield(pa: Any, pc: Any, arr: Any, name: str) -> Any:
    target = _scalar_type(pa, "multifield")
    if pa.types.is_null(arr.type):
        return pa.nulls(len(arr), target)
    if not (pa.types.is_list(arr.type) and pa.types.is_struct(arr.type.value_type)):
        raise _fail(name, "multifield", ValueError("expected lists of {VALUE, VALUE_TYPE}"))
    values = arr.values
    have = {values.type.field(i).name for i in range(values.type.num_fields)}
    parts = []
    for p in _MULTIFIELD_PARTS:
        child = values.field(p) if p in have else pa.nulls(len(values), pa.string())
        parts.append(child if pa.types.is_string(child.type) else child.cast(pa.string()))
    structs = pa.StructArray.from_arrays(parts, names=list(_MULTIFIELD_PARTS))
    return pa.ListArray.from_arrays(arr.offsets, structs, mask=arr.is_null())


def _convert(pa: Any, pc: Any, name: str, raw: Any, col: Column) -> list[tuple[str, Any]]:
    if isinstance(raw, _Mixed):
        raw = pa.array(_normalise(raw.values, col))
    kind = col.kind
    if col.multiple and kind != "multifield":
        if pa.types.is_null(raw.type):  # no row has a value
            out = [(name, pa.nulls(len(raw), col.arrow_type()))]
            if kind == "money":
                out.append((name + "_currency", pa.nulls(len(raw), pa.list_(pa.string()))))
            return out
        if not pa.types.is_list(raw.type):  # a single value where a list is due
            raw = pa.array(_normalise(raw.to_pylist(), col))
        items, cur = _scalar(pa, pc, raw.values, kind, name)
        mask = raw.is_null()
        out = [(name, pa.ListArray.from_arrays(raw.offsets, items, mask=mask))]
        if cur is not None:
            out.append((name + "_currency", pa.ListArray.from_arrays(raw.offsets, cur, mask=mask)))
        return out
    conv, cur = _scalar(pa, pc, raw, kind, name)
    out = [(name, conv)]
    if cur is not None:
        out.append((name + "_currency", cur))
    return out


def _table(rows: Iterable[Mapping[str, Any]], schema: Schema | None) -> "pa.Table":
    pa = _need_pyarrow()
    import pyarrow.compute as pc

    rows = rows if isinstance(rows, list) else list(rows)
    raw = _raw_columns(pa, rows)
    if not raw:
        return (schema.arrow_schema() if schema is not None else pa.schema([])).empty_table()
    names: list[str] = []
    arrays: list[Any] = []
    for name, arr in raw.items():
        col = schema.get(name) if schema is not None else None
        if col is None:
            if isinstance(arr, _Mixed):
                arr = pa.array(_normalise(arr.values, Column(name, "string")))
            elif pa.types.is_null(arr.type):
                arr = arr.cast(pa.string())
            names.append(name)
            arrays.append(arr)
            continue
        for n, a in _convert(pa, pc, name, arr, col):
            names.append(n)
            arrays.append(a)
    table: _Table = pa.Table.from_arrays(arrays, names=names)
    return table


def to_arrow(rows: Iterable[Mapping[str, Any]], schema: Schema | None = None) -> "pa.Table":
    """Rows (dicts, as list methods return them) as a ``pyarrow.Table`` typed by ``schema``.

    Without a schema the types are what Arrow infers from the values (for
    legacy CRM lists: text). Raises ValueError naming the column when values
    do not fit its type (an override: ``schema.override({name: "string"})``).
    """
    return _table(rows, schema)


DtypeBackend = Literal["numpy_nullable", "pyarrow"]


def to_pandas(rows: Iterable[Mapping[str, Any]] | "pa.Table", schema: Schema | None = None, *,
              dtype_backend: DtypeBackend = "numpy_nullable") -> "pd.DataFrame":
    """Rows (or a table from :func:`to_arrow`) as a ``pandas.DataFrame``.

    ``dtype_backend="numpy_nullable"`` (default): ``Int64``, ``Float64``,
    ``boolean``, ``string``, ``datetime64[us, UTC]``, dates as
    ``datetime64[s]``, money as ``decimal.Decimal`` objects, lists as Python
    lists; nulls are ``pd.NA`` / ``NaT``. ``dtype_backend="pyarrow"``: every
    column an ``ArrowDtype`` of the Arrow type (decimals and lists included).
    """
    pd = _need_pandas()
    pa = _need_pyarrow()
    if isinstance(rows, pa.Table):
        table = rows
    else:  # (``pa`` is the module imported here: mypy cannot narrow on it)
        table = _table(cast("Iterable[Mapping[str, Any]]", rows), schema)
    if dtype_backend == "pyarrow":
        arrow_df: _DataFrame = table.to_pandas(types_mapper=pd.ArrowDtype)
        return arrow_df
    if dtype_backend != "numpy_nullable":
        raise ValueError("dtype_backend must be 'numpy_nullable' or 'pyarrow'")
    mapping = {
        pa.int64(): pd.Int64Dtype(), pa.int32(): pd.Int32Dtype(), pa.float64(): pd.Float64Dtype(),
        pa.bool_(): pd.BooleanDtype(), pa.string(): pd.StringDtype(), pa.large_string(): pd.StringDtype(),
    }
    df: _DataFrame = table.to_pandas(types_mapper=mapping.get, date_as_object=False)
    for i, field in enumerate(table.schema):
        if pa.types.is_list(field.type) or pa.types.is_large_list(field.type):
            df[field.name] = pd.Series(table.column(i).to_pylist(), index=df.index, dtype=object)
        elif pa.types.is_date(field.type):
            df[field.name] = df[field.name].astype("datetime64[s]")
        elif pa.types.is_decimal(field.type):  # Decimal objects, pd.NA for nulls
            df[field.name] = pd.Series([pd.NA if v is None else v for v in table.column(i).to_pylist()],
                                       index=df.index, dtype=object)
    return df


# ---------------------------------------------------------------- parquet
def _conform(pa: Any, table: Any, target: Any) -> Any:
    """``table`` with exactly the columns of ``target`` (missing ones null, extra ones dropped)."""
    cols = []
    for field in target:
        idx = table.schema.get_field_index(field.name)
        if idx < 0:
            cols.append(pa.nulls(table.num_rows, field.type))
            continue
        col = table.column(idx)
        if col.type != field.type:
            try:
                col = col.cast(field.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise ValueError(f"column {field.name!r} changed type between chunks "
                                 f"({field.type} then {col.type}); pass a schema") from exc
        cols.append(col)
    return pa.Table.from_arrays(cols, schema=target)


def iter_arrow(chunks: Iterable[Iterable[Mapping[str, Any]]],
               schema: Schema | None = None) -> Iterator["pa.Table"]:
    """One table per non-empty chunk of rows, all with the columns and types of the first.

    The first chunk fixes the columns: later chunks get nulls for keys they
    lack; keys the first chunk did not have are dropped (one RuntimeWarning).
    Nothing is held between chunks, so memory follows the chunk size.
    """
    pa = _need_pyarrow()
    target = None
    warned = False
    for chunk in chunks:
        table = _table(chunk, schema)
        if table.num_rows == 0:
            continue
        if target is None:
            target = table.schema
        else:
            extra = [n for n in table.schema.names if target.get_field_index(n) < 0]
            if extra and not warned:
                warnings.warn(f"keys absent from the first chunk are dropped: "
                              f"{', '.join(extra[:10])}", RuntimeWarning, stacklevel=2)
                warned = True
            table = _conform(pa, table, target)
        yield table


def concat_arrow(chunks: Iterable[Iterable[Mapping[str, Any]]], schema: Schema | None = None) -> "pa.Table":
    """Chunks of rows (e.g. pages) as one table, each chunk converted as it arrives
    (:func:`iter_arrow`), so the rows' dicts are never all held at once."""
    pa = _need_pyarrow()
    tables = list(iter_arrow(chunks, schema))
    if not tables:
        return (schema.arrow_schema() if schema is not None else pa.schema([])).empty_table()
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables)


def write_parquet(chunks: Iterable[Iterable[Mapping[str, Any]]], dest: "str | os.PathLike[str] | Any",
                  schema: Schema | None = None, *, row_group_rows: int = 50_000,
                  compression: str = "zstd") -> int:
    """Stream chunks of rows (lists of dicts, e.g. the pages of ``fetch_list``) into one
    Parquet file; returns the number of rows written.

    Each chunk is converted as it arrives (:func:`iter_arrow`: the first chunk
    fixes the columns) and chunks are gathered into row groups of about
    ``row_group_rows`` rows, so memory holds one row group whatever the size
    of the export. No rows: a file with the schema's columns (none without a
    schema). ``dest`` is a path or a writable binary file object.
    """
    pa = _need_pyarrow()
    pq = _need_parquet()
    if row_group_rows < 1:
        raise ValueError("row_group_rows must be at least 1")
    writer = None
    pending: list[Any] = []
    pending_rows = 0
    written = 0

    def flush() -> None:
        nonlocal pending, pending_rows, written
        if not pending:
            return
        assert writer is not None
        block = pending[0] if len(pending) == 1 else pa.concat_tables(pending)
        pending = []
        pending_rows = 0
        writer.write_table(block, row_group_size=block.num_rows)
        written += block.num_rows

    try:
        for table in iter_arrow(chunks, schema):
            if writer is None:
                writer = pq.ParquetWriter(dest, table.schema, compression=compression)
            pending.append(table)
            pending_rows += table.num_rows
            if pending_rows >= row_group_rows:
                flush()
        if writer is None:
            empty = schema.arrow_schema() if schema is not None else pa.schema([])
            writer = pq.ParquetWriter(dest, empty, compression=compression)
        flush()
    finally:
        if writer is not None:
            writer.close()
    return written
