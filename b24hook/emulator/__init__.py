"""A local Bitrix24 portal for tests and demos: HTTPS on 127.0.0.1 with its own
CA, SQLite-backed, written from ``spec/portal.md``.  It shares no code with the
b24hook client (it judges it).

    from b24hook.emulator import EmulatorPortal
    with EmulatorPortal(seed_demo=500) as portal:
        print(portal.v2_url, portal.ca_path)
"""
from __future__ import annotations

# importing the method modules registers the methods
from . import batch, eventlog, m_common, m_crm, m_tasks, v3  # noqa: F401
from .portal import EmulatorPortal
from .registry import REGISTRY
from .settings import DEFAULT_SCOPES, PORTAL_SCOPES, Settings, Webhook

__all__ = ["EmulatorPortal", "Settings", "Webhook", "REGISTRY", "DEFAULT_SCOPES",
           "PORTAL_SCOPES"]
