/* transport.c - the Transport heap type: one b24_http per instance. */
#include "ext.h"

#include <math.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

#include "b24_envelope.h"
#include "b24_http.h"
#include "b24_pipeline.h"
#include "b24_url.h"

typedef struct {
    PyObject_HEAD
    struct mod_state *state; /* borrowed: the type keeps the module alive */
    struct b24_http *http;   /* owned reference; NULL only if init failed */
    PyObject *verify;        /* owned: True, False or str */
    PyObject *headers;       /* owned: dict str -> str (caller headers) */
    double timeout;          /* seconds, > 0 */
    char *user_agent;        /* owned (PyMem) */
    char *sdk_type;          /* owned (PyMem) */
    char *sdk_version;       /* owned (PyMem) */
} TransportObject;

static char *
pymem_strdup(const char *s)
{
    size_t n = strlen(s);
    char *p = PyMem_Malloc(n + 1);
    if (p == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    memcpy(p, s, n + 1);
    return p;
}

/* At most a day: a larger value (1e16) would overflow libcurl's long
 * milliseconds into an instant timeout (issue 9 item 5). */
#define B24_MAX_TIMEOUT_S 86400.0

static int
check_timeout(double t)
{
    if (!(t > 0) || !isfinite(t) || t > B24_MAX_TIMEOUT_S) {
        PyErr_SetString(PyExc_ValueError,
                        "timeout must be a positive number of seconds, "
                        "at most 86400");
        return -1;
    }
    return 0;
}

/* New dict copy of a str -> str mapping (None -> empty dict). */
static PyObject *
copy_headers(PyObject *src)
{
    PyObject *d = PyDict_New(), *items = NULL, *it = NULL, *pair;
    if (d == NULL || src == Py_None)
        return d;
    items = PyMapping_Items(src);
    if (items == NULL) {
        if (PyErr_ExceptionMatches(PyExc_AttributeError) ||
            PyErr_ExceptionMatches(PyExc_TypeError)) {
            PyErr_Clear();
            PyErr_SetString(PyExc_TypeError,
                            "headers must be a mapping of str to str");
        }
        goto fail;
    }
    it = PyObject_GetIter(items);
    if (it == NULL)
        goto fail;
    while ((pair = PyIter_Next(it)) != NULL) {
        PyObject *k, *v;
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
            Py_DECREF(pair);
            PyErr_SetString(PyExc_TypeError, "headers items must be pairs");
            goto fail;
        }
        k = PyTuple_GET_ITEM(pair, 0);
        v = PyTuple_GET_ITEM(pair, 1);
        if (!PyUnicode_Check(k) || !PyUnicode_Check(v)) {
            Py_DECREF(pair);
            PyErr_SetString(PyExc_TypeError,
                            "headers must be a mapping of str to str");
            goto fail;
        }
        if (PyDict_SetItem(d, k, v) < 0) {
            Py_DECREF(pair);
            goto fail;
        }
        Py_DECREF(pair);
    }
    if (PyErr_Occurred())
        goto fail;
    Py_DECREF(it);
    Py_DECREF(items);
    return d;
fail:
    Py_XDECREF(it);
    Py_XDECREF(items);
    Py_XDECREF(d);
    return NULL;
}

static const char *
utf8_or_value_error(PyObject *s, const char *what)
{
    const char *p = PyUnicode_AsUTF8(s);
    if (p == NULL && PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) {
        PyErr_Clear();
        PyErr_Format(PyExc_ValueError, "%s is not valid Unicode", what);
    }
    if (p != NULL && strlen(p) != (size_t)PyUnicode_GET_LENGTH(s) &&
        memchr(p, 0, strlen(p) + 1) != p + strlen(p)) {
        PyErr_Format(PyExc_ValueError, "%s contains NUL", what);
        return NULL;
    }
    return p;
}

static int
has_nul(PyObject *s)
{
    return PyUnicode_FindChar(s, 0, 0, PyUnicode_GET_LENGTH(s), 1) >= 0;
}

static PyObject *
transport_tp_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"base_url", "secret",     "timeout",
                             "verify",   "headers",    "user_agent",
                             "sdk_type", "sdk_version", NULL};
    PyObject *base_url, *secret, *verify = Py_True, *headers = Py_None;
    PyObject *verify_obj = NULL;
    double timeout = 30.0;
    const char *ua = NULL, *stype = NULL, *sver = NULL, *bu, *sec;
    const char *ca = NULL;
    struct b24_http_config cfg;
    struct b24_error err;
    TransportObject *self;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "UU|$dOOzzz:Transport",
                                     kwlist, &base_url, &secret, &timeout,
                                     &verify, &headers, &ua, &stype, &sver))
        return NULL;
    if (ua == NULL || stype == NULL || sver == NULL) {
        PyErr_SetString(PyExc_TypeError,
                        "Transport() requires the keyword-only arguments "
                        "user_agent, sdk_type and sdk_version");
        return NULL;
    }
    if (check_timeout(timeout) < 0)
        return NULL;
    if (PyBool_Check(verify)) {
        verify_obj = Py_NewRef(verify);
    } else if (PyUnicode_Check(verify)) {
        verify_obj = Py_NewRef(verify);
    } else {
        PyObject *p = PyOS_FSPath(verify);
        if (p == NULL || !PyUnicode_Check(p)) {
            Py_XDECREF(p);
            PyErr_Clear();
            PyErr_SetString(PyExc_TypeError,
                            "verify must be a bool or a CA bundle path");
            return NULL;
        }
        verify_obj = p;
    }
    if (has_nul(base_url) || has_nul(secret)) {
        Py_DECREF(verify_obj);
        PyErr_SetString(PyExc_ValueError, "base_url and secret must not "
                                          "contain NUL");
        return NULL;
    }
    bu = utf8_or_value_error(base_url, "base_url");
    sec = bu ? utf8_or_value_error(secret, "secret") : NULL;
    if (PyUnicode_Check(verify_obj) && sec != NULL) {
        ca = utf8_or_value_error(verify_obj, "verify");
        if (ca == NULL) {
            Py_DECREF(verify_obj);
            return NULL;
        }
    }
    if (bu == NULL || sec == NULL) {
        Py_DECREF(verify_obj);
        return NULL;
    }

    self = (TransportObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        Py_DECREF(verify_obj);
        return NULL;
    }
    self->state = PyType_GetModuleState(type);
    self->verify = verify_obj;
    self->timeout = timeout;
    self->headers = copy_headers(headers);
    if (self->headers == NULL)
        goto fail;
    self->user_agent = pymem_strdup(ua);
    self->sdk_type = pymem_strdup(stype);
    self->sdk_version = pymem_strdup(sver);
    if (!self->user_agent || !self->sdk_type || !self->sdk_version)
        goto fail;

    memset(&cfg, 0, sizeof(cfg));
    cfg.base_url = bu;
    cfg.secret = sec;
    cfg.verify = verify_obj != Py_False;
    cfg.ca_path = ca;
    cfg.max_redirects = -1;
    memset(&err, 0, sizeof(err));
    self->http = b24_http_new(&cfg, &err);
    if (self->http == NULL) {
        ext_raise_status(err.status, err.message, NULL);
        goto fail;
    }
    return (PyObject *)self;
fail:
    Py_DECREF(self);
    return NULL;
}

static int
transport_tp_traverse(TransportObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->verify);
    Py_VISIT(self->headers);
    return 0;
}

static int
transport_tp_clear(TransportObject *self)
{
    Py_CLEAR(self->verify);
    Py_CLEAR(self->headers);
    return 0;
}

static void
transport_tp_dealloc(TransportObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    transport_tp_clear(self);
    if (self->http != NULL) {
        b24_http_close(self->http);
        b24_http_decref(self->http);
        self->http = NULL;
    }
    PyMem_Free(self->user_agent);
    PyMem_Free(self->sdk_type);
    PyMem_Free(self->sdk_version);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

/* ---- perform ----------------------------------------------------------- */

/* Minimal METH_FASTCALL|METH_KEYWORDS parser: `names` lists every
 * parameter; the first `npos` may be positional; the first `nreq` are
 * required.  out[] receives borrowed references (NULL when absent). */
static int
parse_fast(const char *fname, PyObject *const *args, Py_ssize_t nargs,
           PyObject *kwnames, const char *const *names, int nnames,
           int npos, int nreq, PyObject **out)
{
    Py_ssize_t i, nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    int j;
    for (j = 0; j < nnames; j++)
        out[j] = NULL;
    if (nargs > npos) {
        PyErr_Format(PyExc_TypeError,
                     "%s() takes at most %d positional arguments (%zd given)",
                     fname, npos, nargs);
        return -1;
    }
    for (i = 0; i < nargs; i++)
        out[i] = args[i];
    for (i = 0; i < nkw; i++) {
        PyObject *kw = PyTuple_GET_ITEM(kwnames, i);
        int found = 0;
        for (j = 0; j < nnames; j++) {
            if (PyUnicode_CompareWithASCIIString(kw, names[j]) == 0) {
                if (out[j] != NULL) {
                    PyErr_Format(PyExc_TypeError,
                                 "%s() got multiple values for argument "
                                 "'%s'", fname, names[j]);
                    return -1;
                }
                out[j] = args[nargs + i];
                found = 1;
                break;
            }
        }
        if (!found) {
            PyErr_Format(PyExc_TypeError,
                         "%s() got an unexpected keyword argument '%U'",
                         fname, kw);
            return -1;
        }
    }
    for (j = 0; j < nreq; j++) {
        if (out[j] == NULL) {
            PyErr_Format(PyExc_TypeError,
                         "%s() missing required argument '%s'", fname,
                         names[j]);
            return -1;
        }
    }
    return 0;
}

static PyObject *
text_or_none(const char *s)
{
    if (s == NULL)
        Py_RETURN_NONE;
    return PyUnicode_DecodeUTF8(s, (Py_ssize_t)strlen(s), "replace");
}

static PyObject *
header_text(const char *s)
{
    PyObject *r = PyUnicode_DecodeUTF8(s, (Py_ssize_t)strlen(s), NULL);
    if (r == NULL && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
        PyErr_Clear();
        r = PyUnicode_DecodeLatin1(s, (Py_ssize_t)strlen(s), NULL);
    }
    return r;
}

static PyObject *
build_outcome(struct mod_state *st, struct b24_outcome *o)
{
    PyObject *res = NULL, *answer = NULL, *headers = NULL, *v;
    size_t i;

    if (o->answer != NULL) {
        answer = conv_decode_json(o->answer, o->answer_len);
        if (answer == NULL) {
            if (!PyErr_ExceptionMatches(PyExc_ValueError))
                return NULL;
            PyErr_Clear();
            if (b24_outcome_set(o, B24_KIND_ERROR, "ERROR_UNEXPECTED_ANSWER",
                                "Unexpected answer: the body is not valid "
                                "UTF-8") != B24_OK)
                return PyErr_NoMemory();
        }
    }
    if (answer == NULL)
        answer = Py_NewRef(Py_None);
    headers = PyDict_New();
    if (headers == NULL)
        goto fail;
    for (i = 0; i < o->nheaders; i++) {
        PyObject *k = header_text(o->headers[i].name);
        PyObject *hv = k ? header_text(o->headers[i].value) : NULL;
        int rc = hv ? PyDict_SetItem(headers, k, hv) : -1;
        Py_XDECREF(k);
        Py_XDECREF(hv);
        if (rc < 0)
            goto fail;
    }
    res = PyStructSequence_New(st->outcome_type);
    if (res == NULL)
        goto fail;
#define SET(i_, expr_)                                                    \
    do {                                                                  \
        v = (expr_);                                                      \
        if (v == NULL)                                                    \
            goto fail;                                                    \
        PyStructSequence_SetItem(res, (i_), v);                           \
    } while (0)
    SET(0, PyLong_FromLong((long)o->kind));
    SET(1, PyLong_FromLong(o->status));
    PyStructSequence_SetItem(res, 2, answer); /* steals */
    answer = NULL;
    SET(3, text_or_none(o->code));
    SET(4, text_or_none(o->message));
    SET(5, PyBool_FromLong(o->maybe_sent));
    SET(6, PyFloat_FromDouble(o->elapsed_ms));
    SET(7, text_or_none(o->detail));
    PyStructSequence_SetItem(res, 8, headers); /* steals */
    headers = NULL;
#undef SET
    return res;
fail:
    Py_XDECREF(answer);
    Py_XDECREF(headers);
    Py_XDECREF(res);
    return NULL;
}

/* Phase 1 of a call (GIL held): body, URL and headers into `req`.
 * 0, or -1 with an exception set. */
static int
build_request(TransportObject *self, PyObject *method_obj, PyObject *params,
              PyObject *rid_obj, PyObject *ikey_obj, PyObject *timeout_obj,
              struct b24_request *req)
{
    struct mod_state *st = self->state;
    struct b24_header_ref *hrefs = NULL;
    struct b24_error err;
    const char *method, *rid, *ikey = NULL;
    Py_ssize_t mlen, nh = 0;
    double timeout = self->timeout;
    PyObject *hitems = NULL;
    enum b24_status rc;
    int ret = -1;

    if (!PyUnicode_Check(method_obj) || !PyUnicode_Check(rid_obj)) {
        PyErr_SetString(PyExc_TypeError,
                        "method and request_id must be str");
        return -1;
    }
    if (ikey_obj != NULL && ikey_obj != Py_None && !PyUnicode_Check(ikey_obj)) {
        PyErr_SetString(PyExc_TypeError, "idempotency_key must be str");
        return -1;
    }
    if (timeout_obj != NULL && timeout_obj != Py_None) {
        timeout = PyFloat_AsDouble(timeout_obj);
        if (timeout == -1.0 && PyErr_Occurred())
            return -1;
        if (check_timeout(timeout) < 0)
            return -1;
    }
    if (self->http == NULL || b24_http_closed(self->http)) {
        PyErr_SetString(st->closed_error, "the transport is closed");
        return -1;
    }
    method = PyUnicode_AsUTF8AndSize(method_obj, &mlen);
    if (method == NULL)
        return -1;
    rid = PyUnicode_AsUTF8(rid_obj);
    if (rid == NULL)
        return -1;
    if (ikey_obj != NULL && ikey_obj != Py_None &&
        (ikey = PyUnicode_AsUTF8(ikey_obj)) == NULL)
        return -1;
    memset(&err, 0, sizeof(err));

    if (params == Py_None) {
        if (b24_buf_appends(&req->body, "{}") != B24_OK) {
            PyErr_NoMemory();
            goto done;
        }
    } else if (PyDict_Check(params) || PyList_Check(params) ||
               PyTuple_Check(params)) {
        if (conv_encode(st, params, &req->body,
                        CONV_LIST_AS_OBJECT | CONV_DROP_DATA_START) < 0)
            goto done;
    } else {
        PyErr_Format(st->params_error,
                     "params must be a dict, a list or None, not %.100s",
                     Py_TYPE(params)->tp_name);
        goto done;
    }
    if (b24_url_build_call(&req->url, b24_http_base_url(self->http), method,
                           (size_t)mlen, rid, self->sdk_version,
                           self->sdk_type) != B24_OK) {
        PyErr_NoMemory();
        goto done;
    }
    hitems = PyDict_Items(self->headers);
    if (hitems == NULL)
        goto done;
    nh = PyList_GET_SIZE(hitems);
    if (nh > 0) {
        Py_ssize_t i;
        hrefs = PyMem_Calloc((size_t)nh, sizeof(*hrefs));
        if (hrefs == NULL) {
            PyErr_NoMemory();
            goto done;
        }
        for (i = 0; i < nh; i++) {
            PyObject *pair = PyList_GET_ITEM(hitems, i);
            hrefs[i].name = PyUnicode_AsUTF8(PyTuple_GET_ITEM(pair, 0));
            hrefs[i].value = PyUnicode_AsUTF8(PyTuple_GET_ITEM(pair, 1));
            if (hrefs[i].name == NULL || hrefs[i].value == NULL)
                goto done;
        }
    }
    rc = b24_request_set_headers(req, self->user_agent, hrefs, (size_t)nh,
                                 ikey, &err);
    if (rc != B24_OK) {
        ext_raise_status(rc, rc == B24_E_NOMEM ? NULL : err.message, NULL);
        goto done;
    }
    req->timeout_ms = (long)ceil(timeout * 1000.0);
    if (req->timeout_ms < 1)
        req->timeout_ms = 1;
    ret = 0;
done:
    Py_XDECREF(hitems);
    PyMem_Free(hrefs);
    return ret;
}

/* The result of a perform/call: the outcome dict, or the exception for a
 * status the core could not turn into an outcome. */
static PyObject *
outcome_or_raise(struct mod_state *st, enum b24_status rc,
                 struct b24_outcome *out)
{
    if (rc != B24_OK)
        return ext_raise_status(rc, "transport failure", NULL);
    return build_outcome(st, out);
}

static PyObject *
transport_perform(TransportObject *self, PyObject *const *args,
                  Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"method", "params", "request_id",
                                        "idempotency_key", "timeout"};
    PyObject *a[5];
    struct b24_request req;
    struct b24_outcome out;
    struct b24_http *http = NULL;
    PyObject *result = NULL;
    enum b24_status rc;

    if (parse_fast("perform", args, nargs, kwnames, names, 5, 3, 3, a) < 0)
        return NULL;
    b24_request_init(&req);
    b24_outcome_init(&out);
    if (build_request(self, a[0], a[1], a[2], a[3], a[4], &req) < 0)
        goto done;

    /* Phase 2 (GIL released): the exchange and the JSON parse.  Our own
     * reference keeps the core client alive if close() runs meanwhile. */
    http = self->http;
    b24_http_incref(http);
    Py_BEGIN_ALLOW_THREADS
    rc = b24_http_perform(http, &req, &out);
    Py_END_ALLOW_THREADS
    b24_http_decref(http);
    /* Phase 3 (GIL held): convert. */
    result = outcome_or_raise(self->state, rc, &out);
done:
    b24_request_clear(&req);
    b24_outcome_clear(&out);
    return result;
}

/* ---- Limiter: the restriction manager of one transport (b24_limiter) -- */

typedef struct {
    PyObject_HEAD
    struct b24_limiter *lim; /* owned */
} LimiterObject;

static void limiter_tp_dealloc(LimiterObject *self);

static int
is_limiter(PyObject *o)
{
    return Py_TYPE(o)->tp_dealloc == (destructor)limiter_tp_dealloc;
}

/* Number `key` of mapping `sec` into *out (absent/None: unchanged). */
static int
cfg_num(PyObject *sec, const char *key, double *out)
{
    PyObject *v;
    double d;
    if (sec == NULL || !PyDict_Check(sec))
        return 0;
    v = PyDict_GetItemString(sec, key);
    if (v == NULL || v == Py_None)
        return 0;
    d = PyFloat_AsDouble(v);
    if (d == -1.0 && PyErr_Occurred()) {
        PyErr_Format(PyExc_TypeError, "restriction param %s must be a number",
                     key);
        return -1;
    }
    *out = d;
    return 0;
}

static int
cfg_bool(PyObject *sec, const char *key, int *out)
{
    PyObject *v;
    int b;
    if (sec == NULL || !PyDict_Check(sec))
        return 0;
    v = PyDict_GetItemString(sec, key);
    if (v == NULL || v == Py_None)
        return 0;
    b = PyObject_IsTrue(v);
    if (b < 0)
        return -1;
    *out = b;
    return 0;
}

/* A list of str as a PyMem array of borrowed UTF-8 pointers; `*hold`
 * keeps the items alive. */
static int
cfg_codes(PyObject *params, const char *key, const char ***out, size_t *n,
          PyObject **hold)
{
    PyObject *v = PyDict_GetItemString(params, key), *fast;
    Py_ssize_t i, len;
    *out = NULL;
    *n = 0;
    *hold = NULL;
    if (v == NULL || v == Py_None)
        return 0;
    fast = PySequence_Fast(v, "error code lists must be sequences of str");
    if (fast == NULL)
        return -1;
    len = PySequence_Fast_GET_SIZE(fast);
    if (len > 0) {
        *out = PyMem_Calloc((size_t)len, sizeof(**out));
        if (*out == NULL) {
            Py_DECREF(fast);
            PyErr_NoMemory();
            return -1;
        }
    }
    for (i = 0; i < len; i++) {
        PyObject *it = PySequence_Fast_GET_ITEM(fast, i);
        const char *c = PyUnicode_Check(it) ? PyUnicode_AsUTF8(it) : NULL;
        if (c == NULL) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_TypeError, "error codes must be str");
            PyMem_Free(*out);
            *out = NULL;
            Py_DECREF(fast);
            return -1;
        }
        (*out)[i] = c;
    }
    *n = (size_t)len;
    *hold = fast;
    return 0;
}

/* Apply a (filled) RestrictionParams dict: new limiter when *lim is NULL,
 * else configure.  0 or -1 with an exception. */
static int
apply_params(PyObject *params, struct b24_limiter **lim)
{
    struct b24_limits_config c;
    struct b24_error err;
    PyObject *rate, *op, *ad, *v, *hh = NULL, *hs = NULL;
    const char **hard = NULL, **soft = NULL;
    double d;
    int ret = -1;

    b24_limits_config_default(&c);
    memset(&err, 0, sizeof(err));
    if (params != NULL && params != Py_None) {
        if (!PyDict_Check(params)) {
            PyErr_SetString(PyExc_TypeError,
                            "restriction params must be a dict");
            return -1;
        }
        rate = PyDict_GetItemString(params, "rate_limit");
        op = PyDict_GetItemString(params, "operating_limit");
        ad = PyDict_GetItemString(params, "adaptive_config");
        if (cfg_num(rate, "burst_limit", &c.burst_limit) ||
            cfg_num(rate, "drain_rate", &c.drain_rate) ||
            cfg_bool(rate, "adaptive_enabled", &c.rate_adaptive) ||
            cfg_num(op, "window_ms", &c.window_ms) ||
            cfg_num(op, "limit_ms", &c.limit_ms) ||
            cfg_num(op, "heavy_percent", &c.heavy_percent) ||
            cfg_bool(ad, "enabled", &c.adaptive_enabled) ||
            cfg_num(ad, "threshold_percent", &c.threshold_percent) ||
            cfg_num(ad, "coefficient", &c.coefficient) ||
            cfg_num(ad, "max_delay", &c.max_delay) ||
            cfg_num(params, "retry_delay", &c.retry_delay))
            return -1;
        d = c.max_retries;
        if (cfg_num(params, "max_retries", &d))
            return -1;
        c.max_retries = d > 1e6 ? 1000000 : (d < -1e6 ? -1000000 : (int)d);
        v = PyDict_GetItemString(params, "retry_on_network_error");
        if (v != NULL && v != Py_None) {
            if (PyUnicode_Check(v)) {
                if (PyUnicode_CompareWithASCIIString(v, "always") != 0) {
                    PyErr_SetString(PyExc_ValueError,
                                    "retry_on_network_error must be True, "
                                    "False or \"always\"");
                    return -1;
                }
                c.net_retry = B24_NET_RETRY_ALWAYS;
            } else {
                int b = PyObject_IsTrue(v);
                if (b < 0)
                    return -1;
                c.net_retry = b ? B24_NET_RETRY_SAFE : B24_NET_RETRY_NEVER;
            }
        }
        if (cfg_codes(params, "hard_error_codes", &hard, &c.nhard, &hh) ||
            cfg_codes(params, "soft_error_codes", &soft, &c.nsoft, &hs))
            goto done;
        c.hard_codes = hard;
        c.soft_codes = soft;
    }
    if (*lim == NULL) {
        *lim = b24_limiter_new(&c, NULL, NULL, NULL, NULL, &err);
        if (*lim == NULL) {
            ext_raise_status(err.status, err.message, NULL);
            goto done;
        }
    } else if (b24_limiter_configure(*lim, &c, &err) != B24_OK) {
        ext_raise_status(err.status, err.message, NULL);
        goto done;
    }
    ret = 0;
done:
    PyMem_Free(hard);
    PyMem_Free(soft);
    Py_XDECREF(hh);
    Py_XDECREF(hs);
    return ret;
}

static PyObject *
limiter_tp_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"params", NULL};
    PyObject *params = Py_None;
    LimiterObject *self;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O:Limiter", kwlist,
                                     &params))
        return NULL;
    self = (LimiterObject *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    if (apply_params(params, &self->lim) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static void
limiter_tp_dealloc(LimiterObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    b24_limiter_free(self->lim);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static PyObject *
limiter_configure(LimiterObject *self, PyObject *params)
{
    if (apply_params(params, &self->lim) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *
limiter_is_hard(LimiterObject *self, PyObject *code)
{
    const char *c = PyUnicode_Check(code) ? PyUnicode_AsUTF8(code) : NULL;
    if (c == NULL) {
        PyErr_Clear();
        Py_RETURN_FALSE;
    }
    return PyBool_FromLong(b24_limiter_is_hard(self->lim, c));
}

static PyObject *
limiter_is_soft(LimiterObject *self, PyObject *code)
{
    const char *c = PyUnicode_Check(code) ? PyUnicode_AsUTF8(code) : NULL;
    if (c == NULL) {
        PyErr_Clear();
        Py_RETURN_FALSE;
    }
    return PyBool_FromLong(b24_limiter_is_soft(self->lim, c));
}

static PyObject *
limiter_reserve(LimiterObject *self, PyObject *Py_UNUSED(ignored))
{
    return PyFloat_FromDouble(b24_limiter_reserve(self->lim));
}

/* batch_methods (None or a sequence of str) -> names; *hold keeps them. */
static int
batch_names(PyObject *obj, struct b24_call_methods *bm, PyObject **hold)
{
    const char **names;
    PyObject *fast;
    Py_ssize_t i, n;
    bm->names = NULL;
    bm->n = 0;
    *hold = NULL;
    if (obj == NULL || obj == Py_None)
        return 0;
    fast = PySequence_Fast(obj, "batch_methods must be a sequence of str");
    if (fast == NULL)
        return -1;
    n = PySequence_Fast_GET_SIZE(fast);
    names = PyMem_Calloc((size_t)n + 1, sizeof(*names));
    if (names == NULL) {
        Py_DECREF(fast);
        PyErr_NoMemory();
        return -1;
    }
    for (i = 0; i < n; i++) {
        PyObject *it = PySequence_Fast_GET_ITEM(fast, i);
        names[i] = PyUnicode_Check(it) ? PyUnicode_AsUTF8(it) : NULL;
        if (names[i] == NULL) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_TypeError,
                                "batch_methods must be a sequence of str");
            PyMem_Free(names);
            Py_DECREF(fast);
            return -1;
        }
    }
    bm->names = names;
    bm->n = (size_t)n;
    *hold = fast;
    return 0;
}

static void
batch_names_free(struct b24_call_methods *bm, PyObject *hold)
{
    PyMem_Free((void *)bm->names);
    Py_XDECREF(hold);
}

static PyObject *
limiter_operating_wait(LimiterObject *self, PyObject *args)
{
    const char *method;
    PyObject *bobj = Py_None, *hold;
    struct b24_call_methods bm;
    enum b24_gate g;
    double w;
    if (!PyArg_ParseTuple(args, "s|O:operating_wait", &method, &bobj))
        return NULL;
    if (batch_names(bobj, &bm, &hold) < 0)
        return NULL;
    w = b24_limiter_operating_wait(self->lim, method, &bm, &g);
    batch_names_free(&bm, hold);
    return Py_BuildValue("(ds)", w, b24_gate_title(g));
}

/* time dict -> record_success; returns (restored, heavy) */
static int
feed_time(struct b24_limiter *lim, const char *name, PyObject *t,
          int *restored, int *heavy)
{
    PyObject *op, *ra;
    double o = 0, r = 0;
    int hop = 0, hra = 0;
    *restored = *heavy = 0;
    if (t == NULL || !PyDict_Check(t))
        return 0;
    op = PyDict_GetItemString(t, "operating");
    ra = PyDict_GetItemString(t, "operating_reset_at");
    if (op != NULL && (PyFloat_Check(op) || PyLong_Check(op)) &&
        !PyBool_Check(op)) {
        o = PyFloat_AsDouble(op);
        if (o == -1.0 && PyErr_Occurred())
            return -1;
        hop = 1;
    }
    if (ra != NULL && (PyFloat_Check(ra) || PyLong_Check(ra)) &&
        !PyBool_Check(ra)) {
        r = PyFloat_AsDouble(ra);
        if (r == -1.0 && PyErr_Occurred())
            return -1;
        hra = 1;
    }
    b24_limiter_record_success(lim, name, hop, o, hra, r, restored, heavy);
    return 0;
}

static PyObject *
limiter_record_success(LimiterObject *self, PyObject *args)
{
    const char *method;
    PyObject *t;
    int restored, heavy;
    if (!PyArg_ParseTuple(args, "sO:record_success", &method, &t))
        return NULL;
    if (feed_time(self->lim, method, t, &restored, &heavy) < 0)
        return NULL;
    return Py_BuildValue("(OO)", restored ? Py_True : Py_False,
                         heavy ? Py_True : Py_False);
}

static const char *
reason_name(int r)
{
    switch (r) {
    case B24_RETRY_RATE:
        return "rate";
    case B24_RETRY_OPERATING:
        return "operating";
    case B24_RETRY_CLIENT_ERROR:
        return "client_error";
    case B24_RETRY_HARD_OR_SOFT:
        return "hard";
    case B24_RETRY_UNSAFE_WRITE:
        return "unsafe_write";
    case B24_RETRY_REDIRECT:
        return "redirect";
    default:
        return "backoff";
    }
}

static PyObject *
limiter_retry_wait(LimiterObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"status", "code", "message", "attempt",
                             "method", "is_write", "idempotent",
                             "maybe_sent", "batch_methods", NULL};
    struct b24_retry_input in;
    struct b24_retry_decision d;
    struct b24_call_methods bm;
    PyObject *bobj = Py_None, *hold;
    const char *code = NULL, *msg = NULL;
    unsigned int attempt;
    long status;
    memset(&in, 0, sizeof(in));
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "lzzIs|pppO:retry_wait",
                                     kwlist, &status, &code, &msg, &attempt,
                                     &in.method, &in.is_write,
                                     &in.idempotent, &in.maybe_sent, &bobj))
        return NULL;
    if (batch_names(bobj, &bm, &hold) < 0)
        return NULL;
    in.status = status;
    in.code = code ? code : "";
    in.message = msg;
    in.attempt = attempt;
    in.batch = &bm;
    b24_retry_decide(self->lim, &in, &d);
    batch_names_free(&bm, hold);
    return Py_BuildValue("(dsO)", d.wait_ms, reason_name((int)d.reason),
                         d.rate_lowered ? Py_True : Py_False);
}

static PyObject *
limiter_note_attempt(LimiterObject *self, PyObject *args)
{
    const char *method, *msg = NULL;
    int ok;
    double elapsed;
    if (!PyArg_ParseTuple(args, "spzd:note_attempt", &method, &ok, &msg,
                          &elapsed))
        return NULL;
    b24_metrics_attempt(self->lim, method, ok, msg, elapsed);
    Py_RETURN_NONE;
}

static PyObject *
limiter_note_limit_hit(LimiterObject *self, PyObject *Py_UNUSED(ignored))
{
    b24_metrics_limit_hit(self->lim);
    Py_RETURN_NONE;
}

static PyObject *
limiter_note_retry(LimiterObject *self, PyObject *Py_UNUSED(ignored))
{
    b24_metrics_retry(self->lim);
    Py_RETURN_NONE;
}

static PyObject *
limiter_reset(LimiterObject *self, PyObject *Py_UNUSED(ignored))
{
    b24_limiter_reset(self->lim);
    Py_RETURN_NONE;
}

static int
dict_set_num(PyObject *d, const char *k, double v, int as_int)
{
    PyObject *o = as_int ? PyLong_FromDouble(v) : PyFloat_FromDouble(v);
    int rc = o ? PyDict_SetItemString(d, k, o) : -1;
    Py_XDECREF(o);
    return rc;
}

/* Integral values as int, others as float (JS numbers). */
static int
is_js_int(double v)
{
    return v == floor(v) && fabs(v) < 9e15;
}

static int
dict_set_js(PyObject *d, const char *k, double v)
{
    return dict_set_num(d, k, v, is_js_int(v));
}

static PyObject *
js_num(double v)
{
    return is_js_int(v) ? PyLong_FromDouble(v) : PyFloat_FromDouble(v);
}

/* Limiter.defaults(): the §9.1 preset of b24_limits_config_default() as a
 * fresh RestrictionParams dict -- the one table the Python presets start
 * from.  Py_BuildValue releases the N items if one of them is NULL. */
static PyObject *
limiter_defaults(PyObject *Py_UNUSED(cls), PyObject *Py_UNUSED(ignored))
{
    struct b24_limits_config c;
    PyObject *net;
    b24_limits_config_default(&c);
    net = c.net_retry == B24_NET_RETRY_ALWAYS
              ? PyUnicode_FromString("always")
              : PyBool_FromLong(c.net_retry != B24_NET_RETRY_NEVER);
    return Py_BuildValue(
        "{s:{s:N,s:N,s:N},s:{s:N,s:N,s:N},s:{s:N,s:N,s:N,s:N},"
        "s:i,s:N,s:N,s:[],s:[]}",
        "rate_limit", "burst_limit", js_num(c.burst_limit), "drain_rate",
        js_num(c.drain_rate), "adaptive_enabled", PyBool_FromLong(c.rate_adaptive),
        "operating_limit", "window_ms", js_num(c.window_ms), "limit_ms",
        js_num(c.limit_ms), "heavy_percent", js_num(c.heavy_percent),
        "adaptive_config", "enabled", PyBool_FromLong(c.adaptive_enabled),
        "threshold_percent", js_num(c.threshold_percent), "coefficient",
        js_num(c.coefficient), "max_delay", js_num(c.max_delay),
        "max_retries", c.max_retries, "retry_delay", js_num(c.retry_delay),
        "retry_on_network_error", net, "hard_error_codes",
        "soft_error_codes");
}

static PyObject *
limiter_stats(LimiterObject *self, PyObject *Py_UNUSED(ignored))
{
    struct b24_limiter_stats s;
    PyObject *d = NULL, *sub = NULL, *lst = NULL;
    size_t i;
    if (b24_limiter_stats(self->lim, &s) != B24_OK)
        return PyErr_NoMemory();
    d = PyDict_New();
    if (d == NULL)
        goto fail;
#define NUM(k_, v_)                                                       \
    if (dict_set_js(d, k_, v_) < 0)                                       \
        goto fail;
    NUM("retries", s.retries)
    NUM("consecutive_errors", s.consecutive_errors)
    NUM("limit_hits", s.limit_hits)
    if (dict_set_num(d, "tokens", s.tokens, 0) < 0)
        goto fail;
    NUM("burst_limit", s.burst_limit)
    NUM("original_burst_limit", s.original_burst_limit)
    NUM("drain_rate", s.drain_rate)
    NUM("original_drain_rate", s.original_drain_rate)
    if (dict_set_num(d, "refill_interval_ms", s.refill_interval_ms, 0) < 0)
        goto fail;
    NUM("last_refill", floor(s.last_refill))
    NUM("pending_requests", s.pending_requests)
    NUM("recent_errors", s.recent_errors)
    NUM("recent_successes", s.recent_successes)
    NUM("adaptive_delays", s.adaptive_delays)
    NUM("total_adaptive_delay", s.total_adaptive_delay)
    NUM("adaptive_delay_avg", s.adaptive_delay_avg)
    NUM("heavy_request_count", s.heavy_request_count)
    NUM("total_requests", s.total_requests)
    NUM("successful_requests", s.successful_requests)
    NUM("failed_requests", s.failed_requests)
    if (dict_set_num(d, "total_duration", s.total_duration, 0) < 0)
        goto fail;
#undef NUM
    sub = PyDict_New();
    if (sub == NULL)
        goto fail;
    for (i = 0; i < s.noperating; i++)
        if (dict_set_num(sub, s.operating[i].method, s.operating[i].count,
                         0) < 0)
            goto fail;
    if (PyDict_SetItemString(d, "operating_stats", sub) < 0)
        goto fail;
    Py_CLEAR(sub);
    sub = PyDict_New();
    if (sub == NULL)
        goto fail;
    for (i = 0; i < s.nerror_counts; i++)
        if (dict_set_num(sub, s.error_counts[i].method,
                         s.error_counts[i].count, 1) < 0)
            goto fail;
    if (PyDict_SetItemString(d, "error_counts", sub) < 0)
        goto fail;
    Py_CLEAR(sub);
    sub = PyDict_New();
    if (sub == NULL)
        goto fail;
    for (i = 0; i < s.nby_method; i++) {
        PyObject *e = Py_BuildValue("{s:n,s:d}", "count",
                                    (Py_ssize_t)s.by_method[i].count,
                                    "total_duration",
                                    s.by_method[i].total_duration);
        int rc = e ? PyDict_SetItemString(sub, s.by_method[i].method, e)
                   : -1;
        Py_XDECREF(e);
        if (rc < 0)
            goto fail;
    }
    if (PyDict_SetItemString(d, "by_method", sub) < 0)
        goto fail;
    Py_CLEAR(sub);
    lst = PyList_New(0);
    if (lst == NULL)
        goto fail;
    for (i = 0; i < s.nlast_errors; i++) {
        PyObject *e = Py_BuildValue(
            "{s:s,s:N,s:L}", "method", s.last_errors[i].method, "error",
            PyUnicode_DecodeUTF8(s.last_errors[i].error,
                                 (Py_ssize_t)strlen(s.last_errors[i].error),
                                 "replace"),
            "timestamp", (long long)s.last_errors[i].timestamp);
        int rc = e ? PyList_Append(lst, e) : -1;
        Py_XDECREF(e);
        if (rc < 0)
            goto fail;
    }
    if (PyDict_SetItemString(d, "last_errors", lst) < 0)
        goto fail;
    Py_DECREF(lst);
    b24_limiter_stats_clear(&s);
    return d;
fail:
    Py_XDECREF(sub);
    Py_XDECREF(lst);
    Py_XDECREF(d);
    b24_limiter_stats_clear(&s);
    return NULL;
}

static PyObject *
limiter_get_max_retries(LimiterObject *self, void *Py_UNUSED(c))
{
    return PyLong_FromLong(b24_limiter_max_retries(self->lim));
}

static PyMethodDef limiter_methods[] = {
    {"defaults", (PyCFunction)limiter_defaults, METH_NOARGS | METH_STATIC,
     "defaults()\n--\n\nThe default preset (spec §9.1) as a fresh "
     "RestrictionParams dict."},
    {"configure", (PyCFunction)limiter_configure, METH_O,
     "configure($self, params, /)\n--\n\nReplace the configuration (a "
     "filled RestrictionParams dict); keeps the state, clears the rate "
     "histories."},
    {"is_hard", (PyCFunction)limiter_is_hard, METH_O,
     "is_hard($self, code, /)\n--\n\n"},
    {"is_soft", (PyCFunction)limiter_is_soft, METH_O,
     "is_soft($self, code, /)\n--\n\n"},
    {"reserve", (PyCFunction)limiter_reserve, METH_NOARGS,
     "reserve($self, /)\n--\n\nRate gate: 0 (token taken) or ms to wait."},
    {"operating_wait", (PyCFunction)limiter_operating_wait, METH_VARARGS,
     "operating_wait($self, method, batch_methods=None, /)\n--\n\n"
     "(ms, limiter title): operating gate, else the adaptive delay."},
    {"record_success", (PyCFunction)limiter_record_success, METH_VARARGS,
     "record_success($self, method, time, /)\n--\n\nFeed a successful "
     "answer's time dict; returns (rates_restored, heavy)."},
    {"retry_wait", (PyCFunction)(void (*)(void))limiter_retry_wait,
     METH_VARARGS | METH_KEYWORDS,
     "retry_wait($self, status, code, message, attempt, method, is_write="
     "False, idempotent=False, maybe_sent=False, batch_methods=None)\n--\n\n"
     "(ms, reason, rate_lowered): the §9.5 policy; 0 ms = stop."},
    {"note_attempt", (PyCFunction)limiter_note_attempt, METH_VARARGS,
     "note_attempt($self, method, ok, message, elapsed_ms, /)\n--\n\n"},
    {"note_limit_hit", (PyCFunction)limiter_note_limit_hit, METH_NOARGS,
     "note_limit_hit($self, /)\n--\n\n"},
    {"note_retry", (PyCFunction)limiter_note_retry, METH_NOARGS,
     "note_retry($self, /)\n--\n\n"},
    {"stats", (PyCFunction)limiter_stats, METH_NOARGS,
     "stats($self, /)\n--\n\nEvery key of spec §9.6."},
    {"reset", (PyCFunction)limiter_reset, METH_NOARGS,
     "reset($self, /)\n--\n\nZero the metrics and all limiter state."},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef limiter_getset[] = {
    {"max_retries", (getter)limiter_get_max_retries, NULL,
     "Attempts per call (the current configuration).", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyType_Slot limiter_slots[] = {
    {Py_tp_doc, "Limiter(params=None)\n--\n\nThe restriction manager of one "
                "transport (rate, operating, adaptive, retry, metrics); "
                "thread-safe, state in C."},
    {Py_tp_new, limiter_tp_new},
    {Py_tp_dealloc, limiter_tp_dealloc},
    {Py_tp_methods, limiter_methods},
    {Py_tp_getset, limiter_getset},
    {0, NULL}};

static PyType_Spec limiter_spec = {
    .name = "b24hook._core.Limiter",
    .basicsize = sizeof(LimiterObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = limiter_slots,
};

/* ---- CancelToken: stops the calls of the threads it is bound to --------- */

typedef struct {
    PyObject_HEAD
    atomic_int cancelled;
} CancelObject;

/* The token bound to this OS thread (a strong reference), or NULL. */
static _Thread_local CancelObject *tl_cancel;

static PyObject *
cancel_tp_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    CancelObject *self;
    if (PyTuple_GET_SIZE(args) != 0 || (kwds && PyDict_GET_SIZE(kwds))) {
        PyErr_SetString(PyExc_TypeError, "CancelToken() takes no arguments");
        return NULL;
    }
    self = (CancelObject *)type->tp_alloc(type, 0);
    if (self != NULL)
        atomic_init(&self->cancelled, 0);
    return (PyObject *)self;
}

static void
cancel_tp_dealloc(CancelObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyObject *
cancel_cancel(CancelObject *self, PyObject *Py_UNUSED(ignored))
{
    atomic_store(&self->cancelled, 1);
    Py_RETURN_NONE;
}

static PyObject *
cancel_bind(CancelObject *self, PyObject *Py_UNUSED(ignored))
{
    CancelObject *old = tl_cancel;
    tl_cancel = (CancelObject *)Py_NewRef(self);
    Py_XDECREF(old);
    Py_RETURN_NONE;
}

static PyObject *
cancel_unbind(CancelObject *self, PyObject *Py_UNUSED(ignored))
{
    if (tl_cancel == self) {
        tl_cancel = NULL;
        Py_DECREF(self);
    }
    Py_RETURN_NONE;
}

static PyObject *
cancel_get_cancelled(CancelObject *self, void *Py_UNUSED(c))
{
    return PyBool_FromLong(atomic_load(&self->cancelled));
}

static PyMethodDef cancel_methods[] = {
    {"cancel", (PyCFunction)cancel_cancel, METH_NOARGS,
     "cancel($self, /)\n--\n\nStop every call of the threads this token is "
     "bound to\n(within a few tens of ms; any thread may cancel)."},
    {"bind", (PyCFunction)cancel_bind, METH_NOARGS,
     "bind($self, /)\n--\n\nBind the token to the calling thread (replaces "
     "its previous one)."},
    {"unbind", (PyCFunction)cancel_unbind, METH_NOARGS,
     "unbind($self, /)\n--\n\nUnbind it from the calling thread (if bound "
     "there)."},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef cancel_getset[] = {
    {"cancelled", (getter)cancel_get_cancelled, NULL, "True after cancel().",
     NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyType_Slot cancel_slots[] = {
    {Py_tp_doc, "CancelToken()\n--\n\nA flag that Transport.call() polls "
                "in its waits and transfers\n(no GIL needed): once cancelled, "
                "a call on a thread the token\nis bound to stops and raises "
                "CancelledError."},
    {Py_tp_new, cancel_tp_new},
    {Py_tp_dealloc, cancel_tp_dealloc},
    {Py_tp_methods, cancel_methods},
    {Py_tp_getset, cancel_getset},
    {0, NULL}};

static PyType_Spec cancel_spec = {
    .name = "b24hook._core.CancelToken",
    .basicsize = sizeof(CancelObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = cancel_slots,
};

/* ---- call: the whole §5 loop with the GIL released ---------------------- */

struct call_ctx {
    PyThreadState *ts;   /* saved thread state while the GIL is released */
    PyObject *on_event;  /* borrowed, or NULL */
    int details;         /* also deliver the per-attempt (debug/info) events */
    struct mod_state *st;
    int main_thread;
    int stop;
    int cancelled;         /* stopped by `cancel` */
    CancelObject *cancel;  /* owned: the thread's token at call start */
    double last_check;
    PyObject *et, *ev, *etb; /* the exception that stopped the call */
};

static void
ctx_stash(struct call_ctx *c)
{
    if (c->et == NULL)
        PyErr_Fetch(&c->et, &c->ev, &c->etb);
    else
        PyErr_Clear();
    c->stop = 1;
}

static int
ctx_interrupted(void *vctx)
{
    struct call_ctx *c = vctx;
    double t;
    if (c->stop)
        return 1;
    if (c->cancel != NULL && atomic_load(&c->cancel->cancelled)) {
        c->cancelled = 1;
        c->stop = 1;
        return 1;
    }
    if (!c->main_thread)
        return 0;
    t = b24_clock_mono_ms(NULL);
    if (t - c->last_check < 20)
        return 0;
    c->last_check = t;
    PyEval_RestoreThread(c->ts);
    if (PyErr_CheckSignals() < 0)
        ctx_stash(c);
    c->ts = PyEval_SaveThread();
    return c->stop;
}

static const char *
event_name(enum b24_event_kind k)
{
    switch (k) {
    case B24_EV_ATTEMPT: return "attempt";
    case B24_EV_BLOCKED: return "blocked";
    case B24_EV_POST_SEND: return "send";
    case B24_EV_RESPONSE: return "response";
    case B24_EV_SUCCESS: return "success";
    case B24_EV_CATCH: return "catch";
    case B24_EV_FAILED: return "failed";
    case B24_EV_DECIDED: return "decided";
    case B24_EV_RATE_LOWERED: return "rate_lowered";
    case B24_EV_RATE_RESTORED: return "rate_restored";
    case B24_EV_HEAVY: return "heavy";
    case B24_EV_WAIT: return "wait";
    case B24_EV_AUTH_ERROR: return "auth_error";
    case B24_EV_AUTH_REFRESH: return "auth_refresh";
    case B24_EV_EXHAUSTED: return "exhausted";
    }
    return "unknown";
}

static PyObject *
event_dict(const struct b24_event *ev)
{
    const struct b24_outcome *o = ev->outcome;
    PyObject *d = Py_BuildValue(
        "{s:s,s:I,s:I,s:d,s:k,s:s,s:s,s:d}", "method", ev->method,
        "attempt", ev->attempt, "max", ev->max_attempts, "wait", ev->wait_ms,
        "count", ev->count, "limiter", b24_gate_title(ev->gate), "reason",
        ev->kind == B24_EV_DECIDED ? reason_name(ev->reason) : "",
        "duration", ev->duration_ms);
    if (d == NULL || o == NULL)
        return d;
    {
        PyObject *v = Py_BuildValue("{s:l,s:N,s:N}", "status", o->status,
                                    "code", text_or_none(o->code), "message",
                                    text_or_none(o->message));
        if (v == NULL || PyDict_Update(d, v) < 0) {
            Py_XDECREF(v);
            Py_DECREF(d);
            return NULL;
        }
        Py_DECREF(v);
    }
    if (ev->kind == B24_EV_RESPONSE || ev->kind == B24_EV_CATCH) {
        PyObject *a = o->answer ? conv_decode_json(o->answer, o->answer_len)
                                 : Py_NewRef(Py_None);
        if (a == NULL) {
            PyErr_Clear();
            a = Py_NewRef(Py_None);
        }
        if (PyDict_SetItemString(d, "answer", a) < 0) {
            Py_DECREF(a);
            Py_DECREF(d);
            return NULL;
        }
        Py_DECREF(a);
    }
    return d;
}

/* The events a quiet logger still wants: limiter decisions and give-ups
 * (notice level and above).  The others come once or more per attempt and
 * carry the decoded answer: they are only built for details=True. */
static int
event_is_detail(enum b24_event_kind k)
{
    switch (k) {
    case B24_EV_BLOCKED:
    case B24_EV_DECIDED:
    case B24_EV_RATE_LOWERED:
    case B24_EV_RATE_RESTORED:
    case B24_EV_EXHAUSTED:
        return 0;
    default:
        return 1;
    }
}

static void
ctx_event(void *vctx, const struct b24_event *ev)
{
    struct call_ctx *c = vctx;
    PyObject *d, *r = NULL;
    if (c->on_event == NULL || c->stop)
        return;
    if (!c->details && event_is_detail(ev->kind))
        return;
    PyEval_RestoreThread(c->ts);
    d = event_dict(ev);
    if (d != NULL) {
        r = PyObject_CallFunction(c->on_event, "sO", event_name(ev->kind), d);
        Py_DECREF(d);
    }
    if (r == NULL) {
        /* logging is fire-and-forget; only a KeyboardInterrupt (or another
         * BaseException) raised while Python ran stops the call */
        if (PyErr_ExceptionMatches(PyExc_Exception))
            PyErr_Clear();
        else
            ctx_stash(c);
    }
    Py_XDECREF(r);
    c->ts = PyEval_SaveThread();
}

static PyObject *
transport_call(TransportObject *self, PyObject *const *args, Py_ssize_t nargs,
               PyObject *kwnames)
{
    static const char *const names[] = {
        "method", "params", "request_id", "limiter", "idempotency_key",
        "is_write", "batch_methods", "on_event", "timeout", "event_details"};
    PyObject *a[10], *hold = NULL, *result = NULL;
    struct b24_request req;
    struct b24_outcome out;
    struct b24_pipeline p;
    struct call_ctx ctx;
    struct b24_http *http;
    enum b24_status rc;
    int is_write = 0, details = 1;

    if (parse_fast("call", args, nargs, kwnames, names, 10, 3, 3, a) < 0)
        return NULL;
    if (a[3] == NULL || !is_limiter(a[3])) {
        PyErr_SetString(PyExc_TypeError, "call() requires limiter=Limiter");
        return NULL;
    }
    if (a[5] != NULL && (is_write = PyObject_IsTrue(a[5])) < 0)
        return NULL;
    if (a[9] != NULL && (details = PyObject_IsTrue(a[9])) < 0)
        return NULL;
    if (a[7] != NULL && a[7] != Py_None && !PyCallable_Check(a[7])) {
        PyErr_SetString(PyExc_TypeError, "on_event must be callable");
        return NULL;
    }
    b24_request_init(&req);
    b24_outcome_init(&out);
    b24_pipeline_init(&p);
    memset(&ctx, 0, sizeof(ctx));
    if (build_request(self, a[0], a[1], a[2], a[4], a[8], &req) < 0)
        goto done;
    if (batch_names(a[6], &p.batch, &hold) < 0)
        goto done;
    p.method = PyUnicode_AsUTF8(a[0]); /* checked by build_request */
    p.limiter = ((LimiterObject *)a[3])->lim;
    p.is_write = is_write;
    p.idempotent = a[4] != NULL && a[4] != Py_None;
    p.on_event = ctx_event;
    p.interrupted = ctx_interrupted;
    p.ctx = &ctx;
    ctx.on_event = (a[7] != NULL && a[7] != Py_None) ? a[7] : NULL;
    ctx.details = details;
    ctx.st = self->state;
    ctx.main_thread = _PyOS_IsMainThread();
    ctx.last_check = -1e18;
    ctx.cancel = (CancelObject *)Py_XNewRef(tl_cancel);

    http = self->http;
    b24_http_incref(http);
    ctx.ts = PyEval_SaveThread();
    rc = b24_pipeline_run(&p, http, &req, &out);
    PyEval_RestoreThread(ctx.ts);
    b24_http_decref(http);
    if (ctx.stop) {
        if (ctx.et != NULL)
            PyErr_Restore(ctx.et, ctx.ev, ctx.etb);
        else if (ctx.cancelled)
            PyErr_SetString(self->state->cancelled_error,
                            "the call was cancelled");
        else
            PyErr_SetNone(PyExc_KeyboardInterrupt);
        goto done;
    }
    result = outcome_or_raise(self->state, rc, &out);
done:
    Py_XDECREF(ctx.cancel);
    batch_names_free(&p.batch, hold);
    b24_request_clear(&req);
    b24_outcome_clear(&out);
    return result;
}


static PyObject *
transport_close(TransportObject *self, PyObject *Py_UNUSED(ignored))
{
    if (self->http != NULL) {
        struct b24_http *h = self->http;
        Py_BEGIN_ALLOW_THREADS
        b24_http_close(h);
        Py_END_ALLOW_THREADS
    }
    Py_RETURN_NONE;
}

static PyObject *
transport_enter(TransportObject *self, PyObject *Py_UNUSED(ignored))
{
    return Py_NewRef(self);
}

static PyObject *
transport_exit(TransportObject *self, PyObject *const *Py_UNUSED(args),
               Py_ssize_t Py_UNUSED(nargs))
{
    return transport_close(self, NULL);
}

/* ---- properties -------------------------------------------------------- */

static PyObject *
transport_get_timeout(TransportObject *self, void *Py_UNUSED(c))
{
    return PyFloat_FromDouble(self->timeout);
}

static int
transport_set_timeout(TransportObject *self, PyObject *v, void *Py_UNUSED(c))
{
    double t;
    if (v == NULL) {
        PyErr_SetString(PyExc_AttributeError, "cannot delete timeout");
        return -1;
    }
    t = PyFloat_AsDouble(v);
    if (t == -1.0 && PyErr_Occurred())
        return -1;
    if (check_timeout(t) < 0)
        return -1;
    self->timeout = t;
    return 0;
}

static PyObject *
transport_get_headers(TransportObject *self, void *Py_UNUSED(c))
{
    return PyDict_Copy(self->headers);
}

static int
transport_set_headers(TransportObject *self, PyObject *v, void *Py_UNUSED(c))
{
    PyObject *d;
    if (v == NULL) {
        PyErr_SetString(PyExc_AttributeError, "cannot delete headers");
        return -1;
    }
    d = copy_headers(v);
    if (d == NULL)
        return -1;
    Py_XSETREF(self->headers, d);
    return 0;
}

static PyObject *
transport_get_verify(TransportObject *self, void *Py_UNUSED(c))
{
    return Py_NewRef(self->verify ? self->verify : Py_True);
}

static PyObject *
transport_get_closed(TransportObject *self, void *Py_UNUSED(c))
{
    return PyBool_FromLong(self->http == NULL || b24_http_closed(self->http));
}

static PyObject *
transport_get_connections(TransportObject *self, void *Py_UNUSED(c))
{
    return PyLong_FromUnsignedLongLong(
        self->http ? b24_http_connections_opened(self->http) : 0);
}

static PyGetSetDef transport_getset[] = {
    {"timeout", (getter)transport_get_timeout, (setter)transport_set_timeout,
     "Total seconds for one exchange (> 0).", NULL},
    {"headers", (getter)transport_get_headers, (setter)transport_set_headers,
     "Caller headers merged over the defaults (the getter returns a copy).",
     NULL},
    {"verify", (getter)transport_get_verify, NULL,
     "True, False, or the CA bundle path.", NULL},
    {"closed", (getter)transport_get_closed, NULL,
     "True after close().", NULL},
    {"connections_opened", (getter)transport_get_connections, NULL,
     "Total new TCP connections made so far.", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyMethodDef transport_methods[] = {
    {"perform", (PyCFunction)(void (*)(void))transport_perform,
     METH_FASTCALL | METH_KEYWORDS,
     "perform($self, method, params, request_id, *, idempotency_key=None,"
     " timeout=None)\n--\n\n"
     "POST one call and return an Outcome; never raises for network "
     "errors.\nRaises ParamsError before any I/O, ClosedError after "
     "close()."},
    {"call", (PyCFunction)(void (*)(void))transport_call,
     METH_FASTCALL | METH_KEYWORDS,
     "call($self, method, params, request_id, *, limiter, idempotency_key="
     "None, is_write=False, batch_methods=None, on_event=None, timeout=None, "
     "event_details=True)"
     "\n--\n\nThe whole call pipeline of spec §5 (gates, POST, retries) "
     "with the GIL released; returns the final Outcome."},
    {"close", (PyCFunction)transport_close, METH_NOARGS,
     "close($self, /)\n--\n\nRelease handles and connections. Idempotent."},
    {"__enter__", (PyCFunction)transport_enter, METH_NOARGS,
     "__enter__($self, /)\n--\n\n"},
    {"__exit__", (PyCFunction)(void (*)(void))transport_exit, METH_FASTCALL,
     "__exit__($self, /, *exc)\n--\n\nclose()."},
    {NULL, NULL, 0, NULL}};

static PyType_Slot transport_slots[] = {
    {Py_tp_doc,
     "Transport(base_url, secret, *, timeout=30.0, verify=True, "
     "headers=None, user_agent, sdk_type, sdk_version)\n--\n\n"
     "One thread-safe HTTP client for one webhook base URL."},
    {Py_tp_new, transport_tp_new},
    {Py_tp_dealloc, transport_tp_dealloc},
    {Py_tp_traverse, transport_tp_traverse},
    {Py_tp_clear, transport_tp_clear},
    {Py_tp_methods, transport_methods},
    {Py_tp_getset, transport_getset},
    {0, NULL}};

static PyType_Spec transport_spec = {
    .name = "b24hook._core.Transport",
    .basicsize = sizeof(TransportObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC |
             Py_TPFLAGS_IMMUTABLETYPE,
    .slots = transport_slots,
};

int
transport_register(PyObject *module, struct mod_state *st)
{
    st->transport_type = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &transport_spec, NULL);
    if (st->transport_type == NULL)
        return -1;
    if (PyModule_AddType(module, st->transport_type) < 0)
        return -1;
    {
        PyObject *lt = PyType_FromModuleAndSpec(module, &limiter_spec, NULL);
        int rc;
        if (lt == NULL)
            return -1;
        rc = PyModule_AddType(module, (PyTypeObject *)lt);
        Py_DECREF(lt);
        if (rc < 0)
            return rc;
        lt = PyType_FromModuleAndSpec(module, &cancel_spec, NULL);
        if (lt == NULL)
            return -1;
        rc = PyModule_AddType(module, (PyTypeObject *)lt);
        Py_DECREF(lt);
        return rc;
    }
}
