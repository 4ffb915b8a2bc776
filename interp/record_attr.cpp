// Recording attribute access on instances of user classes (see recorder_impl.h).
// internals.h first: it defines Py_BUILD_CORE before <Python.h>.
#include "python/cpython311/internals.h"
#include "interp/recorder_impl.h"

#include <internal/pycore_dict.h>

namespace fastpy::rec {

namespace {

// _PyObject_ValuesPointer(o) - o: the values array's pointer sits 4 words before the object.
constexpr int64_t kValuesOffset = -4 * static_cast<int64_t>(sizeof(PyObject*));

// The live instance attribute `name` of o (a new reference) when o's type T is one whose attribute access the
// trace can replay: a heap type with the generic getattr (and setattr, for stores), a valid version tag, and
// NO class attribute of that name anywhere in its MRO (so no descriptor, data or not, and no class default:
// after the type and version guards, PyObject_GetAttr is exactly the instance dict lookup). nullptr when not
// (nothing raised; nothing but a dict lookup ran).
PyObject* instance_attr(PyObject* o, PyObject* name, bool store) {
  PyTypeObject* T = Py_TYPE(o);
  if (!PyUnicode_CheckExact(name)) return nullptr;
  if (!(T->tp_flags & Py_TPFLAGS_HEAPTYPE)) return nullptr;
  if (T->tp_getattro != PyObject_GenericGetAttr) return nullptr;
  if (store && T->tp_setattro != PyObject_GenericSetAttr) return nullptr;
  // The lookup first: it assigns T a version tag when it has none.
  if (_PyType_Lookup(T, name)) return nullptr;
  if (!(T->tp_flags & Py_TPFLAGS_VALID_VERSION_TAG) || T->tp_version_tag == 0) return nullptr;
  PyObject* v = PyObject_GenericGetAttr(o, name);
  if (!v) PyErr_Clear();
  return v;
}

// The guards every access on owner (IR value, live object o) starts with: its type, and its type's version.
void guard_owner(Recorder* r, IRRef owner, PyObject* o) {
  PyTypeObject* T = Py_TYPE(o);
  guard(r, ir::IR_guard_type, owner, kNoRef, reinterpret_cast<int64_t>(T));
  guard(r, ir::IR_guard_tpversion, owner, kNoRef, static_cast<int64_t>(T->tp_version_tag));
}

// Where o's attribute `name` lives when o keeps its attributes inline (3.11: a heap type with a managed dict,
// its instances' values array laid out by the type's shared keys, not yet turned into a dict): its index in
// the values array, else -1. The index of a key in shared keys never changes (they only grow), so after the
// type and version guards only the values pointer (null once a dict was made) and the slot (null when
// deleted) need checking, as CPython's LOAD_ATTR_INSTANCE_VALUE does.
Py_ssize_t inline_index(PyObject* o, PyObject* name, PyObject* live_v) {
  PyTypeObject* T = Py_TYPE(o);
  if (!(T->tp_flags & Py_TPFLAGS_MANAGED_DICT)) return -1;
  PyDictValues* values = *_PyObject_ValuesPointer(o);
  PyDictKeysObject* keys = reinterpret_cast<PyHeapTypeObject*>(T)->ht_cached_keys;
  if (!values || !keys || keys->dk_kind != DICT_KEYS_SPLIT) return -1;
  PyDictUnicodeEntry* ep = DK_UNICODE_ENTRIES(keys);
  for (Py_ssize_t i = 0; i < keys->dk_nentries; i++) {
    if (ep[i].me_key == name) return values->values[i] == live_v ? i : -1;
  }
  return -1;
}

// owner.name as the trace holds it, borrowed (the instance keeps the object alive): read from the values
// array when `index` >= 0, else through getattr (a new reference or null, released at once); a null exits.
IRRef load_attr(Recorder* r, IRRef owner, IRRef name, Py_ssize_t index) {
  if (index >= 0) {
    IRRef vals = emit(r, ir::IR_load_ptr, owner, kNoRef, kValuesOffset);
    guard(r, ir::IR_guard_nonnull, vals);
    IRRef v = emit(r, ir::IR_load_obj, vals, kNoRef, index * static_cast<int64_t>(sizeof(PyObject*)));
    guard(r, ir::IR_guard_nonnull, v);
    return v;
  }
  IRRef v = emit(r, ir::IR_getattr, owner, name);
  guard(r, ir::IR_guard_nonnull, v);
  emit(r, ir::IR_decref, v);
  return v;
}

// A borrowed object v (live object live_v) as the trace holds it: unboxed with a type guard when it is an
// exact float or a 64-bit int, a bool constant behind an identity guard, otherwise the object.
IRRef typed_value(Recorder* r, IRRef v, PyObject* live_v) {
  int64_t iv;
  if (PyFloat_CheckExact(live_v)) return guard(r, ir::IR_unbox_f64, v);
  if (small_int(live_v, &iv)) return guard(r, ir::IR_unbox_i64, v);
  if (PyLong_CheckExact(live_v)) fail(Abort::big_int);
  if (PyBool_Check(live_v)) {
    guard(r, ir::IR_guard_eqp, v, kobj(r, live_v));
    return r->b.kbool(live_v == Py_True);
  }
  return v;
}

}  // namespace

// LOAD_ATTR: [owner] -> [owner.name].
bool rec_load_attr_instance(Recorder* r, PyObject* name, PyObject** sp) {
  PyObject* o = sp[-1];
  IRRef owner = peek(r, 1);
  if (type_of(r, owner) != ir::IRT_obj) return false;
  PyObject* v = instance_attr(o, name, false);
  if (!v) return false;
  Py_DECREF(v);   // o's dict still holds it
  guard_owner(r, owner, o);
  IRRef res = typed_value(r, load_attr(r, owner, kobj(r, name), inline_index(o, name, v)), v);
  pop(r);
  push_loaded(r, res, v);
  return true;
}

// STORE_ATTR: [value, owner] -> [], owner.name = value. Only replaces an existing attribute whose value is an
// exact int or float: releasing it runs no code and frees nothing the trace holds (it holds numbers unboxed),
// and the instance's dict keeps its keys.
bool rec_store_attr_instance(Recorder* r, PyObject* name, PyObject** sp) {
  PyObject* o = sp[-1];
  IRRef owner = peek(r, 1), value = peek(r, 2);
  ir::IRType tv = type_of(r, value);
  if (type_of(r, owner) != ir::IRT_obj) return false;
  if (tv != ir::IRT_obj && tv != ir::IRT_f64 && tv != ir::IRT_i64) return false;
  if (kind_at(r, 2) != ir::SNAP_py) return false;   // the attribute would hold a numpy scalar
  PyObject* old = instance_attr(o, name, true);
  if (!old) return false;
  PyTypeObject* old_type = Py_TYPE(old);
  Py_DECREF(old);   // o's dict still holds it
  if (old_type != &PyFloat_Type && old_type != &PyLong_Type) return false;
  guard_owner(r, owner, o);
  IRRef nm = kobj(r, name);
  Py_ssize_t index = inline_index(o, name, old);
  IRRef ov = load_attr(r, owner, nm, index);
  guard(r, ir::IR_guard_type, ov, kNoRef, reinterpret_cast<int64_t>(old_type));
  if (index >= 0) {   // STORE_ATTR_INSTANCE_VALUE: the slot takes the new reference, the old one goes
    IRRef vals = emit(r, ir::IR_load_ptr, owner, kNoRef, kValuesOffset);
    emit(r, ir::IR_store_ptr, vals, owned_object(r, value), index * static_cast<int64_t>(sizeof(PyObject*)));
    emit(r, ir::IR_decref, ov);
    pop(r, 2);
    return true;
  }
  IRRef nv = tv == ir::IRT_obj ? value : owned_object(r, value);   // numbers: a new box
  IRRef ok = emit(r, ir::IR_setattr, owner, nv, reinterpret_cast<int64_t>(name));   // nm keeps name alive
  // The box goes before the guard: the attribute holds its own reference when the set succeeded, and an exit
  // restores the unboxed value (so nothing leaks either way).
  if (nv != value) emit(r, ir::IR_decref, nv);
  guard_true(r, ok);
  pop(r, 2);
  return true;
}

// LOAD_METHOD: [owner] -> [function, owner] when owner.name is a plain Python function found in owner's
// type and not shadowed on the instance (the CALL after it then follows the function: inlining).
bool rec_load_method_instance(Recorder* r, PyObject* name, PyObject** sp) {
  PyObject* o = sp[-1];
  PyTypeObject* T = Py_TYPE(o);
  if (!PyUnicode_CheckExact(name) || !(T->tp_flags & Py_TPFLAGS_HEAPTYPE) ||
      T->tp_getattro != PyObject_GenericGetAttr)
    return false;
  PyObject* descr = _PyType_Lookup(T, name);   // borrowed; assigns T a version tag when it has none
  if (!descr || !PyFunction_Check(descr)) return false;
  if (!(T->tp_flags & Py_TPFLAGS_VALID_VERSION_TAG) || T->tp_version_tag == 0) return false;
  PyObject* meth = nullptr;
  int found = _PyObject_GetMethod(o, name, &meth);   // generic getattr: only dict lookups run
  Py_XDECREF(meth);
  if (!found || meth != descr) {
    PyErr_Clear();
    return false;   // shadowed by an instance attribute
  }
  IRRef owner = peek(r, 1);
  if (type_of(r, owner) != ir::IRT_obj) return false;
  guard_owner(r, owner, o);
  guard(r, ir::IR_guard_method, owner, kobj(r, name), reinterpret_cast<int64_t>(descr));
  IRRef fn = kobj(r, descr);
  pop(r);
  push(r, fn);
  push(r, owner);
  return true;
}

// The IR tier's semantics of guard_tpversion, guard_method, getattr and setattr.
bool attr_runtime(const ir::IRIns& i, uint64_t a, uint64_t b, uint64_t* out) {
  auto* o = reinterpret_cast<PyObject*>(static_cast<uintptr_t>(a));
  switch (i.op) {
    case ir::IR_guard_tpversion:
      return o && Py_TYPE(o)->tp_version_tag == static_cast<uint32_t>(i.imm) &&
             (Py_TYPE(o)->tp_flags & Py_TPFLAGS_VALID_VERSION_TAG);
    case ir::IR_guard_method: {
      auto* name = reinterpret_cast<PyObject*>(static_cast<uintptr_t>(b));
      if (!o || !name) return false;
      PyObject* meth = nullptr;
      int found = _PyObject_GetMethod(o, name, &meth);
      bool ok = found == 1 && meth == reinterpret_cast<PyObject*>(static_cast<uintptr_t>(i.imm));
      Py_XDECREF(meth);
      if (!meth) PyErr_Clear();
      return ok;
    }
    case ir::IR_getattr: {
      auto* name = reinterpret_cast<PyObject*>(static_cast<uintptr_t>(b));
      if (!o || !name) return false;
      PyObject* v = PyObject_GetAttr(o, name);
      if (!v) PyErr_Clear();   // the guard_nonnull after it exits; the interpreter raises itself
      *out = reinterpret_cast<uintptr_t>(v);
      return true;
    }
    case ir::IR_setattr: {
      auto* name = reinterpret_cast<PyObject*>(static_cast<uintptr_t>(i.imm));
      auto* v = reinterpret_cast<PyObject*>(static_cast<uintptr_t>(b));
      if (!o || !name || !v) return false;
      int rc = PyObject_GenericSetAttr(o, name, v);
      if (rc != 0) PyErr_Clear();   // nothing stored; the guard_true after it exits
      *out = rc == 0;
      return true;
    }
    default:
      return false;
  }
}

}  // namespace fastpy::rec
