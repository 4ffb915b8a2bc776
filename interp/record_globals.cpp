// Recording reads of namespaces (see recorder_impl.h): LOAD_GLOBAL and module attributes, with the guards on
// the dicts' versions, and what a trace borrows from its frame's own globals and builtins (Borrowed): the
// dicts and values it does not own, and the reads an entry revalidates when a namespace changed.
// internals.h first: it defines Py_BUILD_CORE before <Python.h>.
#include "python/cpython311/internals.h"
#include "interp/recorder_impl.h"

#include <algorithm>

#include "runtime/stats.h"

namespace fastpy::rec {

bool ns_revalidate(const Borrowed& b, int k, PyObject* dict) {
  // Only where the lookups run no code: they happen at an entry, with the frame and a parent trace's exit
  // values (borrowed) as they are.
  if (b.fixed[k] || !PyDict_CheckExact(dict) || !py::dict_str_keys_only(dict)) return false;
  uint64_t version = reinterpret_cast<PyDictObject*>(dict)->ma_version_tag;
  for (const NsRead& rd : b.reads[k]) {
    PyObject* v = PyDict_GetItemWithError(dict, rd.name);
    if (!v && PyErr_Occurred()) {
      PyErr_Clear();
      return false;
    }
    int64_t iv;
    bool same = false;
    switch (rd.kind) {
      case NsRead::kAbsent: same = !v; break;
      case NsRead::kFloat:
        same = v && PyFloat_CheckExact(v) && static_cast<uint64_t>(ir::f64_bits(PyFloat_AS_DOUBLE(v))) == rd.bits;
        break;
      case NsRead::kBool: same = v == (rd.bits ? Py_True : Py_False); break;
      case NsRead::kInt: same = v && !PyBool_Check(v) && small_int(v, &iv) && static_cast<uint64_t>(iv) == rd.bits; break;
      case NsRead::kSame:   // (a dead referent reads as None, which is never a kSame value: not weakrefable)
        same = v && v != Py_None && PyWeakref_GET_OBJECT(rd.weak) == v;
        break;
    }
    if (!same) return false;
  }
  b.expect[k] = version;
  stat_inc(Stat::traces_revalidated);
  return true;
}

void borrowed_prune(Borrowed& b, const ir::Trace& t) {
  if (b.objs.empty()) return;
  // A builtin the recording inlined (`max` of two ints) leaves the dicts' version guards and, until its
  // CALL, snapshot entries of the stack slot that held it. Up to the first instruction that may run code
  // (a call other than a box, `loop`) the namespace still holds every value the entry's checks vouched
  // for, so an exit there restores a live object; an object that nothing uses later, as an operand or
  // an immediate, needs no reference while the trace runs. (A side trace from such an exit holds its
  // own: it takes the parent's constants as kobj constants, strong references.) Holding it would cost
  // every entry a reference and keep a side trace that ends at its loop's header from closing the loop in
  // machine code (LinkOptions::loop_back).
  const size_t n = t.ins.size();
  size_t first_call = n;
  for (size_t r = 0; r < n && first_call == n; r++) {
    const ir::IRIns& i = t.ins[r];
    ir::IREffect e = ir::ir_info(i.op).effect;
    bool box = i.op == ir::IR_box_i64 || i.op == ir::IR_box_f64;   // (ints and floats start no collection)
    if ((e == ir::IRE_call && !box) || e == ir::IRE_control) first_call = r;
  }
  // The last instruction that exits to each snapshot (the last snapshot: the end of the trace).
  std::vector<size_t> last_use(t.snaps.size(), 0);
  std::vector<bool> exits_to(t.snaps.size(), false);
  for (size_t r = 0; r < n; r++) {
    int32_t s = t.ins[r].snap;
    if (s < 0 || size_t(s) >= t.snaps.size()) continue;
    exits_to[size_t(s)] = true;
    last_use[size_t(s)] = r;
  }
  if (!t.snaps.empty()) {
    exits_to.back() = true;
    last_use.back() = n;
  }
  std::vector<bool> used(n, false);
  for (const ir::IRIns& i : t.ins) {
    if (i.a != kNoRef) used[i.a] = true;
    if (i.b != kNoRef) used[i.b] = true;
  }
  std::vector<const void*> seen;
  for (size_t s = 0; s < t.snaps.size(); s++) {
    const ir::Snapshot& sn = t.snaps[s];
    for (const ir::SnapFrame& fr : sn.inlined) seen.push_back(reinterpret_cast<const void*>(fr.code));
    if (!exits_to[s] || last_use[s] < first_call) continue;
    for (const ir::SnapEntry& e : sn.entries) used[e.ref] = true;
  }
  for (size_t r = 0; r < n; r++) {
    const ir::IRIns& i = t.ins[r];
    bool constant = i.op == ir::IR_kobj || i.op == ir::IR_kptr;
    if (!constant || used[r]) seen.push_back(reinterpret_cast<const void*>(static_cast<uintptr_t>(i.imm)));
  }
  std::sort(seen.begin(), seen.end());
  b.objs.erase(std::remove_if(b.objs.begin(), b.objs.end(),
                              [&](PyObject* o) { return !std::binary_search(seen.begin(), seen.end(), o); }),
               b.objs.end());
}

IRRef kobj_in(Recorder* r, PyObject* o, PyObject* dict) {
  Borrowed& b = r->borrowed;
  int k = dict == b.ns[0] ? 0 : dict == b.ns[1] ? 1 : -1;
  if (k < 0 || !o || !PyDict_CheckExact(dict)) return kobj(r, o);
  uint64_t tag = reinterpret_cast<PyDictObject*>(dict)->ma_version_tag;
  if (!b.used[k]) {
    b.used[k] = true;
    b.tag[k] = tag;
    b.expect[k] = tag;
  } else if (b.tag[k] != tag) {
    return kobj(r, o);   // changed since the recording first read it: the trace is doomed, keep o alive
  }
  // The namespace itself needs no reference: every entry checks it is the frame's own (Held::take), which
  // the frame's function holds (func_globals and func_builtins cannot be rebound in 3.11). Its values do:
  // a call out of the trace may unbind one -- except objects that are never freed: statically allocated
  // types (range, int, ...) and None/True/False. (A trace that holds nothing lets its side traces close
  // the loop in machine code: LinkOptions::loop_back. borrowed_prune drops what the optimizer left unused.)
  bool static_obj = o == Py_None || o == Py_True || o == Py_False ||
                    (PyType_Check(o) && !(reinterpret_cast<PyTypeObject*>(o)->tp_flags & Py_TPFLAGS_HEAPTYPE));
  if (o != b.ns[k] && !static_obj && std::find(b.objs.begin(), b.objs.end(), o) == b.objs.end())
    b.objs.push_back(o);
  return r->b.kobj(o);
}

// Which of the root frame's namespaces dict is (0 globals, 1 builtins) when the trace borrows it at the
// version it has now; -1 otherwise.
int borrowed_ns(Recorder* r, PyObject* dict) {
  const Borrowed& b = r->borrowed;
  uint64_t tag = reinterpret_cast<PyDictObject*>(dict)->ma_version_tag;
  for (int k = 0; k < 2; k++)
    if (dict == b.ns[k] && b.used[k] && b.tag[k] == tag) return k;
  return -1;
}

// Guards that the dict's PEP 509 version is still `tag` (rebinding or deleting any key changes it). For a
// borrowed namespace the version the guard compares with is the one the trace expects (Borrowed::expect: an
// entry that revalidated the trace's reads moves it on).
void guard_dict_version(Recorder* r, PyObject* dict) {
  uint64_t tag = reinterpret_cast<PyDictObject*>(dict)->ma_version_tag;
  IRRef d = kobj_in(r, dict, dict);
  IRRef v = emit(r, ir::IR_load_i64, d, kNoRef, offsetof(PyDictObject, ma_version_tag));
  int k = borrowed_ns(r, dict);
  IRRef want = k >= 0 ? emit(r, ir::IR_load_i64, r->b.kptr(&r->borrowed.expect[k]), kNoRef, 0)
                      : r->b.kint(static_cast<int64_t>(tag));
  guard(r, ir::IR_guard_eqi, v, want);
}

// The trace relies on `name` in dict being v (nullptr: absent): for a borrowed namespace, what an entry that
// finds the namespace changed must find again (NsRead).
void ns_read(Recorder* r, PyObject* dict, PyObject* name, PyObject* v) {
  Borrowed& b = r->borrowed;
  int k = borrowed_ns(r, dict);
  if (k < 0 || b.fixed[k]) return;
  NsRead rd{name, NsRead::kAbsent};
  int64_t iv;
  if (!v) {
  } else if (PyFloat_CheckExact(v)) {
    rd.kind = NsRead::kFloat;
    rd.bits = static_cast<uint64_t>(ir::f64_bits(PyFloat_AS_DOUBLE(v)));
  } else if (PyBool_Check(v)) {
    rd.kind = NsRead::kBool;
    rd.bits = v == Py_True;
  } else if (small_int(v, &iv)) {
    rd.kind = NsRead::kInt;
    rd.bits = static_cast<uint64_t>(iv);
  } else if (PyType_SUPPORTS_WEAKREFS(Py_TYPE(v)) && (rd.weak = PyWeakref_NewRef(v, nullptr))) {
    rd.kind = NsRead::kSame;
    r->kept.push_back(rd.weak);
  } else {
    PyErr_Clear();
    b.fixed[k] = true;   // (a list, a builtin function: only the same version will do)
    return;
  }
  b.reads[k].push_back(rd);
}

// The value of name in an exact dict (borrowed), guarded by the dict's version; nullptr when missing.
PyObject* dict_lookup(PyObject* dict, PyObject* name) {
  if (!PyDict_CheckExact(dict)) fail(Abort::global_lookup);
  PyObject* v = PyDict_GetItemWithError(dict, name);
  if (!v && PyErr_Occurred()) {
    PyErr_Clear();
    fail(Abort::global_lookup);
  }
  return v;
}

void rec_load_global(Recorder* r, int oparg) {
  PyObject* name = PyTuple_GET_ITEM(r->co->co_names, oparg >> 1);
  PyObject* dict = r->f->f_globals;
  PyObject* v = dict_lookup(dict, name);
  guard_dict_version(r, dict);
  ns_read(r, dict, name, v);
  if (!v) {
    dict = r->f->f_builtins;
    v = dict_lookup(dict, name);
    if (!v) fail(Abort::global_lookup);
    guard_dict_version(r, dict);
    ns_read(r, dict, name, v);
  }
  if (oparg & 1) push(r, r->b.kobj(nullptr));
  int64_t iv;
  bool unboxed = PyFloat_CheckExact(v) || PyBool_Check(v) || small_int(v, &iv);
  push(r, unboxed ? constant(r, v) : kobj_in(r, v, dict));
}

// LOAD_ATTR / LOAD_METHOD on a module constant: the attribute, guarded by the module dict's version.
PyObject* module_attr(Recorder* r, IRRef owner, PyObject* name) {
  PyObject* m = const_obj(r, owner);
  if (!m || !PyModule_CheckExact(m)) return nullptr;
  PyObject* d = PyModule_GetDict(m);
  PyObject* v = dict_lookup(d, name);
  if (!v) fail(Abort::attribute);
  guard_dict_version(r, d);
  ns_read(r, d, name, v);   // (a module's own globals, read as an attribute of the module)
  return v;
}

}  // namespace fastpy::rec
