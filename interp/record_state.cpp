// The recorder's abstract state (recorder_impl.h): the frame slots' IR values and what a snapshot says of
// them -- their object identity (Recorder::ident: slots sharing one object) and the objects their numbers
// were loaded from (Recorder::origin, restorable until something may release them) -- and the emission
// helpers every recorded instruction goes through (snapshot first, then the guard).
// internals.h first: it defines Py_BUILD_CORE before <Python.h>.
#include "python/cpython311/internals.h"

#include <vector>

#include "interp/recorder_impl.h"
#include "tiers/ir/ir.h"

namespace fastpy::rec {

[[noreturn]] void fail(Abort why) { throw AbortEx{why}; }

ir::IRType type_of(Recorder* r, IRRef v) { return r->t.ins[static_cast<size_t>(v)].type; }

// Takes the snapshot of the state before the current instruction (once per instruction).
void snap(Recorder* r) {
  if (r->snapped) return;
  r->snap_origins = false;
  std::vector<ir::SnapEntry> entries;
  for (int k = 0; k < r->top; k++) {
    size_t u = static_cast<size_t>(k);
    if (!r->written[u]) continue;
    ir::SnapEntry e{k, r->slot[u], static_cast<ir::SnapBox>(r->kind[u])};
    // The object its number was loaded from, while nothing may have released it since (not in the end
    // snapshot for a slot the iteration read: peel needs it of the type the next iteration reads).
    // (A slot with an origin holds the origin's unbox, the number the entry says it stands for.)
    const ir::IROp unbox = r->origin[u] != kNoRef ? r->t.ins[static_cast<size_t>(r->slot[u])].op : ir::IR_kint;
    if (IRRef o = r->origin[u]; o != kNoRef && o > r->last_release && e.box == ir::SNAP_py &&
                                (unbox == ir::IR_unbox_i64 || unbox == ir::IR_unbox_f64) &&
                                !(r->final_snap && u < r->fref.size() && r->fref[u] != kNoRef)) {
      e.ref = o;
      e.num = unbox == ir::IR_unbox_f64 ? ir::NUM_f64 : ir::NUM_i64;
      r->snap_origins = true;
    } else if (int32_t id = r->ident[u]; id <= -2) {
      // The object it shares with another slot (snap_normalize_same keeps only links of the same value).
      size_t j = static_cast<size_t>(-2 - id);
      if (j < r->fref.size() && r->fref[j] == e.ref && r->fkind[j] == e.box) e.same = -2 - id, e.same_frame = true;
    } else if (id >= 0) {
      for (const ir::SnapEntry& m : entries) {
        if (r->ident[static_cast<size_t>(m.slot)] == id && m.same < 0) {
          e.same = m.slot;
          break;
        }
      }
    }
    entries.push_back(e);
  }
  if (r->callers.empty()) {
    r->b.snapshot(r->pc, r->top, std::move(entries));
    ir::snap_normalize_same(r->t, &r->t.snaps.back());
  } else {
    // Inside inlined calls: the loop's frame resumes at its CALL (re-executed at the exit to create the
    // callee again), each callee at the CALL into the next one, the innermost here.
    const RFrame& root = r->callers.front();
    r->b.snapshot(root.call_pc, root.top, std::move(entries));
    std::vector<ir::SnapFrame>& inl = r->t.snaps.back().inlined;
    for (size_t i = 1; i < r->callers.size(); i++) {
      const RFrame& c = r->callers[i];
      inl.push_back({c.base, c.call_pc, c.top - c.base, reinterpret_cast<int64_t>(c.co)});
    }
    inl.push_back({r->base, r->pc, r->top - r->base, reinterpret_cast<int64_t>(r->co)});
    ir::snap_normalize_same(r->t, &r->t.snaps.back());
  }
  r->snapped = true;
}

namespace {
// An instruction that may release a borrowed object was emitted at `at`: the origins loaded before it are
// no longer restorable, and a snapshot of this instruction that restores one is not valid after it.
void note_release(Recorder* r, ir::IROp op, IRRef at) {
  if (!ir::ir_may_release(op) || at == kNoRef || at < r->t.size() - 1) return;   // (folded or CSE'd: none)
  r->last_release = at;
  if (r->snap_origins) r->snapped = false;
}
}  // namespace

// Emits a guard (or an op that can exit) after the current instruction's snapshot.
IRRef guard(Recorder* r, ir::IROp op, IRRef a, IRRef b, int64_t imm) {
  snap(r);
  IRRef v = r->b.emit(op, a, b, imm);
  note_release(r, op, v);
  return v;
}
IRRef emit(Recorder* r, ir::IROp op, IRRef a, IRRef b, int64_t imm) {
  IRRef v = r->b.emit(op, a, b, imm);
  note_release(r, op, v);
  return v;
}
void guard_true(Recorder* r, IRRef c) { guard(r, ir::IR_guard_true, c); }
void guard_false(Recorder* r, IRRef c) { guard(r, ir::IR_guard_false, c); }

// An object constant the trace keeps alive.
IRRef kobj(Recorder* r, PyObject* o) {
  if (o) {
    Py_INCREF(o);
    r->kept.push_back(o);
  }
  return r->b.kobj(o);
}

// True when o is an exact int that fits in 64 bits; its value in *v.
bool small_int(PyObject* o, int64_t* v) {
  if (!PyLong_CheckExact(o)) return false;
  int overflow = 0;
  long long x = PyLong_AsLongLongAndOverflow(o, &overflow);
  if (overflow || (x == -1 && PyErr_Occurred())) {
    PyErr_Clear();
    return false;
  }
  *v = x;
  return true;
}

// The IR value of frame slot k, whose live object is o: loaded (and type-guarded) on first use.
IRRef read_slot(Recorder* r, int k) {
  IRRef& v = r->slot[static_cast<size_t>(k)];
  if (v != kNoRef) return v;
  // An inlined callee's slots all have values from its call (arguments) or its own stores: one without is
  // a local read before assignment. In the loop's frame, a stack slot the trace pushed always has one.
  if (r->base > 0) fail(Abort::unbound_local);
  if (k >= r->top_in) fail(Abort::internal);
  PyObject* o = r->f->localsplus[k];
  if (!o) fail(Abort::unbound_local);
  int64_t iv;
  if (PyFloat_CheckExact(o)) v = guard(r, ir::IR_sload_f64, kNoRef, kNoRef, k);
  else if (PyBool_Check(o)) v = guard(r, ir::IR_sload_bool, kNoRef, kNoRef, k);
  else if (small_int(o, &iv)) v = guard(r, ir::IR_sload_i64, kNoRef, kNoRef, k);
  else if (PyLong_CheckExact(o)) fail(Abort::big_int);
  else if (uint8_t nk = 0; (v = numpy_sload(r, k, o, &nk)) != kNoRef) r->kind[static_cast<size_t>(k)] = nk;
  else {
    // A later entry may find the local unbound (NULL): exit before anything uses it, so the interpreter
    // raises UnboundLocalError.
    v = emit(r, ir::IR_sload_obj, kNoRef, kNoRef, k);
    guard(r, ir::IR_guard_nonnull, v);
  }
  r->fref[static_cast<size_t>(k)] = v;
  r->fkind[static_cast<size_t>(k)] = r->kind[static_cast<size_t>(k)];
  return v;
}

int32_t share_ident(Recorder* r, int k) {
  size_t u = static_cast<size_t>(k);
  int32_t& id = r->ident[u];
  if (id != -1) return id;
  // Not written and read in the loop's frame: the frame's object (a callee's argument got its caller's).
  if (!r->written[u] && u < r->fref.size() && r->fref[u] != kNoRef && r->fref[u] == r->slot[u]) id = -2 - k;
  else id = r->next_ident++;
  return id;
}

// Stack access: PEEK(1) is the top. The concrete object comes from the interpreter's stack.
IRRef peek(Recorder* r, int n) { return read_slot(r, r->top - n); }
void push(Recorder* r, IRRef v) {
  size_t k = static_cast<size_t>(r->top++);
  r->slot[k] = v;
  r->written[k] = true;
  r->kind[k] = ir::SNAP_py;
  r->ident[k] = -1;
  r->origin[k] = kNoRef;
}
void push_loaded(Recorder* r, IRRef v, PyObject* live_item) {
  push(r, v);
  // (A small int is CPython's cached object, which the restore's boxing gives anyway: no object to carry.)
  int64_t iv;
  if (small_int(live_item, &iv) && iv >= -_PY_NSMALLNEGINTS && iv < _PY_NSMALLPOSINTS) return;
  const ir::IRIns& u = r->t.ins[static_cast<size_t>(v)];
  if ((u.op == ir::IR_unbox_f64 || u.op == ir::IR_unbox_i64) && r->t.ins[static_cast<size_t>(u.a)].op == ir::IR_load_obj)
    r->origin[static_cast<size_t>(r->top - 1)] = u.a;
}
uint8_t kind_at(Recorder* r, int n) { return r->kind[static_cast<size_t>(r->top - n)]; }
void push_k(Recorder* r, IRRef v, uint8_t kind) {
  if (kind == ir::SNAP_own) kind = ir::SNAP_py;   // a copy of an owned value: borrowed from its owner slot
  push(r, v);
  r->kind[static_cast<size_t>(r->top - 1)] = kind;
}
void no_np(Recorder* r, int n) {
  if (kind_at(r, n) != ir::SNAP_py) fail(Abort::unsupported_type);
}
void pop(Recorder* r, int n) {
  for (int i = 0; i < n; i++) {
    size_t k = static_cast<size_t>(r->top - 1);
    if (r->kind[k] == ir::SNAP_own) release_owned(r, k);
    --r->top;
    // A popped slot below the entry top was the frame's: from now on it is garbage (the restore drops the
    // frame's reference when a snapshot's top is below it).
    r->slot[k] = kNoRef;
    r->written[k] = false;
    r->kind[k] = ir::SNAP_py;
    r->ident[k] = -1;
    r->origin[k] = kNoRef;
  }
}
void set_slot(Recorder* r, int k, IRRef v) {
  r->slot[static_cast<size_t>(k)] = v;
  r->written[static_cast<size_t>(k)] = true;
  r->kind[static_cast<size_t>(k)] = ir::SNAP_py;
  r->ident[static_cast<size_t>(k)] = -1;
  r->origin[static_cast<size_t>(k)] = kNoRef;
}

// The IR constant for a Python object: unboxed for exact floats, small ints and bools; kobj otherwise.
IRRef constant(Recorder* r, PyObject* o) {
  int64_t iv;
  if (PyFloat_CheckExact(o)) return r->b.kflt(PyFloat_AS_DOUBLE(o));
  if (PyBool_Check(o)) return r->b.kbool(o == Py_True);
  if (small_int(o, &iv)) return r->b.kint(iv);
  return kobj(r, o);
}

// The IR value as a number: i64 and f64 as they are, bool as 0/1 (i64). Other types abort.
bool is_num(ir::IRType ty) { return ty == ir::IRT_i64 || ty == ir::IRT_f64; }

// Int to float as Python's float arithmetic does it (PyLong_AsDouble: round half to even, like i2f).
IRRef to_f64(Recorder* r, IRRef v) { return type_of(r, v) == ir::IRT_f64 ? v : emit(r, ir::IR_i2f, v); }

// The value of the live number o (an operand the trace has as i64 or f64) as a double: a float, an int, or a
// numpy scalar (numpy.float32, numpy.int64 and numpy.int32 are neither; their __float__ is exact for what a
// trace holds). Anything that will not convert aborts, with no error left set.
double live_double(PyObject* o) {
  double d = PyFloat_Check(o) ? PyFloat_AS_DOUBLE(o) : PyLong_Check(o) ? PyLong_AsDouble(o) : PyFloat_AsDouble(o);
  if (d == -1.0 && PyErr_Occurred()) {
    PyErr_Clear();
    fail(Abort::unsupported_type);
  }
  return d;
}

}  // namespace fastpy::rec
