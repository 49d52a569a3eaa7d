"""Workload 2: decoding a 50-command batch answer of 50-row pages into Python objects.

The answer is built from the recorded real answers in
/work/shared/fixtures/real-responses/ (falls back to a built-in field list when
that folder is absent): the field list and types of ``crm.lead.fields``
(64 fields incl. user fields, money ``"1250.00|RUB"``, datetimes with offset,
``"Y"/"N"`` chars, ids as strings, empty values as ``null``) and the lead
titles of ``crm_lead_list_several_pages_success.json`` (Cyrillic, sent by the
portal as ``\\uXXXX`` escapes). Serialized the way PHP ``json_encode`` does
(``\\/``, ``\\u`` escapes) in the batch envelope
``{"result": {"result": {cmd: rows}, "result_error": [], "result_total", "result_next",
"result_time"}, "time"}``.
"""
from __future__ import annotations

import json
import random
import statistics
import time
import timeit
from pathlib import Path
from typing import Any, Callable

FIXTURES = Path("/work/shared/fixtures/real-responses")

_FALLBACK_FIELDS = [
    ("ID", "integer"), ("TITLE", "string"), ("HONORIFIC", "crm_status"), ("NAME", "string"),
    ("SECOND_NAME", "string"), ("LAST_NAME", "string"), ("BIRTHDATE", "date"), ("COMPANY_TITLE", "string"),
    ("SOURCE_ID", "crm_status"), ("STATUS_ID", "crm_status"), ("POST", "string"), ("ADDRESS", "string"),
    ("CURRENCY_ID", "crm_currency"), ("OPPORTUNITY", "double"), ("IS_MANUAL_OPPORTUNITY", "char"),
    ("OPENED", "char"), ("COMMENTS", "string"), ("HAS_PHONE", "char"), ("HAS_EMAIL", "char"),
    ("ASSIGNED_BY_ID", "user"), ("CREATED_BY_ID", "user"), ("MODIFY_BY_ID", "user"),
    ("DATE_CREATE", "datetime"), ("DATE_MODIFY", "datetime"), ("COMPANY_ID", "crm_company"),
    ("CONTACT_ID", "crm_contact"), ("UTM_SOURCE", "string"), ("UF_CRM_1594289659496", "money"),
    ("UF_CRM_1594290129890", "url"),
]


def _fields_and_titles() -> tuple[list[tuple[str, str]], list[str]]:
    fields, titles = list(_FALLBACK_FIELDS), ["Lead from the web form"]
    try:
        d = json.loads((FIXTURES / "crm_lead_fields_success.json").read_text("utf-8"))
        r = d.get("response", d)
        r = r.get("result", r)
        fields = [(k, v.get("type", "string")) for k, v in r.items() if not v.get("isMultiple")]
        d = json.loads((FIXTURES / "crm_lead_list_several_pages_success.json").read_text("utf-8"))
        found: list[str] = []

        def walk(node: Any) -> None:   # plain pages and batch pages ({"result": {"cmd0": [...]}})
            if isinstance(node, dict):
                if isinstance(node.get("TITLE"), str):
                    found.append(node["TITLE"])
                for v in node.values():
                    walk(v)
            elif isinstance(node, list):
                for v in node:
                    walk(v)
        walk(d["response"])
        titles = found or titles
    except (OSError, ValueError, KeyError, AttributeError):
        pass
    return fields, titles


def _value(rng: random.Random, name: str, typ: str, titles: list[str], rid: int) -> Any:
    if name == "ID":
        return str(rid)
    if name == "TITLE":
        return rng.choice(titles)
    if rng.random() < 0.25 and typ not in ("char", "user", "crm_currency"):
        return None
    if typ in ("integer", "user", "crm_company", "crm_contact"):
        return str(rng.randrange(1, 5000))
    if typ == "double":
        return f"{rng.randrange(0, 10**6) / 100:.2f}"
    if typ == "money":
        return f"{rng.randrange(0, 10**6) / 100:.2f}|RUB"
    if typ == "char":
        return rng.choice("YN")
    if typ == "date":
        return f"19{rng.randrange(50, 99)}-0{rng.randrange(1, 9)}-1{rng.randrange(0, 9)}T03:00:00+03:00"
    if typ == "datetime":
        return f"2024-{rng.randrange(1, 12):02d}-{rng.randrange(1, 28):02d}T{rng.randrange(0, 23):02d}:" \
               f"{rng.randrange(0, 59):02d}:{rng.randrange(0, 59):02d}+03:00"
    if typ == "crm_status":
        return rng.choice(["NEW", "IN_PROCESS", "PROCESSED", "CONVERTED", "JUNK", "WEB", "CALL", "HNR_RU_1"])
    if typ == "crm_currency":
        return rng.choice(["RUB", "USD", "EUR"])
    if typ == "url":
        return f"https://example.ru/deal/{rng.randrange(1, 10**6)}/?utm=crm&x=1"
    return rng.choice(titles)[: rng.randrange(5, 40)]


def build_answer(commands: int = 50, rows: int = 50, seed: int = 5) -> bytes:
    rng = random.Random(seed)
    fields, titles = _fields_and_titles()
    result, total, nxt, rtime = {}, {}, {}, {}
    rid = 1000
    for c in range(commands):
        key = f"cmd{c}"
        page = []
        for _ in range(rows):
            rid += rng.randrange(1, 4)
            page.append({name: _value(rng, name, typ, titles, rid) for name, typ in fields})
        result[key] = page
        total[key] = 125000
        nxt[key] = (c + 1) * rows
        rtime[key] = {"start": 1767214800.1234 + c, "finish": 1767214800.2234 + c, "duration": 0.1,
                      "processing": 0.09, "date_start": "2026-01-01T00:00:00+03:00",
                      "date_finish": "2026-01-01T00:00:00+03:00", "operating_reset_at": 1767215400,
                      "operating": 1.25}
    body = {"result": {"result": result, "result_error": [], "result_total": total, "result_next": nxt,
                       "result_time": rtime},
            "time": {"start": 1767214800.1, "finish": 1767214805.9, "duration": 5.8, "processing": 5.7,
                     "date_start": "2026-01-01T00:00:00+03:00", "date_finish": "2026-01-01T00:00:05+03:00",
                     "operating_reset_at": 1767215400, "operating": 62.5}}
    # PHP json_encode: ASCII only (\uXXXX) and escaped slashes
    return json.dumps(body, ensure_ascii=True, separators=(",", ":")).replace("/", "\\/").encode()


def decoders() -> dict[str, Callable[[bytes], Any]]:
    from b24hook import _core

    out: dict[str, Callable[[bytes], Any]] = {"b24hook": _core.decode_json, "json.loads": json.loads}
    try:
        import orjson

        out["orjson"] = orjson.loads
    except ImportError:
        pass
    return out


def run(quick: bool) -> dict[str, Any]:
    data = build_answer()
    decs = decoders()
    ref = json.loads(data)
    for name, fn in decs.items():
        if fn(data) != ref:
            raise AssertionError(f"{name} decodes the batch answer differently")
    reps, number = (7, 5) if quick else (21, 20)
    times: dict[str, list[float]] = {k: [] for k in decs}
    for r in range(reps):     # round robin: each repetition times every decoder, order rotated
        names = list(decs)
        names = names[r % len(names):] + names[: r % len(names)]
        for name in names:
            times[name].append(min(timeit.repeat(lambda: decs[name](data), number=number, repeat=1)) / number)
    return {"bytes": len(data), "rows": 50 * 50, "reps": reps, "number": number,
            "median_s": {k: statistics.median(v) for k, v in times.items()},
            "all_s": times, "when": time.time()}
