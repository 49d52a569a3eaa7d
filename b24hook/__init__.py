"""b24hook: a Bitrix24 REST client for inbound webhooks, with a C core.

The surface is the ``B24Hook`` class of Bitrix24's official JS SDK
(@bitrix24/b24jssdk 2.1.0) in snake_case::

    from b24hook import B24Hook

    with B24Hook.from_webhook_url("https://example.bitrix24.com/rest/1/secret") as b24:
        result = b24.actions.v2.call.make("crm.item.get", {"entityTypeId": 2, "id": 1})
        print(result.get_data_or_raise()["result"])   # or raises its AjaxError
"""
from ._enums import (
    ApiVersion,
    EnumCrmEntityType,
    EnumCrmEntityTypeId,
    EnumCrmEntityTypeShort,
    get_enum_crm_entity_type_short,
)
from ._errors import AjaxError, BatchMaybeCommittedError, SdkError
from ._helpers import BatchRefV3, FilterV3
from ._aio import AsyncB24Hook
from ._hook import B24Hook
from ._logging import LoggerInterface, LogLevel, NullLogger
from ._params import ParamsFactory, RestrictionManager, RestrictionParams
from ._redact import (
    REDACTED_PLACEHOLDER,
    SENSITIVE_PARAM_KEYS,
    redact_sensitive_params,
    redact_sensitive_url,
)
from ._request_id import RequestIdGenerator
from ._result import AjaxResult, Payload, PayloadTime, Result
from ._version import __version__

__all__ = [
    "B24Hook",
    "AsyncB24Hook",
    "ApiVersion",
    "Result",
    "AjaxResult",
    "Payload",
    "PayloadTime",
    "SdkError",
    "AjaxError",
    "BatchMaybeCommittedError",
    "ParamsFactory",
    "RestrictionManager",
    "RestrictionParams",
    "RequestIdGenerator",
    "FilterV3",
    "BatchRefV3",
    "EnumCrmEntityType",
    "EnumCrmEntityTypeId",
    "EnumCrmEntityTypeShort",
    "get_enum_crm_entity_type_short",
    "redact_sensitive_params",
    "redact_sensitive_url",
    "SENSITIVE_PARAM_KEYS",
    "REDACTED_PLACEHOLDER",
    "LogLevel",
    "LoggerInterface",
    "NullLogger",
    "__version__",
]
