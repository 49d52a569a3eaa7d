"""Transport integrity, round two (issue 9 items 6 and 9): malformed answers are
typed failures, surplus bytes never become the next call's answer, and a refused
redirect is final.

Each test runs its own hostile HTTPS server (``_servers.TLSServer``)."""
from __future__ import annotations

import json
import time
from typing import Any

import pytest
import trustme

from b24hook import AjaxError, B24Hook

from . import _servers as S


# Fast retries: what is measured is whether a retry happens, not its backoff.
RETRYING = {"max_retries": 3, "retry_delay": 50}


# ---- item 9: a cross-origin redirect is refused, and the refusal is final -----

@pytest.mark.parametrize("where", ["port", "scheme", "host name"])
def test_cross_origin_redirect_is_final(cert, ca_path, where):
    """307 to another origin, then 200: the call fails with PORTAL_MOVED after one request
    (today the refusal was classified retryable and the retry succeeded silently)."""
    def handler(conn: Any, req: S.Request) -> bool:
        if srv.requests == 1:
            target = {"port": f"https://127.0.0.1:{srv.port + 1}",
                      "scheme": f"http://127.0.0.1:{srv.port}",
                      "host name": f"https://localhost:{srv.port}"}[where]
            return S.send_answer(conn, b"", 307,
                                 extra=f"Location: {target}/rest/1/{S.SECRET}/crm.item.get.json\r\n")
        return S.send_answer(conn, b'{"result":{"ID":"1"},"time":{"start":1}}')

    with S.TLSServer(handler, cert) as srv:
        with B24Hook.from_webhook_url(srv.url(), verify=ca_path, timeout=10,
                                      restriction_params=RETRYING) as b24:
            with pytest.raises(AjaxError) as ei:
                b24.actions.v2.call.make("crm.item.get", {"entityTypeId": 2, "id": 1})
        time.sleep(0.2)  # a retry (if any) would have arrived by now
        assert srv.requests == 1
    err = ei.value
    assert err.code == "PORTAL_MOVED" and err.status == 307
    assert S.SECRET not in str(err) and S.SECRET not in repr(err)
