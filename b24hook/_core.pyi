"""Type stubs of the C extension ``b24hook._core``.

This file is the contract between the C glue (csrc/ext) and the Python layer
(b24hook/*.py). The Python layer never reaches past it.
"""
import asyncio
from typing import Any, Callable, ClassVar, Final, Literal, Mapping, Sequence, final

from typing_extensions import Self

from ._errors import AjaxError

__version__: Final[str]          # version string baked into the core
CURL_VERSION: Final[str]         # e.g. "7.88.1" (runtime libcurl)
CJSON_VERSION: Final[str]        # e.g. "1.7.15"

# Outcome kinds returned by Transport.perform
OK: Final[int]        # 2xx with a JSON body and no error member
FAILED: Final[int]    # 2xx JSON body whose `error` yields an error (spec §4.4 A)
ERROR: Final[int]     # transport failure, non-2xx, non-JSON 2xx (spec §4.4 B)

# Protocol numbers, each defined once in csrc/core/b24_protocol.h
V2_PAGE_SIZE: Final[int]        # 50: rows of a REST v2 list page (fixed by the portal)
V3_PAGE_DEFAULT: Final[int]     # 50: the default `limit` of a REST v3 page
BATCH_MAX_COMMANDS: Final[int]  # 50: commands of one batch request, at most

REDACTED_PLACEHOLDER: Final[str]  # "***REDACTED***"
SENSITIVE_PARAM_KEYS: Final[tuple[str, ...]]
BUILT_IN_HARD_ERROR_CODES: Final[tuple[str, ...]]  # raised, never retried (spec §9.5)
BUILT_IN_SOFT_ERROR_CODES: Final[tuple[str, ...]]  # a failed AjaxResult, not raised

class ParamsError(ValueError):
    """Params cannot be encoded as JSON (cycle, unsupported type, NaN...).

    Raised by Transport.perform and encode_json before any network I/O.
    The Python layer turns it into AjaxError(JSSDK_INVALID_PARAMS, 400).
    """

class ClosedError(RuntimeError):
    """perform() on a Transport after close()."""

class CancelledError(Exception):
    """call() stopped because the CancelToken bound to its thread was cancelled."""

@final
class CancelToken:
    """A flag Transport.call() polls in its waits and transfers (no GIL needed)."""
    def __init__(self) -> None: ...
    def cancel(self) -> None: ...
    def bind(self) -> None: ...
    def unbind(self) -> None: ...
    @property
    def cancelled(self) -> bool: ...

@final
class Outcome:
    """Result of ``Transport.perform`` / ``Transport.call`` (read-only fields;
    == compares every field). ``headers`` is made a dict on first read."""

    __match_args__: Final = (
        "kind", "status", "answer", "code", "message", "maybe_sent", "elapsed_ms", "detail", "headers",
    )
    __hash__: ClassVar[None]  # type: ignore[assignment]
    def __new__(
        cls,
        fields: tuple[int, int, Any, str | None, str | None, bool, float, str | None, dict[str, str]],
        /,
    ) -> Outcome: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __ne__(self, other: object, /) -> bool: ...
    @property
    def kind(self) -> int:
        """OK, FAILED or ERROR."""
    @property
    def status(self) -> int:
        """HTTP status; 0 when no response; 408 on timeout."""
    @property
    def answer(self) -> Any:
        """Parsed JSON body (any JSON value) or None when absent/not JSON."""
    @property
    def code(self) -> str | None:
        """Error code (FAILED/ERROR), e.g. "NETWORK_ERROR", "ERR_BAD_REQUEST"."""
    @property
    def message(self) -> str | None:
        """Error message/description per spec §4.4 (secret-free)."""
    @property
    def maybe_sent(self) -> bool:
        """A transport failure after the request may have reached the server."""
    @property
    def elapsed_ms(self) -> float:
        """Wall time of the exchange."""
    @property
    def detail(self) -> str | None:
        """libcurl/OS text for original_error, secret scrubbed; else None."""
    @property
    def headers(self) -> dict[str, str]:
        """Response headers, lower-cased names (last wins)."""

def answer_error(answer: Any, query: Mapping[str, Any] | None = None, status: int = 200, /) -> "AjaxError | None":
    """The AjaxError a decoded answer carries, by the core's rules of spec
    §4.4 A (the ones the transport applies to the wire bytes): None unless
    ``answer`` is a dict whose ``error`` is an object with a ``code`` or a
    non-empty string. ``status`` and ``query`` go to the error. ParamsError
    when the error members cannot be read as JSON."""

def outcome_error(outcome: Outcome, query: Mapping[str, Any], /, *, is_write: bool = False) -> "AjaxError | None":
    """The one mapping of an Outcome to its AjaxError: None for OK; for
    FAILED (a 2xx error answer) its code/message/status; for ERROR also
    ``original_error=RuntimeError(detail)`` and ``maybe_committed`` =
    ``maybe_sent and is_write``; no code gives JSSDK_UNKNOWN_ERROR."""

def uuid7() -> str:
    """A new RFC 9562 UUIDv7 string (request ids, spec §10): monotonic within the
    process, random bits from getrandom(2)."""

def parse_webhook_url(url: str, /) -> tuple[str, int, str]:
    """Validate a webhook URL (spec §2.1) -> (origin, user_id, secret).

    origin is "https://host[:port]" (default port dropped). Raises
    ValueError with exactly the spec messages; never echoes the URL.
    TypeError when url is not a str.
    """

def redact_url(text: str, extra_keys: Sequence[str] = ()) -> str:
    """The scrub of spec §11.2: (^|[?&])(KEY)=[^&#;]* -> \\1\\2=***REDACTED***,
    keys case-insensitive (ASCII), only when text contains '='. A non-str
    text is returned unchanged."""

def scrub_secret(text: str, secret: str = "", /) -> str:
    """Replace every occurrence of secret, and the token of every
    ``/rest/<id>/<token>`` webhook path (also ``/rest/api/...``, JSON's
    ``\\/`` or ``%2F`` separators), by ***REDACTED***."""

def encode_json(obj: Any, /, *, list_as_object: bool = False) -> bytes:
    """Python -> compact JSON (UTF-8) with the conversions of "Decisions
    taken" item 4 (datetime/date/time -> isoformat, Decimal -> str, Enum ->
    value, tuple -> list). With list_as_object=True a top-level list/tuple
    becomes an object keyed "0","1",... (spec §4.2 step 4; perform does this);
    a list/tuple *subclass* always stays a JSON array (the v3 batch body).
    Dict keys must be str (int keys converted with str()). ParamsError on a
    cycle, an unsupported type, NaN/Infinity, or nesting deeper than 512."""

def decode_json(data: bytes | bytearray | memoryview | str, /) -> Any:
    """JSON text -> Python objects with the converter used for answers:
    an integer token -> exact int (any size); other numbers -> float, or
    int when integral and below 2**53 ("2.0" -> 2); ValueError on invalid
    JSON (message gives the byte offset).

    Known differences from json.loads (also apply to Outcome.answer):
    lone-surrogate escapes are invalid JSON; nesting deeper than 1000 and a
    string over 16 MiB are caps; an integer of more digits than int's
    max_str_digits comes back as float (+-inf) instead of raising."""

@final
class Transport:
    """One HTTP client for one base URL (a v2 or v3 webhook base).

    Thread-safe: a pool of curl easy handles, each used by one thread at a
    time; connections are kept alive and reused. perform() releases the GIL
    for the whole network exchange and the JSON parse.
    """

    def __new__(
        cls,
        base_url: str,          # https://domain/rest/<uid>/<secret> or .../rest/api/<uid>/<secret>
        secret: str,            # scrubbed from every text the core produces
        *,
        timeout: float = 30.0,  # total seconds for one exchange
        verify: bool | str = True,  # True / False / path of a CA bundle file
        headers: Mapping[str, str] | None = None,  # merged over the defaults, caller wins
        user_agent: str,
        sdk_type: str,
        sdk_version: str,
    ) -> Self: ...

    timeout: float                   # settable, seconds, > 0
    headers: dict[str, str]          # settable; getter returns a copy
    @property
    def verify(self) -> bool | str: ...
    @property
    def closed(self) -> bool: ...
    @property
    def connections_opened(self) -> int:
        """Total new TCP connections made so far (keep-alive check)."""
    @property
    def script(self) -> list[Outcome | BaseException] | None:
        """A scripted transport's answers still to give (live list); None for a real one."""
    @property
    def calls(self) -> list[dict[str, Any]] | None:
        """A scripted transport's exchanges: one dict (method, params, request_id,
        idempotency_key) per SEND; None for a real one."""

    def perform(
        self,
        method: str,
        params: Any,
        request_id: str,
        *,
        idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> Outcome:
        """POST <base>/<encodeURIComponent(method)>?bx24_request_id=..&bx24_sdk_ver=..&bx24_sdk_type=..
        (no query string at all when method matches ^task\\.), JSON body
        (None -> {}, a list -> object keyed "0".."n-1"; a shallow copy whose
        data mapping loses its start key), headers Content-Type/Accept/User-Agent
        (+ Idempotency-Key when given). Same-origin redirects (<=5) are
        followed with a re-POST; a cross-origin one ends in ERROR with code
        PORTAL_MOVED naming only the new origin. Raises ParamsError before
        any I/O, ClosedError after close(); never raises for network errors."""

    def call(
        self,
        method: str,
        params: Any,
        request_id: str,
        *,
        limiter: "Limiter",
        idempotency_key: str | None = None,
        is_write: bool = False,
        batch_methods: Sequence[str] | None = None,
        on_event: Callable[[str, dict[str, Any]], object] | None = None,
        timeout: float | None = None,
        event_details: bool = True,
    ) -> Outcome:
        """The whole call pipeline of spec §5 in C, with the GIL released:
        per attempt the operating gate (else the adaptive delay), the rate gate
        loop, the POST (a 401 expired/invalid token is re-sent once within the
        attempt), then success → feed ``limiter`` and its metrics, or failure →
        the retry policy of §9.5 with the safe-write rule (``is_write``: no
        re-send after a possible send unless ``idempotency_key`` is set or the
        limiter says ``"always"``; a non-idempotent write also never rides a
        reused connection). Returns the final Outcome (the success, or the last
        failure; ``max_retries < 1`` gives code JSSDK_CALL_ALL_ATTEMPTS_EXHAUSTED
        with no request). ``batch_methods``: the v2 batch ``cmd`` names for the
        ``batch`` → ``batch::<m>`` rule. ``on_event(kind, data)`` is called
        live, GIL taken briefly, no core lock held, with kind one of
        attempt, blocked, send, response, success, catch, failed, decided,
        rate_lowered, rate_restored, heavy, wait, auth_error, auth_refresh,
        exhausted; data keys: method, attempt, max, wait (ms), count, limiter
        (rateLimiter/operatingLimiter/adaptiveDelayer), reason (rate, operating,
        client_error, hard, redirect, unsafe_write, backoff), duration (ms), and for events
        about an outcome status, code, message (+ answer for response/catch).
        ``event_details=False`` delivers only blocked, decided, rate_lowered,
        rate_restored and exhausted (the per-attempt events are then neither
        built nor called, and the GIL is not taken for them).
        Exceptions from on_event are ignored except BaseException (e.g.
        KeyboardInterrupt), which stops the call. Every wait sleeps in slices of
        ≤ 50 ms and, in the main thread, runs the signal handlers between them
        and during the exchange: Ctrl-C raises KeyboardInterrupt promptly."""

    def close(self) -> None:
        """Release handles and connections. Idempotent. Calls in flight finish."""

    def __enter__(self) -> "Transport": ...
    def __exit__(self, *exc: object) -> None: ...


@final
class Multi:
    """Many calls at once on one thread: the engine's call machines on one libcurl
    multi handle. Used by one thread at a time."""

    def __new__(cls, transport: Transport, limiter: Limiter) -> Self: ...
    @property
    def active(self) -> int:
        """Calls added and not yet returned by run()."""
    @property
    def peak(self) -> int:
        """The most exchanges this Multi had running at once."""
    def add(
        self,
        key: Any,
        method: str,
        params: Any,
        request_id: str,
        *,
        idempotency_key: str | None = None,
        is_write: bool = False,
        batch_methods: Sequence[str] | None = None,
        on_event: Callable[[str, dict[str, Any]], object] | None = None,
        timeout: float | None = None,
        event_details: bool = True,
    ) -> None:
        """Start one call (the arguments of Transport.call)."""
    def run(self) -> list[tuple[Any, Outcome]]:
        """Drive every call with the GIL released until at least one is done."""
    def close(self) -> None:
        """Stop the calls still running. Idempotent."""
    def __enter__(self) -> Self: ...
    def __exit__(self, *exc: object) -> None: ...

@final
class AioMulti:
    """The engine's calls on an asyncio event loop: libcurl's multi socket interface
    on the loop's readers, writers and timers. Used from the loop's thread only."""

    def __new__(cls, transport: Transport, limiter: Limiter, loop: asyncio.AbstractEventLoop) -> Self: ...
    @property
    def active(self) -> int:
        """Calls started and not yet done or cancelled."""
    @property
    def sending(self) -> int:
        """Exchanges running on the multi handle now."""
    @property
    def sockets(self) -> int:
        """Sockets curl asked the loop to watch now."""
    @property
    def peak(self) -> int:
        """The most exchanges this AioMulti had running at once."""
    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The event loop it runs on."""
    @property
    def closed(self) -> bool:
        """close() was called."""
    def start(
        self,
        method: str,
        params: Any,
        request_id: str,
        *,
        idempotency_key: str | None = None,
        is_write: bool = False,
        batch_methods: Sequence[str] | None = None,
        on_event: Callable[[str, dict[str, Any]], object] | None = None,
        timeout: float | None = None,
        event_details: bool = True,
    ) -> asyncio.Future[Outcome]:
        """Start one call on the loop; a future of its Outcome."""
    def cancel(self, future: asyncio.Future[Outcome], /) -> bool:
        """Stop the call of ``future`` and cancel the future."""
    def close(self) -> None:
        """Fail the calls still running with ClosedError. Idempotent."""
    def _io(self, fd: int, flags: int, /) -> None: ...
    def _timeout(self) -> None: ...
    def _slice(self) -> None: ...
    def _wake(self, future: asyncio.Future[Outcome], /) -> None: ...

def scripted_transport(
    *outcomes: Outcome | BaseException,
    timeout: float = 30.0,
    headers: Mapping[str, str] | None = None,
) -> Transport:
    """A Transport for tests: ``call()`` runs the real engine and driver loop, each
    exchange replaced by the next scripted Outcome (or raising the next scripted
    exception). ``.script`` holds what is left, ``.calls`` what was taken."""


@final
class Limiter:
    """The restriction manager of one transport (spec §9), state in C behind
    its own mutex, shared by every thread using the transport. v2 and v3
    each have one. Every method is non-blocking: gates return how long to
    wait (ms) and never sleep."""

    @staticmethod
    def defaults() -> dict[str, Any]:
        """The §9.1 default preset as a fresh RestrictionParams dict (integral
        numbers as int); the Python presets start from it."""
    def __new__(cls, params: Mapping[str, Any] | None = None, *,
                scope: tuple[str, str] | None = None) -> Self:
        """``params``: a RestrictionParams dict (missing fields: the §9.1 defaults).
        ValueError for drain_rate <= 0, limit_ms <= 0, a bad retry_on_network_error,
        an unknown ``shared`` value, or a ``shared`` one without ``scope`` (the
        (portal key, webhook key) the shared state is keyed by). OSError when
        the host-wide state cannot be opened."""
    @staticmethod
    def backend_names(shared: str | None, /) -> tuple[str, str]:
        """(rate, operating) backend names a ``shared`` value selects; ValueError
        for an unknown value. Opens nothing."""
    def _hold_shared_lock(self) -> None:
        """TEST ONLY: take the host-wide bucket's lock and keep it (the test then
        SIGKILLs the process, as if it died inside an op)."""
    def _shared_repairs(self) -> int:
        """TEST ONLY: dead lock owners recovered on the host-wide bucket (-1: not shared)."""
    @property
    def max_retries(self) -> int: ...
    def configure(self, params: Mapping[str, Any], /) -> None:
        """Replace the configuration; keeps tokens, operating entries and
        metrics; clears the rate limiter's error/success histories."""
    def is_hard(self, code: str, /) -> bool: ...
    def is_soft(self, code: str, /) -> bool: ...
    def operating_wait(self, method: str, batch_methods: Sequence[str] | None = None, /) -> tuple[float, str]:
        """(ms, limiter title): time_to_free (§9.3), else the adaptive delay (§9.4, counted)."""
    def record_success(self, method: str, time: Any, /) -> tuple[bool, bool]:
        """Feed an answer's ``time`` dict under ``method`` (``batch::<m>`` for a
        batch command: operating only). Returns (rates_restored, heavy)."""
    def stats(self) -> dict[str, Any]:
        """Every key of §9.6 (limiter and metrics), and ``limiter_backend``:
        ``{"rate": name, "operating": name}`` ("in-process", "host", ...)."""
    def reset(self) -> None:
        """Zero the metrics and all limiter state; restore the original rates."""


# ---- lists, batches and the export (csrc/ext/actions.c) ------------------

def qs_encode(params: Mapping[str, Any] | None, /) -> str:
    """PHP-style bracket query string of a mapping (spec §6.6.2); None -> "".
    TypeError for a non-mapping, MemoryError past the size cap."""

def batch_command(method: str, params: Mapping[str, Any] | None, /) -> str:
    """The v2 batch command string ``method?qs(params)``."""

def parse_cursor(value: object, /) -> int | None:
    """JS ``parseInt(String(value))`` -> int, or None for NaN (None, bool,
    non-numeric text, an int beyond 64 bits)."""

_WalkItem = (tuple[Literal["page"], list[Any]] | tuple[Literal["end"], str | None]
            | tuple[Literal["answer"], Outcome])

@final
class Walk:
    """The page loop of a list walk (csrc/ext/walk.c over the core's b24_walk):
    kind ``"v2"`` (filter ``>key``, order ``{key: ASC}``, start -1; a ``>key`` in
    ``filter`` is the first cursor), ``"v3"`` (``filter`` + ``[key, ">", cursor]``,
    pagination) or ``"tail"`` (``cursor: {field: key, value, order, limit}``,
    starting at ``cursor``, None = 0). Each step calls ``prepare(params)`` for
    (transport, request_id, call keywords), runs that page's call as
    ``Transport.call`` does (GIL released), and gives ``("page", rows)``, then
    ``("end", reason)`` (None, or "no_result", "no_list", "not_a_list",
    "no_int_id", "no_cursor") or ``("answer", Outcome)`` for a call that did not
    succeed; then StopIteration. Rows are ``result[custom_key]`` (v2 without a
    custom key: ``result``); the last row's ``id_key`` (default ``key``) is the
    next cursor. ``prepare=None``: driven by :meth:`request`/:meth:`feed` only
    (the asyncio driver), iterating it raises TypeError."""

    def __new__(
        cls,
        kind: Literal["v2", "v3", "tail"],
        method: str,
        params: dict[str, Any],
        prepare: Callable[[dict[str, Any]], tuple[Transport, str, dict[str, Any]]] | None,
        *,
        key: str,
        id_key: str | None = None,
        custom_key: Any = None,
        filter: Any = None,
        limit: int = 50,
        order: str = "ASC",
        cursor: Any = None,
    ) -> Self: ...
    def __iter__(self) -> Self: ...
    def __next__(self) -> _WalkItem:
        """One step of the blocking driver (needs ``prepare``)."""
    def request(self) -> tuple[Literal["request"], dict[str, Any]] | tuple[Literal["end"], str | None] | None:
        """The step interface (no I/O): ``("request", params)`` (send that page's
        call, then :meth:`feed` its Outcome), ``("end", reason)``, or None once over."""
    def feed(self, outcome: Outcome, /) -> _WalkItem:
        """The Outcome of the page :meth:`request` asked for."""
    @property
    def cursor(self) -> Any:
        """The cursor of the next request (keyset: an int; tail: the value)."""
    @property
    def pages(self) -> int:
        """Answers read as pages so far."""

def cmd_form(aliases: Sequence[str | None], /) -> tuple[int, int]:
    """-> (form, bad): form 0 list, 1 object, 2 mixed (bad = index of the first offender)."""

def batch_count_error(n: int, /) -> str | None:
    """None for 1..50 commands, else the error message."""

def batch_chunks(n: int, size: int, /) -> list[tuple[int, int]]:
    """[(start, length), ...] of consecutive chunks of ``size`` covering ``n`` items."""

def export_commands(cursor: int, hi: int, /) -> int:
    """Pages worth planning in the next batch of a shard (hi < 0: open)."""

def export_shards(lo: int, hi: int, want: int, min_span: int, /) -> list[int]:
    """Upper bounds of the shards of (lo, hi] (``want`` clamped to 1..64): one shard of
    ``min_span`` ids per batch (the remainder last) when ``want`` covers the batches, else
    ``want`` even shards."""

def export_plan(
    *,
    pages_left: float = 0.0,
    page_s: float = 0.0,
    page_cost_s: float = 0.0,
    rtt_s: float = 0.0,
    tokens: float = 50.0,
    drain: float = 0.0,
    reserve: int = 0,
    max_flights: int = 50,
    in_flight: int = 0,
    budget_limit_s: float = 0.0,
    budget_used_s: float = 0.0,
    budget_inflight_s: float = 0.0,
    reset_in_s: float = -1.0,
    window_s: float = 0.0,
    margin: float = -1.0,
    budget_stale: bool = False,
) -> tuple[int, int, float, bool, float]:
    """The export planner (csrc/core/b24_plan.h): requests in flight, chained
    pages per batch, seconds to wait for the operating budget, whether the budget
    sets the pace, estimated seconds to the end."""
def export_batch(
    method: str,
    base_params: Mapping[str, Any],
    gt_key: str,
    cursor: int,
    n: int,
    container: str | None,
    id_key: str,
    /,
) -> dict[str, str]:
    """Named v2 batch commands p0..p{n-1} of chained keyset pages:
    ``{"p0": "method?<qs>&filter[>KEY]=cursor", "p1": "...=$result[p0]..."}``.
    ``base_params`` must not hold ``filter[gt_key]``."""

def export_collect(
    results: Any, n: int, container: str | None, id_key: str, cursor: int, hi: int, /
) -> tuple[list[Any], int, int, int, str | None]:
    """-> (rows, cursor, done, bad_index, reason): reads pages p0..p{n-1} of a
    batch's ``result`` map in order; ``done`` is 1 at the first short page
    (0 otherwise); ``bad_index`` >= 0 names the first page that is missing,
    not a list, or breaks the walk (``reason`` says why; the rows before it
    are kept and ``cursor`` is the last good id), else -1."""
