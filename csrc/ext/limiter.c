/* limiter.c - the Limiter heap type: the restriction manager of one
 * transport (b24_limiter: rate, operating, adaptive delay, retry policy,
 * metrics), its RestrictionParams parsing and its stats dict. */
#include "ext.h"

#include <math.h>
#include <string.h>

#include "b24_limiter.h"
#include "b24_limiter_ops.h"
#include "b24_retry.h"

typedef struct {
    PyObject_HEAD
    struct b24_limiter *lim; /* owned */
} LimiterObject;

static void limiter_tp_dealloc(LimiterObject *self);

struct b24_limiter *
limiter_core(PyObject *o)
{
    if (o == NULL || Py_TYPE(o)->tp_dealloc != (destructor)limiter_tp_dealloc)
        return NULL;
    return ((LimiterObject *)o)->lim;
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

/* The `shared` restriction param: NULL for None/absent, else its UTF-8
 * (borrowed from params); -1 with TypeError for a non-str. */
static int
cfg_shared(PyObject *params, const char **out)
{
    PyObject *v = params != NULL && PyDict_Check(params)
                      ? PyDict_GetItemString(params, "shared")
                      : NULL;
    *out = NULL;
    if (v == NULL || v == Py_None)
        return 0;
    if (!PyUnicode_Check(v)) {
        PyErr_SetString(PyExc_TypeError,
                        "restriction_params['shared'] must be None or a str");
        return -1;
    }
    *out = PyUnicode_AsUTF8(v);
    return *out == NULL ? -1 : 0;
}

/* Apply a (filled) RestrictionParams dict: new limiter when *lim is NULL
 * (on the backend its `shared` value selects, for `scope` = (portal key,
 * webhook key)), else configure (`shared` is not read: the backend is the
 * limiter's for life).  0 or -1 with an exception. */
static int
apply_params(PyObject *params, PyObject *scope, struct b24_limiter **lim)
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
        struct b24_limiter_backend be;
        const char *shared;
        if (cfg_shared(params, &shared) < 0)
            goto done;
        if (b24_limiter_backend_select(shared, &be, &err) != B24_OK) {
            ext_raise_status(err.status, err.message, NULL);
            goto done;
        }
        if (shared != NULL) {
            if (scope == NULL || scope == Py_None ||
                !PyArg_ParseTuple(scope, "ss;scope must be (portal key, "
                                         "webhook key)",
                                  &be.scope.portal, &be.scope.webhook)) {
                if (!PyErr_Occurred())
                    PyErr_SetString(PyExc_ValueError,
                                    "restriction_params['shared'] needs the "
                                    "client's scope (portal key, webhook "
                                    "key)");
                goto done;
            }
        }
        *lim = b24_limiter_new_backend(&c, NULL, NULL, NULL, NULL, &be, &err);
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
    static char *kwlist[] = {"params", "scope", NULL};
    PyObject *params = Py_None, *scope = Py_None;
    LimiterObject *self;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O$O:Limiter", kwlist,
                                     &params, &scope))
        return NULL;
    if (scope != Py_None && !PyTuple_Check(scope)) {
        PyErr_SetString(PyExc_TypeError,
                        "scope must be a (portal key, webhook key) tuple");
        return NULL;
    }
    self = (LimiterObject *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    if (apply_params(params, scope, &self->lim) < 0) {
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
    if (apply_params(params, NULL, &self->lim) < 0)
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

int
ext_batch_names(PyObject *obj, struct b24_call_methods *bm, PyObject **hold)
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

void
ext_batch_names_free(struct b24_call_methods *bm, PyObject *hold)
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
    if (ext_batch_names(bobj, &bm, &hold) < 0)
        return NULL;
    w = b24_limiter_operating_wait(self->lim, method, &bm, &g);
    ext_batch_names_free(&bm, hold);
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

const char *
ext_retry_reason_name(int r)
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
        "s:i,s:N,s:N,s:[],s:[],s:O}",
        "rate_limit", "burst_limit", js_num(c.burst_limit), "drain_rate",
        js_num(c.drain_rate), "adaptive_enabled", PyBool_FromLong(c.rate_adaptive),
        "operating_limit", "window_ms", js_num(c.window_ms), "limit_ms",
        js_num(c.limit_ms), "heavy_percent", js_num(c.heavy_percent),
        "adaptive_config", "enabled", PyBool_FromLong(c.adaptive_enabled),
        "threshold_percent", js_num(c.threshold_percent), "coefficient",
        js_num(c.coefficient), "max_delay", js_num(c.max_delay),
        "max_retries", c.max_retries, "retry_delay", js_num(c.retry_delay),
        "retry_on_network_error", net, "hard_error_codes",
        "soft_error_codes", "shared", Py_None);
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
    Py_CLEAR(lst);
    sub = Py_BuildValue("{s:s,s:s}", "rate",
                        b24_limiter_rate_backend(self->lim), "operating",
                        b24_limiter_operating_backend(self->lim));
    if (sub == NULL || PyDict_SetItemString(d, "limiter_backend", sub) < 0)
        goto fail;
    Py_DECREF(sub);
    b24_limiter_stats_clear(&s);
    return d;
fail:
    Py_XDECREF(sub);
    Py_XDECREF(lst);
    Py_XDECREF(d);
    b24_limiter_stats_clear(&s);
    return NULL;
}

/* Limiter.backend_names(shared): the (rate, operating) backend names a
 * `shared` value selects; checks the value, opens nothing. */
static PyObject *
limiter_backend_names(PyObject *Py_UNUSED(cls), PyObject *shared)
{
    struct b24_limiter_backend be;
    struct b24_error err;
    const char *s = NULL;
    memset(&err, 0, sizeof(err));
    if (shared != Py_None) {
        if (!PyUnicode_Check(shared)) {
            PyErr_SetString(PyExc_TypeError,
                            "restriction_params['shared'] must be None or a "
                            "str");
            return NULL;
        }
        s = PyUnicode_AsUTF8(shared);
        if (s == NULL)
            return NULL;
    }
    if (b24_limiter_backend_select(s, &be, &err) != B24_OK)
        return ext_raise_status(err.status, err.message, NULL);
    return Py_BuildValue("(ss)", be.rate->name, be.operating->name);
}

/* TEST ONLY: take the host-wide bucket's lock and never release it (the
 * test then SIGKILLs this process, as if it died inside an op). */
static PyObject *
limiter_hold_shared_lock(LimiterObject *self, PyObject *Py_UNUSED(ignored))
{
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = b24_limiter_test_hold_shared(self->lim, B24_SHM_TEST_RATE);
    Py_END_ALLOW_THREADS
    if (rc != 0) {
        PyErr_SetString(PyExc_ValueError,
                        "_hold_shared_lock: not a shared=\"host\" limiter");
        return NULL;
    }
    Py_RETURN_NONE;
}

/* TEST ONLY: dead lock owners recovered on the host-wide bucket. */
static PyObject *
limiter_shared_repairs(LimiterObject *self, PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromDouble(b24_limiter_test_shared_repairs(self->lim, 0));
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
    {"operating_wait", (PyCFunction)limiter_operating_wait, METH_VARARGS,
     "operating_wait($self, method, batch_methods=None, /)\n--\n\n"
     "(ms, limiter title): operating gate, else the adaptive delay."},
    {"record_success", (PyCFunction)limiter_record_success, METH_VARARGS,
     "record_success($self, method, time, /)\n--\n\nFeed a successful "
     "answer's time dict; returns (rates_restored, heavy)."},
    {"stats", (PyCFunction)limiter_stats, METH_NOARGS,
     "stats($self, /)\n--\n\nEvery key of spec §9.6."},
    {"reset", (PyCFunction)limiter_reset, METH_NOARGS,
     "reset($self, /)\n--\n\nZero the metrics and all limiter state."},
    {"backend_names", (PyCFunction)limiter_backend_names,
     METH_O | METH_STATIC,
     "backend_names(shared, /)\n--\n\n(rate, operating) backend names the "
     "`shared` restriction param selects; ValueError for an unknown value."},
    {"_hold_shared_lock", (PyCFunction)limiter_hold_shared_lock, METH_NOARGS,
     "_hold_shared_lock($self, /)\n--\n\nTEST ONLY: take the host-wide "
     "bucket's lock and keep it (the test kills the process)."},
    {"_shared_repairs", (PyCFunction)limiter_shared_repairs, METH_NOARGS,
     "_shared_repairs($self, /)\n--\n\nTEST ONLY: dead lock owners "
     "recovered on the host-wide bucket (-1: not shared)."},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef limiter_getset[] = {
    {"max_retries", (getter)limiter_get_max_retries, NULL,
     "Attempts per call (the current configuration).", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyType_Slot limiter_slots[] = {
    {Py_tp_doc, "Limiter(params=None, *, scope=None)\n--\n\nThe restriction "
                "manager of one "
                "transport (rate, operating, adaptive, retry, metrics); "
                "thread-safe, state in C."},
    {Py_tp_new, limiter_tp_new},
    {Py_tp_dealloc, limiter_tp_dealloc},
    {Py_tp_methods, limiter_methods},
    {Py_tp_getset, limiter_getset},
    {0, NULL}};

PyType_Spec limiter_spec = {
    .name = "b24hook._core.Limiter",
    .basicsize = sizeof(LimiterObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = limiter_slots,
};

