/* fuzz_convert.c - libFuzzer target: JSON bytes -> conv_decode_json
 * (csrc/ext/convert.c: the core's reader driving the glue's callbacks)
 * against json.loads, in an embedded CPython.
 *
 * Oracle (STYLE §3.8): for text json.loads accepts (UTF-8, no NaN/Infinity
 * constants), decode == json.loads after the number rule (an integer token
 * is an exact int; other numbers are float, or int when integral and below
 * 2**53; beyond the double range +-inf).  Known, documented differences
 * are skipped: escaped lone surrogates are rejected, nesting is capped at
 * 1000, more digits than int's max_str_digits give a float.  Texts
 * json.loads rejects must be rejected with a clean ValueError. */
#include "ext.h"

#include <stdint.h>
#include <stdlib.h>

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static PyObject *check_fn; /* owned for the process lifetime */

static const char oracle[] =
    "import json, math\n"
    "def _const(name):\n"
    "    raise ValueError('constant ' + name)\n"
    "def _norm(x):\n"
    "    if isinstance(x, bool) or x is None or isinstance(x, str):\n"
    "        return x\n"
    "    if isinstance(x, int): return x\n"
    "    if isinstance(x, float):\n"
    "        return int(x) if x.is_integer() and abs(x) < 2**53 else x\n"
    "    if isinstance(x, list): return [_norm(v) for v in x]\n"
    "    return {k: _norm(v) for k, v in x.items()}\n"
    "def check(data, got, ok, limit):\n"
    "    try:\n"
    "        want = _norm(json.loads(data.decode('utf-8-sig'),\n"
    "                                parse_constant=_const))\n"
    "    except (ValueError, RecursionError) as exc:\n"
    "        if 'digits' in str(exc): return\n"
    "        if ok: raise AssertionError('accepted invalid JSON')\n"
    "        return\n"
    "    if not ok:\n"
    "        if limit or b'\\\\u' in data: return\n"
    "        raise AssertionError('rejected valid JSON')\n"
    "    if want != got:\n"
    "        raise AssertionError('decode differs from json.loads')\n";

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    PyObject *mod, *code;
    (void)argc;
    (void)argv;
    Py_InitializeEx(0);
    code = Py_CompileString(oracle, "fuzz_convert_oracle", Py_file_input);
    if (code == NULL)
        goto fail;
    mod = PyImport_ExecCodeModule("fuzz_convert_oracle", code);
    Py_DECREF(code);
    if (mod == NULL)
        goto fail;
    check_fn = PyObject_GetAttrString(mod, "check");
    Py_DECREF(mod);
    if (check_fn == NULL)
        goto fail;
    return 0;
fail:
    PyErr_Print();
    abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    PyObject *got, *bytes, *r;
    int ok, limit = 0;

    got = conv_decode_json((const char *)data, size);
    ok = got != NULL;
    if (!ok) {
        PyObject *t, *v, *tb;
        PyErr_Fetch(&t, &v, &tb);
        /* only a plain ValueError "... at byte N" */
        if (t != PyExc_ValueError || v == NULL) {
            PyErr_Restore(t, v, tb);
            PyErr_Print();
            abort();
        }
        {
            const char *m = PyUnicode_Check(v) ? PyUnicode_AsUTF8(v) : NULL;
            PyObject *sv = m ? NULL : PyObject_Str(v);
            if (m == NULL && sv != NULL)
                m = PyUnicode_AsUTF8(sv);
            if (m == NULL || strstr(m, "at byte") == NULL)
                abort();
            limit = strstr(m, "cap") != NULL || strstr(m, "nesting") != NULL;
            Py_XDECREF(sv);
        }
        Py_XDECREF(t);
        Py_XDECREF(v);
        Py_XDECREF(tb);
    }
    bytes = PyBytes_FromStringAndSize((const char *)data, (Py_ssize_t)size);
    if (bytes == NULL)
        abort();
    r = PyObject_CallFunction(check_fn, "OOii", bytes,
                              got ? got : Py_None, ok, limit);
    Py_DECREF(bytes);
    Py_XDECREF(got);
    if (r == NULL) {
        PyErr_Print();
        abort();
    }
    Py_DECREF(r);
    return 0;
}
