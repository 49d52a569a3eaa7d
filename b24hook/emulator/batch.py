"""``batch`` in v2 (portal.md §7) and in REST 3.0 (§8.5)."""
from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import urlsplit

from .errors import RestError, V3Error
from .phpcompat import parse_str
from .registry import GLOBAL, REGISTRY, Call, Reply, php_truthy

log = logging.getLogger("b24hook.emulator")

MAX_COMMANDS = 50
_ACCUMULATORS = ("result", "next", "total", "time", "error")
_PATH_SEG = re.compile(r"\[([^\]]+)\]")
_REF = re.compile(r"\$(" + "|".join(_ACCUMULATORS) + r")(\S*)", re.IGNORECASE)
_NOT_IN_BATCH = ("batch", "download", "upload")


# ================================================================ v2

def _php_isset(node: Any, seg: str) -> tuple[bool, Any]:
    """``isset($node[$seg])`` for our PHP-array stand-ins (dict/list/str)."""
    if isinstance(node, dict):
        if seg in node:
            v = node[seg]
        else:
            alt = next((k for k in node if str(k) == seg), None)
            if alt is None:
                return False, None
            v = node[alt]
        return v is not None, v
    if isinstance(node, (list, str)):
        if re.fullmatch(r"-?\d+", seg):
            i = int(seg)
            if isinstance(node, str) and i < 0:
                i += len(node)
            if 0 <= i < len(node):
                v = node[i]
                return v is not None, v
        return False, None
    return False, None


def _php_string(v: Any) -> str | None:
    """What ``str_replace`` puts in for a scalar; None for arrays (left literal)."""
    if isinstance(v, bool):
        return "1" if v else ""
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v) if not v.is_integer() else str(int(v))
    if isinstance(v, str):
        return v
    return None


def substitute(value: str, acc: dict[str, Any]) -> Any:
    """CORE ``processBatchElement``: ``$result[key][path…]`` and friends.

    A reference filling the whole value is replaced by the node as is (maybe
    an array); an embedded one only by a scalar.  The walk stops at the first
    missing (or null) segment and uses the deepest node reached."""
    if "$" not in value:
        return value
    out: Any = value
    for m in _REF.finditer(value):
        name, path = m.group(1), m.group(2)
        segs = _PATH_SEG.findall(path)
        if not segs:
            continue
        node: Any = acc.get(name)          # exact case only, like $arResult[$name]
        for seg in segs:
            ok, nxt = _php_isset(node, seg)
            if not ok:
                break
            node = nxt
        if m.group(0) == out:
            out = node
        elif isinstance(out, str):
            rep = _php_string(node)
            if rep is not None:
                out = out.replace(m.group(0), rep)
    return out


def substitute_tree(params: Any, acc: dict[str, Any]) -> Any:
    if isinstance(params, dict):
        return {k: substitute_tree(v, acc) for k, v in params.items()}
    if isinstance(params, str):
        return substitute(params, acc)
    return params


def _cmd_items(cmd: Any) -> list[tuple[str, Any]]:
    if isinstance(cmd, dict):
        return [(str(k), v) for k, v in cmd.items()]
    if isinstance(cmd, list):
        return [(str(i), v) for i, v in enumerate(cmd)]
    return []


@REGISTRY.method("batch", scope=GLOBAL, style="classic", batch=False)
def batch_v2(call: Call) -> Any:
    p = call.portal
    params = call.upper_params()
    halt = php_truthy(params.get("HALT", False))
    acc: dict[str, dict[str, Any]] = {a: {} for a in _ACCUMULATORS}
    observed = p.settings.batch_billing == "observed"
    patch: list[dict[str, Any]] = []
    call.extra["patch_operating"] = patch if observed else ()
    n = 0
    for key, command in _cmd_items(params.get("CMD")):
        n += 1
        if n > MAX_COMMANDS:
            res: dict[str, Any] = {"error": "ERROR_BATCH_LENGTH_EXCEEDED",
                         "error_description": "Max batch length exceeded"}
        elif not isinstance(command, str):
            continue
        else:
            res = _run_v2_command(call, command, acc, observed)
        if "error" in res:
            acc["error"][key] = {"error": res["error"], "error_description": res["error_description"]}
            if halt:
                break
        else:
            acc["result"][key] = res["result"]
            if res.get("total") is not None:
                acc["total"][key] = res["total"]
            if res.get("next") is not None:
                acc["next"][key] = res["next"]
            acc["time"][key] = res["time"]
            patch.append(res["time"])
    return {"result": acc["result"], "result_error": acc["error"], "result_total": acc["total"],
            "result_next": acc["next"], "result_time": acc["time"]}


def _sub_cost(call: Call, extra: dict[str, Any]) -> None:
    """A sub-call's simulated seconds are the batch's too; ``sub_cost`` tells the
    dispatcher that, with --sleep, they were already slept by the sub-call."""
    cost = extra.get("sim_cost", 0.0)
    call.cost += cost
    call.extra["sub_cost"] = call.extra.get("sub_cost", 0.0) + cost


def _run_v2_command(call: Call, command: str, acc: dict[str, Any], observed: bool) -> dict[str, Any]:
    p = call.portal
    d = call.dispatcher
    url = urlsplit(command)
    method = url.path.lower()
    query = url.query
    if method in _NOT_IN_BATCH:
        return {"error": "ERROR_BATCH_METHOD_NOT_ALLOWED",
                "error_description": "Method is not allowed for batch usage"}
    spec = REGISTRY.get("v2", method)
    if spec is None:
        return {"error": "ERROR_METHOD_NOT_FOUND", "error_description": "Method not found!"}
    if not spec.batch:
        return {"error": "ERROR_BATCH_METHOD_NOT_ALLOWED",
                "error_description": "Method is not allowed for batch usage"}
    if spec.scope is not None and not call.webhook.has_scope(spec.scope):
        e = d.scope_error("v2")
        assert isinstance(e, RestError)
        return {"error": e.code, "error_description": e.description}
    params = substitute_tree(parse_str(query), acc) if query else {}
    if not isinstance(params, dict):
        params = {}
    start = params.pop("start", None)
    # one sleep debt for the whole batch (Dispatcher._sleep)
    extra: dict[str, Any] = {"sleep_carry": call.extra.setdefault("sleep_carry", [0.0])}
    t_start = p.clock.now()
    try:
        result, processing, finish = d.execute(call.webhook, spec, params, start, "v2", "POST",
                                               charge=not observed, check=not observed,
                                               extra=extra)
    except RestError as exc:
        _sub_cost(call, extra)
        return {"error": exc.code, "error_description": exc.description}
    except Exception:  # noqa: BLE001 - a command's crash is that command's error
        log.exception("internal error in batch command %s", method)
        return {"error": "INTERNAL_SERVER_ERROR", "error_description": "Internal server error"}
    _sub_cost(call, extra)
    out: dict[str, Any] = {}
    if isinstance(result, Reply):
        out["result"] = result.result
        out["next"], out["total"] = result.next, result.total
    else:
        out["result"] = result
    out["time"] = d.time_for(call.webhook, spec.name.lower(), t_start, processing, finish)
    return out


# ================================================================ v3

def _bad_select(msg: str) -> V3Error:
    return V3Error("INVALIDSELECTEXCEPTION", msg, 400)


def _walk_ref(path: str, results: dict[str, Any], array: bool) -> Any:
    parts = path.split(".")
    alias = parts[0]
    if alias not in results or len(parts) < 2:
        raise _bad_select(f"Cannot resolve reference `{path}`")
    node = results[alias]
    rest = parts[1:]
    if array:
        items = node.get("items") if isinstance(node, dict) else None
        if rest and rest[0] == "items":
            rest = rest[1:]
        if not isinstance(items, list) or len(rest) != 1:
            raise _bad_select(f"Cannot resolve reference `{path}`")
        out = []
        for it in items:
            if not isinstance(it, dict) or rest[0] not in it:
                raise _bad_select(f"Cannot resolve reference `{path}`")
            out.append(it[rest[0]])
        return out
    if rest[0] not in ("item", "items"):
        raise _bad_select(f"Only `item` and `items` can be referenced: `{path}`")
    for seg in rest:
        if isinstance(node, dict) and seg in node:
            node = node[seg]
        elif isinstance(node, list) and seg.isdigit() and int(seg) < len(node):
            node = node[int(seg)]
        else:
            raise _bad_select(f"Cannot resolve reference `{path}`")
    return node


def resolve_refs(value: Any, results: dict[str, Any]) -> Any:
    if isinstance(value, dict):
        if len(value) == 1 and "$ref" in value and isinstance(value["$ref"], str):
            return _walk_ref(value["$ref"], results, False)
        if len(value) == 1 and "$refArray" in value and isinstance(value["$refArray"], str):
            return _walk_ref(value["$refArray"], results, True)
        return {k: resolve_refs(v, results) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_refs(v, results) for v in value]
    return value


@REGISTRY.method("batch", scope=GLOBAL, api="v3", batch=False,
                 description="Up to 50 calls in one request, all or nothing")
def batch_v3(call: Call) -> Any:
    body = call.extra.get("body")
    if not isinstance(body, list):
        raise _bad_select("Batch body must be a JSON array of {method, query} commands")
    if len(body) > MAX_COMMANDS:
        raise _bad_select(f"Too many commands in batch: {len(body)}, at most {MAX_COMMANDS}")
    p = call.portal
    store = p.store
    rollback = p.settings.v3_batch_rollback
    if not rollback:
        return _run_v3(call, body)
    with store.lock:
        store.execute("BEGIN")
        p.hold_rows()
        try:
            out = _run_v3(call, body)
        except BaseException:
            store.execute("ROLLBACK")
            p.release_rows(committed=False)
            raise
        store.execute("COMMIT")
        p.release_rows(committed=True)
    return out


def _run_v3(call: Call, body: list[Any]) -> list[Any]:
    p = call.portal
    d = call.dispatcher
    observed = p.settings.batch_billing == "observed"
    results: dict[str, Any] = {}
    out = []
    for i, cmd in enumerate(body):
        if not isinstance(cmd, dict) or not isinstance(cmd.get("method"), str):
            raise _bad_select(f"Command {i} must be an object with `method` and `query`")
        name = cmd["method"].lower()
        spec = REGISTRY.get("v3", name)
        if spec is None:
            raise V3Error("METHODNOTFOUNDEXCEPTION", f"Method `{name}` not found",
                          p.settings.v3_method_not_found_status)
        if not spec.batch:
            raise _bad_select(f"Method `{name}` is not allowed in batch")
        if spec.scope is not None and not call.webhook.has_scope(spec.scope):
            raise d.scope_error("v3")
        query = cmd.get("query", {})
        if query is None:
            query = {}
        if not isinstance(query, dict):
            raise _bad_select(f"`query` of command {i} must be an object")
        query = resolve_refs(query, results)
        extra: dict[str, Any] = {"sleep_carry": call.extra.setdefault("sleep_carry", [0.0])}
        try:
            result, _proc, _fin = d.execute(call.webhook, spec, query, None, "v3", "POST",
                                            charge=not observed, check=not observed, extra=extra)
        finally:
            _sub_cost(call, extra)
        if isinstance(result, Reply):
            result = result.result
        alias = cmd.get("as")
        if isinstance(alias, str) and alias:
            results[alias] = result
        out.append(result)
    return out
