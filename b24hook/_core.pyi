"""Type stubs of the C extension ``b24hook._core``.

This file is the contract between the C glue (csrc/ext) and the Python layer
(b24hook/*.py). The Python layer never reaches past it.
"""
from typing import Any, Final, Mapping, NamedTuple, Sequence

__version__: Final[str]          # version string baked into the core
CURL_VERSION: Final[str]         # e.g. "7.88.1" (runtime libcurl)
CJSON_VERSION: Final[str]        # e.g. "1.7.15"

# Outcome kinds returned by Transport.perform
OK: Final[int]        # 2xx with a JSON body and no error member
FAILED: Final[int]    # 2xx JSON body whose `error` yields an error (spec §4.4 A)
ERROR: Final[int]     # transport failure, non-2xx, non-JSON 2xx (spec §4.4 B)

REDACTED_PLACEHOLDER: Final[str]  # "***REDACTED***"
SENSITIVE_PARAM_KEYS: Final[tuple[str, ...]]

class ParamsError(ValueError):
    """Params cannot be encoded as JSON (cycle, unsupported type, NaN...).

    Raised by Transport.perform and encode_json before any network I/O.
    The Python layer turns it into AjaxError(JSSDK_INVALID_PARAMS, 400).
    """

class ClosedError(RuntimeError):
    """perform() on a Transport after close()."""

class Outcome(NamedTuple):  # a PyStructSequence in C
    kind: int            # OK, FAILED or ERROR
    status: int          # HTTP status; 0 when no response; 408 on timeout
    answer: Any          # parsed JSON body (any JSON value) or None when absent/not JSON
    code: str | None     # error code (FAILED/ERROR), e.g. "NETWORK_ERROR", "ERR_BAD_REQUEST"
    message: str | None  # error message/description per spec §4.4 (secret-free)
    maybe_sent: bool     # a transport failure after the request may have reached the server
    elapsed_ms: float    # wall time of the exchange
    detail: str | None   # libcurl/OS text for original_error, secret scrubbed; else None
    headers: dict[str, str]  # response headers, lower-cased names (last wins)

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

def scrub_secret(text: str, secret: str, /) -> str:
    """Replace every occurrence of secret in text by ***REDACTED***."""

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
    integral numbers below 2**53 -> int, others float; ValueError on
    invalid JSON (message gives the byte offset).

    Known limits of the cJSON parser (also apply to Outcome.answer): numbers
    are doubles, so integers beyond 2**53 come back as (rounded) floats; a
    string is cut at an escaped \\u0000; lone-surrogate escapes are invalid
    JSON; nesting deeper than 1000 is invalid JSON."""

class Transport:
    """One HTTP client for one base URL (a v2 or v3 webhook base).

    Thread-safe: a pool of curl easy handles, each used by one thread at a
    time; connections are kept alive and reused. perform() releases the GIL
    for the whole network exchange and the JSON parse.
    """

    def __init__(
        self,
        base_url: str,          # https://domain/rest/<uid>/<secret> or .../rest/api/<uid>/<secret>
        secret: str,            # scrubbed from every text the core produces
        *,
        timeout: float = 30.0,  # total seconds for one exchange
        verify: bool | str = True,  # True / False / path of a CA bundle file
        headers: Mapping[str, str] | None = None,  # merged over the defaults, caller wins
        user_agent: str,
        sdk_type: str,
        sdk_version: str,
    ) -> None: ...

    timeout: float                   # settable, seconds, > 0
    headers: dict[str, str]          # settable; getter returns a copy
    @property
    def verify(self) -> bool | str: ...
    @property
    def closed(self) -> bool: ...
    @property
    def connections_opened(self) -> int:
        """Total new TCP connections made so far (keep-alive check)."""

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

    def close(self) -> None:
        """Release handles and connections. Idempotent. Calls in flight finish."""

    def __enter__(self) -> "Transport": ...
    def __exit__(self, *exc: object) -> None: ...
