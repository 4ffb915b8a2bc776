// The one restore routine (see restore.h).
// internals.h first: it defines Py_BUILD_CORE before <Python.h>.
#include "python/cpython311/internals.h"
#include "runtime/restore.h"

#include <cstring>
#include <vector>

#include "runtime/stats.h"

namespace fastpy {

namespace {
// A callee frame waiting for its CALL to create it again.
struct ResumeFrame {
  PyCodeObject* code;
  int pc, top;
  std::vector<std::pair<int, PyObject*>> slots;   // (slot, owned object)
};
std::vector<ResumeFrame> g_resume;   // outermost first

void resume_drop_all() {
  for (ResumeFrame& r : g_resume)
    for (auto& s : r.slots) Py_XDECREF(s.second);
  g_resume.clear();
  g_resume_pending = false;
}
}  // namespace

bool g_resume_pending = false;
void (*g_resume_needs_hook)() = nullptr;
PyObject* (*g_box_numpy)(ir::IRType ty, uint64_t v, ir::SnapBox box) = nullptr;

namespace {
// An entry's value as the Python object the snapshot describes.
PyObject* box_entry(const ir::Trace& t, const ir::SnapEntry& en, uint64_t v) {
  ir::IRType ty = t.ins[static_cast<size_t>(en.ref)].type;
  if (en.box == ir::SNAP_py) return box_value(ty, v);
  if (en.box == ir::SNAP_own) return reinterpret_cast<PyObject*>(static_cast<uintptr_t>(v));   // handed over
  if (!g_box_numpy) {
    PyErr_SetString(PyExc_SystemError, "fastpy: a snapshot holds a numpy scalar but numpy is not known");
    return nullptr;
  }
  return g_box_numpy(ty, v, en.box);
}
}  // namespace

void resume_apply(_PyInterpreterFrame* f) {
  if (g_resume.empty()) {
    g_resume_pending = false;
    return;
  }
  ResumeFrame r = std::move(g_resume.front());
  g_resume.erase(g_resume.begin());
  g_resume_pending = !g_resume.empty();
  if (f->f_code != r.code || f->prev_instr != py::code_units(r.code) - 1) {
    for (auto& s : r.slots) Py_XDECREF(s.second);
    resume_drop_all();
    return;
  }
  const int nlocals = r.code->co_nlocalsplus;
  std::vector<PyObject*> released;
  for (auto& [k, o] : r.slots) {
    if (k < nlocals) released.push_back(f->localsplus[k]);
    f->localsplus[k] = o;
  }
  f->stacktop = r.top;
  f->prev_instr = py::code_units(r.code) + r.pc - 1;
  stat_inc(Stat::trace_frames_materialized);
  for (PyObject* o : released) Py_XDECREF(o);
}

PyObject* box_value(ir::IRType ty, uint64_t v) {
  switch (ty) {
    case ir::IRT_i64: return py::int_from_i64(static_cast<long long>(v));
    case ir::IRT_f64: return PyFloat_FromDouble(ir::bits_f64(static_cast<int64_t>(v)));
    case ir::IRT_bool: return Py_NewRef(v ? Py_True : Py_False);
    case ir::IRT_obj: {
      auto* o = reinterpret_cast<PyObject*>(static_cast<uintptr_t>(v));
      Py_XINCREF(o);   // NULL: the empty slot below a callable (PUSH_NULL, LOAD_GLOBAL with NULL)
      return o;
    }
    default:
      PyErr_SetString(PyExc_SystemError, "fastpy: a snapshot holds a raw pointer");
      return nullptr;
  }
}

// A number written back over a number of the same kind that only the frame holds (refcount 1, or only the
// slots that get the same object too: no other reference can see it change) goes into that object in place:
// no allocation for the new value, no free of the old. Floats always; ints when both fit one 30-bit digit of
// the same sign and the new one is not a small int (CPython hands out its cached object for those, and `is`
// must see the same). The candidate test is cheap and reads no refcount; in_place() decides once every object
// value of the snapshot is referenced.
namespace {
constexpr int64_t kDigitMax = (int64_t(1) << PyLong_SHIFT) - 1;

// How many references to `old` (an entry's slot's object) the frame holds in slots the restore writes: where
// that is all of them, nothing else can see the object change (`zr = zi = 0.0`, `b = a`: both slots hold one
// number). One entry may take it (the first: `claimed` by the others); a slot that shares that entry's object
// (SnapEntry::same) still holds it afterwards, any other gets its own and lets this one go.
Py_ssize_t frame_holders(const ir::Snapshot& s, PyObject* old, PyObject* const* slots, int old_top) {
  const int end = old_top < s.top ? old_top : s.top;
  Py_ssize_t n = 0;
  for (const ir::SnapEntry& m : s.entries) n += m.slot < end && slots[m.slot] == old;
  return n;
}

bool in_place_candidate(ir::IRType ty, PyObject* old) {
  if (!old) return false;
  if (ty == ir::IRT_f64) return Py_IS_TYPE(old, &PyFloat_Type);
  return ty == ir::IRT_i64 && Py_IS_TYPE(old, &PyLong_Type);
}

bool in_place(ir::IRType ty, PyObject* old, uint64_t v, Py_ssize_t holders) {
  if (Py_REFCNT(old) != holders) return false;
  if (ty == ir::IRT_f64) {
    reinterpret_cast<PyFloatObject*>(old)->ob_fval = ir::bits_f64(static_cast<int64_t>(v));
    stat_inc(Stat::restore_in_place);
    return true;
  }
  const auto x = static_cast<int64_t>(v);
  if (x >= -_PY_NSMALLNEGINTS && x < _PY_NSMALLPOSINTS) return false;   // CPython's cached objects
  if (x > kDigitMax || x < -kDigitMax) return false;
  const Py_ssize_t size = Py_SIZE(old);
  if (size != (x > 0 ? 1 : -1)) return false;
  reinterpret_cast<PyLongObject*>(old)->ob_digit[0] = static_cast<digit>(x > 0 ? x : -x);
  stat_inc(Stat::restore_in_place);
  return true;
}
}  // namespace

namespace {
enum : uint8_t { kKindObj, kKindOwn, kKindBool, kKindF64, kKindI64, kKindLink, kKinds, kKindOther = kKinds };
constexpr int kFallBack = -2;

// An int x written over the int object `old` in place (old's refcount aside): both one digit of the same
// sign, and x not one of CPython's cached small ints (see in_place above).
bool int_fits_in_place(int64_t x, PyObject* old) {
  if (x >= -_PY_NSMALLNEGINTS && x < _PY_NSMALLPOSINTS) return false;
  if (x > kDigitMax || x < -kDigitMax) return false;
  return Py_SIZE(old) == (x > 0 ? 1 : -1);
}

inline PyObject* as_obj(uint64_t v) { return reinterpret_cast<PyObject*>(static_cast<uintptr_t>(v)); }

// Releases the new references a fast restore made before it gave up: those of entries ord[0..upto) but
// the owned ones (the general path hands them over) and the frame's own numbers.
void fast_undo(const RestoreKinds::Snap& p, const uint8_t* ord, PyObject* const* nv, uint32_t reuse, int upto) {
  for (int i = 0; i < upto; i++) {
    const int e = ord[i];
    if ((i < p.end[kKindOwn] && i >= p.end[kKindObj]) || (reuse >> e & 1)) continue;
    Py_XDECREF(nv[e]);
  }
}

// restore_frame's fast path (RestoreKinds). Same passes as the general path: every new value first; then
// the frame's own numbers, now that every object value has its reference; then the frame; the old values
// released last. kFallBack: an allocation failed; the frame is as it was and no error is set.
int restore_fast(_PyInterpreterFrame* f, const ir::Snapshot& s, const RestoreKinds::Snap& p,
                 const uint8_t* ord, const uint64_t* values) {
  const int n = p.end[kKindLink];
  PyObject** slots = f->localsplus;
  const int old_top = f->stacktop;
  PyObject* nv[32];
  uint32_t reuse = 0;   // bit e: entry e goes into the frame's own number object (nv[e] is that object)
  int i = 0;
  for (; i < p.end[kKindObj]; i++) nv[ord[i]] = Py_XNewRef(as_obj(values[ord[i]]));
  for (; i < p.end[kKindOwn]; i++) nv[ord[i]] = as_obj(values[ord[i]]);
  for (; i < p.end[kKindBool]; i++) nv[ord[i]] = Py_NewRef(values[ord[i]] ? Py_True : Py_False);
  for (; i < p.end[kKindF64]; i++) {
    const int e = ord[i];
    const int k = s.entries[static_cast<size_t>(e)].slot;
    PyObject* old = k < old_top ? slots[k] : nullptr;
    if (old && Py_IS_TYPE(old, &PyFloat_Type)) {
      reuse |= 1u << e;
      nv[e] = old;
      continue;
    }
    if (!(nv[e] = PyFloat_FromDouble(ir::bits_f64(static_cast<int64_t>(values[e]))))) goto failed;
  }
  for (; i < p.end[kKindI64]; i++) {
    const int e = ord[i];
    const int k = s.entries[static_cast<size_t>(e)].slot;
    PyObject* old = k < old_top ? slots[k] : nullptr;
    const auto x = static_cast<int64_t>(values[e]);
    if (old && Py_IS_TYPE(old, &PyLong_Type) && int_fits_in_place(x, old)) {
      reuse |= 1u << e;
      nv[e] = old;
      continue;
    }
    if (!(nv[e] = py::int_from_i64(x))) goto failed;
  }
  // Slots sharing an object (SnapEntry::same): the frame's, referenced now (then a number the frame holds
  // twice is not its alone below); another entry's, once that is decided (after the next loop).
  for (; i < n; i++) {
    const ir::SnapEntry& en = s.entries[ord[i]];
    nv[ord[i]] = nullptr;
    if (en.same_frame && (en.same >= old_top || !(nv[ord[i]] = Py_XNewRef(slots[en.same])))) goto failed;
  }
  // The frame's own numbers, if the frame still holds the only reference now that every object value has
  // its own: else a new object after all.
  for (uint32_t m = reuse; m; m &= m - 1) {
    const int e = __builtin_ctz(m);
    if (Py_REFCNT(nv[e]) == 1) continue;   // the frame's alone (so no other slot holds it, nor claimed it)
    bool claimed = false;
    for (uint32_t k = reuse & ((1u << e) - 1); k; k &= k - 1) claimed = claimed || nv[__builtin_ctz(k)] == nv[e];
    if (!claimed && Py_REFCNT(nv[e]) == frame_holders(s, nv[e], slots, old_top)) continue;
    const bool flt = Py_IS_TYPE(nv[e], &PyFloat_Type);
    reuse &= ~(1u << e);
    nv[e] = flt ? PyFloat_FromDouble(ir::bits_f64(static_cast<int64_t>(values[e])))
                : py::int_from_i64(static_cast<long long>(values[e]));
    if (!nv[e]) goto failed;
  }
  for (int j = p.end[kKindI64]; j < n; j++) {
    const int e = ord[j];
    const ir::SnapEntry& en = s.entries[static_cast<size_t>(e)];
    if (en.same_frame) continue;
    for (size_t m = 0; m < s.entries.size(); m++)
      if (s.entries[m].slot == en.same) nv[e] = Py_XNewRef(nv[m]);
    if (!nv[e]) goto failed;   // (ir_verify: never)
  }
  {
    // The frame; what it held below its old top is released last (a destructor may run arbitrary code,
    // which must see the restored frame), with the stack slots the snapshot's top drops (the trace
    // consumed them).
    PyObject* released[48];
    int nrel = 0;
    uint64_t in_place = 0;   // (counted here: __builtin_popcount is a libgcc call without -mpopcnt)
    for (int e = 0; e < n; e++) {
      if (reuse >> e & 1) {
        in_place++;
        const uint64_t v = values[e];
        if (Py_IS_TYPE(nv[e], &PyFloat_Type)) {
          reinterpret_cast<PyFloatObject*>(nv[e])->ob_fval = ir::bits_f64(static_cast<int64_t>(v));
        } else {
          const auto x = static_cast<int64_t>(v);
          reinterpret_cast<PyLongObject*>(nv[e])->ob_digit[0] = static_cast<digit>(x > 0 ? x : -x);
        }
        continue;
      }
      const int k = s.entries[static_cast<size_t>(e)].slot;
      if (k < old_top) released[nrel++] = slots[k];
      slots[k] = nv[e];
    }
    const int nlocals = f->f_code->co_nlocalsplus;
    for (int k = s.top > nlocals ? s.top : nlocals; k < old_top; k++) released[nrel++] = slots[k];
    f->stacktop = s.top;
    f->prev_instr = py::code_units(f->f_code) + s.pc - 1;
    stat_inc(Stat::trace_restores);
    stat_inc(Stat::restore_in_place, in_place);
    for (int r = 0; r < nrel; r++) Py_XDECREF(released[r]);
    return s.pc;
  }
failed:
  // (nv[ord[i]] is null when the failure was in the first passes; the last pass nulls its own)
  for (int j = i; j < n; j++) nv[ord[j]] = nullptr;
  fast_undo(p, ord, nv, reuse, n);
  PyErr_Clear();   // the general path tries again and reports it
  return kFallBack;
}
}  // namespace

void restore_kinds_build(const ir::Trace& t, RestoreKinds* out) {
  out->snaps.assign(t.snaps.size(), RestoreKinds::Snap{});
  out->order.clear();
  for (size_t si = 0; si < t.snaps.size(); si++) {
    const ir::Snapshot& s = t.snaps[si];
    RestoreKinds::Snap& p = out->snaps[si];
    p.first = static_cast<uint32_t>(out->order.size());
    if (s.entries.size() > 32 || !s.inlined.empty()) continue;
    uint8_t kind[32];
    bool fast = true;
    for (size_t e = 0; e < s.entries.size(); e++) {
      const ir::SnapEntry& en = s.entries[e];
      const ir::IRType ty = t.ins[static_cast<size_t>(en.ref)].type;
      uint8_t k = kKindOther;
      if (en.same >= 0) k = kKindLink;
      else if (en.box == ir::SNAP_own) k = kKindOwn;
      else if (en.box != ir::SNAP_py) k = kKindOther;
      else if (ty == ir::IRT_i64) k = kKindI64;
      else if (ty == ir::IRT_f64) k = kKindF64;
      else if (ty == ir::IRT_bool) k = kKindBool;
      else if (ty == ir::IRT_obj) k = kKindObj;
      if (k == kKindOther || en.slot >= s.top) fast = false;
      kind[e] = k;
    }
    if (!fast) continue;
    for (uint8_t g = 0; g < kKinds; g++) {
      for (size_t e = 0; e < s.entries.size(); e++)
        if (kind[e] == g) out->order.push_back(static_cast<uint8_t>(e));
      p.end[g] = static_cast<uint8_t>(out->order.size() - p.first);
    }
    p.fast = true;
  }
  out->built = true;
}

int restore_frame(_PyInterpreterFrame* f, const ir::Trace& t, int snap, const uint64_t* values,
                  const RestoreKinds& kinds) {
  if (kinds.built && g_resume.empty()) {
    const RestoreKinds::Snap& p = kinds.snaps[static_cast<size_t>(snap)];
    const ir::Snapshot& s = t.snaps[static_cast<size_t>(snap)];
    if (p.fast && f->stacktop - s.top <= 16) {
      int r = restore_fast(f, s, p, &kinds.order[p.first], values);
      if (r != kFallBack) return r;
    }
  }
  return restore_frame(f, t, snap, values);
}

int restore_frame(_PyInterpreterFrame* f, const ir::Trace& t, int snap, const uint64_t* values) {
  const ir::Snapshot& s = t.snaps[static_cast<size_t>(snap)];
  const size_t n = s.entries.size();
  PyObject* small[32];
  std::vector<PyObject*> big;
  PyObject** boxed = small;
  if (n > 32) {
    big.resize(n);
    boxed = big.data();
  }
  PyObject** slots = f->localsplus;
  const int old_top = f->stacktop;
  const int nlocals = f->f_code->co_nlocalsplus;
  uint8_t reused_small[32];
  std::vector<uint8_t> reused_big;
  uint8_t* reused = n > 32 ? (reused_big.resize(n), reused_big.data()) : reused_small;
  // 1. Every new value first: nothing the frame holds is released before all of them exist, so an object
  //    moving between slots (a, b = b, a) stays alive. A number for a frame slot whose old value is a number
  //    of the same kind that only the frame holds waits for the second pass (in_place).
  bool failed = false;
  bool links = false;   // some entry shares another slot's object (SnapEntry::same)
  for (size_t e = 0; e < n; e++) {
    const ir::SnapEntry& en = s.entries[e];
    reused[e] = 0;
    if (en.same >= 0) {
      // The frame's own object (before anything is written; its reference taken now, so that the in-place
      // reuse below leaves it alone), or the one another entry gets (below, once that one is made).
      links = true;
      boxed[e] = en.same_frame && en.same < old_top ? Py_XNewRef(slots[en.same]) : nullptr;
      if (en.same_frame && !boxed[e]) {   // (a frame slot the trace read is never empty)
        boxed[e] = failed ? nullptr : box_entry(t, en, values[e]);
        if (!boxed[e]) failed = true;
      }
      continue;
    }
    if (!failed && en.box == ir::SNAP_py && en.slot < s.top && en.slot < old_top &&
        in_place_candidate(t.ins[static_cast<size_t>(en.ref)].type, slots[en.slot])) {
      reused[e] = 2;   // decided below
      boxed[e] = nullptr;
      continue;
    }
    boxed[e] = failed && en.box != ir::SNAP_own ? nullptr : box_entry(t, en, values[e]);   // owned: never lost
    if (!boxed[e] && t.ins[static_cast<size_t>(en.ref)].type != ir::IRT_obj) failed = true;
  }
  // 2nd pass, now that every object value has its reference: the old number is still the frame's alone.
  for (size_t e = 0; e < n; e++) {
    if (reused[e] != 2) continue;
    const ir::SnapEntry& en = s.entries[e];
    bool claimed = false;
    for (size_t j = 0; j < e; j++) claimed = claimed || (reused[j] == 1 && boxed[j] == slots[en.slot]);
    if (!failed && !claimed &&
        in_place(t.ins[static_cast<size_t>(en.ref)].type, slots[en.slot], values[e],
                 frame_holders(s, slots[en.slot], slots, old_top))) {
      reused[e] = 1;
      boxed[e] = slots[en.slot];
      continue;
    }
    reused[e] = 0;
    boxed[e] = failed ? nullptr : box_entry(t, en, values[e]);
    if (!boxed[e]) failed = true;
  }
  // Entries sharing another entry's object, now that it exists (it is in boxed, reused in place or not).
  for (size_t e = 0; links && e < n; e++) {
    const ir::SnapEntry& en = s.entries[e];
    if (en.same < 0 || en.same_frame) continue;
    PyObject* o = nullptr;
    for (size_t m = 0; m < n; m++)
      if (s.entries[m].slot == en.same) o = boxed[m];
    boxed[e] = failed ? nullptr : o ? Py_NewRef(o) : box_entry(t, en, values[e]);   // (ir_verify: never null)
    if (!boxed[e]) failed = true;
  }
  if (!g_resume.empty()) resume_drop_all();   // stale: a CALL that never created its frame
  if (failed) {
    // Out of memory while boxing: leave a frame the unwinder can handle, MemoryError at the resume point.
    for (size_t e = 0; e < n; e++) {
      int k = s.entries[e].slot;
      if (k < s.top && k >= old_top) slots[k] = boxed[e] ? boxed[e] : Py_NewRef(Py_None);
      else if (!reused[e]) Py_XDECREF(boxed[e]);   // the frame keeps its own value; inlined frames are not made
    }
    for (int k = old_top; k < s.top; k++) {
      bool listed = false;
      for (size_t e = 0; e < n; e++) listed |= s.entries[e].slot == k;
      if (!listed) slots[k] = Py_NewRef(Py_None);
    }
  }
  // 2. Put them in place, collecting what the frame held in slots below its old top.
  PyObject* released_small[32];
  std::vector<PyObject*> released_big;
  PyObject** released = n > 32 ? (released_big.resize(n), released_big.data()) : released_small;
  size_t nrel = 0;
  if (!failed) {
    for (const ir::SnapFrame& fr : s.inlined)
      g_resume.push_back(ResumeFrame{reinterpret_cast<PyCodeObject*>(fr.code), fr.pc, fr.top, {}});
    for (size_t e = 0; e < n; e++) {
      int k = s.entries[e].slot;
      if (k >= s.top) {   // a slot of an inlined frame: it waits for the frame
        for (size_t i = s.inlined.size(); i-- > 0;) {
          if (k >= s.inlined[i].base) {
            g_resume[i].slots.emplace_back(k - s.inlined[i].base, boxed[e]);
            break;
          }
        }
        continue;
      }
      if (reused[e]) continue;   // the frame's own object, now holding the new value
      if (k < old_top) released[nrel++] = slots[k];
      slots[k] = boxed[e];
    }
    g_resume_pending = !g_resume.empty();
    if (g_resume_pending && g_resume_needs_hook) g_resume_needs_hook();
  }
  // Stack slots the snapshot's top drops were the frame's own references (the trace consumed them).
  PyObject* dropped_small[16];
  std::vector<PyObject*> dropped_big;
  PyObject** dropped = dropped_small;
  size_t ndropped = 0;
  if (old_top - s.top > 16) {
    dropped_big.resize(static_cast<size_t>(old_top - s.top));
    dropped = dropped_big.data();
  }
  for (int k = s.top; k < old_top; k++) {
    if (k >= nlocals) dropped[ndropped++] = slots[k];
  }
  f->stacktop = s.top;
  // Continue at pc; on failure prev_instr names pc itself as the instruction that raised.
  f->prev_instr = py::code_units(f->f_code) + s.pc - (failed ? 0 : 1);
  stat_inc(Stat::trace_restores);
  // 3. Release the old values last: a destructor may run arbitrary code, which must see the restored frame.
  for (size_t i = 0; i < nrel; i++) Py_XDECREF(released[i]);
  for (size_t i = 0; i < ndropped; i++) Py_XDECREF(dropped[i]);
  if (failed) {
    if (!PyErr_Occurred()) PyErr_NoMemory();
    return -1;
  }
  return s.pc;
}

}  // namespace fastpy
