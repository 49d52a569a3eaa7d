/* ext.h - shared declarations of the CPython glue (module state, converters).
 * Only csrc/ext includes Python.h. */
#ifndef B24_EXT_H
#define B24_EXT_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <cjson/cJSON.h>

#include "b24_buf.h"
#include "b24_json.h"

/* Per-module state (m_size = sizeof).  Every PyObject* is owned. */
struct mod_state {
    PyTypeObject *transport_type;
    PyTypeObject *outcome_type;
    PyObject *params_error;
    PyObject *closed_error;
    PyObject *cancelled_error;
    PyObject *date_types;   /* (datetime.date, datetime.time) */
    PyObject *decimal_type; /* decimal.Decimal */
    PyObject *enum_type;    /* enum.Enum */
    PyObject *str_isoformat;
    PyObject *str_value;
    PyObject *str_strip;
    PyObject *ajax_error_create; /* b24hook._errors.AjaxError.create, or
                                    NULL until first needed */
};

/* convert.c */
#define CONV_MAX_DEPTH 512
#define CONV_LIST_AS_OBJECT 1 /* top-level list/tuple -> {"0":..,"1":..} */
#define CONV_DROP_DATA_START 2 /* top-level dict: data.start removed */

/* Append the JSON text of `obj` to `out`.  Returns 0, or -1 with an
 * exception set (ParamsError for unencodable input, MemoryError). */
int conv_encode(struct mod_state *st, PyObject *obj, struct b24_buf *out,
                int flags);
/* New reference: the JSON text of `len` bytes (one UTF-8 BOM skipped)
 * read in one pass straight to Python objects; or NULL with ValueError
 * ("invalid JSON ... at byte N", a cap) or MemoryError. */
PyObject *conv_decode_json(const char *text, size_t len);

/* actions.c: lists, batches, export (b24_qs, b24_list, b24_batch) */
int actions_register(PyObject *module);

/* errors.c: the one mapping from a core classification to an exception.
 *
 * Set the Python exception of a core status and return NULL:
 * B24_E_NOMEM -> MemoryError; refused input (B24_E_USAGE, B24_E_JSON,
 * B24_E_LIMIT) -> `refused` (NULL: ValueError) with `message`; any other
 * status -> RuntimeError naming it. */
PyObject *ext_raise_status(enum b24_status rc, const char *message,
                           PyObject *refused);
/* New reference: AjaxError.create(code or "JSSDK_UNKNOWN_ERROR", status,
 * message, RuntimeError(detail) or None, query,
 * maybe_committed=maybe_committed); NULL with an exception set.  code,
 * message, detail, query: borrowed, str/None (query: a mapping). */
PyObject *ext_ajax_error(struct mod_state *st, PyObject *code,
                         PyObject *message, long status, PyObject *detail,
                         int maybe_committed, PyObject *query);
int errors_register(PyObject *module);

/* transport.c */
int transport_register(PyObject *module, struct mod_state *st);

#endif /* B24_EXT_H */
