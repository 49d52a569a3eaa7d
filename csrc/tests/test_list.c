/* test_list.c - cursors, keyset stop rules, batch and export planning. */
#include <limits.h>
#include <string.h>

#include "b24_batch.h"
#include "b24_buf.h"
#include "b24_list.h"
#include "harness.h"

static long long
pint(const char *s, int *ok)
{
    long long v = -999;
    *ok = b24_parse_int_prefix(s, strlen(s), &v);
    return v;
}

void
test_list(void)
{
    int ok;
    struct b24_keyset k;
    long long b[64];
    size_t n, s, l;
    struct b24_error err;
    struct b24_buf out;
    const char *al_list[] = {NULL, "", NULL};
    const char *al_obj[] = {"a", "b"};
    const char *al_mixed[] = {"a", NULL, "c"};
    const char *al_mixed2[] = {NULL, "b"};

    /* JS parseInt */
    CHECK(pint("12abc", &ok) == 12 && ok);
    CHECK(pint("  -5", &ok) == -5 && ok);
    CHECK(pint("+7", &ok) == 7 && ok);
    CHECK(pint("12.7", &ok) == 12 && ok);
    CHECK(pint("0x1A", &ok) == 26 && ok);
    (void)pint("abc", &ok);
    CHECK(!ok);
    (void)pint("", &ok);
    CHECK(!ok);
    (void)pint("-", &ok);
    CHECK(!ok);
    CHECK(pint("99999999999999999999999", &ok) == LLONG_MAX && ok);
    CHECK(pint("-99999999999999999999999", &ok) == LLONG_MIN && ok);

    /* v2 rule: short page ends, full page goes on, empty stops */
    b24_keyset_init(&k, 0, 50);
    CHECK(b24_keyset_step(&k, 50) == B24_STEP_MORE);
    CHECK(b24_keyset_step(&k, 30) == B24_STEP_LAST);
    CHECK(b24_keyset_step(&k, 0) == B24_STEP_STOP);
    /* v3 rule: max page seen; a short first page costs a confirmation */
    b24_keyset_init(&k, 1, 50);
    CHECK(b24_keyset_step(&k, 30) == B24_STEP_MORE);
    CHECK(b24_keyset_step(&k, 0) == B24_STEP_STOP);
    b24_keyset_init(&k, 1, 1000); /* server caps at 50 */
    CHECK(b24_keyset_step(&k, 50) == B24_STEP_MORE);
    CHECK(b24_keyset_step(&k, 50) == B24_STEP_MORE);
    CHECK(b24_keyset_step(&k, 20) == B24_STEP_LAST);
    CHECK(k.max_page == 50);

    /* batch planning */
    CHECK(b24_batch_cmd_form(al_list, 3, NULL) == B24_CMD_LIST);
    CHECK(b24_batch_cmd_form(al_obj, 2, NULL) == B24_CMD_OBJECT);
    n = 0;
    CHECK(b24_batch_cmd_form(al_mixed, 3, &n) == B24_CMD_MIXED && n == 1);
    CHECK(b24_batch_cmd_form(al_mixed2, 2, &n) == B24_CMD_MIXED && n == 1);
    CHECK(b24_batch_check_count(0, &err) == B24_E_USAGE);
    CHECK_STR(err.message, "Batch must contain at least one command");
    CHECK(b24_batch_check_count(51, &err) == B24_E_USAGE);
    CHECK_STR(err.message, "Batch too large: 51 commands (max: 50)");
    CHECK(b24_batch_check_count(50, NULL) == B24_OK);
    CHECK(b24_batch_chunk_count(120, 50) == 3);
    CHECK(b24_batch_chunk_count(100, 0) == 2);
    CHECK(b24_batch_chunk_count(0, 50) == 0);
    b24_batch_chunk(120, 50, 2, &s, &l);
    CHECK(s == 100 && l == 20);
    b24_batch_chunk(120, 50, 1, &s, &l);
    CHECK(s == 50 && l == 50);

    /* export planning */
    CHECK(b24_export_commands(0, -1) == 50);
    CHECK(b24_export_commands(0, 100000) == 50);
    CHECK(b24_export_commands(1000, 1100) == 2);
    CHECK(b24_export_commands(1000, 1101) == 3);
    CHECK(b24_export_commands(1000, 1000) == 1);
    n = b24_export_shards(50, 100000, 4, 2500, b);
    CHECK(n == 4 && b[0] == 50 + 24987 && b[3] == 100000);
    n = b24_export_shards(0, 3000, 4, 2500, b);
    CHECK(n == 2 && b[0] == 2500 && b[1] == 3000);
    /* 20,000 rows after a probe page: 40 streams of 10 whole pages, not 39 of 511 ids */
    n = b24_export_shards(50, 20000, 40, 500, b);
    CHECK(n == 40 && b[0] == 550 && b[38] == 19550 && b[39] == 20000);
    n = b24_export_shards(0, 20000, 40, 500, b);
    CHECK(n == 40 && b[0] == 500 && b[39] == 20000);
    n = b24_export_shards(0, 20001, 40, 500, b);
    CHECK(n == 40 && b[0] == 500 && b[39] == 20001);
    n = b24_export_shards(10, 10, 4, 2500, b);
    CHECK(n == 1 && b[0] == 10);

    b24_buf_init(&out, 0);
    CHECK(b24_export_ref(&out, "p3", "items", "id") == B24_OK);
    CHECK_STR(b24_buf_cstr(&out), "0$result[p3][items][49][id]");
    b24_buf_reset(&out);
    CHECK(b24_export_ref(&out, "p0", NULL, "ID") == B24_OK);
    CHECK_STR(b24_buf_cstr(&out), "0$result[p0][49][ID]");
    b24_buf_reset(&out);
    CHECK(b24_export_ref(&out, "p1", "result.tasks", "id") == B24_OK);
    CHECK_STR(b24_buf_cstr(&out), "0$result[p1][result][tasks][49][id]");
    b24_buf_free(&out);
}
