/* actions.c - _core functions behind lists, batches and the export:
 * PHP bracket encoding of Python params, cursor parsing, keyset steps,
 * batch forms and chunks, and the chained-batch export (plan + collect).
 * The planning itself lives in csrc/core (b24_qs, b24_list, b24_batch). */
#include "ext.h"

#include <stdio.h>
#include <string.h>

#include "b24_batch.h"
#include "b24_list.h"
#include "b24_qs.h"

/* ---- bracket encoding of Python objects -------------------------------- */

static int
qs_fail(enum b24_status rc)
{
    ext_raise_status(rc, "query string exceeds the size cap",
                     PyExc_MemoryError);
    return -1;
}

/* A str UTF-8 cannot carry (a lone surrogate) is refused input. */
static int
qs_unicode_fail(struct mod_state *st)
{
    if (PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) {
        PyErr_Clear();
        PyErr_SetString(st->params_error,
                        "string is not valid Unicode (lone surrogate)");
    }
    return -1;
}

static int
qs_text(struct mod_state *st, struct b24_qs *q, PyObject *s)
{
    Py_ssize_t n;
    const char *u = PyUnicode_AsUTF8AndSize(s, &n);
    enum b24_status rc;
    if (u == NULL)
        return qs_unicode_fail(st);
    rc = b24_qs_value(q, u, (size_t)n);
    return rc == B24_OK ? 0 : qs_fail(rc);
}

static int qs_walk(struct mod_state *st, struct b24_qs *q, PyObject *obj,
                   int depth);

static int
qs_push_obj_key(struct mod_state *st, struct b24_qs *q, PyObject *key)
{
    PyObject *s = PyUnicode_Check(key) ? Py_NewRef(key) : PyObject_Str(key);
    Py_ssize_t n;
    const char *u;
    enum b24_status rc;
    if (s == NULL)
        return -1;
    u = PyUnicode_AsUTF8AndSize(s, &n);
    if (u == NULL) {
        Py_DECREF(s);
        return qs_unicode_fail(st);
    }
    rc = b24_qs_push_key(q, u, (size_t)n);
    Py_DECREF(s);
    return rc == B24_OK ? 0 : qs_fail(rc);
}

static int
qs_walk_container(struct mod_state *st, struct b24_qs *q, PyObject *obj,
                  int depth)
{
    if (PyDict_Check(obj)) {
        Py_ssize_t pos = 0;
        PyObject *k, *v;
        while (PyDict_Next(obj, &pos, &k, &v)) {
            int r;
            Py_INCREF(k);
            Py_INCREF(v);
            r = qs_push_obj_key(st, q, k);
            if (r == 0)
                r = qs_walk(st, q, v, depth + 1);
            b24_qs_pop(q);
            Py_DECREF(k);
            Py_DECREF(v);
            if (r < 0)
                return -1;
        }
        return 0;
    }
    if (PyList_Check(obj) || PyTuple_Check(obj)) {
        PyObject *fast = PySequence_Fast(obj, "sequence");
        Py_ssize_t i, n;
        if (fast == NULL)
            return -1;
        n = PySequence_Fast_GET_SIZE(fast);
        for (i = 0; i < n; i++) {
            enum b24_status rc = b24_qs_push_index(q, (size_t)i);
            int r = rc == B24_OK ? 0 : qs_fail(rc);
            if (r == 0)
                r = qs_walk(st, q, PySequence_Fast_GET_ITEM(fast, i),
                            depth + 1);
            b24_qs_pop(q);
            if (r < 0) {
                Py_DECREF(fast);
                return -1;
            }
        }
        Py_DECREF(fast);
        return 0;
    }
    return 0;
}

static int
qs_walk(struct mod_state *st, struct b24_qs *q, PyObject *obj, int depth)
{
    char num[64];
    int len;
    if (depth > B24_QS_MAX_DEPTH - 1) {
        PyErr_Format(st->params_error, "nesting deeper than %d levels",
                     B24_QS_MAX_DEPTH - 1);
        return -1;
    }
    if (obj == Py_None)
        return b24_qs_value(q, "", 0) == B24_OK ? 0 : qs_fail(B24_E_NOMEM);
    if (obj == Py_True)
        return b24_qs_value(q, "true", 4) == B24_OK ? 0 : qs_fail(B24_E_NOMEM);
    if (obj == Py_False)
        return b24_qs_value(q, "false", 5) == B24_OK ? 0
                                                      : qs_fail(B24_E_NOMEM);
    if (PyUnicode_Check(obj))
        return qs_text(st, q, obj);
    if (PyLong_Check(obj)) {
        PyObject *s = PyLong_Type.tp_repr(obj);
        int r;
        if (s == NULL) {
            /* over sys.get_int_max_str_digits(): refused as input */
            if (PyErr_ExceptionMatches(PyExc_ValueError)) {
                PyErr_Clear();
                PyErr_SetString(st->params_error,
                                "integer has more digits than "
                                "sys.get_int_max_str_digits() allows");
            }
            return -1;
        }
        r = qs_text(st, q, s);
        Py_DECREF(s);
        return r;
    }
    if (PyFloat_Check(obj)) {
        double d = PyFloat_AS_DOUBLE(obj);
        char *r;
        enum b24_status rc;
        if (d != d || d - d != 0) {
            PyErr_SetString(st->params_error, "NaN/Infinity in params");
            return -1;
        }
        if (d == (double)(long long)d && d > -1e18 && d < 1e18) {
            len = snprintf(num, sizeof(num), "%lld", (long long)d);
            rc = b24_qs_value(q, num, (size_t)len); /* JS String(1.0) = "1" */
            return rc == B24_OK ? 0 : qs_fail(rc);
        }
        r = PyOS_double_to_string(d, 'r', 0, 0, NULL);
        if (r == NULL)
            return -1;
        rc = b24_qs_value(q, r, strlen(r));
        PyMem_Free(r);
        return rc == B24_OK ? 0 : qs_fail(rc);
    }
    if (PyDict_Check(obj) || PyList_Check(obj) || PyTuple_Check(obj)) {
        /* a container already being walked on this thread: a cycle, named
         * as such (issue 9 item 2), not "nested too deeply" */
        int r = Py_ReprEnter(obj);
        if (r != 0) {
            if (r > 0)
                PyErr_SetString(st->params_error,
                                "circular reference detected");
            return -1;
        }
        r = qs_walk_container(st, q, obj, depth);
        Py_ReprLeave(obj);
        return r;
    }
    {
        int r = PyObject_IsInstance(obj, st->date_types);
        PyObject *conv = NULL;
        if (r < 0)
            return -1;
        if (r) {
            conv = PyObject_CallMethodNoArgs(obj, st->str_isoformat);
        } else if ((r = PyObject_IsInstance(obj, st->decimal_type)) != 0) {
            if (r < 0)
                return -1;
            conv = PyObject_Str(obj);
        } else if ((r = PyObject_IsInstance(obj, st->enum_type)) != 0) {
            if (r < 0)
                return -1;
            conv = PyObject_GetAttr(obj, st->str_value);
        } else if (PyMapping_Check(obj) && PyObject_HasAttrString(obj, "items")) {
            PyObject *d = PyDict_New();
            if (d == NULL || PyDict_Update(d, obj) < 0) {
                Py_XDECREF(d);
                return -1;
            }
            conv = d;
        } else {
            PyErr_Format(st->params_error,
                         "a %.100s cannot be sent as a parameter",
                         Py_TYPE(obj)->tp_name);
            return -1;
        }
        if (conv == NULL)
            return -1;
        r = qs_walk(st, q, conv, depth + 1);
        Py_DECREF(conv);
        return r;
    }
}

/* Append qs(params) to `out`; `pairs` continues an earlier string. */
static int
qs_append(struct mod_state *st, struct b24_buf *out, PyObject *params,
          size_t pairs)
{
    struct b24_qs q;
    int r = 0;
    b24_qs_init(&q, out);
    q.pairs = pairs;
    if (params != Py_None) {
        if (!PyDict_Check(params) && !PyMapping_Check(params)) {
            PyErr_SetString(PyExc_TypeError, "params must be a mapping");
            r = -1;
        } else if (PyDict_Check(params) || PyMapping_Check(params)) {
            r = qs_walk(st, &q, params, 0);
        }
    }
    b24_qs_free(&q);
    return r;
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
static int
cursor_of(PyObject *v, long long *out)
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
    int r = cursor_of(v, &x);
    if (r < 0)
        return NULL;
    if (r == 0)
        Py_RETURN_NONE;
    return PyLong_FromLongLong(x);
}

/* keyset_step(v3_rule, page_len, max_page, page_size) -> (step, max_page) */
static PyObject *
act_keyset_step(PyObject *Py_UNUSED(module), PyObject *args)
{
    int v3;
    Py_ssize_t len, maxp, size;
    struct b24_keyset k;
    enum b24_page_step step;
    if (!PyArg_ParseTuple(args, "pnnn", &v3, &len, &maxp, &size))
        return NULL;
    if (len < 0 || maxp < 0 || size < 0) {
        PyErr_SetString(PyExc_ValueError, "negative size");
        return NULL;
    }
    b24_keyset_init(&k, v3, (size_t)size);
    k.max_page = (size_t)maxp;
    step = b24_keyset_step(&k, (size_t)len);
    return Py_BuildValue("(in)", (int)step, (Py_ssize_t)k.max_page);
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
    if (n < 1 || n > B24_BATCH_MAX) {
        PyErr_SetString(PyExc_ValueError, "1..50 commands");
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
        ra = cursor_of(fid, &a);
        rb = ra < 0 ? -1 : cursor_of(lid, &b);
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
        if (len < B24_V2_PAGE || (hi >= 0 && cursor >= hi)) {
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
    {"keyset_step", (PyCFunction)act_keyset_step, METH_VARARGS,
     "keyset_step($module, v3_rule, page_len, max_page, page_size, /)\n--\n\n"
     "-> (step, max_page); step 0 stop, 1 deliver and stop, 2 deliver and "
     "go on."},
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
