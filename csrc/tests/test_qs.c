/* test_qs.c - PHP bracket encoding (spec §6.6.2). */
#include <cjson/cJSON.h>

#include "b24_buf.h"
#include "b24_qs.h"
#include "harness.h"

static void
enc(const char *json, const char *want)
{
    cJSON *t = cJSON_Parse(json);
    struct b24_buf out;
    b24_buf_init(&out, 0);
    CHECK(t != NULL);
    CHECK(b24_qs_encode_json(&out, t) == B24_OK);
    CHECK_STR(b24_buf_cstr(&out), want);
    b24_buf_free(&out);
    cJSON_Delete(t);
}

void
test_qs(void)
{
    struct b24_buf out;
    struct b24_qs q;
    int i;

    /* the example of §6.6.2, exactly */
    enc("{\"filter\": {\">ID\": 5, \"=%TITLE\": \"A b&c\"}, \"select\": [\"id\"]}",
        "filter%5B%3EID%5D=5&filter%5B%3D%25TITLE%5D=A%20b%26c&select%5B0%5D=id");
    /* nesting: dicts in lists in dicts */
    enc("{\"a\":{\"b\":[{\"c\":1},{\"d\":[true,false]}]}}",
        "a%5Bb%5D%5B0%5D%5Bc%5D=1&a%5Bb%5D%5B1%5D%5Bd%5D%5B0%5D=true&"
        "a%5Bb%5D%5B1%5D%5Bd%5D%5B1%5D=false");
    /* None -> key=, empty list / map omitted, numbers */
    enc("{\"n\":null,\"e\":[],\"m\":{},\"f\":1.5,\"i\":-7,\"big\":1e300}",
        "n=&f=1.5&i=-7&big=1.0000000000000001e%2B300");
    /* unicode as UTF-8 %XX, reserved characters, the unreserved set */
    enc("{\"t\":\"\xc3\xa9\xe2\x82\xac $+()[]!*'/?#=~-._\"}",
        "t=%C3%A9%E2%82%AC%20%24%2B%28%29%5B%5D%21%2A%27%2F%3F%23%3D~-._");
    /* keys are encoded too, insertion order kept */
    enc("{\"z z\":1,\"a\":2}", "z%20z=1&a=2");
    /* a batch reference is a plain value */
    enc("{\"filter\":{\">ID\":\"$result[p0][items][49][id]\"}}",
        "filter%5B%3EID%5D=%24result%5Bp0%5D%5Bitems%5D%5B49%5D%5Bid%5D");
    enc("{}", "");

    /* not an object: nothing */
    b24_buf_init(&out, 0);
    CHECK(b24_qs_encode_json(&out, NULL) == B24_OK && out.len == 0);
    b24_buf_free(&out);

    /* the path stack: continue after "method?", depth cap */
    b24_buf_init(&out, 0);
    CHECK(b24_buf_appends(&out, "server.time?") == B24_OK);
    b24_qs_init(&q, &out);
    CHECK(b24_qs_push_key(&q, "a", 1) == B24_OK);
    CHECK(b24_qs_push_index(&q, 12) == B24_OK);
    CHECK(b24_qs_value(&q, "x y", 3) == B24_OK);
    b24_qs_pop(&q);
    b24_qs_pop(&q);
    b24_qs_pop(&q); /* extra pop is harmless */
    CHECK(b24_qs_push_key(&q, "b", 1) == B24_OK);
    CHECK(b24_qs_value(&q, "", 0) == B24_OK);
    b24_qs_pop(&q);
    CHECK_STR(b24_buf_cstr(&out), "server.time?a%5B12%5D=x%20y&b=");
    for (i = 0; i < B24_QS_MAX_DEPTH; i++)
        CHECK(b24_qs_push_key(&q, "k", 1) == B24_OK);
    CHECK(b24_qs_push_key(&q, "k", 1) == B24_E_LIMIT);
    b24_qs_free(&q);
    b24_buf_free(&out);

    /* a capped output buffer fails cleanly */
    b24_buf_init(&out, 8);
    b24_qs_init(&q, &out);
    CHECK(b24_qs_push_key(&q, "key", 3) == B24_OK);
    CHECK(b24_qs_value(&q, "long value", 10) == B24_E_LIMIT);
    b24_qs_free(&q);
    b24_buf_free(&out);
}
