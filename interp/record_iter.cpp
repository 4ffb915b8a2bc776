// Recording iteration (see recorder_impl.h): FOR_ITER over range, list and tuple iterators, and -- in side
// traces, which run once per entry and may follow the interpreter out of a loop -- the objects a trace makes
// for the loops it enters: range(...) iterators (range_iter), iterators of lists and tuples (seq_iter) and
// list copies (list_slice). The trace owns those (SnapBox SNAP_own): exits hand them to the frame; one is
// released inside the trace only where that runs no code. The private layouts of 3.11's iterators are probed
// at start-up (iter_init); a failed probe switches the fast paths off.
// internals.h first: it defines Py_BUILD_CORE before <Python.h>.
#include "python/cpython311/internals.h"
#include "interp/recorder_impl.h"

#include <opcode.h>

#include "interp/eval.h"
#include "runtime/stats.h"

namespace fastpy::rec {

namespace {

// range_iterator in 3.11 (Objects/rangeobject.c): PyObject_HEAD, then four C longs.
struct RangeIterLayout {
  bool ok = false;
  int index = 0, start = 0, step = 0, len = 0;   // byte offsets
} g_range;

// list_iterator and tuple_iterator in 3.11: PyObject_HEAD, then it_index and it_seq (NULL once exhausted).
struct SeqIterLayout {
  bool ok = false;
  int index = 0, seq = 0;   // byte offsets
} g_seqiter;
PyTypeObject* g_list_iter_type = nullptr;
PyTypeObject* g_tuple_iter_type = nullptr;
PyTypeObject* g_range_iter_type = nullptr;

// Finds where 3.11's range_iterator keeps index, start, step and len: iter(range(5, 100, 3)) advanced once
// holds 1, 5, 3, 32 in some order of four longs after the object header.
void probe_range_iter() {
  PyObject* rng = PyObject_CallFunction(reinterpret_cast<PyObject*>(&PyRange_Type), "iii", 5, 100, 3);
  PyObject* it = rng ? PyObject_GetIter(rng) : nullptr;
  PyObject* first = it ? PyIter_Next(it) : nullptr;
  if (it) g_range_iter_type = Py_TYPE(it);
  if (first && Py_TYPE(it)->tp_basicsize == static_cast<Py_ssize_t>(sizeof(PyObject) + 4 * sizeof(long))) {
    const long* w = reinterpret_cast<const long*>(reinterpret_cast<const char*>(it) + sizeof(PyObject));
    if (w[0] == 1 && w[1] == 5 && w[2] == 3 && w[3] == 32) {
      int base = static_cast<int>(sizeof(PyObject));
      g_range = {true, base, base + 8, base + 16, base + 24};
    }
  }
  Py_XDECREF(first);
  Py_XDECREF(it);
  Py_XDECREF(rng);
  PyErr_Clear();
}

// Spare range iterators. CPython's range_iterator has no free list: every `for ... in range(...)` allocates
// one and frees it, and a side trace that enters an inner range loop makes one per entry (nbody: 1.2 M per
// run, allocation and free ~6 % of its instructions). Once a trace makes them, the type's deallocator is
// wrapped to keep up to kSpareRangeIters freed ones (whoever freed them) for new_range_iter to hand out
// again; past that, and for anything else, CPython's own deallocator runs. Only under the GIL, as every
// allocation and free of Python objects.
constexpr int kSpareRangeIters = 16;
PyObject* g_spare_range_iters[kSpareRangeIters];
int g_nspare_range_iters = 0;
destructor g_range_iter_dealloc = nullptr;   // CPython's, once wrapped

void keep_spare_range_iter(PyObject* it) {
  if (g_nspare_range_iters < kSpareRangeIters && Py_TYPE(it) == g_range_iter_type) {
    g_spare_range_iters[g_nspare_range_iters++] = it;   // (refcount 0: a dead object, reused whole)
    return;
  }
  g_range_iter_dealloc(it);
}

void wrap_range_iter_dealloc() {
  if (g_range_iter_dealloc || !g_range_iter_type || !g_range_iter_type->tp_dealloc) return;
  g_range_iter_dealloc = g_range_iter_type->tp_dealloc;
  g_range_iter_type->tp_dealloc = &keep_spare_range_iter;
}

// Finds where list_iterator and tuple_iterator keep it_index and it_seq: iter([7, 8, 9]) advanced once holds
// 1 and the list; iter((7, 8, 9)) the same with the tuple.
void probe_seq_iters() {
  PyObject* lst = Py_BuildValue("[iii]", 7, 8, 9);
  PyObject* tup = Py_BuildValue("(iii)", 7, 8, 9);
  PyObject* lit = lst ? PyObject_GetIter(lst) : nullptr;
  PyObject* tit = tup ? PyObject_GetIter(tup) : nullptr;
  PyObject* a = lit ? PyIter_Next(lit) : nullptr;
  PyObject* b = tit ? PyIter_Next(tit) : nullptr;
  auto words_ok = [](PyObject* it, PyObject* seq) {
    if (Py_TYPE(it)->tp_basicsize != static_cast<Py_ssize_t>(sizeof(PyObject) + 2 * sizeof(void*))) return false;
    const char* base = reinterpret_cast<const char*>(it) + sizeof(PyObject);
    return *reinterpret_cast<const Py_ssize_t*>(base) == 1 && *reinterpret_cast<PyObject* const*>(base + 8) == seq;
  };
  if (a && b && words_ok(lit, lst) && words_ok(tit, tup)) {
    g_list_iter_type = Py_TYPE(lit);
    g_tuple_iter_type = Py_TYPE(tit);
    int base = static_cast<int>(sizeof(PyObject));
    g_seqiter = {true, base, base + 8};
  }
  Py_XDECREF(a);
  Py_XDECREF(b);
  Py_XDECREF(lit);
  Py_XDECREF(tit);
  Py_XDECREF(lst);
  Py_XDECREF(tup);
  PyErr_Clear();
}

}  // namespace

void iter_init() {
  probe_range_iter();
  probe_seq_iters();
}

RangeIterPool range_iter_pool() {
  RangeIterPool p;
  static_assert(sizeof(g_nspare_range_iters) == 4, "machine code reads the count as 32 bits");
  if (!g_range.ok) return p;
  p.ok = true;
  p.spares = g_spare_range_iters;
  p.nspare = &g_nspare_range_iters;
  p.fields[0] = g_range.index;
  p.fields[1] = g_range.start;
  p.fields[2] = g_range.step;
  p.fields[3] = g_range.len;
  return p;
}

PyObject* new_range_iter(int64_t start, int64_t stop, int64_t step) {
  // Objects/rangeobject.c's range_iter for C-long bounds: the length as get_len_of_range computes it; a
  // length beyond LONG_MAX, or a stop near the ends of the long range, makes a longrange_iterator there.
  static_assert(sizeof(long) == sizeof(int64_t), "range_iterator holds C longs");
  if (step == 0 || !g_range.ok) return nullptr;
  uint64_t len = 0;
  if (step == 1 && start < stop) len = uint64_t(stop) - uint64_t(start);   // the common case: no division
  else if (step > 0 && start < stop) len = 1 + (uint64_t(stop) - 1 - uint64_t(start)) / uint64_t(step);
  else if (step < 0 && start > stop) len = 1 + (uint64_t(start) - 1 - uint64_t(stop)) / (0 - uint64_t(step));
  if (len > uint64_t(INT64_MAX)) return nullptr;
  if (len && (step > 0 ? stop > INT64_MAX - (step - 1) : stop < INT64_MIN + (-1 - step))) return nullptr;
  PyObject* it;
  if (g_nspare_range_iters > 0) {
    it = g_spare_range_iters[--g_nspare_range_iters];
    _Py_NewReference(it);   // refcount 1 (and tracemalloc's record of the block), as _PyObject_New's init
    stat_inc(Stat::range_iters_reused);
  } else {
    it = _PyObject_New(g_range_iter_type);
  }
  if (!it) {
    PyErr_Clear();   // the guard exits; the interpreter's range() raises MemoryError itself
    return nullptr;
  }
  char* base = reinterpret_cast<char*>(it);
  *reinterpret_cast<long*>(base + g_range.index) = 0;
  *reinterpret_cast<long*>(base + g_range.start) = start;
  *reinterpret_cast<long*>(base + g_range.step) = step;
  *reinterpret_cast<long*>(base + g_range.len) = static_cast<long>(len);
  return it;
}

PyObject* new_list_slice(PyObject* list, int64_t lo, int64_t hi) {
  int was_enabled = PyGC_Disable();
  PyObject* s = PyList_GetSlice(list, static_cast<Py_ssize_t>(lo), static_cast<Py_ssize_t>(hi));
  if (was_enabled) PyGC_Enable();
  if (!s) PyErr_Clear();   // the guard exits; the interpreter's slice raises MemoryError itself
  return s;
}

int64_t list_append_item(PyObject* list, PyObject* item) {
  if (PyList_Append(list, item) == 0) return 1;
  PyErr_Clear();
  return 0;
}

PyObject* new_seq_iter(PyObject* seq) {
  int was_enabled = PyGC_Disable();
  PyObject* it = Py_TYPE(seq)->tp_iter(seq);
  if (was_enabled) PyGC_Enable();
  if (!it) PyErr_Clear();   // the guard exits; the interpreter's GET_ITER raises MemoryError itself
  return it;
}

bool known_nonneg(const Recorder* r, IRRef v) {
  if (v < 0) return false;
  const ir::IRIns& i = r->t.ins[static_cast<size_t>(v)];
  if (i.op == ir::IR_kint) return i.imm >= 0;
  if (i.op != ir::IR_load_i64 || !g_range.ok || i.imm != g_range.index) return false;
  // The object it was loaded from must be known to be a range iterator (FOR_ITER guards that first).
  for (IRRef g = v - 1; g >= 0; g--) {
    const ir::IRIns& x = r->t.ins[static_cast<size_t>(g)];
    if (x.op == ir::IR_guard_type && x.a == i.a) return x.imm == reinterpret_cast<int64_t>(g_range_iter_type);
  }
  return false;
}

namespace {

// The range iterator behind IR value v when v is the index its FOR_ITER loaded in this recording and checked
// against its length there (v < L): *len is L's IR value; returns the live iterator (sp: the interpreter's
// stack pointer at the instruction being recorded, where the iterator sits), or nullptr.
const char* checked_range_index(const Recorder* r, PyObject** sp, IRRef v, IRRef* len) {
  if (!known_nonneg(r, v) || r->t.ins[static_cast<size_t>(v)].op != ir::IR_load_i64) return nullptr;
  const IRRef itv = r->t.ins[static_cast<size_t>(v)].a;
  // FOR_ITER's check of this very load against the iterator's length: `lt v, L`, its guard_true next.
  IRRef c = kNoRef;
  for (IRRef k = v + 1; k + 1 < r->t.size() && c == kNoRef; k++) {
    const ir::IRIns& x = r->t.ins[static_cast<size_t>(k)];
    if (x.op != ir::IR_lt || x.a != v || x.b < 0) continue;
    const ir::IRIns& l = r->t.ins[static_cast<size_t>(x.b)];
    const ir::IRIns& g = r->t.ins[static_cast<size_t>(k + 1)];
    if (l.op == ir::IR_load_i64 && l.a == itv && l.imm == g_range.len && g.op == ir::IR_guard_true && g.a == k) c = k;
  }
  if (c == kNoRef) return nullptr;
  // The iterator itself, on the value stack of the frame being recorded.
  for (int k = r->top - 1; k >= r->base; k--) {
    if (r->slot[static_cast<size_t>(k)] != itv) continue;
    PyObject* it = sp[k - r->top];
    if (Py_TYPE(it) != g_range_iter_type) return nullptr;
    *len = r->t.ins[static_cast<size_t>(c)].b;
    return reinterpret_cast<const char*>(it);
  }
  return nullptr;
}

}  // namespace

bool range_checked_index(Recorder* r, PyObject** sp, IRRef idx, IRRef n, int64_t live_n) {
  // idx = v + c, c a constant (0 when idx is v itself)
  int64_t c = 0;
  IRRef v = idx;
  const ir::IRIns& x = r->t.ins[static_cast<size_t>(idx)];
  if ((x.op == ir::IR_add_ov || x.op == ir::IR_sub_ov) && x.b >= 0 &&
      r->t.ins[static_cast<size_t>(x.b)].op == ir::IR_kint) {
    int64_t k = r->t.ins[static_cast<size_t>(x.b)].imm;
    if (x.op == ir::IR_sub_ov && k == INT64_MIN) return false;
    c = x.op == ir::IR_add_ov ? k : -k;
    v = x.a;
  }
  // v = start + index (FOR_ITER's value for a step of 1), or the index itself (a start of 0)
  IRRef start = kNoRef, index = v;
  const ir::IRIns& y = r->t.ins[static_cast<size_t>(v)];
  if (y.op == ir::IR_add && y.a >= 0 && y.b >= 0) {
    const ir::IRIns& s = r->t.ins[static_cast<size_t>(y.a)];
    const ir::IRIns& i = r->t.ins[static_cast<size_t>(y.b)];
    if (s.op != ir::IR_load_i64 || s.imm != g_range.start || i.op != ir::IR_load_i64 || s.a != i.a) return false;
    start = y.a;
    index = y.b;
  }
  IRRef len = kNoRef;
  const char* it = checked_range_index(r, sp, index, &len);
  if (!it) return false;
  // The live values must pass the guards (else they would exit at every run: the per-index check instead).
  const int64_t live_start = start == kNoRef ? 0 : *reinterpret_cast<const long*>(it + g_range.start);
  const int64_t live_len = *reinterpret_cast<const long*>(it + g_range.len);
  int64_t lo, hi;
  if (__builtin_add_overflow(live_start, c, &lo) || lo < 0 || __builtin_add_overflow(lo, live_len, &hi) || hi > live_n)
    return false;
  // Every value of i is start + index with 0 <= index < len, so start + c >= 0 and start + c + len <= n
  // give 0 <= i + c < n for all of them: guards of values the loop does not change, which peel hoists out
  // of the loop (it checks them once, before the first iteration; a range or a sequence that does not
  // qualify exits there, at this subscript, where the interpreter indexes as usual).
  IRRef lo_v = start == kNoRef ? r->b.kint(c) : c == 0 ? start : guard(r, ir::IR_add_ov, start, r->b.kint(c));
  if (!known_nonneg(r, lo_v)) guard_true(r, emit(r, ir::IR_ge, lo_v, r->b.kint(0)));
  guard_true(r, emit(r, ir::IR_le, guard(r, ir::IR_add_ov, lo_v, len), n));
  return true;
}

bool can_leave_loop(const Recorder* r) { return r->parent && r->callers.empty(); }

// Owned slot k is popped: a copy of its value elsewhere becomes the owner, else the trace releases it --
// only where that runs no code: a range iterator, a list or tuple iterator whose sequence something else
// holds (guarded, before the pop changes the state the guard's snapshot describes). A list the trace made
// (its items' finalizers could run) is not released inside a trace.
void release_owned(Recorder* r, size_t k) {
  IRRef v = r->slot[k];
  for (int j = 0; j < r->top; j++) {
    size_t u = static_cast<size_t>(j);
    if (u != k && r->slot[u] == v) {
      r->kind[u] = ir::SNAP_own;
      return;
    }
  }
  const ir::IRIns& made = r->t.ins[static_cast<size_t>(v)];
  if (made.op == ir::IR_seq_iter) {
    IRRef rc = emit(r, ir::IR_load_i64, made.a, kNoRef, 0);
    guard_true(r, emit(r, ir::IR_ge, rc, r->b.kint(2)));
  } else if (made.op != ir::IR_range_iter) {
    fail(Abort::unsupported_type);
  }
  emit(r, ir::IR_decref, v);
}

// `for ... in range(...)`: CALL of range with 1 to 3 ints right before GET_ITER, recorded together as the
// range iterator itself (range_iter; the range object is never made). The trace owns the iterator (SNAP_own):
// exits hand it to the frame, popping it releases it. The step must be the same at every run (a constant,
// or guarded to be).
void rec_range_iter(Recorder* r, int oparg, PyObject** sp) {
  _Py_CODEUNIT* next = r->here + 1 + fastpy_opcode_caches[CALL];
  // (Only in a side trace, which runs once: a loop's own trace would make a new one per iteration.)
  if (fastpy_opcode_deopt[_Py_OPCODE(*next)] != GET_ITER || oparg < 1 || oparg > 3 || !can_leave_loop(r) ||
      !g_range.ok)
    fail(Abort::call_unknown);
  int64_t live_v[3] = {0, 0, 1};
  IRRef v[3] = {r->b.kint(0), kNoRef, kNoRef};
  int first = oparg == 1 ? 1 : 0;   // range(stop) starts at 0
  for (int i = 0; i < oparg; i++) {
    PyObject* o = live(sp, oparg - i);
    IRRef x = peek(r, oparg - i);
    if (PyBool_Check(o) || !small_int(o, &live_v[first + i]) || type_of(r, x) != ir::IRT_i64)
      fail(Abort::unsupported_type);
    v[first + i] = x;
  }
  int64_t step = live_v[2];
  if (oparg == 3) {
    if (step == 0) fail(Abort::would_raise);
    const ir::IRIns& si = r->t.ins[static_cast<size_t>(v[2])];
    if (si.op != ir::IR_kint) guard(r, ir::IR_guard_eqi, v[2], r->b.kint(step));
  }
  wrap_range_iter_dealloc();   // (from now on traces make range iterators: keep spares for them)
  PyObject* probe = new_range_iter(live_v[0], live_v[1], step);   // what the trace would make now
  if (!probe) fail(Abort::big_int);
  Py_DECREF(probe);
  IRRef it = emit(r, ir::IR_range_iter, v[0], v[1], step);
  guard(r, ir::IR_guard_nonnull, it);
  pop(r, oparg + 2);
  push(r, it);
  r->kind[static_cast<size_t>(r->top - 1)] = ir::SNAP_own;
  r->skip_at = static_cast<int>(next - r->first);
}

// GET_ITER of an exact list or tuple in a side trace going into the next loop of the enclosing body
// (`for x in a_list:`): the iterator (seq_iter, owned).
void rec_get_iter(Recorder* r, PyObject** sp) {
  PyObject* seq = live(sp, 1);
  IRRef s = peek(r, 1);
  if (!can_leave_loop(r) || (!PyList_CheckExact(seq) && !PyTuple_CheckExact(seq)) || !g_seqiter.ok ||
      type_of(r, s) != ir::IRT_obj)
    fail(Abort::inner_loop);
  guard(r, ir::IR_guard_type, s, kNoRef, reinterpret_cast<int64_t>(Py_TYPE(seq)));
  IRRef it = emit(r, ir::IR_seq_iter, s);
  guard(r, ir::IR_guard_nonnull, it);
  pop(r);
  push(r, it);
  r->kind[static_cast<size_t>(r->top - 1)] = ir::SNAP_own;
}

// BUILD_SLICE 2 before BINARY_SUBSCR: `a[lo:hi]` of an exact list in a side trace (it owns the copy):
// [list, lo, hi] with None or non-negative ints, recorded with the subscript (the slice object is never made).
void rec_list_slice(Recorder* r, int oparg, PyObject** sp) {
  _Py_CODEUNIT* next = r->here + 1 + fastpy_opcode_caches[BUILD_SLICE];
  PyObject* lst = live(sp, 3);
  if (oparg != 2 || fastpy_opcode_deopt[_Py_OPCODE(*next)] != BINARY_SUBSCR || !PyList_CheckExact(lst) ||
      !can_leave_loop(r))
    fail(Abort::unsupported_op);
  IRRef s = peek(r, 3);
  if (type_of(r, s) != ir::IRT_obj) fail(Abort::unsupported_type);
  IRRef bound[2];
  int64_t live_bound[2];
  for (int k = 0; k < 2; k++) {
    PyObject* o = live(sp, 2 - k);
    IRRef v = peek(r, 2 - k);
    if (o == Py_None) {
      if (const_obj(r, v) != Py_None) fail(Abort::unsupported_type);
      live_bound[k] = k == 0 ? 0 : INT64_MAX;
      bound[k] = r->b.kint(live_bound[k]);
    } else if (!PyBool_Check(o) && small_int(o, &live_bound[k]) && live_bound[k] >= 0 &&
               type_of(r, v) == ir::IRT_i64) {
      bound[k] = v;
    } else {
      fail(Abort::unsupported_type);   // negative bounds count from the end: not recorded
    }
  }
  guard(r, ir::IR_guard_type, s, kNoRef, reinterpret_cast<int64_t>(&PyList_Type));
  guard_true(r, emit(r, ir::IR_ge, bound[0], r->b.kint(0)));
  if (r->t.ins[static_cast<size_t>(bound[1])].op != ir::IR_kint)   // the end is the immediate
    guard(r, ir::IR_guard_eqi, bound[1], r->b.kint(live_bound[1]));
  IRRef copy = emit(r, ir::IR_list_slice, s, bound[0], live_bound[1]);
  guard(r, ir::IR_guard_nonnull, copy);
  pop(r, 3);
  push(r, copy);
  r->kind[static_cast<size_t>(r->top - 1)] = ir::SNAP_own;
  r->skip_at = static_cast<int>(next - r->first);
}

namespace {

// FOR_ITER over a list or tuple iterator: the next item, unboxed when it is a number.
void rec_for_iter_seq(Recorder* r, PyObject* it, IRRef itv) {
  const char* base = reinterpret_cast<const char*>(it);
  Py_ssize_t index = *reinterpret_cast<const Py_ssize_t*>(base + g_seqiter.index);
  PyObject* seq = *reinterpret_cast<PyObject* const*>(base + g_seqiter.seq);
  bool done = !seq || index >= Py_SIZE(seq);
  // Only a side trace follows a loop to its end (a trace of the loop itself ends there). CPython's iterator
  // then lets go of its sequence, which the frame's release of the iterator does too when nothing else
  // holds the iterator (guarded).
  if (done && (!seq || !can_leave_loop(r))) fail(r->pc == r->header ? Abort::loop_exit : Abort::inner_loop);
  bool is_list = Py_TYPE(it) == g_list_iter_type;
  guard(r, ir::IR_guard_type, itv, kNoRef, reinterpret_cast<int64_t>(Py_TYPE(it)));
  if (done) guard(r, ir::IR_guard_eqi, emit(r, ir::IR_load_i64, itv, kNoRef, 0), r->b.kint(1));
  // CPython's iterator lets go of its sequence right there; the trace's iterator goes later (released by
  // the trace when it made it, else by the restore of the frame): the same only when something else holds
  // the sequence (guarded), else the sequence's items would be freed later than in CPython.
  if (done && Py_REFCNT(seq) < 2) fail(Abort::unsupported_type);
  IRRef idx = emit(r, ir::IR_load_i64, itv, kNoRef, g_seqiter.index);
  IRRef s = emit(r, ir::IR_load_obj, itv, kNoRef, g_seqiter.seq);
  guard(r, ir::IR_guard_nonnull, s);
  IRRef n = emit(r, ir::IR_load_i64, s, kNoRef, offsetof(PyVarObject, ob_size));
  if (done) {
    guard_true(r, emit(r, ir::IR_ge, emit(r, ir::IR_load_i64, s, kNoRef, 0), r->b.kint(2)));
    guard_false(r, emit(r, ir::IR_lt, idx, n));
    pop(r);   // the interpreter jumps past the loop
    return;
  }
  guard_true(r, emit(r, ir::IR_lt, idx, n));
  // it_seq is a list (or a subclass: same layout) for list iterators, a tuple for tuple iterators.
  IRRef v;
  PyObject* item = is_list ? PyList_GET_ITEM(seq, index) : PyTuple_GET_ITEM(seq, index);
  if (is_list) {
    IRRef items = emit(r, ir::IR_load_ptr, s, kNoRef, offsetof(PyListObject, ob_item));
    v = typed_load(r, emit(r, ir::IR_padd, items, idx, sizeof(PyObject*)), 0, item);
  } else {
    v = typed_load(r, emit(r, ir::IR_padd, s, idx, sizeof(PyObject*)), offsetof(PyTupleObject, ob_item), item);
  }
  emit(r, ir::IR_store_i64, itv, guard(r, ir::IR_add_ov, idx, r->b.kint(1)), g_seqiter.index);
  push_loaded(r, v, item);
}

}  // namespace

void rec_for_iter(Recorder* r, PyObject** sp) {
  PyObject* it = live(sp, 1);
  if ((Py_TYPE(it) == g_list_iter_type || Py_TYPE(it) == g_tuple_iter_type) && g_seqiter.ok) {
    IRRef itv = peek(r, 1);
    if (type_of(r, itv) != ir::IRT_obj) fail(Abort::unsupported_type);
    rec_for_iter_seq(r, it, itv);
    return;
  }
  if (Py_TYPE(it) != g_range_iter_type || !g_range.ok) fail(Abort::unsupported_type);
  IRRef itv = peek(r, 1);
  if (type_of(r, itv) != ir::IRT_obj) fail(Abort::unsupported_type);
  const char* base = reinterpret_cast<const char*>(it);
  long index = *reinterpret_cast<const long*>(base + g_range.index);
  long len = *reinterpret_cast<const long*>(base + g_range.len);
  // (An exhausted range iterator stays as it is in CPython.)
  if (index >= len && !can_leave_loop(r)) fail(r->pc == r->header ? Abort::loop_exit : Abort::inner_loop);
  guard(r, ir::IR_guard_type, itv, kNoRef, reinterpret_cast<int64_t>(g_range_iter_type));
  IRRef idx = emit(r, ir::IR_load_i64, itv, kNoRef, g_range.index);
  IRRef n = emit(r, ir::IR_load_i64, itv, kNoRef, g_range.len);
  if (index >= len) {
    guard_false(r, emit(r, ir::IR_lt, idx, n));
    pop(r);   // the interpreter jumps past the loop
    return;
  }
  guard_true(r, emit(r, ir::IR_lt, idx, n));
  IRRef start = emit(r, ir::IR_load_i64, itv, kNoRef, g_range.start);
  IRRef step = emit(r, ir::IR_load_i64, itv, kNoRef, g_range.step);
  // A step of 1 (almost every range) is what the trace specializes on: the value is start + index, and a
  // start of 0 (range(n)) too: the value is the index itself. A site that later runs another step or start
  // exits at the guard and is recorded again (the unstable-trace policy).
  IRRef v, next;
  if (*reinterpret_cast<const long*>(base + g_range.step) == 1) {
    guard(r, ir::IR_guard_eqi, step, r->b.kint(1));
    if (*reinterpret_cast<const long*>(base + g_range.start) == 0) {
      guard(r, ir::IR_guard_eqi, start, r->b.kint(0));
      start = r->b.kint(0);
    }
    // Neither sum can overflow: 0 <= index < len (CPython keeps the index in [0, len], __setstate__
    // included), range() made sure start + (len - 1) fits a long, and len <= LONG_MAX.
    v = emit(r, ir::IR_add, start, idx);
    next = emit(r, ir::IR_add, idx, r->b.kint(1));
  } else {
    // start + index * step fits a long for every index < len (range() checked the length).
    v = guard(r, ir::IR_add_ov, start, guard(r, ir::IR_mul_ov, idx, step));
    next = guard(r, ir::IR_add_ov, idx, r->b.kint(1));
  }
  emit(r, ir::IR_store_i64, itv, next, g_range.index);
  push(r, v);
}

}  // namespace fastpy::rec
