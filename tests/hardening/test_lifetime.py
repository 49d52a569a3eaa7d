"""Lifetime (issue 6 item 4): cycles are collected, a dropped hook is freed,
the extension survives subinterpreters and reload, a closed client raises.
"""
from __future__ import annotations

import gc
import importlib
import subprocess
import sys
import textwrap
import weakref

import pytest

from b24hook import B24Hook, SdkError, _core

from . import _servers as S


def _hook() -> B24Hook:
    return B24Hook("x.bitrix24.com", 1, S.SECRET)


def test_dropped_hook_without_close_is_freed():
    b24 = _hook()
    ref = weakref.ref(b24)
    del b24
    gc.collect()
    assert ref() is None


def test_namespaces_do_not_keep_the_hook_alive_after_they_go():
    b24 = _hook()
    ref = weakref.ref(b24)
    call = b24.actions.v2.call
    tools = b24.tools
    del b24
    gc.collect()
    assert ref() is not None          # the namespace holds the hook ...
    del call, tools
    gc.collect()
    assert ref() is None   # ... and nothing else does


def test_cycles_through_the_namespaces_are_collected():
    gc.collect()
    before = len(gc.get_objects())
    for _ in range(200):
        b24 = _hook()
        b24.actions.v2.call.make  # noqa: B018 - touch the namespaces
        b24.tools.ping
        b24.loop = b24            # a user-made cycle through the hook
        del b24
    gc.collect()
    assert len(gc.get_objects()) - before < 200


def test_transport_is_gc_tracked_and_freed():
    t = _core.Transport("https://x.bitrix24.com/rest/1/" + S.SECRET, S.SECRET,
                        user_agent="ua", sdk_type="t", sdk_version="0")
    assert gc.is_tracked(t)
    holder = [t]
    holder.append(holder)   # a cycle through a list
    ref = weakref.ref(t) if type(t).__weakrefoffset__ else None
    del t, holder
    gc.collect()
    if ref is not None:
        assert ref() is None


def test_closed_client_raises_cleanly():
    b24 = _hook()
    b24.close()
    b24.close()   # idempotent
    with pytest.raises(SdkError) as ei:
        b24.actions.v2.call.make("crm.item.get", {"id": 1})
    assert S.SECRET not in str(ei.value) and S.SECRET not in repr(ei.value)
    # the tools never raise by contract (JS SDK): they report the failure
    assert b24.tools.ping.make() == -1
    assert b24.tools.health_check.make() is False


def test_closed_transport_raises_closed_error():
    t = _core.Transport("https://x.bitrix24.com/rest/1/" + S.SECRET, S.SECRET,
                        user_agent="ua", sdk_type="t", sdk_version="0")
    t.close()
    with pytest.raises(_core.ClosedError) as ei:
        t.perform("m", {}, "rid")
    assert S.SECRET not in str(ei.value)
    t.close()


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=120)


def test_import_in_subinterpreters_does_not_crash():
    out = _run("""
        import _xxsubinterpreters as si
        from b24hook import _core
        code = (
            "from b24hook import _core\\n"
            "assert _core.decode_json(b'[1]') == [1]\\n"
            "t = _core.Transport('https://x.bitrix24.com/rest/1/s', 's', user_agent='u',"
            " sdk_type='t', sdk_version='0')\\n"
            "t.close()\\n")
        for _ in range(3):
            i = si.create()
            si.run_string(i, code)
            si.destroy(i)
        try:
            import _testcapi
        except ImportError:
            pass
        else:
            assert _testcapi.run_in_subinterp("import b24hook._core") == 0
        assert _core.decode_json(b'{"a":1}') == {"a": 1}
        print("ok")
    """)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-3000:]


def test_reload_does_not_crash():
    out = _run("""
        import gc, importlib, sys
        import b24hook
        from b24hook import _core
        old = _core
        t = old.Transport('https://x.bitrix24.com/rest/1/s', 's', user_agent='u',
                          sdk_type='t', sdk_version='0')
        for _ in range(3):
            new = importlib.reload(_core)
        del sys.modules['b24hook._core']
        fresh = importlib.import_module('b24hook._core')
        assert fresh.decode_json(b'[2]') == [2]
        assert old.decode_json(b'[1]') == [1]
        t.close()
        del t, old, new, fresh
        gc.collect()
        importlib.reload(b24hook)
        print("ok")
    """)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-3000:]
