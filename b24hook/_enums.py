"""Enumerations: API versions and CRM entity types (spec §1, §12)."""
from __future__ import annotations

from enum import Enum, IntEnum
from typing import Any

__all__ = [
    "ApiVersion",
    "EnumCrmEntityType",
    "EnumCrmEntityTypeId",
    "EnumCrmEntityTypeShort",
    "get_enum_crm_entity_type_short",
]


class ApiVersion(str, Enum):
    """REST API version. Plain ``"v2"``/``"v3"`` are accepted wherever a version is."""

    V2 = "v2"
    V3 = "v3"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def _missing_(cls, value: Any) -> "ApiVersion | None":
        if isinstance(value, str):
            low = value.lower()
            for member in cls:
                if member.value == low:
                    return member
        return None


class EnumCrmEntityTypeId(IntEnum):
    """CRM entity type ids (``entityTypeId``)."""

    UNDEFINED = 0
    LEAD = 1
    DEAL = 2
    CONTACT = 3
    COMPANY = 4
    OLD_INVOICE = 5
    QUOTE = 7
    REQUISITE = 8
    ORDER = 14
    INVOICE = 31


class EnumCrmEntityType(str, Enum):
    """CRM entity type names."""

    UNDEFINED = "UNDEFINED"
    LEAD = "CRM_LEAD"
    DEAL = "CRM_DEAL"
    CONTACT = "CRM_CONTACT"
    COMPANY = "CRM_COMPANY"
    OLD_INVOICE = "CRM_INVOICE"
    INVOICE = "CRM_SMART_INVOICE"
    QUOTE = "CRM_QUOTE"
    REQUISITE = "CRM_REQUISITE"
    ORDER = "ORDER"

    def __str__(self) -> str:
        return self.value


class EnumCrmEntityTypeShort(str, Enum):
    """CRM entity type short codes (as used in ``D_12``-style ids)."""

    UNDEFINED = "?"
    LEAD = "L"
    DEAL = "D"
    CONTACT = "C"
    COMPANY = "CO"
    OLD_INVOICE = "I"
    INVOICE = "SI"
    QUOTE = "Q"
    REQUISITE = "RQ"
    ORDER = "O"

    def __str__(self) -> str:
        return self.value


def get_enum_crm_entity_type_short(type_id: int) -> EnumCrmEntityTypeShort:
    """Short code for an entity type id; ``?`` (UNDEFINED) when unknown."""
    try:
        name = EnumCrmEntityTypeId(type_id).name
    except (ValueError, TypeError):
        return EnumCrmEntityTypeShort.UNDEFINED
    return EnumCrmEntityTypeShort[name]
