/* test_envelope.c - spec §4.4 A and B. */
#include <stdlib.h>

#include "b24_envelope.h"
#include "harness.h"
#include "outcome_same.h"

/* Callback log of the reader: one token per event. */
struct ev {
    char log[512];
    int n, stop_at;
};

static int
ev_add(void *p, const char *pre, const char *s, size_t n, const char *post)
{
    struct ev *e = p;
    size_t l = strlen(e->log);
    snprintf(e->log + l, sizeof(e->log) - l, "%s%.*s%s", pre, (int)n, s,
             post);
    return ++e->n == e->stop_at;
}
static int ev_so(void *p) { return ev_add(p, "{", "", 0, ""); }
static int ev_eo(void *p) { return ev_add(p, "} ", "", 0, ""); }
static int ev_sa(void *p) { return ev_add(p, "[", "", 0, ""); }
static int ev_ea(void *p) { return ev_add(p, "] ", "", 0, ""); }
static int
ev_text(void *p, const char *pre, const struct b24_json_str *str,
        const char *post)
{
    struct b24_buf b;
    int r;
    b24_buf_init(&b, 0);
    CHECK(b24_json_str_utf8(str, &b) == B24_OK);
    /* the fast path's promise: no code points means ASCII, no escape */
    CHECK(str->cp != NULL || (!str->escaped && str->len == str->raw_len));
    r = ev_add(p, pre, b.len ? b24_buf_cstr(&b) : "", b.len, post);
    b24_buf_free(&b);
    return r;
}
static int
ev_key(void *p, const struct b24_json_str *s)
{
    return ev_text(p, "k:", s, s->escaped ? "(esc) " : " ");
}
static int
ev_str(void *p, const struct b24_json_str *s)
{
    return ev_text(p, "s:", s, " ");
}
static int
ev_num(void *p, const char *s, size_t n, int is_int)
{
    return ev_add(p, "n:", s, n, is_int ? "(i) " : "(f) ");
}
static int ev_bool(void *p, int v) { return ev_add(p, v ? "t " : "f ", "", 0, ""); }
static int ev_null(void *p) { return ev_add(p, "null ", "", 0, ""); }
static const struct b24_json_cb ev_cb = {ev_so,  ev_key, ev_eo,
                                         ev_sa,  ev_ea,  ev_str,
                                         ev_num, ev_bool, ev_null, NULL};

/* A consumer that recognises the key "id" once the reader delivered it. */
static int g_asked, g_claims, g_seen_id;
static int
g_key(void *p, const struct b24_json_str *s)
{
    if (s->raw_len == 2 && memcmp(s->raw, "id", 2) == 0)
        g_seen_id = 1;
    return ev_key(p, s);
}
static int
g_guess(void *p, const char *at, size_t avail, size_t *len)
{
    g_asked++;
    if (g_seen_id && avail > 2 && memcmp(at, "id\"", 3) == 0) {
        *len = 2;
        g_claims++;
        return ev_add(p, "g:", at, 2, " ");
    }
    return 0;
}
static const struct b24_json_cb g_cb = {ev_so,  g_key,   ev_eo,
                                        ev_sa,  ev_ea,   ev_str,
                                        ev_num, ev_bool, ev_null, g_guess};

static void
cls(long status, const char *body, enum b24_outcome_kind kind,
    const char *code, const char *message, long want_status, int has_answer)
{
    struct b24_outcome o;
    b24_outcome_init(&o);
    CHECK(b24_envelope_classify(&o, status, body, strlen(body)) == B24_OK);
    /* what a consumer that does not decode the answer does */
    CHECK(b24_envelope_check(&o) == B24_OK);
    CHECK(o.answer == NULL || o.answer_checked);
    CHECK(o.kind == kind);
    if (o.kind != kind)
        fprintf(stderr, "  body %s -> kind %d\n", body, (int)o.kind);
    if (code == NULL)
        CHECK(o.code == NULL);
    else
        CHECK_STR(o.code, code);
    if (message == NULL)
        CHECK(o.message == NULL);
    else
        CHECK_STR(o.message, message);
    CHECK(o.status == want_status);
    CHECK((o.answer != NULL) == has_answer);
    b24_outcome_clear(&o);
}

void
test_envelope(void)
{
    struct b24_outcome o;
    cJSON *tree = NULL;
    struct b24_error err;

    /* A: 2xx. */
    cls(200, "{\"result\":1,\"time\":{}}", B24_KIND_OK, NULL, NULL, 200, 1);
    cls(200, "{\"result\":1}", B24_KIND_OK, NULL, NULL, 200, 1);
    /* a 2xx JSON text that is not an object is a failure (issue 9 item 6) */
    cls(201, "[1,2]", B24_KIND_ERROR, "ERROR_UNEXPECTED_ANSWER",
        "Unexpected answer: the body is not a JSON object (HTTP 201)", 201, 1);
    cls(200, "42", B24_KIND_ERROR, "ERROR_UNEXPECTED_ANSWER",
        "Unexpected answer: the body is not a JSON object (HTTP 200)", 200, 1);
    cls(200, "null", B24_KIND_ERROR, "ERROR_UNEXPECTED_ANSWER",
        "Unexpected answer: the body is not a JSON object (HTTP 200)", 200, 1);
    cls(200, " [] ", B24_KIND_ERROR, "ERROR_UNEXPECTED_ANSWER",
        "Unexpected answer: the body is not a JSON object (HTTP 200)", 200, 1);
    cls(200, "\"E\"", B24_KIND_ERROR, "ERROR_UNEXPECTED_ANSWER",
        "Unexpected answer: the body is not a JSON object (HTTP 200)", 200, 1);
    cls(200, "{}", B24_KIND_OK, NULL, NULL, 200, 1);
    /* duplicate keys: the last one wins, for every status, in the span
     * path and in the escaped-key path (whole tree) alike */
    cls(200, "{\"error\":\"A\",\"error\":{\"code\":\"B\",\"message\":\"m\"}}",
        B24_KIND_FAILED, "B", "m", 200, 1);
    cls(200, "{\"error\":{\"code\":\"B\"},\"error\":\"A\"}",
        B24_KIND_FAILED, "A", "Some error in response", 200, 1);
    cls(200, "{\"error\":\"A\",\"error\":null}", B24_KIND_OK, NULL, NULL,
        200, 1);
    cls(400, "{\"error\":\"A\",\"error\":\"B\"}", B24_KIND_ERROR, "B",
        "Request failed with status code 400", 400, 1);
    cls(400, "{\"error\":\"A\",\"error_description\":\"d1\",\"error\":\"B\","
             "\"error_description\":\"d2\"}",
        B24_KIND_ERROR, "B", "d2", 400, 1);
    cls(500, "{\"error\":{\"code\":\"X\",\"code\":\"Y\",\"message\":\"1\","
             "\"message\":\"2\"}}",
        B24_KIND_ERROR, "Y", "2", 500, 1);
    cls(400, "{\"\\u0065rror\":\"A\",\"error\":\"B\"}", B24_KIND_ERROR, "B",
        "Request failed with status code 400", 400, 1);
    cls(200, "{\"error\":\"A\",\"\\u0065rror\":\"B\"}", B24_KIND_FAILED, "B",
        "Some error in response", 200, 1);
    cls(200,
        "{\"error\":{\"code\":\"X\",\"message\":\"Validation failed  \","
        "\"validation\":[{\"message\":\"Field \\\"id\\\" required\"},"
        "{\"field\":\"x\"}]}}",
        B24_KIND_FAILED, "X", "Validation failed. Field \"id\" required{\"field\":\"x\"}",
        200, 1);
    cls(200,
        "{\"error\":{\"code\":\"X\",\"message\":\"Bad.\",\"validation\":"
        "[{\"message\":\"a\"},{\"message\":\"b\"}]}}",
        B24_KIND_FAILED, "X", "Bad. ab", 200, 1);
    cls(200,
        "{\"error\":{\"code\":\"X\",\"message\":\"\",\"validation\":"
        "[{\"message\":\"a\"}]}}",
        B24_KIND_FAILED, "X", "a", 200, 1);
    cls(200, "{\"error\":{\"code\":\"X\",\"message\":\"plain \\n\"}}",
        B24_KIND_FAILED, "X", "plain", 200, 1);
    cls(200, "{\"error\":{\"code\":\"X\"}}", B24_KIND_FAILED, "X", "", 200, 1);
    cls(200, "{\"error\":{\"code\":42,\"message\":\"m\"}}", B24_KIND_FAILED,
        "42", "m", 200, 1);
    cls(200, "{\"error\":\"QUERY_LIMIT_EXCEEDED\",\"error_description\":\"Too many\"}",
        B24_KIND_FAILED, "QUERY_LIMIT_EXCEEDED", "Too many", 200, 1);
    cls(200, "{\"error\":\"E\",\"error_description\":\"\"}", B24_KIND_FAILED,
        "E", "", 200, 1);
    cls(200, "{\"error\":\"E\"}", B24_KIND_FAILED, "E",
        "Some error in response", 200, 1);
    cls(200, "{\"error\":\"0\",\"error_description\":\"d\"}", B24_KIND_FAILED,
        "JSSDK_RESPONSE_ERROR", "d", 200, 1);
    cls(200, "{\"error\":\"0\"}", B24_KIND_FAILED, "JSSDK_RESPONSE_ERROR",
        "Some error in response", 200, 1);
    cls(200, "{\"error\":null,\"result\":1}", B24_KIND_OK, NULL, NULL, 200, 1);
    cls(200, "{\"error\":\"\",\"result\":1}", B24_KIND_OK, NULL, NULL, 200, 1);
    cls(200, "{\"error\":{\"message\":\"m\"}}", B24_KIND_OK, NULL, NULL, 200, 1);
    cls(200, "{\"Error\":\"X\"}", B24_KIND_OK, NULL, NULL, 200, 1);
    cls(200, "<html>hi</html>", B24_KIND_ERROR, "ERROR_UNEXPECTED_ANSWER",
        "Unexpected answer: the body is not JSON (HTTP 200)", 200, 0);
    cls(200, "", B24_KIND_ERROR, "ERROR_UNEXPECTED_ANSWER",
        "Unexpected answer: the body is not JSON (HTTP 200)", 200, 0);
    /* bad string contents: the skim lets them through, the check (or the
     * decode) rejects them with classify's own outcome */
    cls(200, "{\"result\":\"a\x01b\"}", B24_KIND_ERROR,
        "ERROR_UNEXPECTED_ANSWER",
        "Unexpected answer: the body is not JSON (HTTP 200)", 200, 0);
    cls(200, "{\"result\":[\"ok\",\"\\q\"],\"time\":{}}", B24_KIND_ERROR,
        "ERROR_UNEXPECTED_ANSWER",
        "Unexpected answer: the body is not JSON (HTTP 200)", 200, 0);
    cls(200, "{\"result\":\"\\uD800\"}", B24_KIND_ERROR,
        "ERROR_UNEXPECTED_ANSWER",
        "Unexpected answer: the body is not JSON (HTTP 200)", 200, 0);
    cls(200, "{\"result\":\"\xC3\x28\"}", B24_KIND_ERROR,
        "ERROR_UNEXPECTED_ANSWER",
        "Unexpected answer: the body is not JSON (HTTP 200)", 200, 0);
    /* ... even when the error member alone is well formed */
    cls(200, "{\"error\":\"E\",\"result\":\"\\x\"}", B24_KIND_ERROR,
        "ERROR_UNEXPECTED_ANSWER",
        "Unexpected answer: the body is not JSON (HTTP 200)", 200, 0);
    /* truncated bodies: the skim itself rejects them */
    cls(200, "{\"result\":[1,2", B24_KIND_ERROR, "ERROR_UNEXPECTED_ANSWER",
        "Unexpected answer: the body is not JSON (HTTP 200)", 200, 0);
    cls(200, "{\"result\":\"abc", B24_KIND_ERROR, "ERROR_UNEXPECTED_ANSWER",
        "Unexpected answer: the body is not JSON (HTTP 200)", 200, 0);
    cls(200, "{\"result\":\"ab\\\"}", B24_KIND_ERROR,
        "ERROR_UNEXPECTED_ANSWER",
        "Unexpected answer: the body is not JSON (HTTP 200)", 200, 0);
    cls(200, "{\"result\":\"ab\\\\\"}", B24_KIND_OK, NULL, NULL, 200, 1);
    cls(200, "{\"result\":tru}", B24_KIND_ERROR, "ERROR_UNEXPECTED_ANSWER",
        "Unexpected answer: the body is not JSON (HTTP 200)", 200, 0);
    cls(200, "{\"result\":01}", B24_KIND_ERROR, "ERROR_UNEXPECTED_ANSWER",
        "Unexpected answer: the body is not JSON (HTTP 200)", 200, 0);
    cls(200, "{\"res\x01ult\":1}", B24_KIND_ERROR, "ERROR_UNEXPECTED_ANSWER",
        "Unexpected answer: the body is not JSON (HTTP 200)", 200, 0);
    cls(200, "{\"result\":[{\"a\\x\":1}]}", B24_KIND_ERROR,
        "ERROR_UNEXPECTED_ANSWER",
        "Unexpected answer: the body is not JSON (HTTP 200)", 200, 0);
    cls(200, "{\"result\":{\"a\":1,\"b\\\"\":2}}", B24_KIND_OK, NULL, NULL,
        200, 1);
    /* a broken `time` member (read strictly for the limiter) */
    cls(200, "{\"result\":1,\"time\":{\"date_start\":\"\\q\",\"operating\":1}}",
        B24_KIND_ERROR, "ERROR_UNEXPECTED_ANSWER",
        "Unexpected answer: the body is not JSON (HTTP 200)", 200, 0);
    cls(200, "{\"time\":[\"\x01\"],\"result\":1}", B24_KIND_ERROR,
        "ERROR_UNEXPECTED_ANSWER",
        "Unexpected answer: the body is not JSON (HTTP 200)", 200, 0);
    /* a broken error member is never classified from */
    cls(200, "{\"error\":\"E\x01\",\"result\":1}", B24_KIND_ERROR,
        "ERROR_UNEXPECTED_ANSWER",
        "Unexpected answer: the body is not JSON (HTTP 200)", 200, 0);
    cls(500, "{\"error\":\"E\",\"result\":\"\\x\"}", B24_KIND_ERROR,
        "ERR_BAD_RESPONSE", "Request failed with status code 500", 500, 0);
    cls(200, "{\"result\":1} trailing", B24_KIND_ERROR,
        "ERROR_UNEXPECTED_ANSWER",
        "Unexpected answer: the body is not JSON (HTTP 200)", 200, 0);

    /* B: non-2xx. */
    cls(400, "{\"error\":{\"code\":\"BITRIX_REST_V3_EXCEPTION_VALIDATION_"
             "REQUESTVALIDATIONEXCEPTION\",\"message\":\"Validation failed\","
             "\"validation\":[{\"field\":\"id\",\"message\":\"Required\"}]}}",
        B24_KIND_ERROR,
        "BITRIX_REST_V3_EXCEPTION_VALIDATION_REQUESTVALIDATIONEXCEPTION",
        "Validation failed. Required", 400, 1);
    cls(503, "{\"error\":\"QUERY_LIMIT_EXCEEDED\",\"error_description\":"
             "\"Too many requests\"}",
        B24_KIND_ERROR, "QUERY_LIMIT_EXCEEDED", "Too many requests", 503, 1);
    cls(401, "{\"error\":\"expired_token\"}", B24_KIND_ERROR,
        "expired_token", "Request failed with status code 401", 401, 1);
    cls(404, "<html>Not found</html>", B24_KIND_ERROR, "ERR_BAD_REQUEST",
        "Request failed with status code 404", 404, 0);
    cls(400, "", B24_KIND_ERROR, "ERR_BAD_REQUEST",
        "Request failed with status code 400", 400, 0);
    cls(400, "{\"error\":\"0\",\"error_description\":\"zero\"}",
        B24_KIND_ERROR, "ERR_BAD_REQUEST", "zero", 400, 1);
    cls(400, "{\"error\":\"0\"}", B24_KIND_ERROR, "ERR_BAD_REQUEST",
        "Request failed with status code 400", 400, 1);
    cls(500, "oops", B24_KIND_ERROR, "ERR_BAD_RESPONSE",
        "Request failed with status code 500", 500, 0);
    cls(502, "{\"x\":1}", B24_KIND_ERROR, "ERR_BAD_RESPONSE",
        "Request failed with status code 502", 502, 1);
    cls(304, "", B24_KIND_ERROR, "JSSDK_AXIOS_ERROR",
        "Request failed with status code 304", 304, 0);
    cls(600, "x", B24_KIND_ERROR, "JSSDK_AXIOS_ERROR",
        "Request failed with status code 600", 600, 0);
    cls(401, "{\"error\":\"AUTHORIZE_ERROR\",\"error_description\":\"no\"}",
        B24_KIND_ERROR, "AUTHORIZE_ERROR", "no", 403, 1);
    cls(400, "{\"error\":{\"code\":\"WRONG_AUTH_TYPE\",\"message\":\"w\"}}",
        B24_KIND_ERROR, "WRONG_AUTH_TYPE", "w", 403, 1);

    b24_outcome_init(&o);
    CHECK(b24_envelope_network_error(&o) == B24_OK);
    CHECK(o.kind == B24_KIND_ERROR && o.status == 0);
    CHECK_STR(o.code, "NETWORK_ERROR");
    CHECK_STR(o.message, "Network connection failed");
    CHECK(b24_envelope_timeout(&o) == B24_OK);
    CHECK(o.status == 408);
    CHECK_STR(o.code, "REQUEST_TIMEOUT");
    CHECK_STR(o.message, "Request timeout exceeded");
    CHECK(b24_outcome_add_header(&o, "X-Ab", 4, "1", 1) == B24_OK);
    CHECK(b24_outcome_add_header(&o, "x-AB", 4, "2", 1) == B24_OK);
    CHECK(o.nheaders == 1);
    CHECK_STR(o.headers[0].name, "x-ab");
    CHECK_STR(o.headers[0].value, "2");
    b24_outcome_clear(&o);

    /* Parser: explicit length, offsets, nesting cap. */
    CHECK(b24_json_parse("{\"a\":1}xxxx", 7, &tree, &err) == B24_OK);
    cJSON_Delete(tree);
    CHECK(b24_json_parse("{\"a\":}", 6, &tree, &err) == B24_E_JSON);
    CHECK(err.offset == 5);
    CHECK(b24_json_parse("[1] [2]", 7, &tree, &err) == B24_E_JSON);
    CHECK(err.offset == 4);
    CHECK(b24_json_parse("[1]  \n", 6, &tree, &err) == B24_OK);
    cJSON_Delete(tree);
    {
        char deep[4001];
        memset(deep, '[', 2000);
        memset(deep + 2000, ']', 2000);
        deep[4000] = '\0';
        CHECK(b24_json_parse(deep, 4000, &tree, &err) == B24_E_LIMIT);
    }

    /* The reader: callbacks and the top-level member spans. */
    {
        static const char *const names[] = {"error", "time"};
        static const char txt[] =
            "{\"result\":[{\"a\\u0041\":\"x\\ny\",\"n\":-12.5e1}],"
            "\"time\":{\"operating\":1.5},\"error\":\"E\",\"time\":2}";
        struct b24_json_top top;
        struct ev e;
        memset(&top, 0, sizeof(top));
        top.names = names;
        top.nnames = 2;
        memset(&e, 0, sizeof(e));
        CHECK(b24_json_read(txt, sizeof(txt) - 1, &ev_cb, &e, &top, &err) ==
              B24_OK);
        CHECK_STR(e.log, "{k:result [{k:aA(esc) s:x\ny k:n n:-12.5e1(f) } ] "
                         "k:time {k:operating n:1.5(f) } k:error s:E k:time "
                         "n:2(i) } ");
        CHECK(top.is_object && !top.escaped_key);
        CHECK(top.spans[0].found && top.spans[1].found);
        CHECK(memcmp(txt + top.spans[0].start, "\"E\"", 3) == 0 &&
              top.spans[0].end - top.spans[0].start == 3);
        CHECK(memcmp(txt + top.spans[1].start, "2", 1) == 0 &&
              top.spans[1].end - top.spans[1].start == 1); /* the last */
        e.stop_at = 3;
        e.log[0] = '\0';
        e.n = 0;
        CHECK(b24_json_read(txt, sizeof(txt) - 1, &ev_cb, &e, NULL, &err) ==
              B24_E_USAGE);
        CHECK(b24_json_sax_parse("\xEF\xBB\xBF", 3, &ev_cb, &e, &err) ==
              B24_E_JSON);
        CHECK(err.offset == 0);
        CHECK(b24_json_sax_parse("\xEF\xBB\xBF[1,]", 7, NULL, NULL, &err) ==
              B24_E_JSON);
        CHECK(err.offset == 6);
    }

    /* key_guess: a claimed key is skipped (no key call); a key the
     * consumer does not claim is read as usual; not asked with `top`. */
    {
        static const char txt[] =
            "[{\"id\":1,\"x\":\"\\u00e9\"},{\"id\" : 2},{\"idx\":3},{\"i\":4}]";
        struct b24_json_top top;
        struct ev e;
        memset(&e, 0, sizeof(e));
        g_asked = g_claims = g_seen_id = 0;
        CHECK(b24_json_read(txt, sizeof(txt) - 1, &g_cb, &e, NULL, &err) ==
              B24_OK);
        CHECK_STR(e.log, "[{k:id n:1(i) k:x s:\xC3\xA9 } {g:id n:2(i) } "
                         "{k:idx n:3(i) } {k:i n:4(i) } ] ");
        CHECK(g_asked == 5 && g_claims == 1);
        memset(&e, 0, sizeof(e));
        e.stop_at = 9; /* the claim's own event stops the reader */
        g_asked = g_claims = g_seen_id = 0;
        CHECK(b24_json_read(txt, sizeof(txt) - 1, &g_cb, &e, NULL, &err) ==
              B24_E_USAGE);
        CHECK(g_claims == 1);
        memset(&e, 0, sizeof(e));
        memset(&top, 0, sizeof(top));
        g_asked = g_claims = g_seen_id = 0;
        CHECK(b24_json_read(txt, sizeof(txt) - 1, &g_cb, &e, &top, &err) ==
              B24_OK);
        CHECK(g_asked == 0 && g_claims == 0);
        /* a text with a bad value after a claimed key still fails */
        memset(&e, 0, sizeof(e));
        g_asked = g_claims = g_seen_id = 0;
        CHECK(b24_json_read("[{\"id\":1},{\"id\":01}]", 21, &g_cb, &e,
                            NULL, &err) == B24_E_JSON);
        CHECK(g_claims == 1);
    }
}

/* One strict pass per 2xx answer: classify skims, the decode (here
 * b24_envelope_check / b24_envelope_reject) checks. */
void
test_envelope_skim(void)
{
    struct b24_outcome o;
    struct b24_error err;
    static const char ok[] = "{\"result\":[\"\\u0442\\u0435\",\"a\\\"b\"]}";
    static const char bad[] = "{\"result\":\"a\\zb\",\"time\":{\"operating\":1}}";
    char deep_after_bad[64 + B24_JSON_MAX_DEPTH + 8];
    size_t k, n;
    b24_outcome_init(&o);
    CHECK(b24_envelope_classify(&o, 200, ok, strlen(ok)) == B24_OK);
    CHECK(o.kind == B24_KIND_OK && o.answer != NULL && !o.answer_checked);
    CHECK(b24_envelope_check(&o) == B24_OK);
    CHECK(o.kind == B24_KIND_OK && o.answer != NULL && o.answer_checked);
    CHECK(b24_envelope_check(&o) == B24_OK); /* once is enough */
    CHECK(o.kind == B24_KIND_OK && o.answer_checked);

    /* skimmed as OK (the limiter's numbers read), then rejected */
    CHECK(b24_envelope_classify(&o, 200, bad, strlen(bad)) == B24_OK);
    CHECK(o.kind == B24_KIND_OK && o.answer != NULL && o.have_operating);
    memset(&err, 0, sizeof(err));
    CHECK(b24_json_validate(o.answer, o.answer_len, &err) == B24_E_JSON);
    CHECK(b24_envelope_reject(&o, B24_E_JSON, &err) == B24_OK);
    CHECK(o.kind == B24_KIND_ERROR && o.answer == NULL && o.envelope == NULL);
    CHECK(!o.have_time && !o.have_operating && o.status == 200);
    CHECK_STR(o.code, "ERROR_UNEXPECTED_ANSWER");
    CHECK_STR(o.message, "Unexpected answer: the body is not JSON (HTTP 200)");

    /* the `time` member is read strictly by classify itself (the limiter
     * reads it before any decode) */
    {
        static const char bt[] = "{\"result\":1,\"time\":{\"a\":\"\\q\"}}";
        CHECK(b24_envelope_classify(&o, 200, bt, strlen(bt)) == B24_OK);
        CHECK(o.kind == B24_KIND_ERROR && o.answer == NULL && !o.have_time);
        CHECK_STR(o.code, "ERROR_UNEXPECTED_ANSWER");
    }
    /* a cap: the message names it, as the strict reader would */
    memset(&err, 0, sizeof(err));
    b24_error_set(&err, B24_E_LIMIT, "JSON string longer than the cap at byte 9");
    CHECK(b24_envelope_classify(&o, 201, ok, strlen(ok)) == B24_OK);
    CHECK(b24_envelope_reject(&o, B24_E_LIMIT, &err) == B24_OK);
    CHECK_STR(o.message,
              "Unexpected answer: JSON string longer than the cap at byte 9");
    CHECK(o.status == 201);

    /* the first error is the strict reader's even when the skim stops
     * later on a cap (nesting past the cap after a bad escape: the
     * message is "not JSON", not the cap's) */
    n = (size_t)snprintf(deep_after_bad, sizeof(deep_after_bad),
                         "{\"result\":\"\\z\",\"x\":");
    for (k = 0; k <= B24_JSON_MAX_DEPTH; k++)
        deep_after_bad[n++] = '[';
    deep_after_bad[n] = '\0';
    /* (without the bad escape, the cap is the first error) */
    memcpy(deep_after_bad + 15, "{\"x\":", 5);
    CHECK(b24_envelope_classify(&o, 200, deep_after_bad + 15,
                                strlen(deep_after_bad + 15)) == B24_OK);
    CHECK_STR(o.message, "Unexpected answer: JSON nesting deeper than 1000 "
                         "levels at byte 1004");
    CHECK(b24_envelope_classify(&o, 200, deep_after_bad,
                                strlen(deep_after_bad)) == B24_OK);
    CHECK(o.kind == B24_KIND_ERROR && o.answer == NULL);
    CHECK_STR(o.message, "Unexpected answer: the body is not JSON (HTTP 200)");
    b24_outcome_clear(&o);
}

/* b24_envelope_classify_buf: a JSON body's storage becomes the answer (no
 * copy), a BOM moved out; a body that is not JSON stays in its buffer. */
void
test_envelope_classify_buf(void)
{
    struct b24_outcome o;
    struct b24_buf b;
    char *storage;
    b24_outcome_init(&o);
    b24_buf_init(&b, 0);
    CHECK(b24_buf_appends(&b, "{\"result\":[1,\"x\"]}") == B24_OK);
    storage = b.data;
    CHECK(b24_envelope_classify_buf(&o, 200, &b) == B24_OK);
    CHECK(o.kind == B24_KIND_OK && o.answer == storage);
    CHECK(o.answer_len == 18 && strcmp(o.answer, "{\"result\":[1,\"x\"]}") == 0);
    CHECK(b.data == NULL && b.len == 0);
    CHECK(b24_buf_appends(&b, "\xEF\xBB\xBF{\"error\":\"E\"}") == B24_OK);
    storage = b.data;
    CHECK(b24_envelope_classify_buf(&o, 200, &b) == B24_OK);
    CHECK(o.kind == B24_KIND_FAILED && o.answer == storage);
    CHECK(o.answer_len == 13 && strcmp(o.answer, "{\"error\":\"E\"}") == 0);
    CHECK(b.data == NULL);
    CHECK(b24_buf_appends(&b, "<html>") == B24_OK);
    CHECK(b24_envelope_classify_buf(&o, 502, &b) == B24_OK);
    CHECK(o.answer == NULL && b.data != NULL && b.len == 6);
    CHECK_STR(o.code, "ERR_BAD_RESPONSE");
    b24_buf_free(&b);
    CHECK(b24_envelope_classify_buf(&o, 200, &b) == B24_OK); /* empty */
    CHECK_STR(o.code, "ERROR_UNEXPECTED_ANSWER");
    b24_outcome_clear(&o);
}

/* The limiter's two numbers of `time`, read from the text (issue 10
 * profile: no cJSON tree for `time`). */
void
test_envelope_time_numbers(void)
{
    struct b24_outcome o;
    static const char a[] =
        "{\"result\":1,\"time\":{\"start\":1,\"operating\":0.5,"
        "\"operating_reset_at\":1700000000,\"operating\":2.25}}";
    static const char b[] = "{\"result\":1,\"time\":{\"operating\":\"0.5\"}}";
    static const char c[] = "{\"result\":1,\"time\":null}";
    static const char d[] =
        "{\"result\":1,\"t\\u0069me\":{\"operating\":1e1,\"operating_reset_at\":-2}}";
    static const char e[] =
        "{\"result\":1,\"time\":{\"operating_reset_at\":1"
        "0000000000000000000000000000000000000000000000000000000000000000000"
        "000,\"operating\":0.25}}";
    b24_outcome_init(&o);
    CHECK(b24_envelope_classify(&o, 200, a, strlen(a)) == B24_OK);
    CHECK(o.kind == B24_KIND_OK && o.have_time);
    CHECK(o.have_operating && o.operating == 2.25); /* the last one wins */
    CHECK(o.have_reset_at && o.reset_at == 1700000000.0);
    CHECK(b24_envelope_classify(&o, 200, b, strlen(b)) == B24_OK);
    CHECK(o.have_time && !o.have_operating && !o.have_reset_at); /* a string */
    CHECK(b24_envelope_classify(&o, 200, c, strlen(c)) == B24_OK);
    CHECK(!o.have_time && !o.have_operating);
    CHECK(b24_envelope_classify(&o, 200, d, strlen(d)) == B24_OK);
    CHECK(o.have_time && o.operating == 10.0 && o.reset_at == -2.0);
    /* a number token of 64 bytes or more (the fuzzer's: it was dropped) */
    CHECK(b24_envelope_classify(&o, 200, e, strlen(e)) == B24_OK);
    CHECK(o.have_reset_at && o.reset_at == 1e70);
    CHECK(o.have_operating && o.operating == 0.25);
    CHECK(b24_envelope_classify_skim(&o, 200, e, strlen(e)) == B24_OK);
    CHECK(o.have_reset_at && o.reset_at == 1e70);
    b24_outcome_clear(&o);
}

/* The tail read and the skim agree on `body` (`len` bytes) at `status`:
 * the same outcome once the answer is checked (what the decode does). */
static void
tail_same(long status, const char *body, size_t len)
{
    struct b24_outcome a, b;
    cJSON *tree = NULL;
    int same;
    b24_outcome_init(&a);
    b24_outcome_init(&b);
    CHECK(b24_envelope_classify(&a, status, body, len) == B24_OK);
    CHECK(b24_envelope_classify_skim(&b, status, body, len) == B24_OK);
    /* a JSON body: the same already in the transfer */
    if (b24_json_parse(body, len, &tree, NULL) == B24_OK)
        CHECK(outcome_same(&a, &b));
    cJSON_Delete(tree);
    CHECK(b24_envelope_check(&a) == B24_OK && b24_envelope_check(&b) == B24_OK);
    same = outcome_same(&a, &b);
    CHECK(same);
    if (!same)
        fprintf(stderr, "  body %.*s: kind %d/%d code %s/%s\n", (int)len, body,
                (int)a.kind, (int)b.kind, a.code ? a.code : "-",
                b.code ? b.code : "-");
    b24_outcome_clear(&a);
    b24_outcome_clear(&b);
}

/* 1 when the tail read takes `body` (and its `time` object reads). */
static int
tail_takes(const char *body)
{
    size_t ts = 0, te = 0;
    struct b24_error err;
    memset(&err, 0, sizeof(err));
    if (!b24_envelope_tail(body, strlen(body), &ts, &te))
        return 0;
    CHECK(ts < te && body[ts] == '{');
    return b24_json_validate(body + ts, te - ts, &err) == B24_OK;
}

#define TIME "\"time\":{\"start\":1.5,\"operating_reset_at\":1700000000,\"operating\":0.25}"

/* The tail read of a 2xx body (issue 10: the 50-row page without the
 * classify skim): what it takes, what it leaves to the full reading, and
 * that either way the outcome is the skim's. */
void
test_envelope_tail(void)
{
    static const char *const takes[] = {
        "{\"result\":1," TIME "}",
        "{" TIME "}",
        "{\"result\":{\"items\":[{\"id\":1,\"time\":{\"a\":1}}]},\"next\":50," TIME "}",
        " \r\n{ \"result\" : 1 ,\n\t\"time\" : { \"operating\" : 2 } }\n ",
        "{\"result\":\"error\",\"note\":\"\\\"error\\\": x\"," TIME "}",
        "{\"result\":{\"entityTypeId\":2,\"e\":\"\\u0418\"}," TIME "}",
        "{\"time\":{\"operating\":9}," TIME "}", /* duplicates: the last */
        "{\"error_x\":1,\"errors\":[],\"result\":1," TIME "}",
        "{\"result\":\"a,\\\"time\\\":{}}\"," TIME "}",
        /* an escaped top-level key that is not error (the skim's envelope
         * is then the whole answer; its error members are the same) */
        "{\"result\":1,\"e\\u0777072ror\":\"E\"," TIME "}",
        /* broken before the tail: the decode finds it */
        "{\"result\":[1,,2]," TIME "}",
        "{\"result\":[{\"id\":1," TIME "}",
        "{\"result\":[\"\\x\"]," TIME "}",
        NULL};
    static const char *const leaves[] = {
        /* a top-level error, before or after result, raw or escaped */
        "{\"error\":\"QUERY_LIMIT_EXCEEDED\",\"error_description\":\"x\",\"result\":[]," TIME "}",
        "{\"result\":{\"items\":[]},\"error\":\"NOT_FOUND\"," TIME "}",
        "{\"result\":1,\"error_description\":\"alone\"," TIME "}",
        "{\"result\":1,\"error\" : {\"code\":\"X\"}," TIME "}",
        "{\"result\":1,\"\\u0065rror\":\"E\"," TIME "}",
        "{\"result\":1,\"e\\u0072ror\":\"E\"," TIME "}",
        "{\"result\":1,\"error\\u005fdescription\":\"d\"," TIME "}",
        "{\"result\":1,\"erro\\u0072\":\"E\"," TIME "}",
        /* a name that goes on with an escape (the fuzzer's: the skim's
         * cJSON envelope cuts a key at its NUL) */
        "{\"error\\u0000\":[]," TIME "}",
        "{\"result\":1,\"error_description\\u0000x\":\"d\"," TIME "}",
        /* an error key below the top level: left too (the skim says OK) */
        "{\"result\":{\"result_error\":{\"a\":{\"error\":\"E\"}}}," TIME "}",
        /* `time` not the top level's last member, or not an object */
        "{\"result\":{\"x\":1,\"time\":{\"a\":1}}}",
        "{\"result\":{\"time\":{\"a\":1}},\"x\":2}",
        "{\"result\":1,\"time\":null}",
        "{\"result\":1,\"time\":[1]}",
        "{\"result\":1,\"t\\u0069me\":{\"operating\":1}}",
        "{\"result\":[\"time\",{\"operating\":1}]}",
        "{\"result\":\"a,\\\"time\\\":{\\\"operating\\\":1}}\"}",
        "{\"result\":1," TIME "}}",
        "{\"result\":1," TIME "} x",
        "{\"result\":1," TIME,
        "[{\"result\":1," TIME "}]",
        "",
        "   ",
        NULL};
    static const char page_head[] = "{\"result\":{\"items\":[";
    char buf[8192];
    size_t k, cut, len;
    struct b24_outcome o;

    for (k = 0; takes[k] != NULL; k++) {
        CHECK(tail_takes(takes[k]));
        if (!tail_takes(takes[k]))
            fprintf(stderr, "  not taken: %s\n", takes[k]);
        tail_same(200, takes[k], strlen(takes[k]));
    }
    for (k = 0; leaves[k] != NULL; k++) {
        CHECK(!tail_takes(leaves[k]));
        if (tail_takes(leaves[k]))
            fprintf(stderr, "  taken: %s\n", leaves[k]);
        tail_same(200, leaves[k], strlen(leaves[k]));
        tail_same(404, leaves[k], strlen(leaves[k]));
    }
    /* the classification the tail read gives */
    b24_outcome_init(&o);
    CHECK(b24_envelope_classify(&o, 200, takes[0], strlen(takes[0])) == B24_OK);
    CHECK(o.kind == B24_KIND_OK && o.code == NULL && !o.answer_checked);
    CHECK(o.have_time && o.operating == 0.25 && o.reset_at == 1700000000.0);
    CHECK(cJSON_IsObject(o.envelope) && o.envelope->child == NULL);
    CHECK(b24_envelope_classify(&o, 200, takes[6], strlen(takes[6])) == B24_OK);
    CHECK(o.have_operating && o.operating == 0.25); /* the last `time` */
    CHECK(b24_envelope_classify(&o, 200, takes[10], strlen(takes[10])) == B24_OK);
    CHECK(o.kind == B24_KIND_OK && o.answer != NULL); /* the decode rejects */
    CHECK(b24_envelope_check(&o) == B24_OK);
    CHECK(o.kind == B24_KIND_ERROR && o.answer == NULL && !o.have_time);
    CHECK_STR(o.code, "ERROR_UNEXPECTED_ANSWER");
    CHECK_STR(o.message, "Unexpected answer: the body is not JSON (HTTP 200)");
    /* a BOM: skipped before the tail read, as before the skim */
    len = (size_t)snprintf(buf, sizeof(buf), "\xEF\xBB\xBF%s", takes[0]);
    CHECK(b24_envelope_classify(&o, 200, buf, len) == B24_OK);
    CHECK(o.kind == B24_KIND_OK && o.answer_len == len - 3 && o.have_time);
    tail_same(200, buf, len);
    b24_outcome_clear(&o);

    /* a body cut anywhere: never taken unless it still ends with a whole
     * `time` object and '}', and the outcome is the skim's */
    len = strlen(takes[2]);
    for (cut = 0; cut < len; cut++) {
        size_t ts, te;
        int took = b24_envelope_tail(takes[2], cut, &ts, &te);
        struct b24_error err;
        memset(&err, 0, sizeof(err));
        CHECK(!took || b24_json_validate(takes[2] + ts, te - ts, &err) != B24_OK ||
              takes[2][cut - 1] == '}');
        tail_same(200, takes[2], cut);
    }
    /* a key named error at every offset of a long body (the 64-byte
     * blocks of the SSE2 scan and the bytes after them) */
    for (k = 0; k < 200; k++) {
        size_t at;
        memcpy(buf, page_head, sizeof(page_head) - 1);
        at = sizeof(page_head) - 1;
        memset(buf + at, ' ', k);
        at += k;
        at += (size_t)snprintf(buf + at, sizeof(buf) - at,
                               "{\"a\":\"entity\",%s:1,\"b\":\"\\u0418\"}],"
                               "\"x\":\"                                    "
                               "                            \"}," TIME "}",
                               k % 3 == 0   ? "\"error\""
                               : k % 3 == 1 ? "\"error_description\""
                                            : "\"\\u0065rror\"");
        buf[at] = '\0';
        CHECK(!tail_takes(buf));
        tail_same(200, buf, at);
        /* every scan level finds it, and none finds it before it */
        for (cut = 0; cut <= 2; cut++) {
            size_t key = (size_t)(strstr(buf, "rror") - buf) -
                         (k % 3 == 2 ? 7 : 2);
            CHECK(b24_envelope_error_key(buf, at, at, (int)cut) == 1);
            CHECK(b24_envelope_error_key(buf, at, key + 1, (int)cut) == 1);
            CHECK(b24_envelope_error_key(buf, at, key, (int)cut) == 0);
        }
        /* the same without the key ("xrror", "\u0045rror" = "Error"):
         * taken */
        if (k % 3 == 2)
            strstr(buf, "\\u0065")[4] = '4';
        else
            strstr(buf, "\"error")[1] = 'x';
        CHECK(tail_takes(buf));
        tail_same(200, buf, at);
        for (cut = 0; cut <= 2; cut++)
            CHECK(b24_envelope_error_key(buf, at, at, (int)cut) == 0);
    }
    /* a `time` object beyond the window is left to the skim */
    len = (size_t)snprintf(buf, sizeof(buf), "{\"result\":1,\"time\":{\"x\":\"");
    memset(buf + len, 'a', B24_ENVELOPE_TAIL_WINDOW);
    len += B24_ENVELOPE_TAIL_WINDOW;
    len += (size_t)snprintf(buf + len, sizeof(buf) - len, "\",\"operating\":1}}");
    CHECK(!b24_envelope_tail(buf, len, &cut, &k));
    tail_same(200, buf, len);
}
