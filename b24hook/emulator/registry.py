"""Method registry and the per-call context handed to method handlers.

A method is registered per API flavour (``v2`` = ``/rest/``, ``v3`` =
``/rest/api/``).  Both batches look methods up here too, so a handler
never touches HTTP: it gets a :class:`Call` and returns a value or a
:class:`Reply` (payload plus ``next``/``total``), or raises ``RestError`` /
``V3Error``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, TypeVar

from .errors import RestError, V3Error, param_invalid, param_missing
from .settings import Webhook
from .state import PortalState
from .store import Store

GLOBAL = None  # scope of methods that need no scope

#: a method handler (kept as is by ``Registry.method``)
H = TypeVar("H", bound=Callable[["Call"], Any])


@dataclass
class Reply:
    result: Any
    next: int | None = None
    total: int | None = None
    bare: bool = False          # answer the payload without an envelope (openapi)


@dataclass
class MethodSpec:
    name: str
    handler: Callable[["Call"], Any]
    scope: str | None
    style: str = "classic"      # "classic" (upper-case keys) | "controller" (exact names)
    api: str = "v2"
    description: str = ""
    batch: bool = True


class Dispatch(Protocol):
    """What a handler may ask of the dispatcher (dispatch.py): the batches run
    their commands through it."""

    def execute(self, webhook: Webhook, spec: MethodSpec, params: dict[str, Any], start: Any,
                api: str, http_method: str = "POST", *, charge: bool = True, check: bool = True,
                extra: dict[str, Any] | None = None) -> tuple[Any, float, float]: ...

    def time_for(self, webhook: Webhook, method: str, start: float, processing: float,
                 finish: float, *, v3: bool = False) -> dict[str, Any]: ...

    def scope_error(self, api: str | None) -> RestError | V3Error: ...


@dataclass
class Call:
    """What a handler sees."""
    portal: PortalState
    dispatcher: Dispatch
    webhook: Webhook
    method: str
    api: str
    params: dict[str, Any]
    start: Any = None            # raw lower-case ``start`` (v2), removed from params
    cost: float = 0.0            # simulated server seconds (COUNT rows etc.)
    http_method: str = "POST"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def store(self) -> Store:
        return self.portal.store

    def rows(self, n: int) -> None:
        """``n`` rows returned: the per-row costs of the settings."""
        s = self.portal.settings
        self.cost += n * (s.row_cost + s.exec_time_per_row)

    def wrote(self, table: str, audit: str, module: str, item_id: Any, *, created: bool) -> None:
        """A row written: counts it (``stats()["rows_created"]``), charges
        ``exec_time_per_row`` and writes the event log."""
        self.cost += self.portal.settings.exec_time_per_row
        if created:
            self.portal.count_row(table)
        self.store.log_event(audit, module, item_id, self.webhook.user_id,
                             f"{self.api} {self.method}")

    # ---- controller-style binding (exact names) ----
    def require(self, name: str) -> Any:
        if name not in self.params or self.params[name] is None:
            raise param_missing(name)
        return self.params[name]

    def int_param(self, name: str, *, required: bool = True, default: Any = None) -> Any:
        if name not in self.params or self.params[name] is None:
            if required:
                raise param_missing(name)
            return default
        v = as_int(self.params[name])
        if v is None:
            raise param_invalid(_show(self.params[name]), name, "int")
        return v

    def upper_params(self) -> dict[str, Any]:
        """Classic methods upper-case their top-level keys (§2.3)."""
        out: dict[str, Any] = {}
        for k, v in self.params.items():
            out[str(k).upper()] = v
        return out


def _show(v: Any) -> str:
    if isinstance(v, (dict, list)):
        return "Array"
    return str(v)


def as_int(v: Any) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str):
        s = v.strip()
        if s.lstrip("-").isdigit() and s.lstrip("-")[:1] != "" :
            try:
                return int(s)
            except ValueError:
                return None
    return None


def as_list(v: Any) -> list[Any]:
    """A PHP array (dict with 0..n-1 keys, or any dict) or list as a list of values."""
    if v is None:
        return []
    if isinstance(v, list):
        return v
    if isinstance(v, dict):
        return list(v.values())
    return [v]


def php_truthy(v: Any) -> bool:
    """PHP's boolean cast: "", "0", 0, null, empty array are false."""
    if v is None or v is False:
        return False
    if isinstance(v, (int, float)):
        return v != 0
    if isinstance(v, str):
        return v not in ("", "0")
    if isinstance(v, (list, dict)):
        return len(v) > 0
    return bool(v)


class Registry:
    def __init__(self) -> None:
        self._methods: dict[str, dict[str, MethodSpec]] = {"v2": {}, "v3": {}}

    def add(self, spec: MethodSpec) -> MethodSpec:
        self._methods[spec.api][spec.name.lower()] = spec
        return spec

    def method(self, name: str, *, scope: str | None, style: str = "classic",
               api: str | tuple[str, ...] = "v2", description: str = "",
               batch: bool = True) -> Callable[[H], H]:
        apis = (api,) if isinstance(api, str) else api

        def deco(fn: H) -> H:
            for a in apis:
                self.add(MethodSpec(name, fn, scope, style, a, description, batch))
            return fn
        return deco

    def get(self, api: str, name: str) -> MethodSpec | None:
        return self._methods[api].get(name.lower())

    def names(self, api: str) -> list[str]:
        return sorted(self._methods[api])

    def specs(self, api: str) -> list[MethodSpec]:
        return [self._methods[api][n] for n in sorted(self._methods[api])]


REGISTRY = Registry()
