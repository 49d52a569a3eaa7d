"""b24hook._core: module isolation (multi-phase init) and leak checks."""
from __future__ import annotations

import gc
import importlib.util
import json
import subprocess
import sys
import textwrap

from b24hook import _core


def test_two_module_objects_are_independent():
    spec = importlib.util.find_spec("b24hook._core")
    assert spec is not None
    other = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(other)  # type: ignore[union-attr]
    assert other is not _core
    assert other.Transport is not _core.Transport
    assert other.ParamsError is not _core.ParamsError
    assert other.Outcome is not _core.Outcome
    try:
        other.encode_json({1, 2})
    except other.ParamsError:
        pass
    assert other.decode_json(b"[1]") == [1]


def test_no_python_object_leaks():
    code = textwrap.dedent(
        """
        import gc, json, sys, tracemalloc
        from b24hook import _core
        data = json.dumps({"result": [{"ID": str(i), "X": [1, 2.5, None, "é"]}
                                      for i in range(50)]}).encode()
        def work():
            for _ in range(300):
                _core.decode_json(data)
                _core.encode_json({"a": [1, 2, {"b": "c"}], "d": 1.5})
                try:
                    _core.encode_json({"x": {1}})
                except _core.ParamsError:
                    pass
                _core.redact_url("a?auth=1&b=2")
                _core.parse_webhook_url("https://x.com/rest/1/abc")
        work()
        gc.collect()
        tracemalloc.start()
        a = tracemalloc.get_traced_memory()[0]
        work()
        gc.collect()
        b = tracemalloc.get_traced_memory()[0]
        print(b - a)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert int(out.stdout.strip()) < 20_000


def test_transport_is_collected():
    t = _core.Transport("https://x.invalid/rest/1/s", "s", user_agent="u", sdk_type="t",
                        sdk_version="v")
    tp_refs = sys.getrefcount(_core.Transport)
    del t
    gc.collect()
    assert sys.getrefcount(_core.Transport) <= tp_refs
    assert json.loads(_core.encode_json([1])) == [1]
