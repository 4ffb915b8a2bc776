// Helpers of the fastpy interpreter that re-create what CPython 3.11's ceval.c does with functions the
// interpreter does not export: the same behaviour and the same error messages. Used by interp/eval.cpp only.
#pragma once
#include <Python.h>

struct _PyInterpreterFrame;

namespace fastpy::ceval {

// Interned names, created by interp_init().
extern PyObject* s_name;        // "name" (NameError.name)
extern PyObject* s_enter;       // "__enter__"
extern PyObject* s_exit;        // "__exit__"
extern PyObject* s_import;      // "__import__"
extern PyObject* s_build_class; // "__build_class__"
extern PyObject* s_dunder_name; // "__name__"
extern PyObject* s_dunder_spec; // "__spec__"
extern PyObject* s_initializing; // "_initializing"
extern PyObject* s_dunder_all;  // "__all__"
extern PyObject* s_get;         // "get"
extern PyObject* s_match_args;  // "__match_args__"
extern PyObject* s_dunder_dict; // "__dict__"
extern PyObject* s_annotations; // "__annotations__"

constexpr const char* kNameErrorMsg = "name '%.200s' is not defined";

// format_exc_check_arg(): raises exc_type(fmt % name); a NameError also gets .name (for suggestions).
void raise_with_name(PyObject* exc_type, const char* fmt, PyObject* name);
// `ns[name]` for LOAD_NAME / LOAD_CLASSDEREF: 1 with a new reference in *out, 0 (and *out = nullptr) when
// absent (a KeyError is swallowed), -1 with an exception set.
int lookup_mapping(PyObject* ns, PyObject* name, PyObject** out);
// UnboundLocalError / NameError for LOAD_FAST, DELETE_FAST and the *_DEREF instructions.
void unbound_local(PyCodeObject* co, int oparg);
void unbound_deref(PyCodeObject* co, int oparg);
// The TypeError for a bad `**kwargs` (not a mapping, or a duplicate keyword), replacing the current error.
void kwargs_error(PyObject* func, PyObject* kwargs);
// CHECK_EXC_MATCH's check that `right` may appear in an except clause; false with TypeError set.
bool except_type_valid(PyObject* right);
// RAISE_VARARGS: raise exc (or re-raise the handled exception) with cause; steals both. True when the
// error to unwind is a bare `raise` re-raising (no new traceback entry), false for a new exception.
bool do_raise(PyThreadState* ts, PyObject* exc, PyObject* cause);
// UNPACK_SEQUENCE / UNPACK_EX of an arbitrary iterable into sp[-1], sp[-2], ... (argcntafter = -1: no star).
bool unpack_iterable(PyObject* v, int argcnt, int argcntafter, PyObject** sp);
// IMPORT_NAME, IMPORT_FROM and IMPORT_STAR.
PyObject* import_name(PyThreadState* ts, _PyInterpreterFrame* f, PyObject* name, PyObject* fromlist,
                      PyObject* level);
PyObject* import_from(PyObject* v, PyObject* name);
int import_all_from(PyObject* locals, PyObject* v);
// MATCH_KEYS (values tuple, None, or nullptr on error) and MATCH_CLASS (attributes tuple, or nullptr: no
// match when no error is set).
PyObject* match_keys(PyObject* map, PyObject* keys);
PyObject* match_class(PyObject* subject, PyObject* type, Py_ssize_t nargs, PyObject* kwnames);
// The exception table entry covering code unit `index`: stack depth, handler and whether lasti is pushed.
bool find_handler(PyCodeObject* co, int index, int* level, int* handler, int* lasti);
// The eval breaker's work at a back-edge: 0 = go on, -1 = exception set, 1 = an async exception is pending.
int handle_pending(PyThreadState* ts);

}  // namespace fastpy::ceval
