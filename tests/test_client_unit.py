"""Client pieces without network: construction, ids, enums, params, helpers, reprs."""
from __future__ import annotations

import inspect
import pickle
import re
import threading
from typing import Any

import pytest

import b24hook
from b24hook import (
    AjaxError,
    ApiVersion,
    B24Hook,
    BatchRefV3,
    EnumCrmEntityType,
    EnumCrmEntityTypeId,
    EnumCrmEntityTypeShort,
    FilterV3,
    ParamsFactory,
    RequestIdGenerator,
    RestrictionManager,
    SdkError,
    get_enum_crm_entity_type_short,
)
from b24hook import _core
from tests.conftest import UNIT_SECRET

UUID7 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


@pytest.fixture
def hook() -> Any:
    h = B24Hook(b24_url="https://example.bitrix24.com", user_id=1, secret=UNIT_SECRET)
    yield h
    h.close()


# ------------------------------------------------------------------ exports
def test_exports() -> None:
    expected = {
        "B24Hook", "ApiVersion", "Result", "AjaxResult", "SdkError", "AjaxError", "ParamsFactory",
        "RestrictionManager", "RestrictionParams", "RequestIdGenerator", "FilterV3", "BatchRefV3",
        "EnumCrmEntityType", "EnumCrmEntityTypeId", "EnumCrmEntityTypeShort",
        "get_enum_crm_entity_type_short", "redact_sensitive_params", "redact_sensitive_url",
        "SENSITIVE_PARAM_KEYS", "REDACTED_PLACEHOLDER", "LogLevel", "LoggerInterface", "NullLogger",
        "AsyncB24Hook",
    }
    assert expected <= set(b24hook.__all__)
    for name in b24hook.__all__:
        assert hasattr(b24hook, name), name
    assert inspect.iscoroutinefunction(b24hook.AsyncB24Hook.aclose)  # the real client, not a stub
    assert b24hook.__version__ == "0.1.0"


# ------------------------------------------------------------------ request ids
def test_request_ids_format_and_uniqueness() -> None:
    gen = RequestIdGenerator()
    ids = [gen.get_request_id() for _ in range(5000)]
    assert all(UUID7.match(i) for i in ids)
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)  # monotonic within a process
    assert gen.get_header_field_name() == "X-Request-ID"
    assert gen.get_query_string_parameter_name() == "bx24_request_id"
    assert gen.get_query_string_sdk_parameter_name() == "bx24_sdk_ver"
    assert gen.get_query_string_sdk_type_parameter_name() == "bx24_sdk_type"


def test_request_ids_unique_across_threads() -> None:
    gen = RequestIdGenerator()
    out: list[str] = []
    lock = threading.Lock()

    def work() -> None:
        local = [gen.get_request_id() for _ in range(2000)]
        with lock:
            out.extend(local)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(out)) == 16000


# ------------------------------------------------------------------ enums
def test_api_version() -> None:
    assert ApiVersion("v2") is ApiVersion.V2 and ApiVersion("v3") is ApiVersion.V3
    assert ApiVersion.V2 == "v2" and str(ApiVersion.V3) == "v3"
    with pytest.raises(ValueError):
        ApiVersion("v4")


def test_crm_enums() -> None:
    assert [(m.name, m.value) for m in EnumCrmEntityTypeId] == [
        ("UNDEFINED", 0), ("LEAD", 1), ("DEAL", 2), ("CONTACT", 3), ("COMPANY", 4),
        ("OLD_INVOICE", 5), ("QUOTE", 7), ("REQUISITE", 8), ("ORDER", 14), ("INVOICE", 31),
    ]
    assert [m.value for m in EnumCrmEntityType] == [
        "UNDEFINED", "CRM_LEAD", "CRM_DEAL", "CRM_CONTACT", "CRM_COMPANY", "CRM_INVOICE",
        "CRM_SMART_INVOICE", "CRM_QUOTE", "CRM_REQUISITE", "ORDER",
    ]
    assert [m.value for m in EnumCrmEntityTypeShort] == ["?", "L", "D", "C", "CO", "I", "SI", "Q", "RQ", "O"]
    assert get_enum_crm_entity_type_short(2) == "D"
    assert get_enum_crm_entity_type_short(EnumCrmEntityTypeId.INVOICE) == "SI"
    assert get_enum_crm_entity_type_short(5) == "I"
    assert get_enum_crm_entity_type_short(99) == "?"


# ------------------------------------------------------------------ params
def test_param_presets() -> None:
    d = ParamsFactory.get_default()
    assert d == {
        "rate_limit": {"burst_limit": 50, "drain_rate": 2, "adaptive_enabled": True},
        "operating_limit": {"window_ms": 600000, "limit_ms": 480000, "heavy_percent": 80},
        "adaptive_config": {"enabled": True, "threshold_percent": 80, "coefficient": 0.01, "max_delay": 7000},
        "max_retries": 3, "retry_delay": 1000, "retry_on_network_error": True,
        "hard_error_codes": [], "soft_error_codes": [], "shared": None,
    }
    e = ParamsFactory.get_enterprise()
    assert e["rate_limit"] == {"burst_limit": 250, "drain_rate": 5, "adaptive_enabled": True}
    assert {k: v for k, v in e.items() if k != "rate_limit"} == {k: v for k, v in d.items() if k != "rate_limit"}
    b = ParamsFactory.get_batch_processing()
    assert b["rate_limit"] == {"burst_limit": 30, "drain_rate": 1, "adaptive_enabled": True}
    assert b["operating_limit"] == {"window_ms": 600000, "limit_ms": 480000, "heavy_percent": 50}
    assert b["adaptive_config"] == {"enabled": True, "threshold_percent": 50, "coefficient": 0.015, "max_delay": 10000}
    assert (b["max_retries"], b["retry_delay"], b["retry_on_network_error"]) == (5, 1000, True)
    r = ParamsFactory.get_realtime()
    assert r["rate_limit"] == d["rate_limit"] and r["operating_limit"] == d["operating_limit"]
    assert r["adaptive_config"] == {"enabled": False, "threshold_percent": 100, "coefficient": 0.001, "max_delay": 480000}
    assert r["max_retries"] == 1
    assert ParamsFactory.from_tariff_plan("EnterPrise") == e
    for plan in ("company", "start", "standard", "basic", "??"):
        assert ParamsFactory.from_tariff_plan(plan) == d


def test_presets_are_fresh_objects() -> None:
    a, b = ParamsFactory.get_default(), ParamsFactory.get_default()
    a["rate_limit"]["burst_limit"] = 1
    a["hard_error_codes"].append("X")
    assert b["rate_limit"]["burst_limit"] == 50 and ParamsFactory.get_default()["hard_error_codes"] == []


def test_restriction_params_deep_filled(hook: B24Hook) -> None:
    h = B24Hook("x.bitrix24.com", 1, UNIT_SECRET, restriction_params={"rate_limit": {"burst_limit": 10}, "max_retries": 2})
    try:
        for v in ("v2", "v3"):
            p = h.get_http_client(v).get_restriction_manager_params()
            assert p["rate_limit"] == {"burst_limit": 10, "drain_rate": 2, "adaptive_enabled": True}
            assert p["max_retries"] == 2 and p["operating_limit"]["limit_ms"] == 480000
        # separate copies per transport, and the getter hands out a copy
        v2 = h.get_http_client("v2")
        assert v2.restriction._params["rate_limit"] is not h.get_http_client("v3").restriction._params["rate_limit"]
        v2.get_restriction_manager_params()["rate_limit"]["burst_limit"] = 99
        assert v2.get_restriction_manager_params()["rate_limit"]["burst_limit"] == 10
        h.set_restriction_manager_params({"adaptive_config": {"enabled": False}})
        p3 = h.get_http_client("v3").get_restriction_manager_params()
        assert p3["adaptive_config"] == {"enabled": False, "threshold_percent": 80, "coefficient": 0.01, "max_delay": 7000}
        assert p3["rate_limit"]["burst_limit"] == 50  # replaced wholesale, not merged with the old config
        assert p3 is not h.get_http_client("v2").get_restriction_manager_params()
    finally:
        h.close()


def test_built_in_codes() -> None:
    assert len(RestrictionManager.BUILT_IN_HARD_ERROR_CODES) == 21
    assert len(RestrictionManager.BUILT_IN_SOFT_ERROR_CODES) == 10
    assert isinstance(RestrictionManager.BUILT_IN_HARD_ERROR_CODES, tuple)
    assert "100" in RestrictionManager.BUILT_IN_HARD_ERROR_CODES
    assert "BITRIX_REST_V3_EXCEPTION_METHODNOTFOUNDEXCEPTION" in RestrictionManager.BUILT_IN_SOFT_ERROR_CODES
    rm = RestrictionManager({"soft_error_codes": ["MY_SOFT"], "retry_on_network_error": False})
    assert rm.is_soft("MY_SOFT") and rm.is_soft("ERROR_ENTITY_NOT_FOUND") and not rm.is_soft("error_entity_not_found")
    assert rm.is_hard("NETWORK_ERROR") and rm.is_hard("REQUEST_TIMEOUT")
    assert not RestrictionManager().is_hard("NETWORK_ERROR")


def test_stats_keys(hook: B24Hook) -> None:
    stats = hook.get_http_client("v2").get_stats()
    assert set(stats) == {
        "retries", "consecutive_errors", "limit_hits", "tokens", "burst_limit", "original_burst_limit",
        "drain_rate", "original_drain_rate", "refill_interval_ms", "last_refill", "pending_requests",
        "recent_errors", "recent_successes", "adaptive_delays", "total_adaptive_delay",
        "adaptive_delay_avg", "heavy_request_count", "operating_stats", "error_counts",
        "total_requests", "successful_requests", "failed_requests", "total_duration", "by_method",
        "last_errors", "limiter_backend",
    }
    assert stats["limiter_backend"] == {"rate": "in-process", "operating": "in-process"}
    assert stats["refill_interval_ms"] == 500 and stats["burst_limit"] == 50


# ------------------------------------------------------------------ helpers
def test_filter_v3() -> None:
    assert FilterV3.eq("a", 1) == ["a", "=", 1]
    assert [FilterV3.ne("a", 1)[1], FilterV3.gt("a", 1)[1], FilterV3.ge("a", 1)[1],
            FilterV3.lt("a", 1)[1], FilterV3.le("a", 1)[1]] == ["!=", ">", ">=", "<", "<="]
    assert FilterV3.in_("id", (1, 2)) == ["id", "in", [1, 2]]
    assert FilterV3.between("id", 9, 1) == ["id", "between", [9, 1]]
    grp = FilterV3.or_(FilterV3.eq("a", 1), ["b", ">", 2])
    assert grp == {"logic": "or", "conditions": [["a", "=", 1], ["b", ">", 2]]}
    neg = FilterV3.not_(grp)
    assert neg["negative"] is True and neg["conditions"] is not grp["conditions"] and "negative" not in grp
    assert FilterV3.not_(neg) == neg
    assert FilterV3.not_(["a", "=", 1]) == {"logic": "and", "negative": True, "conditions": [["a", "=", 1]]}
    assert FilterV3.build(None, False, 0, "", ["a", "=", 1], grp) == [["a", "=", 1], grp]
    assert FilterV3.and_(["a", "in", [1]]) == {"logic": "and", "conditions": [["a", "in", [1]]]}


@pytest.mark.parametrize(
    "call, code",
    [
        (lambda: FilterV3.in_("id", []), "JSSDK_FILTER_V3_INVALID_IN"),
        (lambda: FilterV3.between("id", None, 2), "JSSDK_FILTER_V3_INVALID_BETWEEN"),
        (lambda: FilterV3.eq("", 1), "JSSDK_FILTER_V3_INVALID_FIELD"),
        (lambda: FilterV3.eq(5, 1), "JSSDK_FILTER_V3_INVALID_FIELD"),
        (lambda: FilterV3.condition("a", "~", 1), "JSSDK_FILTER_V3_INVALID_OPERATOR"),
        (lambda: FilterV3.build(["a", "~", 1]), "JSSDK_FILTER_V3_INVALID_NODE"),
        (lambda: FilterV3.build({"logic": "and"}), "JSSDK_FILTER_V3_INVALID_NODE"),
        (lambda: FilterV3.build(["a", "="]), "JSSDK_FILTER_V3_INVALID_NODE"),
        (lambda: BatchRefV3.ref(""), "JSSDK_BATCH_REF_V3_INVALID_PATH"),
        (lambda: BatchRefV3.ref_array(None), "JSSDK_BATCH_REF_V3_INVALID_PATH"),
        (lambda: BatchRefV3.ref_array("nodot"), "JSSDK_BATCH_REF_V3_INVALID_REF_ARRAY"),
    ],
)
def test_helper_errors(call: Any, code: str) -> None:
    with pytest.raises(SdkError) as info:
        call()
    assert info.value.code == code and info.value.status == 400


def test_batch_ref() -> None:
    assert BatchRefV3.ref("task.item.id") == {"$ref": "task.item.id"}
    assert BatchRefV3.ref_array("list.items.id") == {"$refArray": "list.items.id"}


# ------------------------------------------------------------------ construction
@pytest.mark.parametrize(
    "url, message",
    [
        ("   ", "Webhook URL cannot be empty"),
        ("rest/1/" + UNIT_SECRET, "Invalid webhook URL format"),
        ("http://x.bitrix24.com/rest/1/" + UNIT_SECRET, "Webhook requires HTTPS protocol"),
        ("ftp://x.bitrix24.com/rest/1/" + UNIT_SECRET, "Webhook requires HTTPS protocol"),
        ("https://x.bitrix24.com/rest/1/" + UNIT_SECRET + "/crm.deal.get.json",
         "Webhook URL must follow format: /rest/<userId>/<secret> or /rest/api/<userId>/<secret>"),
        ("https://x.bitrix24.com/REST/1/" + UNIT_SECRET,
         "Webhook URL must follow format: /rest/<userId>/<secret> or /rest/api/<userId>/<secret>"),
        ("https://x.bitrix24.com/rest/" + UNIT_SECRET + "/1", "User ID must be numeric in webhook URL"),
        ("https://x.bitrix24.com/rest/-1/" + UNIT_SECRET, "User ID must be numeric in webhook URL"),
    ],
)
def test_from_webhook_url_errors_never_echo_the_url(url: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        B24Hook.from_webhook_url(url)
    assert str(info.value) == message
    assert UNIT_SECRET not in str(info.value) and "bitrix24" not in str(info.value)
    assert info.value.__cause__ is None


def test_from_webhook_url_type_error() -> None:
    with pytest.raises(TypeError):
        B24Hook.from_webhook_url(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "url, origin, uid",
    [
        ("https://x.bitrix24.com/rest/1/" + UNIT_SECRET, "https://x.bitrix24.com", 1),
        ("  https://X.Bitrix24.com//rest//007//" + UNIT_SECRET + "//  ", "https://x.bitrix24.com", 7),
        ("https://x.bitrix24.com/rest/api/3/" + UNIT_SECRET, "https://x.bitrix24.com", 3),
        ("https://127.0.0.1:9443/rest/1/" + UNIT_SECRET, "https://127.0.0.1:9443", 1),
        ("https://x.bitrix24.com:443/rest/1/" + UNIT_SECRET, "https://x.bitrix24.com", 1),
    ],
)
def test_from_webhook_url_ok(url: str, origin: str, uid: int) -> None:
    with B24Hook.from_webhook_url(url) as h:
        assert h.get_target_origin() == origin
        assert h.auth.get_auth_data()["access_token"] == UNIT_SECRET
        assert h.get_target_origin_with_path() == {
            ApiVersion.V2: f"{origin}/rest/{uid}/{UNIT_SECRET}",
            ApiVersion.V3: f"{origin}/rest/api/{uid}/{UNIT_SECRET}",
        }


@pytest.mark.parametrize(
    "b24_url, domain",
    [
        ("https://x.bitrix24.com", "x.bitrix24.com"),
        ("http://x.bitrix24.com", "x.bitrix24.com"),
        ("x.bitrix24.com/", "x.bitrix24.com"),
        ("https://x.bitrix24.com:443/", "x.bitrix24.com"),
        ("x.bitrix24.com:80", "x.bitrix24.com"),
        ("https://127.0.0.1:9443", "127.0.0.1:9443"),
    ],
)
def test_constructor_normalisation(b24_url: str, domain: str) -> None:
    with B24Hook(b24_url, 5, UNIT_SECRET) as h:
        assert h.get_target_origin() == f"https://{domain}"
        assert h.auth.get_auth_data()["domain"] == domain
        assert h.get_http_client("v2").get_base_url() == f"https://{domain}/rest/5/{UNIT_SECRET}"
        assert h.get_http_client(ApiVersion.V3).get_base_url() == f"https://{domain}/rest/api/5/{UNIT_SECRET}"


@pytest.mark.parametrize("uid", ["abc", 1.5, -1, True, None])
def test_constructor_rejects_bad_user_id(uid: Any) -> None:
    with pytest.raises(ValueError):
        B24Hook("x.bitrix24.com", uid, UNIT_SECRET)


def test_constructor_rejects_empty_secret_and_domain() -> None:
    with pytest.raises(ValueError):
        B24Hook("x.bitrix24.com", 1, "")
    with pytest.raises(ValueError):
        B24Hook("https://", 1, UNIT_SECRET)
    with pytest.raises(TypeError):
        B24Hook("x.bitrix24.com", 1, None)  # type: ignore[arg-type]


def test_auth_manager(hook: B24Hook) -> None:
    assert hook.auth.get_auth_data() == {
        "access_token": UNIT_SECRET, "refresh_token": "hook", "expires": 0, "expires_in": 0,
        "domain": "example.bitrix24.com", "member_id": "example.bitrix24.com",
    }
    assert hook.auth.refresh_auth() == hook.auth.get_auth_data()
    assert hook.auth.get_uniq("pfx") == "pfx_example.bitrix24.com"
    assert hook.auth.is_admin is True
    assert hook.auth.get_target_origin() == "https://example.bitrix24.com"


def test_state_members(hook: B24Hook) -> None:
    assert hook.is_init is True
    hook.init()
    assert hook.is_init
    assert B24Hook.batch_size == 50


def test_http_client_access(hook: B24Hook) -> None:
    v2 = hook.get_http_client("v2")
    assert v2.api_version is ApiVersion.V2 and hook.get_http_client(ApiVersion.V2) is v2
    with pytest.raises(SdkError) as info:
        hook.get_http_client("v4")
    assert (info.value.code, info.value.status) == ("JSSDK_CORE_B24_API_WRONG", 500)
    with pytest.raises(SdkError) as info:
        hook.set_http_client("v9", object())
    assert info.value.code == "JSSDK_CORE_B24_API_WRONG"
    del hook._http[ApiVersion.V3]
    with pytest.raises(SdkError) as info:
        hook.get_http_client("v3")
    assert info.value.code == "JSSDK_CORE_B24_HTTP_V3_NOT_INIT"
    hook.set_http_client("v3", v2)
    assert hook.get_http_client("v3") is v2


def test_http_options_delegate(hook: B24Hook) -> None:
    http = hook.get_http_client("v2")
    assert http.timeout == 30.0
    http.timeout = 120.0
    assert http.timeout == 120.0 and hook.get_http_client("v3").timeout == 30.0
    http.headers = {"X-Test": "1"}
    assert http.headers.get("X-Test") == "1"


def test_client_side_warning_switch(hook: B24Hook) -> None:
    http = hook.get_http_client("v2")
    assert http._client_side_warning is True
    hook.off_client_side_warning()
    assert http._client_side_warning is False and hook.get_http_client("v3")._client_side_warning is False


def test_user_agent() -> None:
    from b24hook._hook import SDK_TYPE, USER_AGENT
    assert SDK_TYPE == "b24hook"
    assert re.fullmatch(r"b24hook/0\.1\.0 \(python 3\.\d+; libcurl \d+\.\d+\.\d+\)", USER_AGENT)
    assert _core.CURL_VERSION in USER_AGENT


def test_reprs_never_show_the_secret(hook: B24Hook) -> None:
    assert repr(hook) == "B24Hook(domain='example.bitrix24.com', user_id=1)"
    objs = [hook, hook.auth, hook.actions, hook.actions.v2, hook.actions.v3, hook.actions.v2.call,
            hook.tools, hook.tools.ping, hook.tools.health_check, hook.get_http_client("v2"),
            hook.get_http_client("v3"), hook.get_http_client("v2").restriction, hook.get_logger()]
    for obj in objs:
        assert UNIT_SECRET not in repr(obj) and UNIT_SECRET not in str(obj)
    assert UNIT_SECRET not in repr(vars(hook))


def test_invalid_params_raise_before_any_request(hook: B24Hook) -> None:
    cyclic: dict[str, Any] = {}
    cyclic["self"] = cyclic
    # the JS text is kept for a real cycle only; other refusals say what they are (issue 9 item 2)
    for params, text in ((cyclic, "Parameters contain circular references"), ({"s": {1, 2}}, "params: "),
                         ({"x": float("nan")}, "params: float NaN"), ({"o": object()}, "params: ")):
        with pytest.raises(AjaxError) as info:
            hook.actions.v2.call.make("crm.item.add", params)
        err = info.value
        assert (err.code, err.status) == ("JSSDK_INVALID_PARAMS", 400)
        assert err.message.startswith(text), err.message
        assert err.__cause__ is None and err.__suppress_context__
    assert hook.get_http_client("v2").get_stats()["total_requests"] == 0


def test_closed_client_raises(hook: B24Hook) -> None:
    hook.close()
    hook.destroy()  # idempotent
    assert hook.closed and "closed" in repr(hook)
    with pytest.raises(SdkError, match="closed"):
        hook.actions.v2.call.make("server.time")
    with pytest.raises(SdkError, match="closed"):
        hook.actions.v3.call.make("tasks.task.list")
    assert hook.tools.health_check.make() is False
    assert hook.tools.ping.make() == -1
    assert hook.get_http_client("v2").get_stats()["total_requests"] == 0  # still readable
    with pytest.raises(SdkError, match="closed"):
        hook.get_http_client("v2").call("server.time")


def test_context_manager_closes() -> None:
    with B24Hook("x.bitrix24.com", 1, UNIT_SECRET) as h:
        assert not h.closed
    assert h.closed
    with pytest.raises(SdkError):
        h.actions.v2.call.make("server.time")


def test_exhausted_attempts_when_max_retries_zero() -> None:
    with B24Hook("x.bitrix24.com", 1, UNIT_SECRET, restriction_params={"max_retries": 0}) as h:
        with pytest.raises(AjaxError) as info:
            h.actions.v2.call.make("server.time")
        assert (info.value.code, info.value.status, info.value.message) == (
            "JSSDK_CALL_ALL_ATTEMPTS_EXHAUSTED", 500, "All attempts exhausted")


def test_write_method_detection() -> None:
    from b24hook._checks import is_write_method
    for m in ("crm.item.add", "crm.deal.update", "tasks.task.delete", "crm.item.productrows.set",
              "im.message.send", "tasks.task.complete", "task.commentitem.add", "disk.file.uploadversion"):
        assert is_write_method(m), m
    for m in ("crm.item.get", "crm.item.list", "server.time", "profile", "user.current", "crm.deal.fields"):
        assert not is_write_method(m), m


def test_error_pickles_without_transport_detail() -> None:
    err = AjaxError.create("NETWORK_ERROR", 0, "Network connection failed", RuntimeError(UNIT_SECRET))
    assert UNIT_SECRET.encode() not in pickle.dumps(err)


_BAD_RESTRICTION_PARAMS = [
    ({"max_retrys": 3}, ValueError, "'max_retrys'.*'max_retries'"),
    ({"rate_limit": {"burst": 3}}, ValueError, r"\['rate_limit'\].*'burst'.*'burst_limit'"),
    ({"operating_limit": {"limit": 1}}, ValueError, "'limit'.*'limit_ms'"),
    ({"rate_limit": {"burst_limit": -1}}, ValueError, "burst_limit"),
    ({"rate_limit": 5}, TypeError, "rate_limit"),
    ({"retry_on_network_error": "sometimes"}, ValueError, "retry_on_network_error"),
    ({"zzz_unrelated": 1}, ValueError, "'zzz_unrelated'.*known keys"),
]


@pytest.mark.parametrize("params,exc,pattern", _BAD_RESTRICTION_PARAMS)
def test_restriction_params_refused_alike_by_constructor_and_setter(params: Any, exc: type, pattern: str) -> None:
    """Issue 9 item 10: one validation for the constructor and the setter; the setter
    raises (it used to log to a null logger) and both transports keep their config."""
    with pytest.raises(exc, match=pattern):
        B24Hook("x.bitrix24.com", 1, UNIT_SECRET, restriction_params=params)
    h = B24Hook("x.bitrix24.com", 1, UNIT_SECRET, restriction_params={"max_retries": 2})
    try:
        with pytest.raises(exc, match=pattern):
            h.set_restriction_manager_params(params)
        for v in ("v2", "v3"):
            assert h.get_http_client(v).get_restriction_manager_params()["max_retries"] == 2
            with pytest.raises(exc, match=pattern):
                h.get_http_client(v).set_restriction_manager_params(params)
            assert h.get_http_client(v).get_restriction_manager_params()["max_retries"] == 2
    finally:
        h.close()


def test_core_version_is_the_package_version() -> None:
    """One version literal (b24hook/_version.py); the core gets it from the build."""
    from pathlib import Path

    assert _core.__version__ == b24hook.__version__
    root = Path(__file__).resolve().parents[1]
    literal = f'"{b24hook.__version__}"'
    in_c = [p.name for p in (root / "csrc").glob("*/*.[ch]")
            if p.parent.name in ("core", "ext") and literal in p.read_text()]
    assert in_c == []
