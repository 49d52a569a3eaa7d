"""``B24Hook``: the client of one Bitrix24 inbound webhook (spec §2, §3, §6)."""
from __future__ import annotations

import os
import sys
import time
import warnings
from typing import Any, Callable, Iterator, Mapping

from . import _core
from ._actions_batch import BatchAction, BatchByChunkAction
from ._actions_list import (
    Aggregate,
    CallListV2,
    CallListV3,
    CallTail,
    FetchListV2,
    FetchListV3,
    FetchTail,
    _Action,
)
from ._enums import ApiVersion
from ._errors import SdkError
from ._http import Http, HttpRegistry
from ._logging import DefaultLogger, LoggerInterface, LogLevel, adapt_logger, emit
from ._params import RestrictionManager, fill_restriction_params, limiter_scope
from ._pipeline import run_call
from ._result import AjaxResult, Result
from ._version import __version__

__all__ = ["B24Hook", "AuthHookManager", "SDK_TYPE", "USER_AGENT"]

SDK_TYPE = "b24hook"
USER_AGENT = (
    f"b24hook/{__version__} (python {sys.version_info[0]}.{sys.version_info[1]}; "
    f"libcurl {_core.CURL_VERSION})"
)
CLIENT_SIDE_WARNING_MESSAGE = (
    "B24Hook is meant for server-side code only: the webhook URL carries a secret key "
    "that anyone able to read this page can use. Do not use it in a browser."
)


#: Environment variable naming a CA bundle (PEM file, or a directory of hashed
#: certificates) that replaces the system CAs when ``verify=True`` (the default):
#: ``export B24HOOK_CA_BUNDLE=/tmp/b24emu-.../ca.pem`` points every client of the
#: process, the CLI included, at the emulator or at a TLS-inspecting proxy.
CA_BUNDLE_ENV = "B24HOOK_CA_BUNDLE"


def _resolve_verify(verify: Any) -> Any:
    """``verify`` as given, except ``True`` with ``B24HOOK_CA_BUNDLE`` set:
    that path then. An explicit ``False`` or path always wins. A variable
    naming nothing is a ``ValueError`` now rather than a TLS failure later."""
    if verify is not True:
        return verify
    path = os.environ.get(CA_BUNDLE_ENV, "")
    if not path:
        return True
    if not os.path.exists(path):
        raise ValueError(f"{CA_BUNDLE_ENV} names no file or directory: {path!r}")
    return path


def _version_of(version: Any) -> ApiVersion:
    try:
        return ApiVersion(version)
    except ValueError:
        raise SdkError("JSSDK_CORE_B24_API_WRONG", 500, "Wrong API version") from None


class AuthData(Mapping[str, Any]):
    """The read-only mapping ``get_auth_data()`` returns.

    Reading a key gives the real value (``data["access_token"]`` is the
    secret, by design); ``repr``/``str`` mask ``access_token``, so printing or
    logging the mapping shows no secret. ``dict(data)`` is a plain dict again.
    """

    __slots__ = ("_data",)

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        shown = {k: ("***REDACTED***" if k == "access_token" else v) for k, v in self._data.items()}
        return f"AuthData({shown!r})"

    __str__ = __repr__


class AuthHookManager:
    """Authentication data of a webhook (no network; the secret never expires)."""

    __slots__ = ("_domain", "_user_id", "_secret")

    def __init__(self, domain: str, user_id: int, secret: str) -> None:
        self._domain = domain
        self._user_id = user_id
        self._secret = secret

    def get_auth_data(self) -> AuthData:
        """``{"access_token": <secret>, "refresh_token": "hook", ...}`` (holds the secret;
        its ``repr``/``str`` mask it)."""
        return AuthData({
            "access_token": self._secret,
            "refresh_token": "hook",
            "expires": 0,
            "expires_in": 0,
            "domain": self._domain,
            "member_id": self._domain,
        })

    def refresh_auth(self) -> AuthData:
        """Same as :meth:`get_auth_data`: a hook has nothing to refresh."""
        return self.get_auth_data()

    def get_uniq(self, prefix: str) -> str:
        return f"{prefix}_{self._domain}"

    @property
    def is_admin(self) -> bool:
        return True

    def get_target_origin(self) -> str:
        return f"https://{self._domain}"

    def _limiter_scope(self) -> tuple[str, str]:
        """(portal key, webhook key) of a shared limiter: digests, never the secret."""
        return limiter_scope(self._domain, self._user_id, self._secret)

    def _base_url(self, version: ApiVersion) -> str:
        api = "/api" if version is ApiVersion.V3 else ""
        return f"https://{self._domain}/rest{api}/{self._user_id}/{self._secret}"

    def get_target_origin_with_path(self) -> dict[ApiVersion, str]:
        """Base URLs of both versions (they contain the secret)."""
        return {ApiVersion.V2: self._base_url(ApiVersion.V2), ApiVersion.V3: self._base_url(ApiVersion.V3)}

    def __repr__(self) -> str:
        return f"AuthHookManager(domain={self._domain!r}, user_id={self._user_id})"


# ---------------------------------------------------------------- actions
class CallAction(_Action):
    """``actions.v2.call`` / ``actions.v3.call``."""

    __slots__ = ()

    def make(self, method: str, params: Any = None, request_id: str | None = None) -> AjaxResult:
        """Call one REST method; a soft error gives a failed result, others raise."""
        # _Action._call and Http.call inline: the hot path of every call (issue 10 profile)
        return run_call(self._https.live(self._version), method, params or {}, request_id)


class ActionsV2:
    """REST v2 actions (``b24.actions.v2``)."""

    __slots__ = ("call", "call_list", "fetch_list", "batch", "batch_by_chunk")

    def __init__(self, https: HttpRegistry) -> None:
        self.call = CallAction(https, ApiVersion.V2)
        self.call_list = CallListV2(https, ApiVersion.V2)
        self.fetch_list = FetchListV2(https, ApiVersion.V2)
        self.batch = BatchAction(https, ApiVersion.V2)
        self.batch_by_chunk = BatchByChunkAction(https, ApiVersion.V2)

    def __repr__(self) -> str:
        return "<ActionsV2>"


class ActionsV3:
    """REST v3 actions (``b24.actions.v3``)."""

    __slots__ = ("call", "call_list", "fetch_list", "call_tail", "fetch_tail", "aggregate",
                 "batch", "batch_by_chunk")

    def __init__(self, https: HttpRegistry) -> None:
        self.call = CallAction(https, ApiVersion.V3)
        self.call_list = CallListV3(https, ApiVersion.V3)
        self.fetch_list = FetchListV3(https, ApiVersion.V3)
        self.call_tail = CallTail(https, ApiVersion.V3)
        self.fetch_tail = FetchTail(https, ApiVersion.V3)
        self.aggregate = Aggregate(https, ApiVersion.V3)
        self.batch = BatchAction(https, ApiVersion.V3)
        self.batch_by_chunk = BatchByChunkAction(https, ApiVersion.V3)

    def __repr__(self) -> str:
        return "<ActionsV3>"


class ActionsManager:
    """``b24.actions`` with ``.v2`` and ``.v3``."""

    __slots__ = ("v2", "v3")

    def __init__(self, https: HttpRegistry) -> None:
        self.v2 = ActionsV2(https)
        self.v3 = ActionsV3(https)

    def __repr__(self) -> str:
        return "<ActionsManager v2, v3>"


class HealthCheckTool(_Action):
    """``tools.health_check``."""

    __slots__ = ()

    def make(self, request_id: str | None = None) -> bool:
        """True when v2 ``server.time`` succeeds; never raises."""
        try:
            return self._call("server.time", {}, request_id).is_success
        except Exception:  # noqa: BLE001 - a tool never raises
            return False


class PingTool(_Action):
    """``tools.ping``."""

    __slots__ = ()

    def make(self, request_id: str | None = None) -> int:
        """Milliseconds around a v2 ``server.time`` call; -1 if it raises."""
        start = time.monotonic()
        try:
            self._call("server.time", {}, request_id)
        except Exception:  # noqa: BLE001 - a tool never raises
            return -1
        return int(round((time.monotonic() - start) * 1000.0))


class ToolsManager:
    """``b24.tools`` with ``health_check`` and ``ping``."""

    __slots__ = ("health_check", "ping")

    def __init__(self, https: HttpRegistry) -> None:
        self.health_check = HealthCheckTool(https, ApiVersion.V2)
        self.ping = PingTool(https, ApiVersion.V2)

    def __repr__(self) -> str:
        return "<ToolsManager health_check, ping>"


# ---------------------------------------------------------------- the hook
def _normalise_domain(b24_url: str) -> str:
    domain = b24_url.strip().replace("https://", "").replace("http://", "")
    domain = domain.rstrip("/")
    for port in (":443", ":80"):
        if domain.endswith(port):
            domain = domain[: -len(port)]
            break
    return domain.rstrip("/")


def _check_domain(domain: str) -> None:
    """``b24_url`` names a portal: host[:port], nothing else (issue 9 item 5).

    A path, userinfo, query or fragment would be glued in front of
    ``/rest/<id>/<secret>/`` and change where the secret goes; refused before
    any I/O with a message naming ``b24_url`` (never echoing it: it may hold a
    secret pasted by mistake)."""
    for ch, what in (("/", "a path"), ("@", "userinfo"), ("?", "a query"), ("#", "a fragment"),
                     ("\\", "a backslash")):
        if ch in domain:
            raise ValueError(f"b24_url must be the portal's address only (scheme, host, port): "
                             f"it has {what}; pass the webhook's parts as user_id and secret, "
                             f"or use B24Hook.from_webhook_url")
    try:
        domain.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("b24_url is not valid Unicode (lone surrogate)") from None
    if any(c.isspace() or not c.isprintable() for c in domain):
        raise ValueError("b24_url must not contain spaces or control characters")
    host, sep, port = domain.rpartition(":") if not domain.endswith("]") else ("", "", "")
    if sep and not host.endswith("]") and ":" in host:
        return  # a bare IPv6 literal: left to libcurl
    if sep and not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
        raise ValueError("b24_url has an invalid port")


class B24Hook:
    """Client of a Bitrix24 inbound webhook; thread-safe, one per portal.

    Examples:
        >>> b24 = B24Hook.from_webhook_url("https://example.bitrix24.com/rest/1/secret")
        >>> b24.actions.v2.call.make("server.time").get_data()["result"]   # doctest: +SKIP
    """

    #: Maximum commands of one batch (JS ``AbstractB24.batchSize``).
    batch_size: int = _core.BATCH_MAX_COMMANDS

    def __init__(
        self,
        b24_url: str,
        user_id: int,
        secret: str,
        *,
        restriction_params: Mapping[str, Any] | None = None,
        timeout: float = 30.0,
        headers: Mapping[str, str] | None = None,
        verify: bool | str = True,
    ) -> None:
        if not isinstance(b24_url, str):
            raise TypeError("b24_url must be a str")
        domain = _normalise_domain(b24_url)
        if not domain:
            raise ValueError("b24_url cannot be empty")
        _check_domain(domain)
        if isinstance(user_id, bool):
            raise ValueError("user_id must be an integer")
        if isinstance(user_id, str) and user_id.isascii() and user_id.isdigit():
            user_id = int(user_id)
        if not isinstance(user_id, int) or user_id < 0:
            raise ValueError("user_id must be a non-negative integer")
        if not isinstance(secret, str):
            raise TypeError("secret must be a str")
        if not secret.strip():
            raise ValueError("secret cannot be empty")
        try:
            secret.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("secret is not valid Unicode (lone surrogate)") from None

        self._auth = AuthHookManager(domain, user_id, secret)
        self._logger: LoggerInterface = DefaultLogger()
        self._is_init = True
        params = fill_restriction_params(restriction_params)
        verify = _resolve_verify(verify)
        # the transports by version and the closed flag, shared with the actions
        self._https = HttpRegistry(self)
        try:
            for version in (ApiVersion.V2, ApiVersion.V3):
                transport = _core.Transport(
                    self._auth._base_url(version),
                    secret,
                    timeout=timeout,
                    verify=verify,
                    headers=dict(headers) if headers else None,
                    user_agent=USER_AGENT,
                    sdk_type=SDK_TYPE,
                    sdk_version=__version__,
                )
                http = Http(version, self._auth, transport, fill_restriction_params(params), self._logger)
                http.set_client_side_warning(True, CLIENT_SIDE_WARNING_MESSAGE)
                self._http[version] = http
        except BaseException:
            for http in self._http.values():
                http.close()
            raise
        self.auth = self._auth
        self.actions = ActionsManager(self._https)
        self.tools = ToolsManager(self._https)

    @classmethod
    def from_webhook_url(
        cls,
        url: str,
        *,
        restriction_params: Mapping[str, Any] | None = None,
        timeout: float = 30.0,
        headers: Mapping[str, str] | None = None,
        verify: bool | str = True,
    ) -> "B24Hook":
        """Build from ``https://<portal>/rest/<user_id>/<secret>`` (or ``/rest/api/...``).

        ``ValueError`` with a message that never echoes the URL.
        """
        origin, user_id, secret = _core.parse_webhook_url(url)
        return cls(
            origin,
            user_id,
            secret,
            restriction_params=restriction_params,
            timeout=timeout,
            headers=headers,
            verify=verify,
        )

    # -- state ---------------------------------------------------------------
    @property
    def is_init(self) -> bool:
        return self._is_init

    def init(self) -> None:
        """No-op for a hook (ready after construction)."""
        self._is_init = True

    @property
    def closed(self) -> bool:
        return self._https.closed

    @property
    def _http(self) -> dict[ApiVersion, Any]:
        """The transports by version (the registry's own dict)."""
        return self._https.by_version

    def destroy(self) -> None:
        """Release connections and buffers; later calls raise SdkError. Idempotent."""
        if self._https.closed:
            return
        self._https.closed = True
        for http in self._http.values():
            try:
                http.close()
            except Exception:  # noqa: BLE001 - closing must finish
                pass

    close = destroy

    def __enter__(self) -> "B24Hook":
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()

    # -- targets -------------------------------------------------------------
    def get_target_origin(self) -> str:
        """``https://<domain>``."""
        return self._auth.get_target_origin()

    def get_target_origin_with_path(self) -> dict[ApiVersion, str]:
        """Base URLs by version (they contain the secret)."""
        return self._auth.get_target_origin_with_path()

    # -- transports ----------------------------------------------------------
    def get_http_client(self, version: ApiVersion | str) -> Http:
        """The transport of ``version`` ("v2"/"v3")."""
        return self._https.get(_version_of(version))

    def set_http_client(self, version: ApiVersion | str, client: Any) -> None:
        """Replace the transport of ``version`` (test seam)."""
        self._http[_version_of(version)] = client

    def set_restriction_manager_params(self, params: Mapping[str, Any]) -> None:
        """Apply params to both transports (v3 then v2), each its own filled copy.

        Invalid params raise ``TypeError``/``ValueError`` exactly as in the
        constructor, before either transport changes (both keep their config).
        """
        filled = RestrictionManager.validate(params)
        for version in (ApiVersion.V3, ApiVersion.V2):
            self.get_http_client(version).set_restriction_manager_params(fill_restriction_params(filled))

    def off_client_side_warning(self) -> None:
        for http in self._http.values():
            http.set_client_side_warning(False, "")

    # -- logger ---------------------------------------------------------------
    def get_logger(self) -> LoggerInterface:
        """The current logger (a stdlib logger comes back wrapped in its adapter;
        until :meth:`set_logger` it is the :class:`DefaultLogger`, i.e.
        ``logging.getLogger("b24hook")`` and its children)."""
        return self._logger

    def set_logger(self, logger: Any) -> None:
        """Install a logger on the hook, both transports, actions and tools.

        Accepts a :class:`LoggerInterface`, a ``logging.Logger``/``LoggerAdapter``
        or None (the null logger: nothing is logged).  It replaces the default
        ``b24hook`` stdlib logger for this client only.
        """
        adapted = adapt_logger(logger)
        self._logger = adapted
        for http in self._http.values():
            if isinstance(http, Http):
                http._logger = adapted
            else:
                try:
                    http.set_logger(adapted)
                except Exception:  # noqa: BLE001
                    pass

    # -- deprecated shims (JS removes them in 3.0.0) -------------------------------
    def _deprecated(self, name: str, replacement: str) -> None:
        context = {
            "method": name,
            "replacement": replacement,
            "removal_version": "3.0.0",
            "code": "JSSDK_CORE_DEPRECATED_METHOD",
        }
        # the warning carries the same context as the log line (§3.3), as attributes
        warning = DeprecationWarning(
            f"B24Hook.{name} is deprecated and will be removed in 3.0.0; use {replacement}"
            " [JSSDK_CORE_DEPRECATED_METHOD]"
        )
        for key, value in context.items():
            setattr(warning, key, value)
        warnings.warn(warning, stacklevel=3)
        emit(self._logger, LogLevel.WARNING, f"{name} is deprecated; use {replacement}", context,
             event="deprecated method")

    def call_method(
        self, method: str, params: Mapping[str, Any] | None = None, start: int | None = None
    ) -> AjaxResult:
        """Deprecated: use ``actions.v2.call.make``."""
        self._deprecated("call_method", "actions.v2.call.make")
        send = dict(params or {})
        if _is_int(start) and not _is_int(send.get("start")):
            send["start"] = start
        return self.actions.v2.call.make(method, send)

    def call_list_method(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        progress: Callable[[int], Any] | None = None,
        custom_key_for_result: str | None = None,
    ) -> Result[list[Any]]:
        """Deprecated offset walker (``start``/``next``); use ``actions.v2.call_list``."""
        self._deprecated("call_list_method", "actions.v2.call_list.make")
        result: Result[list[Any]] = Result()
        items: list[Any] = []
        if progress:
            progress(0)
        http = self.get_http_client(ApiVersion.V2)
        response: AjaxResult | bool = self.actions.v2.call.make(method, {**(params or {}), "start": 0})
        while isinstance(response, AjaxResult):
            if not response.is_success:
                for key, err in response.errors.items():
                    result.add_error(err, key)
                break
            page = response.get_data_or_raise()["result"]  # success: checked above
            if custom_key_for_result is not None:
                page = page.get(custom_key_for_result) if isinstance(page, dict) else None
            if isinstance(page, list):
                items.extend(page)
            elif isinstance(page, dict):
                items.extend(page.values())
            if progress:
                total = response.get_total()
                progress(round(100 * len(items) / total) if total > 0 else 100)
            response = response.get_next(http)
        if progress:
            progress(100)
        result.set_data(items)
        return result

    def fetch_list_method(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        id_key: str | None = None,
        custom_key_for_result: str | None = None,
    ) -> Iterator[list[Any]]:
        """Deprecated: use ``actions.v2.fetch_list.make``."""
        self._deprecated("fetch_list_method", "actions.v2.fetch_list.make")
        return self.actions.v2.fetch_list.make(
            method, params, id_key=id_key or "ID", custom_key_for_result=custom_key_for_result
        )

    def call_batch(
        self, calls: Any, is_halt_on_error: bool = True, return_ajax_result: bool = False
    ) -> Result[Any]:
        """Deprecated: use ``actions.v2.batch.make``."""
        self._deprecated("call_batch", "actions.v2.batch.make")
        return self.actions.v2.batch.make(
            calls, {"is_halt_on_error": is_halt_on_error, "return_ajax_result": return_ajax_result}
        )

    def call_batch_by_chunk(self, calls: Any, is_halt_on_error: bool = True) -> Result[Any]:
        """Deprecated: use ``actions.v2.batch_by_chunk.make``."""
        self._deprecated("call_batch_by_chunk", "actions.v2.batch_by_chunk.make")
        return self.actions.v2.batch_by_chunk.make(calls, {"is_halt_on_error": is_halt_on_error})

    def __repr__(self) -> str:
        state = ", closed" if self.closed else ""
        return f"B24Hook(domain={self._auth._domain!r}, user_id={self._auth._user_id}{state})"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
