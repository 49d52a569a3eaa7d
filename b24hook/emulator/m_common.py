"""Global and user methods: server.time, profile, scope, methods, method.get,
app.info, feature.get, user.current, user.get."""
from __future__ import annotations

import json
import sqlite3
from typing import Any

from .catalog import USER_COLUMNS
from .errors import RestError
from .filters import compile_v2
from .listing import list_reply, run_list
from .registry import GLOBAL, REGISTRY, Call, php_truthy
from .settings import PORTAL_SCOPES


@REGISTRY.method("server.time", scope=GLOBAL)
def server_time(call: Call) -> Any:
    return call.store.now_iso()


def _user_row(call: Call, uid: int) -> sqlite3.Row | None:
    return call.store.one("SELECT * FROM users WHERE id=?", (uid,))


def _tz_offset(call: Call) -> int:
    return call.portal.settings.tz_offset_minutes * 60


@REGISTRY.method("profile", scope=GLOBAL)
def profile(call: Call) -> Any:
    r = _user_row(call, call.webhook.user_id)
    if r is None or not r["active"]:
        return {}
    return {"ID": str(r["id"]), "ADMIN": bool(r["is_admin"]), "NAME": r["name"],
            "LAST_NAME": r["last_name"], "PERSONAL_GENDER": r["personal_gender"] or "",
            "TIME_ZONE": r["time_zone"] or "", "TIME_ZONE_OFFSET": _tz_offset(call)}


def render_user(call: Call, r: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for col, upper, typ in USER_COLUMNS:
        v = r[col]
        if typ == "bool":
            v = bool(v)
        elif typ == "intlist":
            v = json.loads(v) if v else []
        elif typ == "integer":
            v = str(v)
        elif typ in ("date", "datetime") and v is None:
            v = ""
        out[upper] = v
    out["IS_ONLINE"] = "N"
    out["TIME_ZONE_OFFSET"] = str(_tz_offset(call))
    return out


@REGISTRY.method("user.current", scope="user")
def user_current(call: Call) -> Any:
    r = _user_row(call, call.webhook.user_id)
    if r is None:
        raise RestError("authorization_error", "Unable to authorize user", 401)
    return render_user(call, r)


_USER_RES = {upper: (col, "bool" if typ == "bool" else ("integer" if typ == "integer" else "string"))
             for col, upper, typ in USER_COLUMNS}
_USER_RES["UF_DEPARTMENT"] = ("uf_department", "string")


@REGISTRY.method("user.get", scope="user")
def user_get(call: Call) -> Any:
    p = call.upper_params()
    filt = p.get("FILTER")
    if not isinstance(filt, dict):
        # legacy: filter fields may be passed at top level
        filt = {k: v for k, v in p.items() if k not in ("SORT", "ORDER", "FILTER", "ADMIN_MODE", "SELECT")}
    filt = {str(k).upper(): v for k, v in filt.items()}
    where, args = compile_v2(filt, _USER_RES.get, upper=True)
    sort = str(p.get("SORT") or "ID").upper()
    col = _USER_RES.get(sort, ("id", ""))[0]
    direction = "DESC" if str(p.get("ORDER") or "ASC").upper() == "DESC" else "ASC"
    order = f"{col} {direction}" + (", id ASC" if col != "id" else "")
    rows, nxt, total, counted = run_list(call, table="users", where=where, args=args,
                                         order=order, controller=False)
    return list_reply(call, [render_user(call, r) for r in rows], nxt, total, counted,
                      controller=False)


@REGISTRY.method("scope", scope=GLOBAL)
def scope(call: Call) -> Any:
    p = call.upper_params()
    if php_truthy(p.get("FULL")) and str(p.get("FULL")).lower() != "false":
        return list(PORTAL_SCOPES)
    return sorted(call.webhook.scopes)


@REGISTRY.method("methods", scope=GLOBAL)
def methods(call: Call) -> Any:
    p = call.upper_params()
    specs = REGISTRY.specs("v2")
    if php_truthy(p.get("FULL")) and str(p.get("FULL")).lower() != "false":
        return [s.name for s in specs]
    if "SCOPE" in p:
        sc = p.get("SCOPE")
        if sc in (None, ""):
            return [s.name for s in specs if s.scope is None]
        return [s.name for s in specs if s.scope == sc]
    return [s.name for s in specs if s.scope is None or call.webhook.has_scope(s.scope)]


@REGISTRY.method("method.get", scope=GLOBAL)
def method_get(call: Call) -> Any:
    p = call.upper_params()
    name = str(p.get("NAME") or "")
    spec = REGISTRY.get("v2", name)
    return {"isExisting": spec is not None,
            "isAvailable": spec is not None and (spec.scope is None or call.webhook.has_scope(spec.scope))}


@REGISTRY.method("app.info", scope=GLOBAL)
def app_info(call: Call) -> Any:
    return {"SCOPE": sorted(call.webhook.scopes), "LICENSE": call.portal.settings.license}


@REGISTRY.method("feature.get", scope=GLOBAL)
def feature_get(call: Call) -> Any:
    code = call.upper_params().get("CODE")
    if not code:
        raise RestError("CODE_EMPTY", "Feature code is empty", 400)
    return {"value": "Y"}
