"""Small pure helpers for REST v3: ``FilterV3`` and ``BatchRefV3`` (spec §12)."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from ._errors import SdkError

__all__ = ["FilterV3", "BatchRefV3"]

_OPS = ("=", "!=", ">", ">=", "<", "<=", "in", "between")


def _fail(code: str, message: str) -> SdkError:
    return SdkError(code, 400, message)


def _field(field: Any) -> str:
    if not isinstance(field, str) or not field:
        raise _fail("JSSDK_FILTER_V3_INVALID_FIELD", "Filter field must be a non-empty string")
    return field


class FilterV3:
    """Builds REST v3 ``filter`` values (JSON-ready lists and dicts).

    Examples:
        >>> FilterV3.build(FilterV3.eq("stageId", "NEW"), FilterV3.gt("id", 10))
        [['stageId', '=', 'NEW'], ['id', '>', 10]]
    """

    OPERATORS: tuple[str, ...] = _OPS

    @staticmethod
    def condition(field: str, op: str, value: Any) -> list[Any]:
        """``[field, op, value]`` with one of the eight v3 operators."""
        if op not in _OPS:
            raise _fail("JSSDK_FILTER_V3_INVALID_OPERATOR", f"Unknown filter operator: {op!r}")
        if op == "in":
            return FilterV3.in_(field, value)
        if op == "between":
            if not isinstance(value, (list, tuple)) or len(value) != 2:
                raise _fail("JSSDK_FILTER_V3_INVALID_BETWEEN", "between needs two operands")
            return FilterV3.between(field, value[0], value[1])
        return [_field(field), op, value]

    @staticmethod
    def eq(field: str, value: Any) -> list[Any]:
        return [_field(field), "=", value]

    @staticmethod
    def ne(field: str, value: Any) -> list[Any]:
        return [_field(field), "!=", value]

    @staticmethod
    def gt(field: str, value: Any) -> list[Any]:
        return [_field(field), ">", value]

    @staticmethod
    def ge(field: str, value: Any) -> list[Any]:
        return [_field(field), ">=", value]

    @staticmethod
    def lt(field: str, value: Any) -> list[Any]:
        return [_field(field), "<", value]

    @staticmethod
    def le(field: str, value: Any) -> list[Any]:
        return [_field(field), "<=", value]

    @staticmethod
    def in_(field: str, values: Sequence[Any]) -> list[Any]:
        """``[field, "in", [values...]]``; the list must be non-empty."""
        f = _field(field)
        if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple)) or not values:
            raise _fail("JSSDK_FILTER_V3_INVALID_IN", "in needs a non-empty list of values")
        return [f, "in", list(values)]

    @staticmethod
    def between(field: str, a: Any, b: Any) -> list[Any]:
        """``[field, "between", [a, b]]`` (a reversed range is kept as given)."""
        f = _field(field)
        if a is None or b is None:
            raise _fail("JSSDK_FILTER_V3_INVALID_BETWEEN", "between needs two non-null operands")
        return [f, "between", [a, b]]

    @staticmethod
    def and_(*nodes: Any) -> dict[str, Any]:
        """``{"logic": "and", "conditions": [...]}`` (nodes validated like ``build``)."""
        return {"logic": "and", "conditions": FilterV3.build(*nodes)}

    @staticmethod
    def or_(*nodes: Any) -> dict[str, Any]:
        return {"logic": "or", "conditions": FilterV3.build(*nodes)}

    @staticmethod
    def not_(node: Any) -> dict[str, Any]:
        """Negate a group (a copy with ``negative: True``) or wrap a condition."""
        if isinstance(node, Mapping) and "conditions" in node:
            group = dict(node)
            group["conditions"] = list(node["conditions"])
            group["negative"] = True
            return group
        return {"logic": "and", "negative": True, "conditions": [FilterV3._node(node)]}

    @staticmethod
    def _node(node: Any) -> Any:
        if isinstance(node, Mapping) and "conditions" in node:
            return dict(node)
        if (
            isinstance(node, (list, tuple))
            and len(node) == 3
            and isinstance(node[0], str)
            and node[0]
            and node[1] in _OPS
        ):
            return list(node)
        raise _fail("JSSDK_FILTER_V3_INVALID_NODE", "Invalid filter node")

    @staticmethod
    def build(*nodes: Any) -> list[Any]:
        """A v3 filter list; falsy nodes (None, False, 0, "") are dropped."""
        out: list[Any] = []
        for node in nodes:
            if node is None or node is False or (not isinstance(node, (Mapping, list, tuple)) and not node):
                continue
            out.append(FilterV3._node(node))
        return out


class BatchRefV3:
    """Markers for chaining commands of a v3 batch (substituted by the server)."""

    @staticmethod
    def ref(path: str) -> dict[str, str]:
        """``{"$ref": path}``, e.g. ``ref("task.item.id")``."""
        if not isinstance(path, str) or not path:
            raise _fail("JSSDK_BATCH_REF_V3_INVALID_PATH", "Batch reference path must be a non-empty string")
        return {"$ref": path}

    @staticmethod
    def ref_array(path: str) -> dict[str, str]:
        """``{"$refArray": path}``; the path must contain a dot."""
        if not isinstance(path, str) or not path:
            raise _fail("JSSDK_BATCH_REF_V3_INVALID_PATH", "Batch reference path must be a non-empty string")
        if "." not in path:
            raise _fail("JSSDK_BATCH_REF_V3_INVALID_REF_ARRAY", "refArray path must look like <command>.<field>")
        return {"$refArray": path}
