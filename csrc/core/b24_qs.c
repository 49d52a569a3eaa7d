/* b24_qs.c - PHP-style bracket encoding (see b24_qs.h). */
#include "b24_qs.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char HEX[] = "0123456789ABCDEF";

static int
unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
           c == '~';
}

enum b24_status
b24_qs_pct(struct b24_buf *out, const char *s, size_t n)
{
    size_t i, run = 0;
    enum b24_status rc;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char e[3];
        if (unreserved(c))
            continue;
        if (i > run && (rc = b24_buf_append(out, s + run, i - run)) != B24_OK)
            return rc;
        e[0] = '%';
        e[1] = HEX[c >> 4];
        e[2] = HEX[c & 15];
        if ((rc = b24_buf_append(out, e, 3)) != B24_OK)
            return rc;
        run = i + 1;
    }
    if (n > run)
        return b24_buf_append(out, s + run, n - run);
    return B24_OK;
}

void
b24_qs_init(struct b24_qs *q, struct b24_buf *out)
{
    memset(q, 0, sizeof(*q));
    q->out = out;
    b24_buf_init(&q->key, 0);
}

void
b24_qs_free(struct b24_qs *q)
{
    b24_buf_free(&q->key);
    q->depth = 0;
}

static enum b24_status
push(struct b24_qs *q, const char *k, size_t n)
{
    enum b24_status rc;
    if (q->depth >= B24_QS_MAX_DEPTH)
        return B24_E_LIMIT;
    q->marks[q->depth++] = q->key.len;
    if (q->depth > 1 && (rc = b24_buf_append(&q->key, "%5B", 3)) != B24_OK)
        return rc;
    if ((rc = b24_qs_pct(&q->key, k, n)) != B24_OK)
        return rc;
    if (q->depth > 1)
        return b24_buf_append(&q->key, "%5D", 3);
    return B24_OK;
}

enum b24_status
b24_qs_push_key(struct b24_qs *q, const char *k, size_t n)
{
    return push(q, k, n);
}

enum b24_status
b24_qs_push_index(struct b24_qs *q, size_t i)
{
    char num[32];
    int len = snprintf(num, sizeof(num), "%zu", i);
    return push(q, num, (size_t)len);
}

void
b24_qs_pop(struct b24_qs *q)
{
    if (q->depth <= 0)
        return;
    q->depth--;
    q->key.len = q->marks[q->depth];
    if (q->key.data != NULL)
        q->key.data[q->key.len] = '\0';
}

enum b24_status
b24_qs_value(struct b24_qs *q, const char *v, size_t n)
{
    enum b24_status rc;
    if (q->pairs > 0 && (rc = b24_buf_appendc(q->out, '&')) != B24_OK)
        return rc;
    if ((rc = b24_buf_append(q->out, b24_buf_cstr(&q->key), q->key.len)) !=
        B24_OK)
        return rc;
    if ((rc = b24_buf_appendc(q->out, '=')) != B24_OK)
        return rc;
    q->pairs++;
    return b24_qs_pct(q->out, v, n);
}

/* ---- the walker -------------------------------------------------------- */

static enum b24_status walk(struct b24_qs *q, const struct b24_qs_visitor *v,
                            void *ctx, void *node, int depth,
                            struct b24_error *err);

static enum b24_status
walk_children(struct b24_qs *q, const struct b24_qs_visitor *v, void *ctx,
              void *node, int is_map, int depth, struct b24_error *err)
{
    struct b24_qs_iter it;
    enum b24_status rc;
    memset(&it, 0, sizeof(it));
    it.node = node;
    for (;;) {
        void *child = NULL;
        const char *key = NULL;
        size_t klen = 0;
        int more = 0;
        rc = v->next(ctx, &it, &child, &key, &klen, &more);
        if (rc != B24_OK || !more)
            break;
        rc = is_map ? b24_qs_push_key(q, key, klen)
                    : b24_qs_push_index(q, it.pos);
        it.pos++;
        if (rc == B24_OK)
            rc = walk(q, v, ctx, child, depth + 1, err);
        b24_qs_pop(q);
        if (rc != B24_OK)
            break;
    }
    v->end(ctx, &it);
    return rc;
}

static enum b24_status
walk(struct b24_qs *q, const struct b24_qs_visitor *v, void *ctx, void *node,
     int depth, struct b24_error *err)
{
    struct b24_qs_node n;
    enum b24_status rc;
    if (depth > B24_QS_MAX_DEPTH - 1)
        return b24_error_set(err, B24_E_USAGE, "nesting deeper than %d levels",
                             B24_QS_MAX_DEPTH - 1);
    memset(&n, 0, sizeof(n));
    rc = v->read(ctx, node, &n);
    if (rc == B24_OK) {
        switch (n.kind) {
        case B24_QS_NULL:
            rc = b24_qs_value(q, "", 0);
            break;
        case B24_QS_TRUE:
            rc = b24_qs_value(q, "true", 4);
            break;
        case B24_QS_FALSE:
            rc = b24_qs_value(q, "false", 5);
            break;
        case B24_QS_TEXT:
            rc = b24_qs_value(q, n.text, n.len);
            break;
        case B24_QS_MAP:
        case B24_QS_LIST:
            rc = walk_children(q, v, ctx, node, n.kind == B24_QS_MAP, depth,
                               err);
            break;
        case B24_QS_REPLACED:
            rc = walk(q, v, ctx, n.inner, depth + 1, err);
            break;
        case B24_QS_SKIP:
            break;
        }
    }
    if (n.hold != NULL)
        v->release(ctx, n.hold);
    return rc;
}

enum b24_status
b24_qs_walk(struct b24_qs *q, const struct b24_qs_visitor *v, void *ctx,
            void *root, struct b24_error *err)
{
    return walk(q, v, ctx, root, 0, err);
}

/* ---- the cJSON visitor -------------------------------------------------- */

static enum b24_status
json_read(void *ctx, void *node, struct b24_qs_node *out)
{
    const cJSON *item = node;
    (void)ctx;
    if (cJSON_IsObject(item)) {
        out->kind = B24_QS_MAP;
    } else if (cJSON_IsArray(item)) {
        out->kind = B24_QS_LIST;
    } else if (cJSON_IsNull(item)) {
        out->kind = B24_QS_NULL;
    } else if (cJSON_IsTrue(item)) {
        out->kind = B24_QS_TRUE;
    } else if (cJSON_IsFalse(item)) {
        out->kind = B24_QS_FALSE;
    } else if (cJSON_IsString(item)) {
        out->kind = B24_QS_TEXT;
        out->text = item->valuestring;
        out->len = strlen(item->valuestring);
    } else if (cJSON_IsNumber(item)) {
        double d = item->valuedouble;
        int len;
        if (d == floor(d) && fabs(d) < 9007199254740992.0)
            len = snprintf(out->scratch, sizeof(out->scratch), "%lld",
                           (long long)d);
        else
            len = snprintf(out->scratch, sizeof(out->scratch), "%.17g", d);
        out->kind = B24_QS_TEXT;
        out->text = out->scratch;
        out->len = (size_t)len;
    } /* raw / invalid: SKIP */
    return B24_OK;
}

static enum b24_status
json_next(void *ctx, struct b24_qs_iter *it, void **child, const char **key,
          size_t *klen, int *more)
{
    const cJSON *c = it->pos == 0 ? ((const cJSON *)it->node)->child
                                  : ((const cJSON *)it->hold)->next;
    (void)ctx;
    it->hold = (void *)c;
    *more = c != NULL;
    if (c != NULL) {
        *child = (void *)c;
        if (c->string != NULL) {
            *key = c->string;
            *klen = strlen(c->string);
        }
    }
    return B24_OK;
}

static void
json_end(void *ctx, struct b24_qs_iter *it)
{
    (void)ctx;
    (void)it;
}

static void
json_release(void *ctx, void *hold)
{
    (void)ctx;
    (void)hold;
}

static const struct b24_qs_visitor json_visitor = {json_read, json_next,
                                                   json_end, json_release};

enum b24_status
b24_qs_encode_json(struct b24_buf *out, const cJSON *obj)
{
    struct b24_qs q;
    enum b24_status rc;
    if (!cJSON_IsObject(obj))
        return B24_OK;
    b24_qs_init(&q, out);
    rc = b24_qs_walk(&q, &json_visitor, NULL, (void *)obj, NULL);
    b24_qs_free(&q);
    return rc;
}
