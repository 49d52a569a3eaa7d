/* test_qs.c - PHP bracket encoding (spec §6.6.2). */
#include <string.h>

#include <cjson/cJSON.h>

#include "b24_buf.h"
#include "b24_qs.h"
#include "harness.h"

/* A visitor of its own: a node is a NUL-terminated "spec" string, "m"
 * a map of two children, "r" a node standing for the text "R", anything
 * else a text; it counts what the walker hands back. */
struct toy {
    int ends;
    int releases;
    int fail_at_key; /* next() fails at this child index (-1: never) */
};

static enum b24_status
toy_read(void *ctx, void *node, struct b24_qs_node *out)
{
    const char *s = node;
    (void)ctx;
    if (strcmp(s, "m") == 0) {
        out->kind = B24_QS_MAP;
    } else if (strcmp(s, "r") == 0) {
        out->kind = B24_QS_REPLACED;
        out->inner = (void *)"R";
        out->hold = (void *)s;
    } else {
        out->kind = B24_QS_TEXT;
        out->text = s;
        out->len = strlen(s);
    }
    return B24_OK;
}

static enum b24_status
toy_next(void *ctx, struct b24_qs_iter *it, void **child, const char **key,
         size_t *klen, int *more)
{
    static const char *const kids[] = {"r", "x"};
    struct toy *t = ctx;
    if ((int)it->pos == t->fail_at_key)
        return B24_E_API;
    *more = it->pos < 2;
    if (*more) {
        *child = (void *)kids[it->pos];
        *key = it->pos == 0 ? "a" : "b";
        *klen = 1;
    }
    return B24_OK;
}

static void
toy_end(void *ctx, struct b24_qs_iter *it)
{
    (void)it;
    ((struct toy *)ctx)->ends++;
}

static void
toy_release(void *ctx, void *hold)
{
    (void)hold;
    ((struct toy *)ctx)->releases++;
}

static const struct b24_qs_visitor toy_visitor = {toy_read, toy_next,
                                                  toy_end, toy_release};

static void
test_walker(void)
{
    struct toy t = {0, 0, -1};
    struct b24_buf out;
    struct b24_qs q;
    cJSON *deep, *leaf;
    int i;

    b24_buf_init(&out, 0);
    b24_qs_init(&q, &out);
    CHECK(b24_qs_walk(&q, &toy_visitor, &t, (void *)"m", NULL) == B24_OK);
    CHECK_STR(b24_buf_cstr(&out), "a=R&b=x");
    CHECK(t.ends == 1 && t.releases == 1);
    b24_qs_free(&q);
    /* a visitor failure comes back as is, the map still closed */
    b24_buf_reset(&out);
    t.ends = t.releases = 0;
    t.fail_at_key = 1;
    b24_qs_init(&q, &out);
    CHECK(b24_qs_walk(&q, &toy_visitor, &t, (void *)"m", NULL) == B24_E_API);
    CHECK(t.ends == 1 && t.releases == 1);
    b24_qs_free(&q);
    b24_buf_free(&out);

    /* deeper than B24_QS_MAX_DEPTH - 1 levels: refused (B24_E_USAGE) */
    deep = cJSON_CreateObject();
    leaf = deep;
    for (i = 0; i < B24_QS_MAX_DEPTH; i++) {
        cJSON *k = cJSON_CreateObject();
        cJSON_AddItemToObject(leaf, "k", k);
        leaf = k;
    }
    cJSON_AddNumberToObject(leaf, "v", 1);
    b24_buf_init(&out, 0);
    CHECK(b24_qs_encode_json(&out, deep) == B24_E_USAGE);
    /* the same tree cut to two levels encodes */
    cJSON_DeleteItemFromObject(cJSON_GetObjectItem(deep, "k"), "k");
    cJSON_AddNumberToObject(cJSON_GetObjectItem(deep, "k"), "v", 2);
    CHECK(b24_qs_encode_json(&out, deep) == B24_OK);
    CHECK_STR(b24_buf_cstr(&out), "k%5Bv%5D=2");
    b24_buf_free(&out);
    cJSON_Delete(deep);
}

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

    test_walker();
}
