"""Filters to SQL: the v2 prefix grammar (§2.4) and the v3 array grammar (§8.4)."""
from __future__ import annotations

from typing import Any, Callable

from .errors import RestError, V3Error
from .registry import as_list

# (column, type) for a field name, or None when unknown
Resolver = Callable[[str], "tuple[str, str] | None"]

# longest prefixes first
_PREFIXES = ["!=%", "!%=", ">=", "<=", "=%", "%=", "!%", "!@", "!=", ">", "<", "@", "%", "=", "!"]
_BOOL_TRUE = {"y", "true", "1", "yes"}


def split_prefix(key: str) -> tuple[str, str]:
    for p in _PREFIXES:
        if key.startswith(p):
            return p, key[len(p):]
    return "", key


def coerce(value: Any, typ: str) -> Any:
    """Make a filter value comparable with the stored column."""
    if value is None:
        return None
    if typ in ("integer", "user", "crm_company", "crm_contact", "crm_category"):
        try:
            return int(value) if not isinstance(value, bool) else int(value)
        except (TypeError, ValueError):
            try:
                return float(value)
            except (TypeError, ValueError):
                return value
    if typ == "double":
        try:
            return float(value)
        except (TypeError, ValueError):
            return value
    if typ == "bool":
        if isinstance(value, bool):
            return 1 if value else 0
        return 1 if str(value).lower() in _BOOL_TRUE else 0
    if isinstance(value, bool):
        return "Y" if value else "N"
    return str(value) if not isinstance(value, (int, float)) else value


def _like_escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def compile_v2(filt: Any, resolve: Resolver, *, upper: bool = False,
               strict: Callable[[str], RestError] | None = None,
               groups: bool = False) -> tuple[str, list[Any]]:
    """Compile a v2 filter map into (sql, args).  Unknown fields are ignored
    unless ``strict`` returns the error to raise."""
    if not isinstance(filt, dict):
        return "1", []
    parts: list[str] = []
    args: list[Any] = []
    logic = "AND"
    if groups:
        for k, v in filt.items():
            if str(k).upper() == "LOGIC":
                logic = "OR" if str(v).upper() == "OR" else "AND"
    for key, value in filt.items():
        key = str(key)
        if groups and key.upper() == "LOGIC":
            continue
        if groups and isinstance(value, dict) and (key.isdigit() or key == ""):
            sql, a = compile_v2(value, resolve, upper=upper, strict=strict, groups=True)
            parts.append(f"({sql})")
            args.extend(a)
            continue
        op, name = split_prefix(key)
        if upper:
            name = name.upper()
        res = resolve(name)
        if res is None:
            if strict is not None:
                raise strict(name)
            continue
        col, typ = res
        if typ == "crm_multifield":
            # e.g. PHONE / EMAIL: substring search in the stored JSON
            col = f"{col}"
            if op in ("", "="):
                op = "%"
        multi = isinstance(value, (list, dict))
        if multi and any(isinstance(x, (list, dict)) for x in as_list(value)):
            # e.g. a batch reference that fell back to a whole list of rows
            raise RestError("ERROR_ARGUMENT", f"Invalid filter value for field '{name}'", 400)
        vals = [coerce(v, typ) for v in as_list(value)] if multi else None
        v = coerce(value, typ) if not multi else None
        neg = op.startswith("!")
        base = op[1:] if neg else op
        if base in ("", "=", "@") and multi:
            if not vals:
                parts.append("0" if not neg else "1")
            else:
                parts.append(f"{col} {'NOT IN' if neg else 'IN'} ({','.join('?' * len(vals))})")
                args.extend(vals)
        elif base in ("", "=", "@"):
            if v is None or v == "":
                parts.append(f"({col} IS NOT NULL AND {col} != '')" if neg
                             else f"({col} IS NULL OR {col} = '')")
            else:
                parts.append(f"({col} IS NULL OR {col} != ?)" if neg else f"{col} = ?")
                args.append(v)
        elif base in (">", ">=", "<", "<="):
            if multi:
                vals2 = vals or [None]
                v = vals2[0]
            parts.append(f"{col} {base} ?")
            args.append(v)
        elif base in ("%", "=%", "%="):
            items = vals if vals is not None else [v]   # vals is set when multi
            sub = []
            for item in items:
                s = str(item if item is not None else "")
                pat = f"%{_like_escape(s)}%" if base == "%" else s
                sub.append(f"{col} LIKE ? ESCAPE '\\'" if base == "%" else f"{col} LIKE ?")
                args.append(pat)
            joined = " OR ".join(sub) or "0"
            parts.append(f"NOT ({joined})" if neg else f"({joined})")
        else:
            parts.append("1")
    if not parts:
        return "1", []
    return f" {logic} ".join(parts), args


# ---------------------------------------------------------------- v3

_V3_OPS = {"=": "=", "!=": "!=", ">": ">", ">=": ">=", "<": "<", "<=": "<=", "in": "IN",
           "between": "BETWEEN"}


def compile_v3(filt: Any, resolve: Resolver, entity: str) -> tuple[str, list[Any]]:
    """``[[field, op, value], [field, value], {"logic":"or","conditions":[...]},
    {"negative":true,"conditions":[...]}]`` -> (sql, args)."""
    if filt is None:
        return "1", []
    if isinstance(filt, dict) and "conditions" in filt:
        filt = [filt]
    if not isinstance(filt, list):
        raise V3Error("INVALIDFILTEREXCEPTION", "Filter must be an array of conditions")
    args: list[Any] = []
    sql = _v3_group(filt, "AND", resolve, entity, args)
    return sql, args


def _v3_group(conds: list[Any], logic: str, resolve: Resolver, entity: str, args: list[Any]) -> str:
    parts = []
    for c in conds:
        parts.append(_v3_cond(c, resolve, entity, args))
    if not parts:
        return "1"
    return "(" + f" {logic} ".join(parts) + ")"


def _v3_cond(c: Any, resolve: Resolver, entity: str, args: list[Any]) -> str:
    if isinstance(c, dict):
        conds = c.get("conditions")
        if not isinstance(conds, list):
            raise V3Error("INVALIDFILTEREXCEPTION", f"Cannot recognize filter condition")
        logic = str(c.get("logic", "and")).lower()
        if logic not in ("and", "or"):
            raise V3Error("INVALIDFILTEREXCEPTION", f"Unknown filter logic `{logic}`")
        sql = _v3_group(conds, logic.upper(), resolve, entity, args)
        if c.get("negative") in (True, "true", "Y", 1):
            sql = f"NOT {sql}"
        return sql
    if not isinstance(c, list) or len(c) not in (2, 3) or not isinstance(c[0], str):
        raise V3Error("INVALIDFILTEREXCEPTION", "Cannot recognize filter condition")
    field = c[0]
    if len(c) == 2:
        value = c[1]
        op = "in" if isinstance(value, list) else "="
    else:
        op, value = c[1], c[2]
    if not isinstance(op, str) or op.lower() not in _V3_OPS:
        raise V3Error("UNKNOWNFILTEROPERATOREXCEPTION", f"Unknown filter operator `{op}`")
    op = op.lower()
    res = resolve(field)
    if res is None:
        raise V3Error("UNKNOWNDTOPROPERTYEXCEPTION", f"Unknown field `{field}` for entity `{entity}`")
    col, typ = res
    if op == "in":
        if not isinstance(value, list):
            raise V3Error("INVALIDFILTEREXCEPTION", f"Value for `in` must be an array (field `{field}`)")
        if not value:
            return "0"
        args.extend(coerce(v, typ) for v in value)
        return f"{col} IN ({','.join('?' * len(value))})"
    if op == "between":
        if not isinstance(value, list) or len(value) != 2:
            raise V3Error("INVALIDFILTEREXCEPTION", f"Value for `between` must be a 2-element array (field `{field}`)")
        args.extend(coerce(v, typ) for v in value)
        return f"{col} BETWEEN ? AND ?"
    if isinstance(value, (list, dict)):
        raise V3Error("INVALIDFILTEREXCEPTION", f"Scalar value expected for field `{field}`")
    if value is None:
        return f"{col} IS {'NOT ' if op == '!=' else ''}NULL"
    args.append(coerce(value, typ))
    return f"{col} {_V3_OPS[op]} ?"
