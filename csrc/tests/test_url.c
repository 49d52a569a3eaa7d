/* test_url.c - spec §2.1 webhook validation and §4.1 URL building. */
#include <stdlib.h>

#include "b24_url.h"
#include "harness.h"

static void
ok(const char *url, const char *origin, const char *uid, const char *secret)
{
    struct b24_webhook wh = {NULL, NULL, NULL};
    struct b24_error err;
    enum b24_status st = b24_url_parse_webhook(url, strlen(url), &wh, &err);
    CHECK(st == B24_OK);
    if (st != B24_OK) {
        fprintf(stderr, "  url %s -> %s\n", url, err.message);
        return;
    }
    CHECK_STR(wh.origin, origin);
    CHECK_STR(wh.user_id, uid);
    CHECK_STR(wh.secret, secret);
    b24_webhook_clear(&wh);
}

static void
bad(const char *url, const char *msg)
{
    struct b24_webhook wh = {NULL, NULL, NULL};
    struct b24_error err;
    enum b24_status st = b24_url_parse_webhook(url, strlen(url), &wh, &err);
    CHECK(st == B24_E_USAGE);
    if (st == B24_E_USAGE)
        CHECK_STR(err.message, msg);
    else
        b24_webhook_clear(&wh);
    CHECK(wh.origin == NULL && wh.secret == NULL);
}

static void
call_url(const char *method, const char *want)
{
    struct b24_buf b;
    b24_buf_init(&b, 0);
    CHECK(b24_url_build_call(&b, "https://x.com/rest/1/s/", method,
                             strlen(method), "r 1&2", "0.1.0",
                             "b24hook") == B24_OK);
    CHECK_STR(b24_buf_cstr(&b), want);
    b24_buf_free(&b);
}

void
test_url(void)
{
    struct b24_buf b;
    struct b24_url_origin o1 = {NULL, NULL, -1}, o2 = {NULL, NULL, -1};

    ok("https://portal.bitrix24.com/rest/1/abc123/", "https://portal.bitrix24.com",
       "1", "abc123");
    ok("https://portal.bitrix24.com/rest/1/abc123", "https://portal.bitrix24.com",
       "1", "abc123");
    ok("https://x.com/rest/api/1/abc", "https://x.com", "1", "abc");
    ok("  \t https://x.com/rest/1/abc \n", "https://x.com", "1", "abc");
    ok("https://x.com//rest//1//x//", "https://x.com", "1", "x");
    ok("https://x.com/rest/api/api/1/x", "https://x.com", "1", "x");
    ok("https://x.com/rest/007/x", "https://x.com", "7", "x");
    ok("https://x.com/rest/000/x", "https://x.com", "0", "x");
    ok("https://x.com:443/rest/1/x", "https://x.com", "1", "x");
    ok("https://127.0.0.1:9443/rest/1/x", "https://127.0.0.1:9443", "1", "x");
    ok("https://x.com/rest/1/ab%20c", "https://x.com", "1", "ab%20c");
    ok("https://PORTAL.Example.COM/rest/1/x", "https://portal.example.com",
       "1", "x");
    ok("HTTPS://x.com/rest/1/x", "https://x.com", "1", "x");
    ok("https://user:pw@x.com/rest/1/x?a=b#frag", "https://x.com", "1", "x");
    ok("https://x.com/rest/1/x?auth=1", "https://x.com", "1", "x");
    ok("https://[::1]:8443/rest/1/x", "https://[::1]:8443", "1", "x");
    ok("https://x.com/rest/1/./x", "https://x.com", "1", "x");
    ok("https://x.com/rest/1/y/../x", "https://x.com", "1", "x");
    ok("https://x.com\\rest\\1\\x", "https://x.com", "1", "x");

    bad("", B24_URL_MSG_EMPTY);
    bad("   \t\n ", B24_URL_MSG_EMPTY);
    bad("rest/1/abc", B24_URL_MSG_FORMAT);
    bad("x.com/rest/1/abc", B24_URL_MSG_FORMAT);
    bad("https://", B24_URL_MSG_FORMAT);
    bad("https:///rest/1/x", B24_URL_MSG_PATH); /* host "rest" */
    bad("https://x.com:99999/rest/1/x", B24_URL_MSG_FORMAT);
    bad("https://x.com:12a/rest/1/x", B24_URL_MSG_FORMAT);
    bad("http://x.com/rest/1/abc", B24_URL_MSG_HTTPS);
    bad("ftp://x.com/rest/1/abc", B24_URL_MSG_HTTPS);
    bad("mailto:a@b.c", B24_URL_MSG_HTTPS);
    bad("https://x.com/REST/1/abc", B24_URL_MSG_PATH);
    bad("https://x.com/rest/1/abc/extra", B24_URL_MSG_PATH);
    bad("https://x.com/rest/1/abc/crm.item.list.json", B24_URL_MSG_PATH);
    bad("https://x.com/prefix/rest/1/abc", B24_URL_MSG_PATH);
    bad("https://x.com/rest/1", B24_URL_MSG_PATH);
    bad("https://x.com/", B24_URL_MSG_PATH);
    bad("https://x.com/a/b/c/d/e/f/g/h/i/j/k", B24_URL_MSG_PATH);
    bad("https://x.com/rest/-1/abc", B24_URL_MSG_UID);
    bad("https://x.com/rest/1.5/abc", B24_URL_MSG_UID);
    bad("https://x.com/rest/abc/def", B24_URL_MSG_UID);
    bad("https://x.com/rest/api/x/1/abc", B24_URL_MSG_PATH);
    bad("https://x.com/rest/api/x/abc", B24_URL_MSG_UID);

    /* Method encoding and the task. carve-out. */
    call_url("crm.item.list",
             "https://x.com/rest/1/s/crm.item.list?bx24_request_id=r+1%262"
             "&bx24_sdk_ver=0.1.0&bx24_sdk_type=b24hook");
    call_url("task.commentitem.getlist",
             "https://x.com/rest/1/s/task.commentitem.getlist");
    call_url("task.item.list", "https://x.com/rest/1/s/task.item.list");
    call_url("tasks.task.list",
             "https://x.com/rest/1/s/tasks.task.list?bx24_request_id=r+1%262"
             "&bx24_sdk_ver=0.1.0&bx24_sdk_type=b24hook");
    call_url("bizproc.task.list",
             "https://x.com/rest/1/s/bizproc.task.list?bx24_request_id=r+1%262"
             "&bx24_sdk_ver=0.1.0&bx24_sdk_type=b24hook");
    call_url("taskish.list",
             "https://x.com/rest/1/s/taskish.list?bx24_request_id=r+1%262"
             "&bx24_sdk_ver=0.1.0&bx24_sdk_type=b24hook");
    call_url("Task.item.list",
             "https://x.com/rest/1/s/Task.item.list?bx24_request_id=r+1%262"
             "&bx24_sdk_ver=0.1.0&bx24_sdk_type=b24hook");
    CHECK(b24_url_is_task_method("task.", 5));
    CHECK(!b24_url_is_task_method("task", 4));

    b24_buf_init(&b, 0);
    CHECK(b24_url_encode_component(&b, "a b/c?d&e=f!~*'()-_.\xc3\xa9",
                                   strlen("a b/c?d&e=f!~*'()-_.\xc3\xa9")) ==
          B24_OK);
    CHECK_STR(b24_buf_cstr(&b), "a%20b%2Fc%3Fd%26e%3Df!~*'()-_.%C3%A9");
    b24_buf_reset(&b);
    CHECK(b24_url_encode_form(&b, "a b+c~!*'()-._\xc3\xa9",
                              strlen("a b+c~!*'()-._\xc3\xa9")) == B24_OK);
    CHECK_STR(b24_buf_cstr(&b), "a+b%2Bc%7E%21*%27%28%29-._%C3%A9");
    b24_buf_reset(&b);
    CHECK(b24_url_encode_component(&b, "a\0b", 3) == B24_OK);
    CHECK_STR(b24_buf_cstr(&b), "a%00b");
    b24_buf_free(&b);

    /* Origins for redirect checks. */
    CHECK(b24_url_origin_parse("https://X.com/rest/1/s", 22, &o1) == B24_OK);
    CHECK(b24_url_origin_parse("https://x.com:443/other", 23, &o2) == B24_OK);
    CHECK(b24_url_origin_equal(&o1, &o2));
    b24_url_origin_clear(&o2);
    CHECK(b24_url_origin_parse("https://x.com:8443/", 19, &o2) == B24_OK);
    CHECK(!b24_url_origin_equal(&o1, &o2));
    b24_buf_init(&b, 0);
    CHECK(b24_url_origin_format(&o2, &b) == B24_OK);
    CHECK_STR(b24_buf_cstr(&b), "https://x.com:8443");
    b24_buf_free(&b);
    b24_url_origin_clear(&o2);
    CHECK(b24_url_origin_parse("http://x.com/", 13, &o2) == B24_OK);
    CHECK(!b24_url_origin_equal(&o1, &o2));
    b24_url_origin_clear(&o2);
    CHECK(b24_url_origin_parse("/relative", 9, &o2) == B24_E_USAGE);
    b24_url_origin_clear(&o1);
}
