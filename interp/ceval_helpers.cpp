// See ceval_helpers.h. Each function follows the CPython 3.11 ceval.c helper named in its comment.
// internals.h first: it defines Py_BUILD_CORE before <Python.h>.
#include "python/cpython311/internals.h"
#include "interp/ceval_helpers.h"

namespace fastpy::ceval {

PyObject* s_name;        // "name" (NameError.name)
PyObject* s_enter;       // "__enter__"
PyObject* s_exit;        // "__exit__"
PyObject* s_import;      // "__import__"
PyObject* s_build_class; // "__build_class__"
PyObject* s_dunder_name; // "__name__"
PyObject* s_dunder_spec; // "__spec__"
PyObject* s_initializing; // "_initializing"
PyObject* s_dunder_all;  // "__all__"
PyObject* s_get;         // "get"
PyObject* s_match_args;  // "__match_args__"
PyObject* s_dunder_dict; // "__dict__"
PyObject* s_annotations; // "__annotations__"

int lookup_mapping(PyObject* ns, PyObject* name, PyObject** out) {
  if (PyDict_CheckExact(ns)) {
    *out = Py_XNewRef(PyDict_GetItemWithError(ns, name));
    return *out ? 1 : (PyErr_Occurred() ? -1 : 0);
  }
  *out = PyObject_GetItem(ns, name);
  if (*out) return 1;
  if (!PyErr_ExceptionMatches(PyExc_KeyError)) return -1;
  PyErr_Clear();
  return 0;
}

// ---------------------------------------------------------------- error messages CPython formats itself
// format_exc_check_arg(): NameError carries the name so the traceback printer can suggest another.
void raise_with_name(PyObject* exc_type, const char* fmt, PyObject* name) {
  const char* s = PyUnicode_AsUTF8(name);
  if (!s) return;
  PyErr_Format(exc_type, fmt, s);
  if (exc_type != PyExc_NameError) return;
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  PyErr_NormalizeException(&type, &value, &tb);
  if (PyErr_GivenExceptionMatches(value, PyExc_NameError) &&
      reinterpret_cast<PyNameErrorObject*>(value)->name == nullptr) {
    (void)PyObject_SetAttr(value, s_name, name);
  }
  PyErr_Restore(type, value, tb);
}

constexpr const char* kUnboundLocalMsg =
    "cannot access local variable '%s' where it is not associated with a value";
constexpr const char* kUnboundFreeMsg =
    "cannot access free variable '%s' where it is not associated with a value in enclosing scope";

void unbound_local(PyCodeObject* co, int oparg) {
  raise_with_name(PyExc_UnboundLocalError, kUnboundLocalMsg, PyTuple_GET_ITEM(co->co_localsplusnames, oparg));
}

// format_exc_unbound()
void unbound_deref(PyCodeObject* co, int oparg) {
  if (PyErr_Occurred()) return;
  PyObject* name = PyTuple_GET_ITEM(co->co_localsplusnames, oparg);
  if (oparg < co->co_nplaincellvars + co->co_nlocals) raise_with_name(PyExc_UnboundLocalError, kUnboundLocalMsg, name);
  else raise_with_name(PyExc_NameError, kUnboundFreeMsg, name);
}

// format_kwargs_error()
void kwargs_error(PyObject* func, PyObject* kwargs) {
  if (PyErr_ExceptionMatches(PyExc_AttributeError)) {
    PyErr_Clear();
    if (PyObject* fs = _PyObject_FunctionStr(func)) {
      PyErr_Format(PyExc_TypeError, "%U argument after ** must be a mapping, not %.200s", fs,
                   Py_TYPE(kwargs)->tp_name);
      Py_DECREF(fs);
    }
  } else if (PyErr_ExceptionMatches(PyExc_KeyError)) {
    PyObject *exc, *val, *tb;
    PyErr_Fetch(&exc, &val, &tb);
    if (val && PyTuple_Check(val) && PyTuple_GET_SIZE(val) == 1) {
      PyErr_Clear();
      if (PyObject* fs = _PyObject_FunctionStr(func)) {
        PyErr_Format(PyExc_TypeError, "%U got multiple values for keyword argument '%S'", fs,
                     PyTuple_GET_ITEM(val, 0));
        Py_DECREF(fs);
      }
      Py_XDECREF(exc);
      Py_XDECREF(val);
      Py_XDECREF(tb);
    } else {
      PyErr_Restore(exc, val, tb);
    }
  }
}

// check_except_type_valid()
bool except_type_valid(PyObject* right) {
  static const char* msg = "catching classes that do not inherit from BaseException is not allowed";
  if (PyTuple_Check(right)) {
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(right); i++) {
      if (!PyExceptionClass_Check(PyTuple_GET_ITEM(right, i))) {
        PyErr_SetString(PyExc_TypeError, msg);
        return false;
      }
    }
  } else if (!PyExceptionClass_Check(right)) {
    PyErr_SetString(PyExc_TypeError, msg);
    return false;
  }
  return true;
}

// do_raise(): true when the exception is re-raised as is (no new traceback entry). Steals exc and cause.
bool do_raise(PyThreadState* ts, PyObject* exc, PyObject* cause) {
  PyObject *type = nullptr, *value = nullptr;
  if (!exc) {
    _PyErr_StackItem* info = _PyErr_GetTopmostException(ts);
    value = info->exc_value;
    if (value == nullptr || Py_IsNone(value)) {
      PyErr_SetString(PyExc_RuntimeError, "No active exception to reraise");
      return false;
    }
    type = PyExceptionInstance_Class(value);
    Py_XINCREF(type);
    Py_XINCREF(value);
    PyErr_Restore(type, value, PyException_GetTraceback(value));
    return true;
  }
  if (PyExceptionClass_Check(exc)) {
    type = exc;
    value = PyObject_CallNoArgs(exc);
    if (!value) goto raise_error;
    if (!PyExceptionInstance_Check(value)) {
      PyErr_Format(PyExc_TypeError, "calling %R should have returned an instance of BaseException, not %R",
                   type, Py_TYPE(value));
      goto raise_error;
    }
  } else if (PyExceptionInstance_Check(exc)) {
    value = exc;
    type = PyExceptionInstance_Class(exc);
    Py_INCREF(type);
  } else {
    Py_DECREF(exc);
    PyErr_SetString(PyExc_TypeError, "exceptions must derive from BaseException");
    goto raise_error;
  }
  if (cause) {
    PyObject* fixed;
    if (PyExceptionClass_Check(cause)) {
      fixed = PyObject_CallNoArgs(cause);
      if (!fixed) goto raise_error;
      Py_DECREF(cause);
    } else if (PyExceptionInstance_Check(cause)) {
      fixed = cause;
    } else if (Py_IsNone(cause)) {
      Py_DECREF(cause);
      fixed = nullptr;
    } else {
      PyErr_SetString(PyExc_TypeError, "exception causes must derive from BaseException");
      goto raise_error;
    }
    PyException_SetCause(value, fixed);
  }
  PyErr_SetObject(type, value);
  Py_DECREF(value);
  Py_DECREF(type);
  return false;
raise_error:
  Py_XDECREF(value);
  Py_XDECREF(type);
  Py_XDECREF(cause);
  return false;
}

// unpack_iterable(): writes argcnt (+1 list +argcntafter) new references downwards from `sp`.
bool unpack_iterable(PyObject* v, int argcnt, int argcntafter, PyObject** sp) {
  int i = 0;
  PyObject* it = PyObject_GetIter(v);
  if (!it) {
    if (PyErr_ExceptionMatches(PyExc_TypeError) && Py_TYPE(v)->tp_iter == nullptr && !PySequence_Check(v)) {
      PyErr_Format(PyExc_TypeError, "cannot unpack non-iterable %.200s object", Py_TYPE(v)->tp_name);
    }
    return false;
  }
  for (; i < argcnt; i++) {
    PyObject* w = PyIter_Next(it);
    if (!w) {
      if (!PyErr_Occurred()) {
        if (argcntafter == -1) {
          PyErr_Format(PyExc_ValueError, "not enough values to unpack (expected %d, got %d)", argcnt, i);
        } else {
          PyErr_Format(PyExc_ValueError, "not enough values to unpack (expected at least %d, got %d)",
                       argcnt + argcntafter, i);
        }
      }
      goto fail;
    }
    *--sp = w;
  }
  if (argcntafter == -1) {
    PyObject* w = PyIter_Next(it);
    if (!w) {
      if (PyErr_Occurred()) goto fail;
      Py_DECREF(it);
      return true;
    }
    Py_DECREF(w);
    PyErr_Format(PyExc_ValueError, "too many values to unpack (expected %d)", argcnt);
    goto fail;
  }
  {
    PyObject* l = PySequence_List(it);
    if (!l) goto fail;
    *--sp = l;
    i++;
    Py_ssize_t ll = PyList_GET_SIZE(l);
    if (ll < argcntafter) {
      PyErr_Format(PyExc_ValueError, "not enough values to unpack (expected at least %d, got %zd)",
                   argcnt + argcntafter, argcnt + ll);
      goto fail;
    }
    for (int j = argcntafter; j > 0; j--, i++) *--sp = PyList_GET_ITEM(l, ll - j);
    Py_SET_SIZE(l, ll - argcntafter);
    Py_DECREF(it);
    return true;
  }
fail:
  for (; i > 0; i--, sp++) Py_DECREF(*sp);
  Py_XDECREF(it);
  return false;
}

// import_name()
PyObject* import_name(PyThreadState* ts, _PyInterpreterFrame* f, PyObject* name, PyObject* fromlist,
                      PyObject* level) {
  PyObject* import_func = PyDict_GetItemWithError(f->f_builtins, s_import);
  if (!import_func) {
    if (!PyErr_Occurred()) PyErr_SetString(PyExc_ImportError, "__import__ not found");
    return nullptr;
  }
  PyObject* locals = f->f_locals ? f->f_locals : Py_None;
  if (import_func == ts->interp->import_func) {
    int ilevel = _PyLong_AsInt(level);
    if (ilevel == -1 && PyErr_Occurred()) return nullptr;
    return PyImport_ImportModuleLevelObject(name, f->f_globals, locals, fromlist, ilevel);
  }
  Py_INCREF(import_func);
  PyObject* args[5] = {name, f->f_globals, locals, fromlist, level};
  PyObject* res = PyObject_Vectorcall(import_func, args, 5, nullptr);
  Py_DECREF(import_func);
  return res;
}

// import_from(): `from module import name`, with the fallback to sys.modules["module.name"] (circular
// imports of submodules) and CPython's exact ImportError messages.
PyObject* import_from(PyObject* v, PyObject* name) {
  PyObject* x;
  if (_PyObject_LookupAttr(v, name, &x) != 0) return x;   // found, or an error other than AttributeError
  PyObject* pkgname = nullptr;
  PyObject* pkgpath = nullptr;
  if (_PyObject_LookupAttr(v, s_dunder_name, &pkgname) < 0) return nullptr;
  if (pkgname && PyUnicode_Check(pkgname)) {
    PyObject* fullname = PyUnicode_FromFormat("%U.%U", pkgname, name);
    if (!fullname) {
      Py_DECREF(pkgname);
      return nullptr;
    }
    x = PyImport_GetModule(fullname);
    Py_DECREF(fullname);
    if (x || PyErr_Occurred()) {
      Py_DECREF(pkgname);
      return x;
    }
  }
  if (!pkgname || !PyUnicode_Check(pkgname)) {
    Py_XSETREF(pkgname, PyUnicode_FromString("<unknown module name>"));
    if (!pkgname) return nullptr;
  }
  pkgpath = PyModule_GetFilenameObject(v);
  PyObject* msg;
  if (!pkgpath || !PyUnicode_Check(pkgpath)) {
    PyErr_Clear();
    msg = PyUnicode_FromFormat("cannot import name %R from %R (unknown location)", name, pkgname);
    if (msg) PyErr_SetImportError(msg, pkgname, nullptr);
  } else {
    PyObject* spec = nullptr;
    int initializing = 0;
    if (_PyObject_LookupAttr(v, s_dunder_spec, &spec) < 0) {
      initializing = -1;
    } else if (spec) {   // _PyModuleSpec_IsInitializing()
      PyObject* flag;
      int r = _PyObject_LookupAttr(spec, s_initializing, &flag);
      initializing = r < 0 ? -1 : (r == 0 ? 0 : PyObject_IsTrue(flag));
      if (r > 0) Py_DECREF(flag);
      Py_DECREF(spec);
    }
    if (initializing < 0) {
      PyErr_Clear();   // as CPython: the lookup's own error is not reported
      initializing = 0;
    }
    const char* fmt = initializing
                          ? "cannot import name %R from partially initialized module %R "
                            "(most likely due to a circular import) (%S)"
                          : "cannot import name %R from %R (%S)";
    msg = PyUnicode_FromFormat(fmt, name, pkgname, pkgpath);
    if (msg) PyErr_SetImportError(msg, pkgname, pkgpath);
  }
  Py_XDECREF(msg);
  Py_DECREF(pkgname);
  Py_XDECREF(pkgpath);
  return nullptr;
}

// import_all_from(): `from module import *` into a locals mapping, with CPython's messages.
int import_all_from(PyObject* locals, PyObject* v) {
  PyObject* all;
  bool skip_underscores = false;
  if (_PyObject_LookupAttr(v, s_dunder_all, &all) < 0) return -1;
  if (!all) {
    PyObject* dict;
    if (_PyObject_LookupAttr(v, s_dunder_dict, &dict) < 0) return -1;
    if (!dict) {
      PyErr_SetString(PyExc_ImportError, "from-import-* object has no __dict__ and no __all__");
      return -1;
    }
    all = PyMapping_Keys(dict);
    Py_DECREF(dict);
    if (!all) return -1;
    skip_underscores = true;
  }
  int err = 0;
  for (Py_ssize_t pos = 0;; pos++) {
    PyObject* name = PySequence_GetItem(all, pos);
    if (!name) {
      if (PyErr_ExceptionMatches(PyExc_IndexError)) PyErr_Clear();
      else err = -1;
      break;
    }
    if (!PyUnicode_Check(name)) {
      PyObject* modname = PyObject_GetAttr(v, s_dunder_name);
      if (modname && !PyUnicode_Check(modname)) {
        PyErr_Format(PyExc_TypeError, "module __name__ must be a string, not %.100s", Py_TYPE(modname)->tp_name);
      } else if (modname) {
        PyErr_Format(PyExc_TypeError, "%s in %U.%s must be str, not %.100s", skip_underscores ? "Key" : "Item",
                     modname, skip_underscores ? "__dict__" : "__all__", Py_TYPE(name)->tp_name);
      }
      Py_XDECREF(modname);
      Py_DECREF(name);
      err = -1;
      break;
    }
    if (skip_underscores && PyUnicode_GET_LENGTH(name) > 0 && PyUnicode_READ_CHAR(name, 0) == '_') {
      Py_DECREF(name);
      continue;
    }
    PyObject* value = PyObject_GetAttr(v, name);
    if (!value) err = -1;
    else if (PyDict_CheckExact(locals)) err = PyDict_SetItem(locals, name, value);
    else err = PyObject_SetItem(locals, name, value);
    Py_DECREF(name);
    Py_XDECREF(value);
    if (err != 0) break;
  }
  Py_DECREF(all);
  return err;
}

// match_keys(): for a mapping pattern, the values of `keys` in `map` as a tuple; None when one is missing.
// Uses map.get(key, sentinel), which neither raises for a missing key nor runs __missing__.
PyObject* match_keys(PyObject* map, PyObject* keys) {
  Py_ssize_t n = PyTuple_GET_SIZE(keys);
  if (n == 0) return PyTuple_New(0);
  PyObject* get = nullptr;
  int is_method = _PyObject_GetMethod(map, s_get, &get);
  if (!get) return nullptr;
  PyObject* seen = PySet_New(nullptr);
  PyObject* sentinel = seen ? PyObject_CallNoArgs(reinterpret_cast<PyObject*>(&PyBaseObject_Type)) : nullptr;
  PyObject* values = sentinel ? PyTuple_New(n) : nullptr;
  for (Py_ssize_t i = 0; values && i < n; i++) {
    PyObject* key = PyTuple_GET_ITEM(keys, i);
    int dup = PySet_Contains(seen, key);
    if (dup != 0 || PySet_Add(seen, key) < 0) {
      if (dup > 0) PyErr_Format(PyExc_ValueError, "mapping pattern checks duplicate key (%R)", key);
      Py_CLEAR(values);
      break;
    }
    PyObject* args[3] = {map, key, sentinel};
    PyObject* v = is_method ? PyObject_Vectorcall(get, args, 3, nullptr) : PyObject_Vectorcall(get, args + 1, 2, nullptr);
    if (!v || v == sentinel) {
      Py_XDECREF(v);
      Py_DECREF(values);
      values = v ? Py_NewRef(Py_None) : nullptr;
      break;
    }
    PyTuple_SET_ITEM(values, i, v);
  }
  Py_DECREF(get);
  Py_XDECREF(seen);
  Py_XDECREF(sentinel);
  return values;
}

// One attribute of a class pattern; nullptr without an error when the subject lacks it.
PyObject* match_class_attr(PyObject* subject, PyObject* type, PyObject* name, PyObject* seen) {
  int dup = PySet_Contains(seen, name);
  if (dup != 0 || PySet_Add(seen, name) < 0) {
    if (dup > 0) {
      PyErr_Format(PyExc_TypeError, "%s() got multiple sub-patterns for attribute %R",
                   reinterpret_cast<PyTypeObject*>(type)->tp_name, name);
    }
    return nullptr;
  }
  PyObject* attr = PyObject_GetAttr(subject, name);
  if (!attr && PyErr_ExceptionMatches(PyExc_AttributeError)) PyErr_Clear();
  return attr;
}

// match_class(): for `case type(p0, .., k=..)`, the subject's attributes as a tuple, nullptr when it does
// not match (with an error set only for a real error).
PyObject* match_class(PyObject* subject, PyObject* type, Py_ssize_t nargs, PyObject* kwnames) {
  if (!PyType_Check(type)) {
    PyErr_SetString(PyExc_TypeError, "called match pattern must be a type");
    return nullptr;
  }
  const char* tname = reinterpret_cast<PyTypeObject*>(type)->tp_name;
  if (PyObject_IsInstance(subject, type) <= 0) return nullptr;
  PyObject* seen = PySet_New(nullptr);
  if (!seen) return nullptr;
  PyObject* attrs = PyTuple_New(nargs + PyTuple_GET_SIZE(kwnames));
  PyObject* match_args = nullptr;
  Py_ssize_t k = 0;   // attrs filled so far
  if (!attrs) goto fail;
  if (nargs) {
    bool match_self = false;
    if (_PyObject_LookupAttr(type, s_match_args, &match_args) < 0) goto fail;
    if (match_args && !PyTuple_CheckExact(match_args)) {
      PyErr_Format(PyExc_TypeError, "%s.__match_args__ must be a tuple (got %s)", tname,
                   Py_TYPE(match_args)->tp_name);
      goto fail;
    }
    if (!match_args) {   // only a type without __match_args__ may match itself (int(x), str(s), ...)
      match_self = PyType_HasFeature(reinterpret_cast<PyTypeObject*>(type), _Py_TPFLAGS_MATCH_SELF);
    }
    Py_ssize_t allowed = match_self ? 1 : (match_args ? PyTuple_GET_SIZE(match_args) : 0);
    if (allowed < nargs) {
      PyErr_Format(PyExc_TypeError, "%s() accepts %d positional sub-pattern%s (%d given)", tname, (int)allowed,
                   allowed == 1 ? "" : "s", (int)nargs);
      goto fail;
    }
    if (match_self) {
      PyTuple_SET_ITEM(attrs, k++, Py_NewRef(subject));
    } else {
      for (Py_ssize_t i = 0; i < nargs; i++) {
        PyObject* name = PyTuple_GET_ITEM(match_args, i);
        if (!PyUnicode_CheckExact(name)) {
          PyErr_Format(PyExc_TypeError, "__match_args__ elements must be strings (got %s)", Py_TYPE(name)->tp_name);
          goto fail;
        }
        PyObject* attr = match_class_attr(subject, type, name, seen);
        if (!attr) goto fail;
        PyTuple_SET_ITEM(attrs, k++, attr);
      }
    }
  }
  for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(kwnames); i++) {
    PyObject* attr = match_class_attr(subject, type, PyTuple_GET_ITEM(kwnames, i), seen);
    if (!attr) goto fail;
    PyTuple_SET_ITEM(attrs, k++, attr);
  }
  Py_XDECREF(match_args);
  Py_DECREF(seen);
  return attrs;
fail:
  Py_XDECREF(match_args);
  Py_DECREF(seen);
  Py_XDECREF(attrs);   // unfilled items are NULL: tuple dealloc skips them
  return nullptr;
}

// get_exception_handler(): the exception table is varint-encoded (Objects/exception_handling_notes.txt).
const unsigned char* parse_varint(const unsigned char* p, int* result) {
  int val = p[0] & 63;
  while (p[0] & 64) {
    p++;
    val = (val << 6) | (p[0] & 63);
  }
  *result = val;
  return p + 1;
}

bool find_handler(PyCodeObject* co, int index, int* level, int* handler, int* lasti) {
  auto* p = reinterpret_cast<const unsigned char*>(PyBytes_AS_STRING(co->co_exceptiontable));
  const unsigned char* end = p + PyBytes_GET_SIZE(co->co_exceptiontable);
  while (p < end) {
    int start, size;
    p = parse_varint(p, &start);
    if (start > index) return false;
    p = parse_varint(p, &size);
    if (start + size > index) {
      p = parse_varint(p, handler);
      int depth_lasti;
      parse_varint(p, &depth_lasti);
      *level = depth_lasti >> 1;
      *lasti = depth_lasti & 1;
      return true;
    }
    while (p < end && (p[0] & 128) == 0) p++;   // skip to the next entry
  }
  return false;
}

// eval_frame_handle_pending(): 0 = go on, -1 = exception set, 1 = an async exception is pending (CPython's
// evaluator raises it: the frame is handed over).
int handle_pending(PyThreadState* ts) {
  if (Py_MakePendingCalls() < 0) return -1;   // signal handlers, then pending calls (main thread only)
  if (py::gil_drop_requested(ts)) {
    PyThreadState* saved = PyEval_SaveThread();   // another thread asked for the GIL: let it run
    PyEval_RestoreThread(saved);
  }
  return ts->async_exc != nullptr ? 1 : 0;
}

}  // namespace fastpy::ceval
