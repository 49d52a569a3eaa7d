/* outcome.c - the Outcome type (a PyStructSequence) and the conversion
 * of a core exchange (struct b24_outcome) into one: the answer decoded
 * once, straight to Python objects; the headers as a dict. */
#include "ext.h"

#include <string.h>

#include "b24_envelope.h"

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

/* The str of a header name (lower-cased by the core): the module's cached
 * one when this name was met before, else a new one that takes the slot
 * (ASCII names only: every str in a slot is compact ASCII). */
static PyObject *
header_name(struct mod_state *st, const char *s)
{
    size_t n = strlen(s), i;
    unsigned h = (unsigned)n;
    PyObject **slot, *r;
    for (i = 0; i < n; i++)
        h = h * 31u + (unsigned char)s[i];
    slot = &st->header_names[h % EXT_HEADER_NAME_SLOTS];
    r = *slot;
    if (r != NULL && (size_t)PyUnicode_GET_LENGTH(r) == n &&
        memcmp(PyUnicode_DATA(r), s, n) == 0)
        return Py_NewRef(r);
    r = header_text(s);
    if (r != NULL && PyUnicode_IS_COMPACT_ASCII(r))
        Py_XSETREF(*slot, Py_NewRef(r));
    return r;
}

PyObject *
ext_outcome_new(struct mod_state *st, struct b24_outcome *o)
{
    PyObject *res = NULL, *answer = NULL, *headers = NULL, *v;
    size_t i;

    if (o->answer != NULL) {
        enum b24_status rc;
        struct b24_error err;
        answer = conv_decode_answer(o->answer, o->answer_len, &rc, &err);
        if (answer == NULL) {
            if (PyErr_Occurred())
                return NULL;
            if (b24_envelope_reject(o, rc, &err) != B24_OK)
                return PyErr_NoMemory();
        }
    }
    if (answer == NULL)
        answer = Py_NewRef(Py_None);
    headers = PyDict_New();
    if (headers == NULL)
        goto fail;
    for (i = 0; i < o->nheaders; i++) {
        PyObject *k = header_name(st, o->headers[i].name);
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
    SET(OUTCOME_KIND, PyLong_FromLong((long)o->kind));
    SET(OUTCOME_STATUS, PyLong_FromLong(o->status));
    PyStructSequence_SetItem(res, OUTCOME_ANSWER, answer); /* steals */
    answer = NULL;
    SET(OUTCOME_CODE, ext_text_or_none(o->code));
    SET(OUTCOME_MESSAGE, ext_text_or_none(o->message));
    SET(OUTCOME_MAYBE_SENT, PyBool_FromLong(o->maybe_sent));
    SET(OUTCOME_ELAPSED_MS, PyFloat_FromDouble(o->elapsed_ms));
    SET(OUTCOME_DETAIL, ext_text_or_none(o->detail));
    PyStructSequence_SetItem(res, OUTCOME_HEADERS, headers); /* steals */
    headers = NULL;
#undef SET
    return res;
fail:
    Py_XDECREF(answer);
    Py_XDECREF(headers);
    Py_XDECREF(res);
    return NULL;
}

/* ---- the Outcome type -------------------------------------------------- */

static PyStructSequence_Field outcome_fields[] = {
    {"kind", "OK, FAILED or ERROR"},
    {"status", "HTTP status; 0 without response; 408 on timeout"},
    {"answer", "parsed JSON body or None"},
    {"code", "error code or None"},
    {"message", "error message or None (secret-free)"},
    {"maybe_sent", "the request may have reached the server"},
    {"elapsed_ms", "wall time of the exchange"},
    {"detail", "libcurl/OS text, secret scrubbed, or None"},
    {"headers", "response headers, lower-cased names"},
    {NULL, NULL}};

static PyStructSequence_Desc outcome_desc = {
    "b24hook._core.Outcome", "Result of Transport.perform.", outcome_fields,
    OUTCOME_NFIELDS};

int
outcome_register(PyObject *module, struct mod_state *st)
{
    st->outcome_type = PyStructSequence_NewType(&outcome_desc);
    /* One extra reference, never released: a structseq instance reads its
     * field count from its type's dict when it is freed, and the cyclic GC
     * clears that dict when the type looks unreachable at interpreter
     * shutdown ("SystemError: Objects/longobject.c:575" from tp_clear).
     * An outside reference keeps the type out of the garbage set, so an
     * Outcome that outlives the module still dies cleanly.  Cost: one type
     * object per module instance is left to the OS at exit. */
    Py_XINCREF(st->outcome_type);
    if (st->outcome_type == NULL ||
        PyModule_AddObjectRef(module, "Outcome",
                              (PyObject *)st->outcome_type) < 0)
        return -1;
    return 0;
}
