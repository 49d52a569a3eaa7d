/* transport.c - the Transport heap type: one b24_http per instance.
 *
 * perform() is one exchange; call() runs the whole call pipeline
 * (b24_pipeline) with the GIL released, its events and stop checks
 * bridged by events.c.  The request is built here (body by convert.c,
 * URL and headers by the core); the answer becomes an Outcome in
 * outcome.c; the Limiter and CancelToken types live in limiter.c and
 * cancel.c. */
#include "ext.h"

#include <math.h>
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
    /* A ScriptedTransport (the test seam, below): the answers still to
     * give, in order (Outcome or BaseException instances), and one record
     * per exchange taken.  NULL for a real transport. */
    PyObject *script;        /* owned list, or NULL */
    PyObject *calls;         /* owned list, or NULL */
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
    Py_VISIT(self->script);
    Py_VISIT(self->calls);
    return 0;
}

static int
transport_tp_clear(TransportObject *self)
{
    Py_CLEAR(self->verify);
    Py_CLEAR(self->headers);
    Py_CLEAR(self->script);
    Py_CLEAR(self->calls);
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
int
parse_fast(const char *fname, PyObject *const *args, Py_ssize_t nargs,
           PyObject *kwnames, const char *const *names, int nnames,
           int npos, int nreq, PyObject **out)
{
    Py_ssize_t i, nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    int j, k, next = (int)nargs;
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
        /* the search starts after the last match: keywords given in the
         * declared order (the face's calls) cost one comparison each */
        for (k = 0; k < nnames; k++) {
            j = (next + k) % nnames;
            if (PyUnicode_CompareWithASCIIString(kw, names[j]) == 0) {
                next = j + 1;
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

int
ext_transport_core(PyObject *t, struct b24_http **http)
{
    struct mod_state *st = PyType_GetModuleState(Py_TYPE(t));
    TransportObject *self = (TransportObject *)t;
    if (st == NULL || !PyObject_TypeCheck(t, st->transport_type)) {
        PyErr_Clear();
        PyErr_SetString(PyExc_TypeError, "transport must be a Transport");
        return -1;
    }
    if (self->script != NULL) {
        PyErr_SetString(PyExc_TypeError,
                        "a scripted transport has no concurrent driver");
        return -1;
    }
    if (self->http == NULL || b24_http_closed(self->http)) {
        PyErr_SetString(st->closed_error, "the transport is closed");
        return -1;
    }
    *http = self->http;
    return 0;
}

int
ext_transport_build(PyObject *t, PyObject *method, PyObject *params,
                    PyObject *rid, PyObject *ikey, PyObject *timeout,
                    struct b24_request *req, struct b24_http **http)
{
    if (ext_transport_core(t, http) < 0)
        return -1;
    return build_request((TransportObject *)t, method, params, rid, ikey,
                         timeout, req);
}

/* The result of a perform/call: the outcome dict, or the exception for a
 * status the core could not turn into an outcome. */
static PyObject *
outcome_or_raise(struct mod_state *st, enum b24_status rc,
                 struct b24_outcome *out)
{
    if (rc != B24_OK)
        return ext_raise_status(rc, "transport failure", NULL);
    return ext_outcome_new(st, out);
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

/* ---- the scripted driver ---------------------------------------------- */

/* One SEND of a ScriptedTransport: the next scripted answer instead of an
 * exchange.  Runs inside b24_pipeline_drive without the GIL, so it takes
 * the GIL for its few steps.  An exception in the script stops the call
 * with that exception (what the real transport raises before any I/O). */
struct scripted {
    TransportObject *self;
    struct call_ctx *cc;
    PyObject *record; /* borrowed: the dict appended per exchange */
};

static int
scripted_fill(struct mod_state *st, PyObject *o, struct b24_outcome *out)
{
    PyObject *f[OUTCOME_NFIELDS];
    struct b24_buf body;
    const char *code = NULL, *message = NULL, *detail = NULL;
    long kind, status;
    Py_ssize_t i, pos = 0;
    PyObject *k, *v;
    int ret = -1;

    for (i = 0; i < OUTCOME_HEADERS; i++)
        f[i] = ext_outcome_field(o, (int)i);
    if ((f[OUTCOME_HEADERS] = ext_outcome_headers(o)) == NULL)
        return -1;
    kind = PyLong_AsLong(f[OUTCOME_KIND]);
    status = PyLong_AsLong(f[OUTCOME_STATUS]);
    if (PyErr_Occurred())
        return -1;
    if ((f[OUTCOME_CODE] != Py_None &&
         (code = PyUnicode_AsUTF8(f[OUTCOME_CODE])) == NULL) ||
        (f[OUTCOME_MESSAGE] != Py_None &&
         (message = PyUnicode_AsUTF8(f[OUTCOME_MESSAGE])) == NULL) ||
        (f[OUTCOME_DETAIL] != Py_None &&
         (detail = PyUnicode_AsUTF8(f[OUTCOME_DETAIL])) == NULL))
        return -1;
    b24_buf_init(&body, 0);
    if (f[OUTCOME_ANSWER] != Py_None &&
        conv_encode(st, f[OUTCOME_ANSWER], &body, 0) < 0)
        goto done;
    /* the answer and its envelope as the reader would give them, then
     * the scripted classification over them */
    if (b24_envelope_classify(out, status, b24_buf_cstr(&body), body.len) !=
            B24_OK ||
        b24_outcome_set(out, (enum b24_outcome_kind)kind, code, message) !=
            B24_OK) {
        PyErr_NoMemory();
        goto done;
    }
    if (f[OUTCOME_ANSWER] == Py_None) {
        free(out->answer);
        out->answer = NULL;
        out->answer_len = 0;
    }
    out->status = status;
    out->maybe_sent = PyObject_IsTrue(f[OUTCOME_MAYBE_SENT]);
    out->elapsed_ms = PyFloat_AsDouble(f[OUTCOME_ELAPSED_MS]);
    if (PyErr_Occurred())
        goto done;
    if (detail != NULL && (out->detail = strdup(detail)) == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    if (PyDict_Check(f[OUTCOME_HEADERS])) {
        while (PyDict_Next(f[OUTCOME_HEADERS], &pos, &k, &v)) {
            Py_ssize_t nk, nv;
            const char *ks = PyUnicode_AsUTF8AndSize(k, &nk);
            const char *vs = ks ? PyUnicode_AsUTF8AndSize(v, &nv) : NULL;
            if (vs == NULL)
                goto done;
            if (b24_outcome_add_header(out, ks, (size_t)nk, vs, (size_t)nv) !=
                B24_OK) {
                PyErr_NoMemory();
                goto done;
            }
        }
    }
    ret = 0;
done:
    b24_buf_free(&body);
    return ret;
}

static enum b24_status
scripted_perform(void *vctx, struct b24_request *req, struct b24_outcome *out)
{
    struct scripted *sc = vctx;
    TransportObject *self = sc->self;
    PyObject *item = NULL, *rec;
    int failed = 1;
    (void)req;

    PyEval_RestoreThread(sc->cc->ts);
    rec = PyDict_Copy(sc->record);
    if (rec == NULL || PyList_Append(self->calls, rec) < 0)
        goto done;
    if (PyList_GET_SIZE(self->script) == 0) {
        PyErr_SetString(PyExc_RuntimeError,
                        "ScriptedTransport: no scripted answer left");
        goto done;
    }
    item = Py_NewRef(PyList_GET_ITEM(self->script, 0));
    if (PySequence_DelItem(self->script, 0) < 0)
        goto done;
    if (PyExceptionInstance_Check(item)) {
        PyErr_SetObject((PyObject *)Py_TYPE(item), item);
        goto done;
    }
    if (!PyObject_TypeCheck(item, self->state->outcome_type)) {
        PyErr_SetString(PyExc_TypeError, "ScriptedTransport: a script item "
                                         "must be an Outcome or an exception");
        goto done;
    }
    failed = scripted_fill(self->state, item, out) < 0;
done:
    if (failed)
        ext_call_fail(sc->cc); /* stops the call with the exception */
    Py_XDECREF(item);
    Py_XDECREF(rec);
    sc->cc->ts = PyEval_SaveThread();
    return B24_OK;
}

/* call()'s parameters, in the order of a[] below. */
#define CALL_NARGS 10
static const char *const call_names[CALL_NARGS] = {
    "method", "params", "request_id", "limiter", "idempotency_key",
    "is_write", "batch_methods", "on_event", "timeout", "event_details"};

/* The whole call of one request (call()'s arguments in a[], NULL when
 * absent; method, params, request_id given): the Outcome, or NULL with the
 * exception.  Shared by call() and the walks (walk.c). */
static PyObject *
transport_run(TransportObject *self, PyObject *const *a)
{
    PyObject *hold = NULL, *result = NULL;
    struct b24_request req;
    struct b24_outcome out;
    struct b24_pipeline p;
    struct call_ctx ctx;
    struct b24_http *http;
    struct b24_limiter *lim;
    enum b24_status rc = B24_OK;
    int is_write = 0, details = 1, ran = 0;

    if ((lim = limiter_core(a[3])) == NULL) {
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
    ext_call_begin(&ctx, self->state,
                   (a[7] != NULL && a[7] != Py_None) ? a[7] : NULL, details);
    if (build_request(self, a[0], a[1], a[2], a[4], a[8], &req) < 0)
        goto done;
    if (ext_batch_names(a[6], &p.batch, &hold) < 0)
        goto done;
    p.method = PyUnicode_AsUTF8(a[0]); /* checked by build_request */
    p.limiter = lim;
    p.is_write = is_write;
    p.idempotent = a[4] != NULL && a[4] != Py_None;
    p.on_event = ext_call_event;
    p.interrupted = ext_call_interrupted;
    p.ctx = &ctx;

    if (self->script != NULL) {
        struct scripted sc;
        sc.self = self;
        sc.cc = &ctx;
        sc.record = Py_BuildValue("{s:O,s:O,s:O,s:O}", "method", a[0],
                                  "params", a[1], "request_id", a[2],
                                  "idempotency_key",
                                  a[4] != NULL ? a[4] : Py_None);
        if (sc.record == NULL)
            goto done;
        ctx.ts = PyEval_SaveThread();
        rc = b24_pipeline_drive(&p, scripted_perform, &sc, &req, &out);
        PyEval_RestoreThread(ctx.ts);
        Py_DECREF(sc.record);
        ran = 1;
        goto done;
    }
    http = self->http;
    b24_http_incref(http);
    ctx.ts = PyEval_SaveThread();
    rc = b24_pipeline_run(&p, http, &req, &out);
    PyEval_RestoreThread(ctx.ts);
    b24_http_decref(http);
    ran = 1;
done:
    /* a stopped call raises what stopped it (KeyboardInterrupt, ...) */
    if (ext_call_end(&ctx) == 0 && ran)
        result = outcome_or_raise(self->state, rc, &out);
    ext_batch_names_free(&p.batch, hold);
    b24_request_clear(&req);
    b24_outcome_clear(&out);
    return result;
}

static PyObject *
transport_call(TransportObject *self, PyObject *const *args, Py_ssize_t nargs,
               PyObject *kwnames)
{
    PyObject *a[CALL_NARGS];
    if (parse_fast("call", args, nargs, kwnames, call_names, CALL_NARGS, 3,
                   3, a) < 0)
        return NULL;
    return transport_run(self, a);
}

PyObject *
ext_transport_call(PyObject *t, PyObject *method, PyObject *params,
                   PyObject *rid, PyObject *kwargs)
{
    struct mod_state *st = PyType_GetModuleState(Py_TYPE(t));
    PyObject *a[CALL_NARGS] = {NULL}, *k, *v, *result = NULL;
    Py_ssize_t pos = 0;
    int j;
    if (st == NULL || !PyObject_TypeCheck(t, st->transport_type)) {
        PyErr_Clear();
        PyErr_SetString(PyExc_TypeError, "transport must be a Transport");
        return NULL;
    }
    if (!PyDict_Check(kwargs)) {
        PyErr_SetString(PyExc_TypeError, "call keywords must be a dict");
        return NULL;
    }
    a[0] = method;
    a[1] = params;
    a[2] = rid;
    while (PyDict_Next(kwargs, &pos, &k, &v)) {
        for (j = 3; j < CALL_NARGS; j++)
            if (PyUnicode_Check(k) &&
                PyUnicode_CompareWithASCIIString(k, call_names[j]) == 0)
                break;
        if (j == CALL_NARGS) {
            PyErr_Format(PyExc_TypeError,
                         "call() got an unexpected keyword argument '%S'", k);
            goto done;
        }
        Py_XSETREF(a[j], Py_NewRef(v)); /* owned: the dict may change */
    }
    result = transport_run((TransportObject *)t, a);
done:
    for (j = 3; j < CALL_NARGS; j++)
        Py_XDECREF(a[j]);
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

static PyObject *
transport_get_script(TransportObject *self, void *Py_UNUSED(c))
{
    return Py_NewRef(self->script != NULL ? self->script : Py_None);
}

static PyObject *
transport_get_calls(TransportObject *self, void *Py_UNUSED(c))
{
    return Py_NewRef(self->calls != NULL ? self->calls : Py_None);
}

static PyGetSetDef transport_getset[] = {
    {"script", (getter)transport_get_script, NULL,
     "A scripted transport's answers still to give (a live list); None "
     "for a real one.", NULL},
    {"calls", (getter)transport_get_calls, NULL,
     "A scripted transport's exchanges taken: one dict (method, params, "
     "request_id, idempotency_key) per SEND; None for a real one.", NULL},
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

/* _core.scripted_transport(*outcomes, timeout=30.0, headers=None): a
 * Transport whose call() runs the same engine and driver loop
 * (b24_pipeline_drive) with the scripted answers in place of exchanges. */
static PyObject *
scripted_transport(PyObject *module, PyObject *args, PyObject *kwds)
{
    struct mod_state *st = PyModule_GetState(module);
    PyObject *targs = NULL, *tkw = NULL, *v;
    TransportObject *self = NULL;
    Py_ssize_t pos = 0;
    PyObject *k;

    tkw = Py_BuildValue("{s:s,s:s,s:s}", "user_agent", "b24hook-scripted",
                        "sdk_type", "b24hook", "sdk_version", "0");
    targs = Py_BuildValue("(ss)", "https://scripted.invalid/rest/1/scripted",
                          "scripted");
    if (tkw == NULL || targs == NULL)
        goto done;
    while (kwds != NULL && PyDict_Next(kwds, &pos, &k, &v)) {
        if (PyUnicode_CompareWithASCIIString(k, "timeout") != 0 &&
            PyUnicode_CompareWithASCIIString(k, "headers") != 0) {
            PyErr_Format(PyExc_TypeError, "scripted_transport() got an "
                                          "unexpected keyword argument '%U'",
                         k);
            goto done;
        }
        if (PyDict_SetItem(tkw, k, v) < 0)
            goto done;
    }
    self = (TransportObject *)transport_tp_new(st->transport_type, targs, tkw);
    if (self == NULL)
        goto done;
    if ((self->script = PySequence_List(args)) == NULL ||
        (self->calls = PyList_New(0)) == NULL)
        Py_CLEAR(self);
done:
    Py_XDECREF(targs);
    Py_XDECREF(tkw);
    return (PyObject *)self;
}

static PyMethodDef scripted_def = {
    "scripted_transport", (PyCFunction)(void (*)(void))scripted_transport,
    METH_VARARGS | METH_KEYWORDS,
    "scripted_transport(*outcomes, timeout=30.0, headers=None)\n--\n\n"
    "A Transport for tests: call() runs the real engine and driver, each "
    "exchange replaced by the next scripted Outcome (or raising the next "
    "scripted exception).  .script holds what is left, .calls what was "
    "taken."};

int
transport_register(PyObject *module, struct mod_state *st)
{
    PyObject *f;
    st->transport_type = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &transport_spec, NULL);
    if (st->transport_type == NULL)
        return -1;
    if (PyModule_AddType(module, st->transport_type) < 0)
        return -1;
    f = PyCFunction_NewEx(&scripted_def, module, NULL);
    if (f == NULL)
        return -1;
    if (PyModule_AddObjectRef(module, "scripted_transport", f) < 0) {
        Py_DECREF(f);
        return -1;
    }
    Py_DECREF(f);
    return 0;
}
