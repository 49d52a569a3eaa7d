/* module.c - b24hook._core: multi-phase init, module state, functions. */
#include "ext.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#include "b24_envelope.h"
#include "b24_http.h"
#include "b24_limiter.h"
#include "b24_protocol.h"
#include "b24_redact.h"
#include "b24_url.h"

/* The one version literal is b24hook/_version.py; setup.py passes it here. */
#ifndef B24_CORE_VERSION
#error "B24_CORE_VERSION is defined by setup.py from b24hook/_version.py"
#endif

#define MIN_CURL_NUM 0x074400 /* 7.68.0 */
#define MIN_CURL_TXT "7.68.0"
#define MIN_CJSON_TXT "1.7.13"

static struct mod_state *
get_state(PyObject *module)
{
    return (struct mod_state *)PyModule_GetState(module);
}

/* ---- helpers ----------------------------------------------------------- */

/* New bytes object with the UTF-8 (surrogatepass) of a str. */
static PyObject *
utf8_bytes(PyObject *s)
{
    return PyUnicode_AsEncodedString(s, "utf-8", "surrogatepass");
}

static PyObject *
buf_to_str(struct b24_buf *b)
{
    return PyUnicode_DecodeUTF8(b24_buf_cstr(b), (Py_ssize_t)b->len,
                                "surrogatepass");
}

/* ---- functions --------------------------------------------------------- */

static PyObject *
mod_parse_webhook_url(PyObject *module, PyObject *url)
{
    PyObject *stripped, *bytes = NULL, *res = NULL, *uid;
    struct b24_webhook wh = {NULL, NULL, NULL};
    struct b24_error err;
    enum b24_status rc;
    if (!PyUnicode_Check(url)) {
        PyErr_Format(PyExc_TypeError, "url must be str, not %.100s",
                     Py_TYPE(url)->tp_name);
        return NULL;
    }
    stripped = PyObject_CallMethodNoArgs(url, get_state(module)->str_strip);
    if (stripped == NULL)
        return NULL;
    bytes = utf8_bytes(stripped);
    Py_DECREF(stripped);
    if (bytes == NULL)
        return NULL;
    memset(&err, 0, sizeof(err));
    rc = b24_url_parse_webhook(PyBytes_AS_STRING(bytes),
                               (size_t)PyBytes_GET_SIZE(bytes), &wh, &err);
    Py_DECREF(bytes);
    if (rc != B24_OK)
        return ext_raise_status(rc, rc == B24_E_NOMEM ? NULL : err.message,
                                NULL);
    uid = PyLong_FromString(wh.user_id, NULL, 10);
    if (uid != NULL) {
        res = Py_BuildValue("(sNs)", wh.origin, uid, wh.secret);
    }
    b24_webhook_clear(&wh);
    return res;
}

static PyObject *
mod_redact_url(PyObject *Py_UNUSED(module), PyObject *const *args,
               Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *text, *keys = NULL, *bytes = NULL, *fast = NULL, *res = NULL;
    PyObject **kbytes = NULL;
    const char **kp = NULL;
    Py_ssize_t nk = 0, i;
    struct b24_buf out;
    enum b24_status rc;

    if (kwnames != NULL && PyTuple_GET_SIZE(kwnames) > 0) {
        if (PyTuple_GET_SIZE(kwnames) != 1 ||
            PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, 0),
                                             "extra_keys") != 0 ||
            nargs != 1) {
            PyErr_SetString(PyExc_TypeError,
                            "redact_url(text, extra_keys=())");
            return NULL;
        }
        keys = args[1];
    } else if (nargs == 2) {
        keys = args[1];
    } else if (nargs != 1) {
        PyErr_SetString(PyExc_TypeError, "redact_url(text, extra_keys=())");
        return NULL;
    }
    text = args[0];
    if (!PyUnicode_Check(text))
        return Py_NewRef(text); /* non-strings are returned as is (§11.2) */
    if (PyUnicode_FindChar(text, '=', 0, PyUnicode_GET_LENGTH(text), 1) < 0)
        return Py_NewRef(text);
    if (keys != NULL && keys != Py_None) {
        fast = PySequence_Fast(keys, "extra_keys must be a sequence of str");
        if (fast == NULL)
            return NULL;
        nk = PySequence_Fast_GET_SIZE(fast);
        kbytes = PyMem_Calloc((size_t)nk + 1, sizeof(*kbytes));
        kp = PyMem_Calloc((size_t)nk + 1, sizeof(*kp));
        if (kbytes == NULL || kp == NULL) {
            PyErr_NoMemory();
            goto done;
        }
        for (i = 0; i < nk; i++) {
            PyObject *k = PySequence_Fast_GET_ITEM(fast, i);
            if (!PyUnicode_Check(k)) {
                PyErr_SetString(PyExc_TypeError,
                                "extra_keys must be a sequence of str");
                goto done;
            }
            kbytes[i] = utf8_bytes(k);
            if (kbytes[i] == NULL)
                goto done;
            kp[i] = PyBytes_AS_STRING(kbytes[i]);
        }
    }
    bytes = utf8_bytes(text);
    if (bytes == NULL)
        goto done;
    b24_buf_init(&out, (size_t)PY_SSIZE_T_MAX);
    rc = b24_redact_scrub(&out, PyBytes_AS_STRING(bytes),
                          (size_t)PyBytes_GET_SIZE(bytes), kp, (size_t)nk);
    if (rc == B24_OK)
        res = buf_to_str(&out);
    else
        PyErr_NoMemory();
    b24_buf_free(&out);
done:
    if (kbytes != NULL)
        for (i = 0; i < nk; i++)
            Py_XDECREF(kbytes[i]);
    PyMem_Free(kbytes);
    PyMem_Free(kp);
    Py_XDECREF(fast);
    Py_XDECREF(bytes);
    return res;
}

static PyObject *
mod_scrub_secret(PyObject *Py_UNUSED(module), PyObject *const *args,
                 Py_ssize_t nargs)
{
    PyObject *tb, *sb = NULL, *res = NULL;
    struct b24_buf out;
    if (nargs < 1 || nargs > 2 || !PyUnicode_Check(args[0]) ||
        (nargs == 2 && !PyUnicode_Check(args[1]))) {
        PyErr_SetString(PyExc_TypeError,
                        "scrub_secret(text: str, secret: str = '')");
        return NULL;
    }
    tb = utf8_bytes(args[0]);
    if (tb == NULL)
        return NULL;
    if (nargs == 2 && (sb = utf8_bytes(args[1])) == NULL) {
        Py_DECREF(tb);
        return NULL;
    }
    b24_buf_init(&out, (size_t)PY_SSIZE_T_MAX);
    if (b24_redact_text(&out, PyBytes_AS_STRING(tb),
                        (size_t)PyBytes_GET_SIZE(tb),
                        sb ? PyBytes_AS_STRING(sb) : "",
                        sb ? (size_t)PyBytes_GET_SIZE(sb) : 0) == B24_OK)
        res = buf_to_str(&out);
    else
        PyErr_NoMemory();
    b24_buf_free(&out);
    Py_DECREF(tb);
    Py_XDECREF(sb);
    return res;
}

static PyObject *
mod_encode_json(PyObject *module, PyObject *const *args, Py_ssize_t nargs,
                PyObject *kwnames)
{
    int as_object = 0;
    struct b24_buf out;
    PyObject *res = NULL;
    Py_ssize_t i, nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    if (nargs != 1) {
        PyErr_SetString(PyExc_TypeError,
                        "encode_json(obj, *, list_as_object=False)");
        return NULL;
    }
    for (i = 0; i < nkw; i++) {
        if (PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, i),
                                             "list_as_object") != 0) {
            PyErr_SetString(PyExc_TypeError,
                            "encode_json(obj, *, list_as_object=False)");
            return NULL;
        }
        as_object = PyObject_IsTrue(args[nargs + i]);
        if (as_object < 0)
            return NULL;
    }
    b24_buf_init(&out, 0);
    if (conv_encode(get_state(module), args[0], &out,
                    as_object ? CONV_LIST_AS_OBJECT : 0) == 0)
        res = PyBytes_FromStringAndSize(b24_buf_cstr(&out),
                                        (Py_ssize_t)out.len);
    b24_buf_free(&out);
    return res;
}

static PyObject *
mod_decode_json(PyObject *Py_UNUSED(module), PyObject *data)
{
    Py_buffer view;
    PyObject *owner = NULL, *res;
    if (PyUnicode_Check(data)) {
        owner = utf8_bytes(data);
        if (owner == NULL)
            return NULL;
        data = owner;
    }
    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0) {
        Py_XDECREF(owner);
        return NULL;
    }
    res = conv_decode_json(view.buf, (size_t)view.len);
    PyBuffer_Release(&view);
    Py_XDECREF(owner);
    return res;
}

/* ---- request ids: RFC 9562 UUIDv7 (spec §10) ----------------------------
 * 48-bit Unix ms, a 12-bit monotonic counter (§6.2 method 1) seeded
 * randomly each millisecond, 62 random bits.  The random bytes come from
 * getrandom(2) in blocks (one syscall per 400 ids); a forked child drops
 * the block it inherited, so parent and child never hand out the same
 * bytes.  One mutex guards the state (ids from several threads). */
static pthread_mutex_t rid_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t rid_once = PTHREAD_ONCE_INIT;
static unsigned char rid_pool[4000];
static size_t rid_pos = sizeof(rid_pool);
static uint64_t rid_last_ms;
static unsigned rid_counter;

static void
rid_forget(void)
{
    pthread_mutex_init(&rid_mu, NULL);
    rid_pos = sizeof(rid_pool);
}

static void
rid_init(void)
{
    pthread_atfork(NULL, NULL, rid_forget);
}

static PyObject *
mod_uuid7(PyObject *Py_UNUSED(m), PyObject *Py_UNUSED(ignored))
{
    unsigned char b[10];
    struct timespec ts;
    uint64_t ms, hi, lo, low64;
    unsigned counter;
    static const char hex[] = "0123456789abcdef";
    PyObject *res;
    char *out;
    int i, at;

    pthread_once(&rid_once, rid_init);
    clock_gettime(CLOCK_REALTIME, &ts);
    ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    pthread_mutex_lock(&rid_mu);
    if (rid_pos + sizeof(b) > sizeof(rid_pool)) {
        size_t got = 0;
        while (got < sizeof(rid_pool)) {
            ssize_t n = getrandom(rid_pool + got, sizeof(rid_pool) - got, 0);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                pthread_mutex_unlock(&rid_mu);
                return PyErr_SetFromErrno(PyExc_OSError);
            }
            got += (size_t)n;
        }
        rid_pos = 0;
    }
    memcpy(b, rid_pool + rid_pos, sizeof(b));
    rid_pos += sizeof(b);
    if (ms > rid_last_ms) {
        rid_last_ms = ms;
        rid_counter = (((unsigned)b[0] << 4) | ((unsigned)b[1] >> 4)) & 0x7FFu;
    } else if (++rid_counter > 0xFFFu) {
        rid_last_ms++;
        rid_counter = 0;
    }
    ms = rid_last_ms;
    counter = rid_counter;
    pthread_mutex_unlock(&rid_mu);

    low64 = 0;
    for (i = 2; i < 10; i++)
        low64 = (low64 << 8) | b[i];
    hi = ((ms & 0xFFFFFFFFFFFFull) << 16) | (0x7ull << 12) | counter;
    lo = (0x2ull << 62) | (low64 & 0x3FFFFFFFFFFFFFFFull);
    /* the 32 hex digits of hi then lo, 8-4-4-4-12: a table, not snprintf
     * (~3k instructions per id, issue 10 profile) */
    res = PyUnicode_New(36, 127);
    if (res == NULL)
        return NULL;
    out = (char *)PyUnicode_1BYTE_DATA(res);
    for (i = 0, at = 0; i < 32; i++) {
        uint64_t w = i < 16 ? hi : lo;
        if (i == 8 || i == 12 || i == 16 || i == 20)
            out[at++] = '-';
        out[at++] = hex[(w >> (60 - 4 * (i & 15))) & 0xFu];
    }
    return res;
}

static PyMethodDef mod_methods[] = {
    {"uuid7", (PyCFunction)mod_uuid7, METH_NOARGS,
     "uuid7($module, /)\n--\n\nA new RFC 9562 UUIDv7 string (the request "
     "ids of spec §10): monotonic within the process, random bits from "
     "getrandom(2)."},
    {"parse_webhook_url", (PyCFunction)mod_parse_webhook_url, METH_O,
     "parse_webhook_url($module, url, /)\n--\n\n"
     "Validate a webhook URL (spec 2.1) -> (origin, user_id, secret)."},
    {"redact_url", (PyCFunction)(void (*)(void))mod_redact_url,
     METH_FASTCALL | METH_KEYWORDS,
     "redact_url($module, text, extra_keys=())\n--\n\n"
     "Scrub (^|[?&])(KEY)=[^&#;]* values (spec 11.2)."},
    {"scrub_secret", (PyCFunction)(void (*)(void))mod_scrub_secret,
     METH_FASTCALL,
     "scrub_secret($module, text, secret='', /)\n--\n\n"
     "Replace every occurrence of secret, and the token of every\n"
     "/rest/<id>/<token> webhook path, by ***REDACTED***."},
    {"encode_json", (PyCFunction)(void (*)(void))mod_encode_json,
     METH_FASTCALL | METH_KEYWORDS,
     "encode_json($module, obj, /, *, list_as_object=False)\n--\n\n"
     "Python -> compact UTF-8 JSON bytes; ParamsError when impossible."},
    {"decode_json", (PyCFunction)mod_decode_json, METH_O,
     "decode_json($module, data, /)\n--\n\n"
     "JSON text -> Python objects (integer tokens -> exact int; other\n"
     "numbers -> float, or int when integral and below 2**53)."},
    {NULL, NULL, 0, NULL}};

/* ---- init -------------------------------------------------------------- */

static int
version_check(void)
{
    const curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);
    const char *jv = cJSON_Version();
    int a = 0, b = 0, c = 0;
    if (cv == NULL || cv->version_num < MIN_CURL_NUM) {
        PyErr_Format(PyExc_ImportError,
                     "b24hook needs libcurl >= %s, found %s", MIN_CURL_TXT,
                     cv ? cv->version : "unknown");
        return -1;
    }
    if (jv == NULL || sscanf(jv, "%d.%d.%d", &a, &b, &c) != 3 ||
        (a * 10000 + b * 100 + c) < 10713) {
        PyErr_Format(PyExc_ImportError,
                     "b24hook needs cJSON >= %s, found %s", MIN_CJSON_TXT,
                     jv ? jv : "unknown");
        return -1;
    }
    return 0;
}

static PyObject *
import_attr(const char *mod, const char *attr)
{
    PyObject *m = PyImport_ImportModule(mod), *r;
    if (m == NULL)
        return NULL;
    r = PyObject_GetAttrString(m, attr);
    Py_DECREF(m);
    return r;
}

/* A NULL-terminated C string table as the module constant `name`, a
 * tuple of str: the core's tables stay the one copy of those lists. */
static int
add_str_tuple(PyObject *module, const char *name, const char *const *strv)
{
    Py_ssize_t i, n = 0;
    PyObject *t;
    while (strv[n] != NULL)
        n++;
    t = PyTuple_New(n);
    if (t == NULL)
        return -1;
    for (i = 0; i < n; i++) {
        PyObject *s = PyUnicode_FromString(strv[i]);
        if (s == NULL) {
            Py_DECREF(t);
            return -1;
        }
        PyTuple_SET_ITEM(t, i, s); /* steals s into the fresh tuple */
    }
    if (PyModule_AddObjectRef(module, name, t) < 0) {
        Py_DECREF(t);
        return -1;
    }
    Py_DECREF(t);
    return 0;
}

/* The types that need nothing from the module state: made from their spec
 * and added under their own name, one way for all. */
static PyType_Spec *const plain_types[] = {
    &limiter_spec, &cancel_spec, &multi_spec, &aio_spec, &walk_spec,
};

static int
add_type(PyObject *module, PyType_Spec *spec)
{
    PyObject *t = PyType_FromModuleAndSpec(module, spec, NULL);
    int rc;
    if (t == NULL)
        return -1;
    rc = PyModule_AddType(module, (PyTypeObject *)t);
    Py_DECREF(t);
    return rc;
}

static int
mod_exec(PyObject *module)
{
    struct mod_state *st = get_state(module);
    PyObject *date = NULL, *time_ = NULL;
    const curl_version_info_data *cv;
    size_t i;

    if (version_check() < 0)
        return -1;
    if (b24_http_global_init() != B24_OK) {
        PyErr_SetString(PyExc_ImportError, "curl_global_init failed");
        return -1;
    }
    ext_redis_install();
    cv = curl_version_info(CURLVERSION_NOW);

    st->params_error = PyErr_NewExceptionWithDoc(
        "b24hook._core.ParamsError",
        "Params cannot be encoded as JSON (cycle, unsupported type, NaN...).",
        PyExc_ValueError, NULL);
    if (st->params_error == NULL ||
        PyModule_AddObjectRef(module, "ParamsError", st->params_error) < 0)
        return -1;
    st->closed_error = PyErr_NewExceptionWithDoc(
        "b24hook._core.ClosedError", "perform() on a Transport after close().",
        PyExc_RuntimeError, NULL);
    if (st->closed_error == NULL ||
        PyModule_AddObjectRef(module, "ClosedError", st->closed_error) < 0)
        return -1;
    st->cancelled_error = PyErr_NewExceptionWithDoc(
        "b24hook._core.CancelledError",
        "call() stopped because the CancelToken bound to its thread was "
        "cancelled.",
        PyExc_Exception, NULL);
    if (st->cancelled_error == NULL ||
        PyModule_AddObjectRef(module, "CancelledError",
                              st->cancelled_error) < 0)
        return -1;
    if (outcome_register(module, st) < 0)
        return -1;
    if (transport_register(module, st) < 0)
        return -1;
    for (i = 0; i < sizeof(plain_types) / sizeof(plain_types[0]); i++)
        if (add_type(module, plain_types[i]) < 0)
            return -1;
    if (actions_register(module) < 0)
        return -1;
    if (errors_register(module) < 0)
        return -1;

    date = import_attr("datetime", "date");
    time_ = date ? import_attr("datetime", "time") : NULL;
    if (time_ == NULL) {
        Py_XDECREF(date);
        return -1;
    }
    st->date_types = PyTuple_Pack(2, date, time_);
    Py_DECREF(date);
    Py_DECREF(time_);
    if (st->date_types == NULL)
        return -1;
    st->decimal_type = import_attr("decimal", "Decimal");
    st->enum_type = st->decimal_type ? import_attr("enum", "Enum") : NULL;
    if (st->enum_type == NULL)
        return -1;
    st->str_isoformat = PyUnicode_InternFromString("isoformat");
    st->str_value = PyUnicode_InternFromString("value");
    st->str_strip = PyUnicode_InternFromString("strip");
    if (!st->str_isoformat || !st->str_value || !st->str_strip)
        return -1;

    if (PyModule_AddStringConstant(module, "__version__", B24_CORE_VERSION) <
            0 ||
        PyModule_AddStringConstant(module, "CURL_VERSION", cv->version) < 0 ||
        PyModule_AddStringConstant(module, "CJSON_VERSION", cJSON_Version()) <
            0 ||
        PyModule_AddIntConstant(module, "OK", B24_KIND_OK) < 0 ||
        PyModule_AddIntConstant(module, "FAILED", B24_KIND_FAILED) < 0 ||
        PyModule_AddIntConstant(module, "ERROR", B24_KIND_ERROR) < 0 ||
        PyModule_AddIntConstant(module, "V2_PAGE_SIZE", B24_V2_PAGE_SIZE) <
            0 ||
        PyModule_AddIntConstant(module, "V3_PAGE_DEFAULT",
                                B24_V3_PAGE_DEFAULT) < 0 ||
        PyModule_AddIntConstant(module, "BATCH_MAX_COMMANDS",
                                B24_BATCH_MAX_COMMANDS) < 0 ||
        PyModule_AddStringConstant(module, "REDACTED_PLACEHOLDER",
                                   B24_REDACTED) < 0)
        return -1;
    if (add_str_tuple(module, "SENSITIVE_PARAM_KEYS",
                      b24_redact_default_keys) < 0 ||
        add_str_tuple(module, "BUILT_IN_HARD_ERROR_CODES",
                      b24_builtin_hard_codes) < 0 ||
        add_str_tuple(module, "BUILT_IN_SOFT_ERROR_CODES",
                      b24_builtin_soft_codes) < 0)
        return -1;
    return 0;
}

static int
mod_traverse(PyObject *module, visitproc visit, void *arg)
{
    struct mod_state *st = get_state(module);
    Py_VISIT(st->transport_type);
    Py_VISIT(st->outcome_type);
    Py_VISIT(st->params_error);
    Py_VISIT(st->closed_error);
    Py_VISIT(st->cancelled_error);
    Py_VISIT(st->date_types);
    Py_VISIT(st->decimal_type);
    Py_VISIT(st->enum_type);
    Py_VISIT(st->ajax_error_create);
    return 0;
}

static int
mod_clear(PyObject *module)
{
    struct mod_state *st = get_state(module);
    Py_CLEAR(st->transport_type);
    Py_CLEAR(st->outcome_type);
    Py_CLEAR(st->params_error);
    Py_CLEAR(st->closed_error);
    Py_CLEAR(st->cancelled_error);
    Py_CLEAR(st->date_types);
    Py_CLEAR(st->decimal_type);
    Py_CLEAR(st->enum_type);
    Py_CLEAR(st->str_isoformat);
    Py_CLEAR(st->str_value);
    Py_CLEAR(st->str_strip);
    Py_CLEAR(st->ajax_error_create);
    return 0;
}

static void
mod_free(void *module)
{
    mod_clear((PyObject *)module);
}

static PyModuleDef_Slot mod_slots[] = {
    {Py_mod_exec, mod_exec},
#if PY_VERSION_HEX >= 0x030C0000
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
    {0, NULL}};

static struct PyModuleDef mod_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "b24hook._core",
    .m_doc = "C engine of b24hook: webhook URL validation, redaction, JSON "
             "conversion and the libcurl transport.",
    .m_size = sizeof(struct mod_state),
    .m_methods = mod_methods,
    .m_slots = mod_slots,
    .m_traverse = mod_traverse,
    .m_clear = mod_clear,
    .m_free = mod_free,
};

PyMODINIT_FUNC PyInit__core(void);

PyMODINIT_FUNC
PyInit__core(void)
{
    return PyModuleDef_Init(&mod_def);
}
