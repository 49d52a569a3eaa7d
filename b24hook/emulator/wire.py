"""The HTTP exchange as the pipeline sees it: :class:`Request`, :class:`Response`,
the REST route of a path, and the front web server's own HTML error pages.

It imports no emulator module: the server, the dispatcher, the hooks and the
portal all build on it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

JSON_CT = "application/json; charset=utf-8"
XML_CT = "text/xml; charset=utf-8"


@dataclass
class Request:
    verb: str
    path: str
    query: str
    headers: Any
    body: bytes
    t_start: float
    api: str | None = None          # "v2" | "v3" | None (not a REST path)
    uid: str | None = None
    secret: str | None = None
    method: str | None = None       # lower-case method name
    transport: str = "json"
    webhook: Any = None
    client: str = ""                # source IP (leaky bucket key)
    notes: dict[str, Any] = field(default_factory=dict)   # hooks' scratch space


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = JSON_CT
    headers: dict[str, Any] = field(default_factory=dict)
    close: bool = False             # drop the connection without answering
    envelope: Any = None            # the dict before encoding (hooks may rewrite)
    reset: bool = False             # with close: SO_LINGER 0, the peer sees a TCP RST
    truncate: int | None = None     # send only this many body bytes (full Content-Length), then close


def parse_route(path: str) -> tuple[str | None, str | None, str | None, str | None, str]:
    """-> (api, uid, secret, method, transport); api None if not a REST path."""
    segs = [unquote(s) for s in path.split("/")]
    uid: str | None
    secret: str | None
    if len(segs) < 3 or segs[0] != "" or segs[1] != "rest":
        return None, None, None, None, "json"
    segs = segs[2:]
    if segs and segs[-1] == "":
        segs = segs[:-1]          # one trailing slash is accepted
    api = "v2"
    if segs and segs[0] == "api":
        api, segs = "v3", segs[1:]
    if len(segs) == 3:
        uid, secret, method = segs
    elif len(segs) == 1:
        uid = secret = None
        method = segs[0]
    else:
        return api, None, None, "", "json"
    transport = "json"
    low = method.lower()
    if api == "v2":
        if low.endswith(".json"):
            low = low[:-5]
        elif low.endswith(".xml"):
            low, transport = low[:-4], "xml"
    return api, uid, secret, low, transport


_TITLES = {500: "Internal Server Error", 502: "Bad Gateway",
           503: "Service Temporarily Unavailable", 504: "Gateway Time-out"}


def html_page(status: int) -> Response:
    """An nginx-style HTML error page."""
    title = f"{status} {_TITLES.get(status, 'Error')}"
    body = (f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
            f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n"
            "</body>\r\n</html>\r\n").encode()
    return Response(status, body, "text/html")
