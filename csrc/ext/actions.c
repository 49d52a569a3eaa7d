/* actions.c - _core functions behind lists, batches and the export:
 * PHP bracket encoding of Python params, cursor parsing, keyset steps,
 * batch forms and chunks, and the chained-batch export (plan + collect).
 * The planning itself lives in csrc/core (b24_qs, b24_list, b24_batch). */
#include "ext.h"

#include <stdio.h>
#include <string.h>

#include "b24_batch.h"
#include "b24_list.h"
#include "b24_plan.h"
#include "b24_qs.h"

/* ---- bracket encoding of Python objects: the visitor of b24_qs_walk ------
 *
 * A failure sets its Python exception and returns B24_E_API, which the
 * walker hands back untouched (it never makes that status itself). */
#define QS_PYERR B24_E_API

/* A str UTF-8 cannot carry (a lone surrogate) is refused input. */
static enum b24_status
qs_unicode_fail(struct mod_state *st)
{
    if (PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) {
        PyErr_Clear();
        PyErr_SetString(st->params_error,
                        "string is not valid Unicode (lone surrogate)");
    }
    return QS_PYERR;
}

/* TEXT of a str (borrowed from it). */
static enum b24_status
qs_str(struct mod_state *st, PyObject *s, struct b24_qs_node *out)
{
    Py_ssize_t n;
    const char *u = PyUnicode_AsUTF8AndSize(s, &n);
    if (u == NULL)
        return qs_unicode_fail(st);
    out->kind = B24_QS_TEXT;
    out->text = u;
    out->len = (size_t)n;
    return B24_OK;
}

static enum b24_status
qs_float(struct mod_state *st, double d, struct b24_qs_node *out)
{
    char *r;
    int len;
    if (d != d || d - d != 0) {
        PyErr_SetString(st->params_error, "NaN/Infinity in params");
        return QS_PYERR;
    }
    if (d == (double)(long long)d && d > -1e18 && d < 1e18) {
        /* JS String(1.0) = "1" */
        len = snprintf(out->scratch, sizeof(out->scratch), "%lld",
                       (long long)d);
    } else {
        r = PyOS_double_to_string(d, 'r', 0, 0, NULL);
        if (r == NULL)
            return QS_PYERR;
        len = snprintf(out->scratch, sizeof(out->scratch), "%s", r);
        PyMem_Free(r);
    }
    out->kind = B24_QS_TEXT;
    out->text = out->scratch;
    out->len = (size_t)len; /* a repr of a double is < 32 bytes */
    return B24_OK;
}

static enum b24_status
qs_py_read(void *ctx, void *node, struct b24_qs_node *out)
{
    struct mod_state *st = ctx;
    PyObject *obj = node, *conv = NULL;
    int r;
    if (obj == Py_None) {
        out->kind = B24_QS_NULL;
        return B24_OK;
    }
    if (obj == Py_True || obj == Py_False) {
        out->kind = obj == Py_True ? B24_QS_TRUE : B24_QS_FALSE;
        return B24_OK;
    }
    if (PyUnicode_Check(obj))
        return qs_str(st, obj, out);
    if (PyLong_Check(obj)) {
        PyObject *s = PyLong_Type.tp_repr(obj);
        if (s == NULL) {
            /* over sys.get_int_max_str_digits(): refused as input */
            if (PyErr_ExceptionMatches(PyExc_ValueError)) {
                PyErr_Clear();
                PyErr_SetString(st->params_error,
                                "integer has more digits than "
                                "sys.get_int_max_str_digits() allows");
            }
            return QS_PYERR;
        }
        out->hold = s;
        return qs_str(st, s, out);
    }
    if (PyFloat_Check(obj))
        return qs_float(st, PyFloat_AS_DOUBLE(obj), out);
    if (PyDict_Check(obj) || PyList_Check(obj) || PyTuple_Check(obj)) {
        /* a container already being walked on this thread: a cycle, named
         * as such (issue 9 item 2), not "nested too deeply"; the walker's
         * `end` leaves it */
        r = Py_ReprEnter(obj);
        if (r != 0) {
            if (r > 0)
                PyErr_SetString(st->params_error,
                                "circular reference detected");
            return QS_PYERR;
        }
        out->kind = PyDict_Check(obj) ? B24_QS_MAP : B24_QS_LIST;
        return B24_OK;
    }
    r = PyObject_IsInstance(obj, st->date_types);
    if (r < 0)
        return QS_PYERR;
    if (r) {
        conv = PyObject_CallMethodNoArgs(obj, st->str_isoformat);
    } else if ((r = PyObject_IsInstance(obj, st->decimal_type)) != 0) {
        if (r < 0)
            return QS_PYERR;
        conv = PyObject_Str(obj);
    } else if ((r = PyObject_IsInstance(obj, st->enum_type)) != 0) {
        if (r < 0)
            return QS_PYERR;
        conv = PyObject_GetAttr(obj, st->str_value);
    } else if (PyMapping_Check(obj) && PyObject_HasAttrString(obj, "items")) {
        conv = PyDict_New();
        if (conv != NULL && PyDict_Update(conv, obj) < 0)
            Py_CLEAR(conv);
    } else {
        PyErr_Format(st->params_error,
                     "a %.100s cannot be sent as a parameter",
                     Py_TYPE(obj)->tp_name);
        return QS_PYERR;
    }
    if (conv == NULL)
        return QS_PYERR;
    out->kind = B24_QS_REPLACED;
    out->inner = conv;
    out->hold = conv;
    return B24_OK;
}

static void
hold_clear(void **hold)
{
    PyObject *o = *hold;
    *hold = NULL;
    Py_XDECREF(o);
}

/* it->hold: the list's items (PySequence_Fast) or the current key text;
 * it->hold2: the current child (a dict's key and value are held while
 * they are walked: a __str__ may change the dict). */
static enum b24_status
qs_py_next(void *ctx, struct b24_qs_iter *it, void **child, const char **key,
           size_t *klen, int *more)
{
    struct mod_state *st = ctx;
    PyObject *obj = it->node;
    *more = 0;
    hold_clear(&it->hold2);
    if (PyDict_Check(obj)) {
        Py_ssize_t pos = (Py_ssize_t)it->cursor, n;
        PyObject *k, *v, *s;
        const char *u;
        hold_clear(&it->hold);
        if (!PyDict_Next(obj, &pos, &k, &v))
            return B24_OK;
        it->cursor = (long long)pos;
        it->hold2 = Py_NewRef(v);
        Py_INCREF(k);
        s = PyUnicode_Check(k) ? Py_NewRef(k) : PyObject_Str(k);
        Py_DECREF(k);
        if (s == NULL)
            return QS_PYERR;
        it->hold = s;
        u = PyUnicode_AsUTF8AndSize(s, &n);
        if (u == NULL)
            return qs_unicode_fail(st);
        *key = u;
        *klen = (size_t)n;
        *child = v;
        *more = 1;
        return B24_OK;
    }
    if (it->hold == NULL) {
        it->hold = PySequence_Fast(obj, "sequence");
        if (it->hold == NULL)
            return QS_PYERR;
    }
    if ((Py_ssize_t)it->pos < PySequence_Fast_GET_SIZE((PyObject *)it->hold)) {
        *child = PySequence_Fast_GET_ITEM((PyObject *)it->hold,
                                          (Py_ssize_t)it->pos);
        *more = 1;
    }
    return B24_OK;
}

static void
qs_py_end(void *ctx, struct b24_qs_iter *it)
{
    (void)ctx;
    hold_clear(&it->hold);
    hold_clear(&it->hold2);
    Py_ReprLeave((PyObject *)it->node);
}

static void
qs_py_release(void *ctx, void *hold)
{
    (void)ctx;
    Py_DECREF((PyObject *)hold);
}

static const struct b24_qs_visitor qs_py_visitor = {qs_py_read, qs_py_next,
                                                    qs_py_end, qs_py_release};

/* Append qs(params) to `out`; `pairs` continues an earlier string. */
static int
qs_append(struct mod_state *st, struct b24_buf *out, PyObject *params,
          size_t pairs)
{
    struct b24_qs q;
    struct b24_error err;
    enum b24_status rc = B24_OK;
    if (params == Py_None)
        return 0;
    if (!PyDict_Check(params) && !PyMapping_Check(params)) {
        PyErr_SetString(PyExc_TypeError, "params must be a mapping");
        return -1;
    }
    memset(&err, 0, sizeof(err));
    b24_qs_init(&q, out);
    q.pairs = pairs;
    rc = b24_qs_walk(&q, &qs_py_visitor, st, params, &err);
    b24_qs_free(&q);
    if (rc == B24_OK)
        return 0;
    if (rc != QS_PYERR) {
        /* too deep: refused input; a cap of the buffer: too large */
        if (rc == B24_E_USAGE)
            ext_raise_status(rc, err.message, st->params_error);
        else
            ext_raise_status(rc, "query string exceeds the size cap",
                             PyExc_MemoryError);
    }
    return -1;
}

static PyObject *
buf_str(struct b24_buf *b)
{
    return PyUnicode_DecodeUTF8(b24_buf_cstr(b), (Py_ssize_t)b->len, "strict");
}

static struct mod_state *
state_of(PyObject *module)
{
    return (struct mod_state *)PyModule_GetState(module);
}

static PyObject *
act_qs_encode(PyObject *module, PyObject *params)
{
    struct b24_buf out;
    PyObject *res = NULL;
    b24_buf_init(&out, 0);
    if (qs_append(state_of(module), &out, params, 0) == 0)
        res = buf_str(&out);
    b24_buf_free(&out);
    return res;
}

static PyObject *
act_batch_command(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    struct b24_buf out;
    PyObject *res = NULL;
    Py_ssize_t n;
    const char *m;
    if (nargs != 2 || !PyUnicode_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "batch_command(method: str, params)");
        return NULL;
    }
    m = PyUnicode_AsUTF8AndSize(args[0], &n);
    if (m == NULL)
        return NULL;
    b24_buf_init(&out, 0);
    if (b24_buf_append(&out, m, (size_t)n) != B24_OK ||
        b24_buf_appendc(&out, '?') != B24_OK) {
        b24_buf_free(&out);
        return PyErr_NoMemory();
    }
    if (qs_append(state_of(module), &out, args[1], 0) == 0)
        res = buf_str(&out);
    b24_buf_free(&out);
    return res;
}

/* ---- cursors ----------------------------------------------------------- */

/* JS parseInt(String(value)); 1 with *out, 0 for NaN, -1 on error. */
int
ext_cursor_of(PyObject *v, long long *out)
{
    PyObject *s;
    Py_ssize_t n;
    const char *u;
    int r;
    if (v == NULL || v == Py_None || PyBool_Check(v))
        return 0;
    if (PyLong_Check(v)) {
        int overflow = 0;
        long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
        if (x == -1 && PyErr_Occurred())
            return -1;
        if (overflow)
            return 0;
        *out = x;
        return 1;
    }
    if (PyUnicode_Check(v))
        s = Py_NewRef(v);
    else if (PyFloat_Check(v) || PyNumber_Check(v))
        s = PyObject_Str(v);
    else
        return 0;
    if (s == NULL)
        return -1;
    u = PyUnicode_AsUTF8AndSize(s, &n);
    if (u == NULL) {
        Py_DECREF(s);
        return -1;
    }
    r = b24_parse_int_prefix(u, (size_t)n, out);
    Py_DECREF(s);
    return r;
}

static PyObject *
act_parse_cursor(PyObject *Py_UNUSED(module), PyObject *v)
{
    long long x = 0;
    int r = ext_cursor_of(v, &x);
    if (r < 0)
        return NULL;
    if (r == 0)
        Py_RETURN_NONE;
    return PyLong_FromLongLong(x);
}

/* ---- batch planning ---------------------------------------------------- */

/* cmd_form(aliases) -> (form, bad_index) with form 0 list, 1 object,
 * 2 mixed.  Each alias is str or None. */
static PyObject *
act_cmd_form(PyObject *Py_UNUSED(module), PyObject *aliases)
{
    PyObject *fast = PySequence_Fast(aliases, "aliases must be a sequence");
    const char **a;
    Py_ssize_t i, n;
    size_t bad = 0;
    enum b24_cmd_form f;
    if (fast == NULL)
        return NULL;
    n = PySequence_Fast_GET_SIZE(fast);
    a = PyMem_Calloc((size_t)n + 1, sizeof(*a));
    if (a == NULL) {
        Py_DECREF(fast);
        return PyErr_NoMemory();
    }
    for (i = 0; i < n; i++) {
        PyObject *x = PySequence_Fast_GET_ITEM(fast, i);
        if (PyUnicode_Check(x)) {
            a[i] = PyUnicode_AsUTF8(x);
            if (a[i] == NULL) {
                PyMem_Free(a);
                Py_DECREF(fast);
                return NULL;
            }
        }
    }
    f = b24_batch_cmd_form(a, (size_t)n, &bad);
    PyMem_Free(a);
    Py_DECREF(fast);
    return Py_BuildValue("(in)", (int)f, (Py_ssize_t)bad);
}

/* check_count(n) -> None, or ValueError-free message str for a bad count */
static PyObject *
act_batch_count_error(PyObject *Py_UNUSED(module), PyObject *arg)
{
    Py_ssize_t n = PyLong_AsSsize_t(arg);
    struct b24_error err;
    if (n == -1 && PyErr_Occurred())
        return NULL;
    if (n < 0)
        n = 0;
    if (b24_batch_check_count((size_t)n, &err) == B24_OK)
        Py_RETURN_NONE;
    return PyUnicode_FromString(err.message);
}

static PyObject *
act_batch_chunks(PyObject *Py_UNUSED(module), PyObject *args)
{
    Py_ssize_t n, size, i, count;
    PyObject *res;
    if (!PyArg_ParseTuple(args, "nn", &n, &size))
        return NULL;
    if (n < 0 || size < 0) {
        PyErr_SetString(PyExc_ValueError, "negative size");
        return NULL;
    }
    count = (Py_ssize_t)b24_batch_chunk_count((size_t)n, (size_t)size);
    res = PyList_New(count);
    if (res == NULL)
        return NULL;
    for (i = 0; i < count; i++) {
        size_t s, l;
        PyObject *t;
        b24_batch_chunk((size_t)n, (size_t)size, (size_t)i, &s, &l);
        t = Py_BuildValue("(nn)", (Py_ssize_t)s, (Py_ssize_t)l);
        if (t == NULL) {
            Py_DECREF(res);
            return NULL;
        }
        PyList_SET_ITEM(res, i, t);
    }
    return res;
}

/* ---- the chained-batch export ------------------------------------------ */

static PyObject *
act_export_commands(PyObject *Py_UNUSED(module), PyObject *args)
{
    long long cursor, hi;
    if (!PyArg_ParseTuple(args, "LL", &cursor, &hi))
        return NULL;
    return PyLong_FromSize_t(b24_export_commands(cursor, hi));
}

static PyObject *
act_export_shards(PyObject *Py_UNUSED(module), PyObject *args)
{
    long long lo, hi, min_span, bounds[64];
    Py_ssize_t want, i, n;
    PyObject *res;
    if (!PyArg_ParseTuple(args, "LLnL", &lo, &hi, &want, &min_span))
        return NULL;
    if (want < 1)
        want = 1;
    if (want > 64)
        want = 64;
    n = (Py_ssize_t)b24_export_shards(lo, hi, (size_t)want, min_span, bounds);
    res = PyList_New(n);
    if (res == NULL)
        return NULL;
    for (i = 0; i < n; i++) {
        PyObject *x = PyLong_FromLongLong(bounds[i]);
        if (x == NULL) {
            Py_DECREF(res);
            return NULL;
        }
        PyList_SET_ITEM(res, i, x);
    }
    return res;
}

/* export_plan(*, pages_left, ...) -> (flights, pages, wait_s, budget_bound, eta_s)
 * The planner of b24_plan.h, every input a keyword. */
static PyObject *
act_export_plan(PyObject *Py_UNUSED(module), PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"pages_left", "page_s", "page_cost_s", "rtt_s",
                             "tokens", "drain", "reserve", "max_flights",
                             "in_flight", "budget_limit_s", "budget_used_s",
                             "budget_inflight_s", "reset_in_s", "window_s",
                             "margin", "budget_stale", NULL};
    struct b24_plan_in in;
    struct b24_plan_out out;
    int stale = 0;
    memset(&in, 0, sizeof(in));
    in.tokens = 50;
    in.max_flights = 50;
    in.reset_in_s = -1;
    in.margin = -1;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|$ddddddiiiddddddp:export_plan",
                                     kwlist, &in.pages_left, &in.page_s,
                                     &in.page_cost_s, &in.rtt_s, &in.tokens,
                                     &in.drain, &in.reserve, &in.max_flights,
                                     &in.in_flight, &in.budget_limit_s,
                                     &in.budget_used_s, &in.budget_inflight_s,
                                     &in.reset_in_s, &in.window_s, &in.margin,
                                     &stale))
        return NULL;
    in.budget_stale = stale;
    b24_plan(&in, &out);
    return Py_BuildValue("(iidNd)", out.flights, out.pages, out.wait_s,
                         PyBool_FromLong(out.budget_bound), out.eta_s);
}

/* export_batch(method, base_params, gt_key, cursor, n, container, id_key)
 * -> {"p0": "method?<qs>&filter[>KEY]=cursor", "p1": "...=$result[p0]..."}
 * base_params must not hold filter[gt_key]. */
static PyObject *
act_export_batch(PyObject *module, PyObject *args)
{
    PyObject *method, *base, *res = NULL;
    const char *gt_key, *container, *id_key, *m;
    long long cursor;
    Py_ssize_t n, i, mlen;
    struct b24_buf head, cmd, ref, key;
    char name[32], prev[32];
    if (!PyArg_ParseTuple(args, "UOsLnzs", &method, &base, &gt_key, &cursor,
                          &n, &container, &id_key))
        return NULL;
    if (n < 1 || n > B24_BATCH_MAX_COMMANDS) {
        PyErr_Format(PyExc_ValueError, "1..%d commands",
                     B24_BATCH_MAX_COMMANDS);
        return NULL;
    }
    m = PyUnicode_AsUTF8AndSize(method, &mlen);
    if (m == NULL)
        return NULL;
    b24_buf_init(&head, 0);
    b24_buf_init(&cmd, 0);
    b24_buf_init(&ref, 0);
    b24_buf_init(&key, 0);
    if (b24_buf_append(&head, m, (size_t)mlen) != B24_OK ||
        b24_buf_appendc(&head, '?') != B24_OK) {
        PyErr_NoMemory();
        goto done;
    }
    {
        size_t before = head.len;
        if (qs_append(state_of(module), &head, base, 0) < 0)
            goto done;
        if (head.len > before && b24_buf_appendc(&head, '&') != B24_OK) {
            PyErr_NoMemory();
            goto done;
        }
    }
    /* filter[<gt_key>]= */
    if (b24_qs_pct(&key, "filter[", 7) != B24_OK ||
        b24_qs_pct(&key, ">", 1) != B24_OK ||
        b24_qs_pct(&key, gt_key, strlen(gt_key)) != B24_OK ||
        b24_qs_pct(&key, "]", 1) != B24_OK ||
        b24_buf_appendc(&key, '=') != B24_OK) {
        PyErr_NoMemory();
        goto done;
    }
    res = PyDict_New();
    if (res == NULL)
        goto done;
    for (i = 0; i < n; i++) {
        PyObject *s;
        enum b24_status rc;
        b24_buf_reset(&cmd);
        b24_buf_reset(&ref);
        snprintf(name, sizeof(name), "p%zd", i);
        rc = b24_buf_append(&cmd, b24_buf_cstr(&head), head.len);
        if (rc == B24_OK)
            rc = b24_buf_append(&cmd, b24_buf_cstr(&key), key.len);
        if (rc == B24_OK) {
            if (i == 0)
                rc = b24_buf_printf(&ref, "%lld", cursor);
            else
                rc = b24_export_ref(&ref, prev, container, id_key);
        }
        if (rc == B24_OK)
            rc = b24_qs_pct(&cmd, b24_buf_cstr(&ref), ref.len);
        if (rc != B24_OK) {
            PyErr_NoMemory();
            Py_CLEAR(res);
            goto done;
        }
        s = buf_str(&cmd);
        if (s == NULL || PyDict_SetItemString(res, name, s) < 0) {
            Py_XDECREF(s);
            Py_CLEAR(res);
            goto done;
        }
        Py_DECREF(s);
        memcpy(prev, name, sizeof(prev));
    }
done:
    b24_buf_free(&head);
    b24_buf_free(&cmd);
    b24_buf_free(&ref);
    b24_buf_free(&key);
    return res;
}

/* Walk a dotted container path inside a command's result (borrowed). */
static PyObject *
container_of(PyObject *page, const char *container)
{
    const char *p = container, *dot;
    char seg[128];
    while (page != NULL && p != NULL && *p) {
        size_t len;
        dot = strchr(p, '.');
        len = dot ? (size_t)(dot - p) : strlen(p);
        if (len >= sizeof(seg) || !PyDict_Check(page))
            return NULL;
        memcpy(seg, p, len);
        seg[len] = '\0';
        page = PyDict_GetItemString(page, seg);
        p = dot ? dot + 1 : NULL;
    }
    return page;
}

static PyObject *
get_index(PyObject *map, const char *name, Py_ssize_t i)
{
    if (map == NULL || map == Py_None)
        return NULL;
    if (PyDict_Check(map))
        return PyDict_GetItemString(map, name);
    if (PyList_Check(map) && i < PyList_GET_SIZE(map))
        return PyList_GET_ITEM(map, i);
    return NULL;
}

/* export_collect(results, n, container, id_key, cursor, hi)
 *  -> (rows, cursor, done, bad_index, reason)
 * Reads pages p0..p{n-1} in order: appends every row to `rows`, stops at
 * the first short page (done) or the first page that is missing, not a list,
 * or whose ids do not continue the walk (bad_index >= 0 with a reason; the
 * rows before it are kept and `cursor` is the last good id).  Pages after a
 * short page are never read: their `$result` reference resolved to a
 * parent node (portal.md §7.2). */
static PyObject *
act_export_collect(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *results, *rows, *idk;
    const char *container, *id_key;
    long long cursor, hi;
    Py_ssize_t n, i, bad = -1;
    int done = 0;
    const char *reason = NULL;
    char name[32];
    if (!PyArg_ParseTuple(args, "OnzsLL", &results, &n, &container, &id_key,
                          &cursor, &hi))
        return NULL;
    idk = PyUnicode_FromString(id_key);
    if (idk == NULL)
        return NULL;
    rows = PyList_New(0);
    if (rows == NULL) {
        Py_DECREF(idk);
        return NULL;
    }
    for (i = 0; i < n; i++) {
        PyObject *page, *first, *last, *fid, *lid;
        Py_ssize_t len;
        long long a = 0, b = 0;
        int ra, rb;
        snprintf(name, sizeof(name), "p%zd", i);
        page = get_index(results, name, i);
        if (page == NULL) {
            bad = i;
            reason = "missing";
            break;
        }
        if (container != NULL && *container) {
            page = container_of(page, container);
            if (page == NULL) {
                bad = i;
                reason = "no container";
                break;
            }
        }
        if (!PyList_Check(page)) {
            /* PHP sends an empty map as [] but a map with rows is a dict */
            if (PyDict_Check(page) && PyDict_GET_SIZE(page) == 0) {
                done = 1;
                break;
            }
            bad = i;
            reason = "not a list";
            break;
        }
        len = PyList_GET_SIZE(page);
        if (len == 0) {
            done = 1;
            break;
        }
        first = PyList_GET_ITEM(page, 0);
        last = PyList_GET_ITEM(page, len - 1);
        fid = PyDict_Check(first) ? PyDict_GetItemWithError(first, idk) : NULL;
        if (fid == NULL && PyErr_Occurred())
            goto fail;
        lid = PyDict_Check(last) ? PyDict_GetItemWithError(last, idk) : NULL;
        if (lid == NULL && PyErr_Occurred())
            goto fail;
        ra = ext_cursor_of(fid, &a);
        rb = ra < 0 ? -1 : ext_cursor_of(lid, &b);
        if (ra < 0 || rb < 0)
            goto fail;
        if (ra == 0 || rb == 0) {
            bad = i;
            reason = "no numeric id";
            break;
        }
        if (a <= cursor || b < a || (hi >= 0 && b > hi)) {
            bad = i;
            reason = "ids out of order";
            break;
        }
        {
            Py_ssize_t at = PyList_GET_SIZE(rows);
            if (PyList_SetSlice(rows, at, at, page) < 0)
                goto fail;
        }
        cursor = b;
        if (len < B24_V2_PAGE_SIZE || (hi >= 0 && cursor >= hi)) {
            done = 1;
            break;
        }
    }
    Py_DECREF(idk);
    return Py_BuildValue("(NLinz)", rows, cursor, done, bad, reason);
fail:
    Py_DECREF(idk);
    Py_DECREF(rows);
    return NULL;
}

static PyMethodDef act_methods[] = {
    {"qs_encode", (PyCFunction)act_qs_encode, METH_O,
     "qs_encode($module, params, /)\n--\n\n"
     "PHP-style bracket query string of a mapping (spec 6.6.2)."},
    {"batch_command", (PyCFunction)(void (*)(void))act_batch_command,
     METH_FASTCALL,
     "batch_command($module, method, params, /)\n--\n\n"
     "The v2 batch command string method?qs(params)."},
    {"parse_cursor", (PyCFunction)act_parse_cursor, METH_O,
     "parse_cursor($module, value, /)\n--\n\n"
     "JS parseInt(String(value)) -> int, or None for NaN."},
    {"cmd_form", (PyCFunction)act_cmd_form, METH_O,
     "cmd_form($module, aliases, /)\n--\n\n"
     "-> (form, bad): 0 list, 1 object, 2 mixed (bad = first offender)."},
    {"batch_count_error", (PyCFunction)act_batch_count_error, METH_O,
     "batch_count_error($module, n, /)\n--\n\n"
     "None for 1..50 commands, else the error message."},
    {"batch_chunks", (PyCFunction)act_batch_chunks, METH_VARARGS,
     "batch_chunks($module, n, size, /)\n--\n\n"
     "[(start, length), ...] of consecutive chunks."},
    {"export_commands", (PyCFunction)act_export_commands, METH_VARARGS,
     "export_commands($module, cursor, hi, /)\n--\n\n"
     "Pages worth planning in the next batch of a shard (hi < 0: open)."},
    {"export_shards", (PyCFunction)act_export_shards, METH_VARARGS,
     "export_shards($module, lo, hi, want, min_span, /)\n--\n\n"
     "Upper bounds of the shards of (lo, hi]."},
    {"export_plan", (PyCFunction)(void (*)(void))act_export_plan,
     METH_VARARGS | METH_KEYWORDS,
     "export_plan($module, /, *, pages_left=0.0, page_s=0.0, page_cost_s=0.0, "
     "rtt_s=0.0, tokens=50.0, drain=0.0, reserve=0, max_flights=50, "
     "in_flight=0, budget_limit_s=0.0, budget_used_s=0.0, "
     "budget_inflight_s=0.0, reset_in_s=-1.0, window_s=0.0, margin=-1.0, "
     "budget_stale=False)\n--\n\n"
     "The export planner: -> (flights, pages, wait_s, budget_bound, eta_s)."},
    {"export_batch", (PyCFunction)act_export_batch, METH_VARARGS,
     "export_batch($module, method, base_params, gt_key, cursor, n, "
     "container, id_key, /)\n--\n\n"
     "Named v2 batch commands p0..p{n-1} of chained keyset pages."},
    {"export_collect", (PyCFunction)act_export_collect, METH_VARARGS,
     "export_collect($module, results, n, container, id_key, cursor, hi, /)"
     "\n--\n\n-> (rows, cursor, done, bad_index, reason)."},
    {NULL, NULL, 0, NULL}};

int
actions_register(PyObject *module)
{
    return PyModule_AddFunctions(module, act_methods);
}
