"""Errors raised by methods; the pipeline turns them into portal answers."""
from __future__ import annotations

from typing import Any


class RestError(Exception):
    """A v2 error: ``{"error": code, "error_description": text}`` (§4)."""

    def __init__(self, code: str, description: str, status: int = 400,
                 **extra: Any) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description
        self.status = status
        self.extra = extra

    def body(self) -> dict[str, Any]:
        b = {"error": self.code, "error_description": self.description}
        b.update(self.extra)
        return b


V3 = "BITRIX_REST_V3_EXCEPTION_"


class V3Error(Exception):
    """A REST 3.0 error: ``{"error": {"code", "message", "validation"?}}`` (§8.3)."""

    def __init__(self, code: str, message: str, status: int = 400,
                 validation: list[dict[str, Any]] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code if code.startswith(V3) else V3 + code
        self.message = message
        self.status = status
        self.validation = validation

    def body(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.validation is not None:
            err["validation"] = self.validation
        return {"error": err}


def method_not_found() -> RestError:
    return RestError("ERROR_METHOD_NOT_FOUND", "Method not found!", 404)


def param_missing(name: str) -> RestError:
    return RestError("100", f"Could not find value for parameter {{{name}}}", 400)


def param_invalid(value: Any, name: str, typ: str = "int") -> RestError:
    return RestError("100", f"Invalid value {value} to match with parameter "
                     f"{{{name}}}. Should be value of type {typ}", 400)


def legacy_error(text: str) -> RestError:
    """Legacy CRM errors: status 400, empty ``error`` (§4)."""
    return RestError("", text, 400)


def v3_validation(field: str, message: str) -> V3Error:
    return V3Error("VALIDATION_REQUESTVALIDATIONEXCEPTION", message, 400,
                   [{"field": field, "message": message}])
