/* convert.c - PyObject -> JSON text, and JSON text -> PyObject in one pass
 * (STYLE §1.1, §3.8). */
#include "ext.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* ---- encoding ---------------------------------------------------------- */

struct enc {
    struct mod_state *st;
    struct b24_buf *out;
    PyObject *stack[CONV_MAX_DEPTH + 1]; /* borrowed: ancestors */
    int depth;
};

static int
enc_nomem(struct b24_buf *out, enum b24_status s)
{
    (void)out;
    ext_raise_status(s, "JSON text exceeds the size cap", PyExc_MemoryError);
    return -1;
}

#define PUT(e_, p_, n_)                                                   \
    do {                                                                  \
        enum b24_status s_ = b24_buf_append((e_)->out, (p_), (n_));       \
        if (s_ != B24_OK)                                                 \
            return enc_nomem((e_)->out, s_);                              \
    } while (0)
#define PUTS(e_, lit_) PUT(e_, lit_, sizeof(lit_) - 1)

static int
enc_utf8(struct enc *e, const char *s, Py_ssize_t n)
{
    static const char hex[] = "0123456789abcdef";
    Py_ssize_t i, run = 0;
    PUTS(e, "\"");
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char u[6];
        size_t el = 2;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        default:
            u[0] = '\\';
            u[1] = 'u';
            u[2] = '0';
            u[3] = '0';
            u[4] = hex[c >> 4];
            u[5] = hex[c & 15];
            esc = u;
            el = 6;
        }
        PUT(e, s + run, (size_t)(i - run));
        PUT(e, esc, el);
        run = i + 1;
    }
    PUT(e, s + run, (size_t)(n - run));
    PUTS(e, "\"");
    return 0;
}

static int
enc_str(struct enc *e, PyObject *obj)
{
    Py_ssize_t n;
    const char *s = PyUnicode_AsUTF8AndSize(obj, &n);
    if (s == NULL) {
        if (PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) {
            PyErr_Clear();
            PyErr_SetString(e->st->params_error,
                            "string is not valid Unicode (lone surrogate)");
        }
        return -1;
    }
    return enc_utf8(e, s, n);
}

static int
enc_int(struct enc *e, PyObject *obj)
{
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(obj, &overflow);
    if (v == -1 && PyErr_Occurred())
        return -1;
    if (!overflow) {
        enum b24_status s = b24_buf_printf(e->out, "%lld", v);
        return s == B24_OK ? 0 : enc_nomem(e->out, s);
    }
    {
        PyObject *r = PyLong_Type.tp_repr(obj); /* int.__repr__: digits */
        Py_ssize_t n;
        const char *s;
        if (r == NULL) {
            /* over sys.get_int_max_str_digits(): refused as input */
            if (PyErr_ExceptionMatches(PyExc_ValueError)) {
                PyErr_Clear();
                PyErr_SetString(e->st->params_error,
                                "integer has more digits than "
                                "sys.get_int_max_str_digits() allows");
            }
            return -1;
        }
        s = PyUnicode_AsUTF8AndSize(r, &n);
        if (s == NULL) {
            Py_DECREF(r);
            return -1;
        }
        {
            enum b24_status bs = b24_buf_append(e->out, s, (size_t)n);
            Py_DECREF(r);
            if (bs != B24_OK)
                return enc_nomem(e->out, bs);
        }
        return 0;
    }
}

static int
enc_float(struct enc *e, double d)
{
    char *r;
    enum b24_status s;
    if (!isfinite(d)) {
        PyErr_Format(e->st->params_error,
                     "float %s is not allowed in JSON",
                     isnan(d) ? "NaN" : (d > 0 ? "Infinity" : "-Infinity"));
        return -1;
    }
    r = PyOS_double_to_string(d, 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
    if (r == NULL)
        return -1;
    s = b24_buf_appends(e->out, r);
    PyMem_Free(r);
    return s == B24_OK ? 0 : enc_nomem(e->out, s);
}

static int enc_value(struct enc *e, PyObject *obj, int flags);

static int
enc_push(struct enc *e, PyObject *obj)
{
    int i;
    for (i = 0; i < e->depth; i++) {
        if (e->stack[i] == obj) {
            PyErr_SetString(e->st->params_error,
                            "circular reference detected");
            return -1;
        }
    }
    if (e->depth >= CONV_MAX_DEPTH) {
        PyErr_Format(e->st->params_error, "nesting deeper than %d levels",
                     CONV_MAX_DEPTH);
        return -1;
    }
    e->stack[e->depth++] = obj;
    return 0;
}

static int
enc_key(struct enc *e, PyObject *key)
{
    if (PyUnicode_Check(key))
        return enc_str(e, key);
    if (key == Py_True) {
        PUTS(e, "\"true\"");
        return 0;
    }
    if (key == Py_False) {
        PUTS(e, "\"false\"");
        return 0;
    }
    if (key == Py_None) {
        PUTS(e, "\"null\"");
        return 0;
    }
    if (PyLong_Check(key)) {
        PUTS(e, "\"");
        if (enc_int(e, key) < 0)
            return -1;
        PUTS(e, "\"");
        return 0;
    }
    if (PyFloat_Check(key)) {
        PUTS(e, "\"");
        if (enc_float(e, PyFloat_AS_DOUBLE(key)) < 0)
            return -1;
        PUTS(e, "\"");
        return 0;
    }
    PyErr_Format(e->st->params_error,
                 "keys must be str, int, float, bool or None, not %.100s",
                 Py_TYPE(key)->tp_name);
    return -1;
}

static int
enc_dict(struct enc *e, PyObject *obj, int flags)
{
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    int first = 1, rc = 0;
    if (enc_push(e, obj) < 0)
        return -1;
    PUTS(e, "{");
    while (PyDict_Next(obj, &pos, &key, &value)) {
        int sub = 0;
        Py_INCREF(key);
        Py_INCREF(value);
        if ((flags & CONV_DROP_DATA_START) && PyUnicode_Check(key) &&
            PyUnicode_CompareWithASCIIString(key, "data") == 0 &&
            PyDict_Check(value))
            sub = 1;
        if (!first && b24_buf_appendc(e->out, ',') != B24_OK)
            rc = enc_nomem(e->out, B24_E_NOMEM);
        if (rc == 0)
            rc = enc_key(e, key);
        if (rc == 0 && b24_buf_appendc(e->out, ':') != B24_OK)
            rc = enc_nomem(e->out, B24_E_NOMEM);
        if (rc == 0 && sub) {
            /* spec §4.2 step 3: a shallow copy whose data loses `start`. */
            Py_ssize_t p2 = 0;
            PyObject *k2, *v2;
            int f2 = 1;
            rc = enc_push(e, value);
            if (rc == 0 && b24_buf_appendc(e->out, '{') != B24_OK)
                rc = enc_nomem(e->out, B24_E_NOMEM);
            while (rc == 0 && PyDict_Next(value, &p2, &k2, &v2)) {
                if (PyUnicode_Check(k2) &&
                    PyUnicode_CompareWithASCIIString(k2, "start") == 0)
                    continue;
                Py_INCREF(k2);
                Py_INCREF(v2);
                if (!f2 && b24_buf_appendc(e->out, ',') != B24_OK)
                    rc = enc_nomem(e->out, B24_E_NOMEM);
                if (rc == 0)
                    rc = enc_key(e, k2);
                if (rc == 0 && b24_buf_appendc(e->out, ':') != B24_OK)
                    rc = enc_nomem(e->out, B24_E_NOMEM);
                if (rc == 0)
                    rc = enc_value(e, v2, 0);
                Py_DECREF(k2);
                Py_DECREF(v2);
                f2 = 0;
            }
            if (rc == 0) {
                e->depth--;
                if (b24_buf_appendc(e->out, '}') != B24_OK)
                    rc = enc_nomem(e->out, B24_E_NOMEM);
            }
        } else if (rc == 0) {
            rc = enc_value(e, value, 0);
        }
        Py_DECREF(key);
        Py_DECREF(value);
        if (rc < 0)
            return -1;
        first = 0;
    }
    PUTS(e, "}");
    e->depth--;
    return 0;
}

static int
enc_seq(struct enc *e, PyObject *obj, int as_object)
{
    PyObject *fast = PySequence_Fast(obj, "expected a sequence");
    Py_ssize_t i, n;
    if (fast == NULL)
        return -1;
    if (enc_push(e, obj) < 0) {
        Py_DECREF(fast);
        return -1;
    }
    if (b24_buf_appendc(e->out, as_object ? '{' : '[') != B24_OK)
        goto nomem;
    n = PySequence_Fast_GET_SIZE(fast);
    for (i = 0; i < n; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(fast, i);
        int rc;
        if (i > 0 && b24_buf_appendc(e->out, ',') != B24_OK)
            goto nomem;
        if (as_object && b24_buf_printf(e->out, "\"%zd\":", i) != B24_OK)
            goto nomem;
        Py_INCREF(item);
        rc = enc_value(e, item, 0);
        Py_DECREF(item);
        if (rc < 0) {
            Py_DECREF(fast);
            return -1;
        }
        /* A list may shrink while a callee (isoformat...) runs. */
        if (n != PySequence_Fast_GET_SIZE(fast)) {
            n = PySequence_Fast_GET_SIZE(fast);
        }
    }
    Py_DECREF(fast);
    e->depth--;
    PUT(e, as_object ? "}" : "]", 1);
    return 0;
nomem:
    Py_DECREF(fast);
    return enc_nomem(e->out, B24_E_NOMEM);
}

/* Encode the text result of obj.<meth>() or str(obj) as a JSON string. */
static int
enc_text_of(struct enc *e, PyObject *obj, PyObject *meth)
{
    PyObject *t = meth ? PyObject_CallMethodNoArgs(obj, meth)
                       : PyObject_Str(obj);
    int rc;
    if (t == NULL)
        return -1;
    if (!PyUnicode_Check(t)) {
        PyErr_Format(e->st->params_error, "%.100s conversion did not give "
                     "a str", Py_TYPE(obj)->tp_name);
        Py_DECREF(t);
        return -1;
    }
    rc = enc_str(e, t);
    Py_DECREF(t);
    return rc;
}

static int
enc_value(struct enc *e, PyObject *obj, int flags)
{
    PyTypeObject *tp = Py_TYPE(obj);
    int r;
    if (obj == Py_None) {
        PUTS(e, "null");
        return 0;
    }
    if (obj == Py_True) {
        PUTS(e, "true");
        return 0;
    }
    if (obj == Py_False) {
        PUTS(e, "false");
        return 0;
    }
    if (tp == &PyUnicode_Type)
        return enc_str(e, obj);
    if (tp == &PyLong_Type)
        return enc_int(e, obj);
    if (tp == &PyFloat_Type)
        return enc_float(e, PyFloat_AS_DOUBLE(obj));
    if (tp == &PyDict_Type)
        return enc_dict(e, obj, flags);
    if (tp == &PyList_Type || tp == &PyTuple_Type)
        return enc_seq(e, obj, flags & CONV_LIST_AS_OBJECT);
    /* Subclasses and the conversions of "Decisions taken" item 4. */
    r = PyObject_IsInstance(obj, e->st->enum_type);
    if (r < 0)
        return -1;
    if (r) {
        PyObject *v = PyObject_GetAttr(obj, e->st->str_value);
        int rc;
        if (v == NULL)
            return -1;
        if (enc_push(e, obj) < 0) {
            Py_DECREF(v);
            return -1;
        }
        rc = enc_value(e, v, 0);
        Py_DECREF(v);
        if (rc == 0)
            e->depth--;
        return rc;
    }
    if (PyUnicode_Check(obj))
        return enc_str(e, obj);
    if (PyLong_Check(obj))
        return enc_int(e, obj);
    if (PyFloat_Check(obj))
        return enc_float(e, PyFloat_AS_DOUBLE(obj));
    if (PyDict_Check(obj))
        return enc_dict(e, obj, flags);
    /* A list/tuple subclass is always a JSON array, also at the top level:
     * the v3 batch body (a JSON array at the root, spec §6.6.3) uses one. */
    if (PyList_Check(obj) || PyTuple_Check(obj))
        return enc_seq(e, obj, 0);
    r = PyObject_IsInstance(obj, e->st->date_types);
    if (r < 0)
        return -1;
    if (r)
        return enc_text_of(e, obj, e->st->str_isoformat);
    r = PyObject_IsInstance(obj, e->st->decimal_type);
    if (r < 0)
        return -1;
    if (r)
        return enc_text_of(e, obj, NULL);
    PyErr_Format(e->st->params_error,
                 "Object of type %.100s is not JSON serializable",
                 tp->tp_name);
    return -1;
}

int
conv_encode(struct mod_state *st, PyObject *obj, struct b24_buf *out,
            int flags)
{
    struct enc *e = PyMem_Malloc(sizeof(*e));
    int rc;
    if (e == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    e->st = st;
    e->out = out;
    e->depth = 0;
    rc = enc_value(e, obj, flags);
    PyMem_Free(e);
    return rc;
}

/* ---- decoding ----------------------------------------------------------
 * One pass (STYLE §1.1): the core's strict reader (b24_json.h) calls the
 * callbacks below, which build the Python objects on a value stack.  An
 * array's items and an object's key/value pairs stay on the stack until
 * the container ends; the list is then created at its exact size and the
 * dict presized.  Keys are memoized per answer by their raw bytes, so each
 * distinct key of a page is created and hashed once.  Each entry also
 * remembers the key that followed it last time: the rows of a list page
 * repeat their keys in the same order, so the next key is nearly always
 * the predicted one, checked with one memcmp and no hashing. */

struct memo_entry {
    uint64_t hash;
    const char *s; /* into the text being decoded: the key's raw bytes */
    size_t n;
    PyObject *key; /* owned */
    size_t next;   /* 1 + index of the key that followed this one; 0: none */
};

#define MEMO_MAX ((size_t)1 << 16) /* distinct keys memoized per answer */

struct dec {
    PyObject **stack; /* owned refs in [0, n) */
    size_t n, cap;
    int depth;
    struct memo_entry *memo; /* open addressing, power-of-two size */
    size_t memo_size, memo_used;
    struct memo_entry *last; /* the entry of the previous key, or NULL */
    size_t memo_first;       /* the memo's first size (a power of two) */
    /* stack base of open containers; last, and not zeroed: frames[i] is
     * written by dec_open before dec_end_* reads it (8 KB a call saved) */
    size_t frames[B24_JSON_MAX_DEPTH + 1];
};

static int
dec_push(struct dec *d, PyObject *o)
{
    if (o == NULL)
        return -1;
    if (d->n == d->cap) {
        size_t nc = d->cap ? d->cap * 2 : 256;
        PyObject **ns = PyMem_Realloc(d->stack, nc * sizeof(*ns));
        if (ns == NULL) {
            Py_DECREF(o);
            PyErr_NoMemory();
            return -1;
        }
        d->stack = ns;
        d->cap = nc;
    }
    d->stack[d->n++] = o;
    return 0;
}

static int
dec_open(void *priv)
{
    struct dec *d = priv;
    d->frames[d->depth++] = d->n;
    return 0;
}

static int
dec_end_array(void *priv)
{
    struct dec *d = priv;
    size_t base = d->frames[--d->depth], i, cnt = d->n - base;
    PyObject *list = PyList_New((Py_ssize_t)cnt);
    if (list == NULL)
        return -1;
    for (i = 0; i < cnt; i++)
        PyList_SET_ITEM(list, (Py_ssize_t)i, d->stack[base + i]); /* steals */
    d->n = base;
    return dec_push(d, list);
}

static int
dec_end_object(void *priv)
{
    struct dec *d = priv;
    size_t base = d->frames[--d->depth], i, cnt = (d->n - base) / 2;
    PyObject *dict;
    int rc = 0;
#if PY_VERSION_HEX < 0x030D0000
    dict = _PyDict_NewPresized((Py_ssize_t)cnt);
#else
    dict = PyDict_New();
#endif
    if (dict == NULL)
        return -1;
    for (i = 0; i < cnt; i++) {
        PyObject *k = d->stack[base + 2 * i], *v = d->stack[base + 2 * i + 1];
        if (rc == 0)
            rc = PyDict_SetItem(dict, k, v);
        Py_DECREF(k);
        Py_DECREF(v);
    }
    d->n = base;
    if (rc < 0) {
        Py_DECREF(dict);
        return -1;
    }
    return dec_push(d, dict);
}

/* The str of a reader string (one character: PyUnicode_FromOrdinal, which
 * shares the interpreter's str below U+0100, like json.loads and
 * PyUnicode_DecodeUTF8); ASCII without escapes is copied as is;
 * anything else is built from its code points straight into a str of the
 * right kind (the reader already knows the length and the largest code
 * point), so the text is not decoded a second time. */
static PyObject *
dec_text(const struct b24_json_str *s)
{
    PyObject *u;
    size_t i, n = s->len;
    if (n == 1) /* the interpreter's shared str for code points < 256 */
        return PyUnicode_FromOrdinal(s->cp != NULL
                                         ? (int)s->cp[0]
                                         : (int)(unsigned char)s->raw[0]);
    if (s->cp == NULL) {
        u = PyUnicode_New((Py_ssize_t)n, 127);
        if (u != NULL && n > 0)
            memcpy(PyUnicode_1BYTE_DATA(u), s->raw, n);
        return u;
    }
    u = PyUnicode_New((Py_ssize_t)n, (Py_UCS4)s->maxchar);
    if (u == NULL)
        return NULL;
    switch (PyUnicode_KIND(u)) {
    case PyUnicode_1BYTE_KIND: {
        Py_UCS1 *d = PyUnicode_1BYTE_DATA(u);
        for (i = 0; i < n; i++)
            d[i] = (Py_UCS1)s->cp[i];
        break;
    }
    case PyUnicode_2BYTE_KIND: {
        Py_UCS2 *d = PyUnicode_2BYTE_DATA(u);
        for (i = 0; i < n; i++)
            d[i] = (Py_UCS2)s->cp[i];
        break;
    }
    default: {
        Py_UCS4 *d = PyUnicode_4BYTE_DATA(u);
        for (i = 0; i < n; i++)
            d[i] = (Py_UCS4)s->cp[i];
        break;
    }
    }
    return u;
}

static int
dec_string(void *priv, const struct b24_json_str *s)
{
    return dec_push(priv, dec_text(s));
}

static int
memo_grow(struct dec *d)
{
    size_t ns = d->memo_size ? d->memo_size * 2 : d->memo_first, i;
    struct memo_entry *nm = PyMem_Calloc(ns, sizeof(*nm));
    size_t *moved = NULL; /* old index -> new index */
    if (nm == NULL ||
        (d->memo_size > 0 &&
         (moved = PyMem_Malloc(d->memo_size * sizeof(*moved))) == NULL)) {
        PyMem_Free(nm);
        PyErr_NoMemory();
        return -1;
    }
    for (i = 0; i < d->memo_size; i++) {
        struct memo_entry *e = &d->memo[i];
        size_t j;
        if (e->key == NULL)
            continue;
        for (j = (size_t)e->hash & (ns - 1); nm[j].key != NULL;
             j = (j + 1) & (ns - 1))
            ;
        nm[j] = *e;
        moved[i] = j;
    }
    /* the predictions survive the move (a page's first row outgrows the
     * first table: resetting them would make the second row unpredicted) */
    for (i = 0; i < d->memo_size; i++)
        if (d->memo[i].key != NULL && d->memo[i].next != 0)
            nm[moved[i]].next = moved[d->memo[i].next - 1] + 1;
    if (d->last != NULL)
        d->last = &nm[moved[d->last - d->memo]];
    PyMem_Free(moved);
    PyMem_Free(d->memo);
    d->memo = nm;
    d->memo_size = ns;
    return 0;
}

/* Keys are memoized by their raw bytes (equal raw bytes, escapes
 * included, are equal strings; the raw bytes live as long as the text). */
static int
dec_key(void *priv, const struct b24_json_str *ks)
{
    struct dec *d = priv;
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    const char *s = ks->raw;
    size_t n = ks->raw_len;
    size_t i, j;
    PyObject *k;
    if (d->last != NULL && d->last->next != 0) {
        struct memo_entry *e = &d->memo[d->last->next - 1];
        if (e->n == n && memcmp(e->s, s, n) == 0) {
            d->last = e;
            return dec_push(d, Py_NewRef(e->key));
        }
    }
    for (i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    if (d->memo_size > 0) {
        for (j = (size_t)h & (d->memo_size - 1); d->memo[j].key != NULL;
             j = (j + 1) & (d->memo_size - 1)) {
            struct memo_entry *e = &d->memo[j];
            if (e->hash == h && e->n == n && memcmp(e->s, s, n) == 0) {
                if (d->last != NULL)
                    d->last->next = j + 1;
                d->last = e;
                return dec_push(d, Py_NewRef(e->key));
            }
        }
    }
    k = dec_text(ks);
    if (k == NULL)
        return -1;
    if (d->memo_used < MEMO_MAX) {
        if (2 * (d->memo_used + 1) > d->memo_size && memo_grow(d) < 0) {
            Py_DECREF(k);
            return -1;
        }
        /* hash once now: every dict insert of this key reuses it */
        if (PyObject_Hash(k) == -1) {
            Py_DECREF(k);
            return -1;
        }
        for (j = (size_t)h & (d->memo_size - 1); d->memo[j].key != NULL;
             j = (j + 1) & (d->memo_size - 1))
            ;
        d->memo[j].hash = h;
        d->memo[j].s = s;
        d->memo[j].n = n;
        d->memo[j].key = Py_NewRef(k);
        d->memo[j].next = 0;
        d->memo_used++;
        if (d->last != NULL)
            d->last->next = j + 1;
        d->last = &d->memo[j];
    } else {
        d->last = NULL;
    }
    return dec_push(d, k);
}

/* The key the memo predicts (the one that followed the previous key last
 * time), taken without the reader scanning it when the text repeats its
 * raw bytes: the rows of a list page repeat their keys in order, so most
 * keys of a page cost one memcmp. */
static int
dec_key_guess(void *priv, const char *at, size_t avail, size_t *len)
{
    struct dec *d = priv;
    struct memo_entry *e;
    if (d->last == NULL || d->last->next == 0)
        return 0;
    e = &d->memo[d->last->next - 1];
    /* "" cannot be claimed (a length of 0 means no claim) */
    if (e->n == 0 || e->n >= avail || at[e->n] != '"' ||
        memcmp(e->s, at, e->n) != 0)
        return 0;
    d->last = e;
    *len = e->n;
    return dec_push(d, Py_NewRef(e->key));
}

/* A JSON number token (already checked by the reader) as the double
 * nearest to it, when that takes one exact IEEE operation (Clinger's fast
 * path): its digits form an integer w <= 2**53 and its decimal exponent q
 * has |q| <= 22, so w and 10**|q| are both exact doubles and w * 10**q or
 * w / 10**-q is rounded once, correctly.  0 when the token is outside that
 * (more digits, a larger exponent): the caller takes the general path. */
static int
fast_double(const char *tok, size_t n, double *out)
{
    static const double p10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,
                                 1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                 1e12, 1e13, 1e14, 1e15, 1e16, 1e17,
                                 1e18, 1e19, 1e20, 1e21, 1e22};
    size_t i = tok[0] == '-', digits = 0;
    uint64_t w = 0;
    long q = 0, e = 0;
    int eneg = 0;
    double v;
    for (; i < n && tok[i] >= '0' && tok[i] <= '9'; i++, digits++)
        w = w * 10 + (uint64_t)(tok[i] - '0');
    if (i < n && tok[i] == '.')
        for (i++; i < n && tok[i] >= '0' && tok[i] <= '9'; i++, digits++) {
            w = w * 10 + (uint64_t)(tok[i] - '0');
            q--;
        }
    if (digits > 19) /* w may have wrapped */
        return 0;
    if (i < n) { /* e or E, a sign, digits */
        i++;
        if (tok[i] == '-' || tok[i] == '+')
            eneg = tok[i++] == '-';
        for (; i < n; i++) {
            e = e * 10 + (tok[i] - '0');
            if (e > 1000)
                return 0;
        }
        q += eneg ? -e : e;
    }
    if (w > ((uint64_t)1 << 53) || q < -22 || q > 22)
        return 0;
    v = q >= 0 ? (double)w * p10[q] : (double)w / p10[-q];
    *out = tok[0] == '-' ? -v : v;
    return 1;
}

/* The number rule: an integer token is an exact int; any other token is
 * a double, and an integral double below 2**53 becomes an int (so "2.0"
 * gives 2); beyond the double range +-inf, like float("1e400"). */
static int
dec_number(void *priv, const char *tok, size_t n, int is_int)
{
    char small[64], *buf = small;
    PyObject *o;
    double v;
    if (is_int && n <= 19) {
        size_t i = tok[0] == '-';
        long long x = 0;
        if (n - i <= 18) {
            for (; i < n; i++)
                x = x * 10 + (tok[i] - '0');
            return dec_push(priv,
                            PyLong_FromLongLong(tok[0] == '-' ? -x : x));
        }
    }
    if (is_int || !fast_double(tok, n, &v)) {
        if (n >= sizeof(small)) {
            buf = PyMem_Malloc(n + 1);
            if (buf == NULL) {
                PyErr_NoMemory();
                return -1;
            }
        }
        memcpy(buf, tok, n);
        buf[n] = '\0';
        if (is_int) {
            o = PyLong_FromString(buf, NULL, 10);
            if (o != NULL || !PyErr_ExceptionMatches(PyExc_ValueError))
                goto done;
            /* more digits than int's max_str_digits: the double (+-inf) */
            PyErr_Clear();
        }
        v = PyOS_string_to_double(buf, NULL, NULL);
        if (v == -1.0 && PyErr_Occurred()) {
            o = NULL;
            goto done;
        }
    }
    if (isfinite(v) && v == floor(v) && fabs(v) < 9007199254740992.0)
        o = PyLong_FromLongLong((long long)v);
    else
        o = PyFloat_FromDouble(v);
done:
    if (buf != small)
        PyMem_Free(buf);
    return dec_push(priv, o);
}

static int
dec_bool(void *priv, int value)
{
    return dec_push(priv, PyBool_FromLong(value));
}

static int
dec_null(void *priv)
{
    return dec_push(priv, Py_NewRef(Py_None));
}

static const struct b24_json_cb dec_cb = {
    dec_open,   dec_key,    dec_end_object, dec_open, dec_end_array,
    dec_string, dec_number, dec_bool,       dec_null, dec_key_guess};

PyObject *
conv_decode_answer(const char *text, size_t len, enum b24_status *rc,
                   struct b24_error *err)
{
    struct dec *d = PyMem_Malloc(sizeof(*d));
    PyObject *res = NULL;
    size_t i;
    if (d == NULL)
        return PyErr_NoMemory();
    memset(d, 0, offsetof(struct dec, frames));
    /* 256 for a page (~70 distinct keys, 58 per row: a table outgrown in
     * the first row costs a rehash); 32 for a short answer (server.time has
     * 10 keys), whose 256-entry table cost more to zero and walk than the
     * whole rest of its decode.  Either grows, predictions kept. */
    d->memo_first = len < 4096 ? 32 : 256;
    memset(err, 0, sizeof(*err));
    *rc = b24_json_sax_parse(text, len, &dec_cb, d, err);
    if (*rc == B24_OK && d->n == 1) {
        res = d->stack[0];
        d->n = 0;
    } else if (!PyErr_Occurred()) {
        if (*rc == B24_OK)
            *rc = B24_E_JSON;
        if (*rc != B24_E_JSON && *rc != B24_E_LIMIT)
            ext_raise_status(*rc, NULL, NULL);
    }
    for (i = 0; i < d->n; i++)
        Py_DECREF(d->stack[i]);
    for (i = 0; i < d->memo_size; i++)
        Py_XDECREF(d->memo[i].key);
    PyMem_Free(d->memo);
    PyMem_Free(d->stack);
    PyMem_Free(d);
    return res;
}

PyObject *
conv_decode_json(const char *text, size_t len)
{
    struct b24_error err;
    enum b24_status rc;
    PyObject *res = conv_decode_answer(text, len, &rc, &err);
    if (res == NULL && !PyErr_Occurred())
        /* "invalid JSON ... at byte N" or a cap that was hit */
        ext_raise_status(rc, err.message, NULL);
    return res;
}
