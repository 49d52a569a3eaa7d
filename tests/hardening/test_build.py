"""The sanitizer runs really use the instrumented extension."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from b24hook import _core


@pytest.mark.skipif(os.environ.get("B24HOOK_EXPECT_SANITIZED") != "1",
                    reason="only under `make asan-pytest`")
def test_the_asan_build_is_the_one_imported():
    assert Path(_core.__file__).parent.parent.name == "asan", _core.__file__
    assert "libasan" in Path("/proc/self/maps").read_text()
