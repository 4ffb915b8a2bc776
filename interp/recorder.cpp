// The trace recorder (see recorder.h). One instruction at a time, before the interpreter runs it, with the
// frame's live objects in hand: each case below reads the concrete operands, emits the IR that computes the
// same result for operands of the same types, and guards every fact it relied on (types, dict versions,
// index ranges, branch directions). Guards come before the instruction's side effects, and each guarded
// instruction first takes a snapshot of the interpreter state before it (DESIGN.md section 4): a failed guard
// resumes the interpreter at that instruction, which then runs generically.
//
// The abstract state mirrors the frame: one IR value per slot (locals, then the value stack). A slot not yet
// read holds kNoRef and is loaded with sload_* on first use (the trace never writes the frame). The stack
// depth must match the interpreter's at every instruction, which is checked. The state's helpers, snapshots
// and emission are in record_state.cpp.
// internals.h first: it defines Py_BUILD_CORE before <Python.h>.
#include "python/cpython311/internals.h"
#include "interp/recorder.h"

#include <opcode.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "interp/eval.h"
#include "interp/recorder_impl.h"
#include "runtime/params.h"
#include "runtime/restore.h"
#include "runtime/stats.h"
#include "tiers/ir/ir_exec.h"
#include "tiers/opt/opt.h"

namespace fastpy {

using ir::IRRef;
using ir::kNoRef;

Recorder* g_recorder = nullptr;

namespace {

const char* const kAbortNames[] = {
#define FASTPY_ABORT(name, doc) #name,
#include "interp/abort_reasons.def"
#undef FASTPY_ABORT
};
const char* const kAbortDocs[] = {
#define FASTPY_ABORT(name, doc) doc,
#include "interp/abort_reasons.def"
#undef FASTPY_ABORT
};
static_assert(sizeof(kAbortNames) / sizeof(kAbortNames[0]) == kNumAborts, "one name per reason");
uint64_t g_aborts[kNumAborts];

// ---- private layouts, probed at start-up (recorder_init); a failed probe switches the fast path off

// Callables the recorder knows, found at start-up (strong references, kept for the process' life).
PyObject* g_abs = nullptr;
PyObject* g_min = nullptr;
PyObject* g_max = nullptr;
PyObject* g_len = nullptr;
PyObject* g_list_append = nullptr;   // the method descriptor list.append

// math functions that are CPython's math_1 over a C double(double) (same libm function, same error rule).
struct MathFn {
  const char* name;
  double (*fn)(double);
  PyObject* obj;
};
MathFn g_math[] = {
    {"sqrt", [](double x) { return std::sqrt(x); }, nullptr},   // first: recorded as fsqrt (correctly rounded)
    {"exp", [](double x) { return std::exp(x); }, nullptr},
    {"log", [](double x) { return std::log(x); }, nullptr},
    {"log2", [](double x) { return std::log2(x); }, nullptr},
    {"log10", [](double x) { return std::log10(x); }, nullptr},
    {"sin", [](double x) { return std::sin(x); }, nullptr},
    {"cos", [](double x) { return std::cos(x); }, nullptr},
    {"tan", [](double x) { return std::tan(x); }, nullptr},
    {"asin", [](double x) { return std::asin(x); }, nullptr},
    {"acos", [](double x) { return std::acos(x); }, nullptr},
    {"atan", [](double x) { return std::atan(x); }, nullptr},
    {"sinh", [](double x) { return std::sinh(x); }, nullptr},
    {"cosh", [](double x) { return std::cosh(x); }, nullptr},
    {"tanh", [](double x) { return std::tanh(x); }, nullptr},
    {"expm1", [](double x) { return std::expm1(x); }, nullptr},
    {"log1p", [](double x) { return std::log1p(x); }, nullptr},
};
PyObject* g_math_fabs = nullptr;


constexpr int64_t kExactDoubleInt = int64_t(1) << 53;   // |i| up to this converts to a double exactly

}  // namespace

namespace rec {

void count_abort(Abort why) { g_aborts[static_cast<int>(why)]++; }

void stop(Recorder* r);

uint64_t g_trace_frees = 0;

void trace_free(void* p) {
  auto* td = static_cast<TraceData*>(p);
  g_trace_frees++;
  // A side trace being recorded for this trace, or for its tree, would have nothing to attach to.
  if (g_recorder && (g_recorder->tree == td || g_recorder->parent == td)) stop(g_recorder);
  if (td->active) {
    td->zombie = true;
    baseline_forget(td);
    return;
  }
  // A side trace of a tree that is running may be on the C stack without a Pin of its own (linked in
  // machine code): it goes when the tree's last Pin does.
  if (td->root && td->root != td && td->root->active) {
    if (!td->in_deferred) {
      td->in_deferred = true;
      td->root->deferred.push_back(td);
    }
    return;
  }
  for (TraceData* s : td->side)
    if (s) trace_free(s);
  for (TraceData* s : td->deferred) {
    s->root = nullptr;   // (the tree is not running: no deferring again)
    trace_free(s);
  }
  baseline_forget(td);
  baseline::release_trace(&td->native);
  for (PyObject* o : td->kept) Py_DECREF(o);
  delete td;
}

void trace_unpinned(TraceData* td) {
  std::vector<TraceData*> later;
  later.swap(td->deferred);
  for (TraceData* s : later) {
    s->root = nullptr;   // (the tree's last Pin went: no deferring again)
    trace_free(s);
  }
  if (td->zombie && td->active == 0) trace_free(td);
}

// ---------------------------------------------------------------- instructions
// An i64 converted exactly to f64: guards that |v| <= 2**53 (the compares and the int/int true division need
// the exact value).
IRRef exact_i2f(Recorder* r, IRRef v) {
  guard_true(r, emit(r, ir::IR_ge, v, r->b.kint(-kExactDoubleInt)));
  guard_true(r, emit(r, ir::IR_le, v, r->b.kint(kExactDoubleInt)));
  return emit(r, ir::IR_i2f, v);
}
// Python truth of an IR value (bool result); the concrete object tells the branch taken.
IRRef truth(Recorder* r, IRRef v) {
  switch (type_of(r, v)) {
    case ir::IRT_bool: return v;
    case ir::IRT_i64: return emit(r, ir::IR_ne, v, r->b.kint(0));
    case ir::IRT_f64: return emit(r, ir::IR_fne, v, r->b.kflt(0.0));
    default: fail(Abort::unsupported_type);
  }
}

// BINARY_OP with oparg nb on two numbers.
void rec_binary(Recorder* r, int nb, PyObject** sp) {
  PyObject* lo = live(sp, 2);
  PyObject* ro = live(sp, 1);
  IRRef a = peek(r, 2), c = peek(r, 1);
  // True and False are the ints 1 and 0 to arithmetic (bool & bool and the like stay bools: not recorded).
  bool both_bool = type_of(r, a) == ir::IRT_bool && type_of(r, c) == ir::IRT_bool;
  if (both_bool && (nb == NB_AND || nb == NB_OR || nb == NB_XOR || nb == NB_INPLACE_AND ||
                    nb == NB_INPLACE_OR || nb == NB_INPLACE_XOR))
    fail(Abort::unsupported_type);
  if (type_of(r, a) == ir::IRT_bool) a = emit(r, ir::IR_b2i, a);
  if (type_of(r, c) == ir::IRT_bool) c = emit(r, ir::IR_b2i, c);
  // A numpy scalar on either side makes the result one (numpy.float64 + float is a numpy.float64); numpy's
  // scalar arithmetic is IEEE for floats but reports results that are not finite (np_float_finite) and, for
  // int64, wraps where Python's would grow: the overflow-checked ops exit there, so the interpreter does
  // what numpy does.
  // numpy.float32/int32 scalars (SNAP_np32) with a Python number or a 64-bit numpy scalar compute in 64 bits
  // (numpy 1.24: float32 + float -> float64); two of them, or one with a bool, stay 32-bit: not recorded.
  uint8_t k1 = kind_at(r, 1), k2 = kind_at(r, 2);
  if ((k1 == ir::SNAP_np32 && k2 == ir::SNAP_np32) ||
      ((k1 == ir::SNAP_np32 || k2 == ir::SNAP_np32) &&
       (type_of(r, a) == ir::IRT_bool || type_of(r, c) == ir::IRT_bool)))
    fail(Abort::unsupported_type);
  uint8_t kind = (k1 | k2) != ir::SNAP_py ? ir::SNAP_np : ir::SNAP_py;
  ir::IRType ta = type_of(r, a), tc = type_of(r, c);
  if (!is_num(ta) || !is_num(tc)) fail(Abort::unsupported_type);
  if (nb >= NB_INPLACE_ADD) nb -= NB_INPLACE_ADD - NB_ADD;   // x += y on ints and floats is x + y
  IRRef res = kNoRef;
  if (ta == ir::IRT_i64 && tc == ir::IRT_i64) {
    int64_t x, y, out;
    x = PyBool_Check(lo) ? (lo == Py_True) : 0;
    y = PyBool_Check(ro) ? (ro == Py_True) : 0;
    if (!PyBool_Check(lo)) small_int(lo, &x);
    if (!PyBool_Check(ro)) small_int(ro, &y);
    switch (nb) {
      case NB_ADD: if (__builtin_add_overflow(x, y, &out)) fail(Abort::big_int); res = guard(r, ir::IR_add_ov, a, c); break;
      case NB_SUBTRACT: if (__builtin_sub_overflow(x, y, &out)) fail(Abort::big_int); res = guard(r, ir::IR_sub_ov, a, c); break;
      case NB_MULTIPLY: if (__builtin_mul_overflow(x, y, &out)) fail(Abort::big_int); res = guard(r, ir::IR_mul_ov, a, c); break;
      case NB_FLOOR_DIVIDE:
      case NB_REMAINDER:
        if (y == 0) fail(Abort::would_raise);
        if (x == INT64_MIN && y == -1) fail(Abort::big_int);
        res = guard(r, nb == NB_FLOOR_DIVIDE ? ir::IR_floordiv_ov : ir::IR_mod_ov, a, c);
        break;
      case NB_TRUE_DIVIDE: {
        if (y == 0) fail(Abort::would_raise);
        if (x < -kExactDoubleInt || x > kExactDoubleInt || y < -kExactDoubleInt || y > kExactDoubleInt)
          fail(Abort::big_int);
        IRRef fx = exact_i2f(r, a), fy = exact_i2f(r, c);
        guard_true(r, emit(r, ir::IR_fne, fy, r->b.kflt(0.0)));
        res = emit(r, ir::IR_fdiv, fx, fy);
        break;
      }
      case NB_POWER: {   // CPython's own int power decides: the trace keeps results within 64 bits
        PyObject* p = PyNumber_Power(lo, ro, Py_None);
        int64_t pv;
        bool fits = p && !PyBool_Check(p) && small_int(p, &pv);
        Py_XDECREF(p);
        if (!p) PyErr_Clear();
        if (!fits) fail(p ? Abort::big_int : Abort::would_raise);   // a float (negative exponent) or huge
        if (kind == ir::SNAP_np) fail(Abort::unsupported_type);     // numpy's power wraps
        res = guard(r, ir::IR_ipow, a, c);
        break;
      }
      case NB_AND: res = emit(r, ir::IR_and, a, c); break;
      case NB_OR: res = emit(r, ir::IR_or, a, c); break;
      case NB_XOR: res = emit(r, ir::IR_xor, a, c); break;
      case NB_RSHIFT:
        if (y < 0 || y > 63) fail(Abort::unsupported_type);
        guard_true(r, emit(r, ir::IR_ge, c, r->b.kint(0)));
        guard_true(r, emit(r, ir::IR_le, c, r->b.kint(63)));
        res = emit(r, ir::IR_sar, a, c);
        break;
      default: fail(Abort::unsupported_op);   // <<, **, @: results outgrow 64 bits or need other types
    }
  } else {
    IRRef fa = to_f64(r, a), fc = to_f64(r, c);
    double y = live_double(ro);
    switch (nb) {
      case NB_ADD: res = emit(r, ir::IR_fadd, fa, fc); break;
      case NB_SUBTRACT: res = emit(r, ir::IR_fsub, fa, fc); break;
      case NB_MULTIPLY: res = emit(r, ir::IR_fmul, fa, fc); break;
      case NB_TRUE_DIVIDE:
      case NB_FLOOR_DIVIDE:
      case NB_REMAINDER:
        if (y == 0.0) fail(Abort::would_raise);
        guard_true(r, emit(r, ir::IR_fne, fc, r->b.kflt(0.0)));
        res = emit(r, nb == NB_TRUE_DIVIDE ? ir::IR_fdiv : nb == NB_FLOOR_DIVIDE ? ir::IR_ffloordiv : ir::IR_fmod,
                   fa, fc);
        break;
      case NB_POWER: {   // CPython's float power itself (its special cases, errors, complex results)
        if (kind == ir::SNAP_np) fail(Abort::unsupported_type);   // numpy's power warns where CPython raises
        PyObject* p = PyNumber_Power(lo, ro, Py_None);
        bool is_float = p && PyFloat_CheckExact(p);
        Py_XDECREF(p);
        if (!p) PyErr_Clear();
        if (!is_float) fail(p ? Abort::unsupported_type : Abort::would_raise);
        res = guard(r, ir::IR_fpow, fa, fc);
        break;
      }
      default: fail(Abort::unsupported_op);   // bitwise ops of floats
    }
    if (kind == ir::SNAP_np) np_float_finite(r, lo, ro, nb, res);
  }
  pop(r, 2);
  push_k(r, res, kind);
}

// COMPARE_OP oparg on two numbers: a bool.
IRRef compare(Recorder* r, int cmp) {
  IRRef a = peek(r, 2), c = peek(r, 1);
  if (type_of(r, a) == ir::IRT_bool) a = emit(r, ir::IR_b2i, a);   // True == 1, False < 0.5, ...
  if (type_of(r, c) == ir::IRT_bool) c = emit(r, ir::IR_b2i, c);
  ir::IRType ta = type_of(r, a), tc = type_of(r, c);
  if (!is_num(ta) || !is_num(tc)) fail(Abort::unsupported_type);
  // Py_LT, Py_LE, Py_EQ, Py_NE, Py_GT, Py_GE -> the IR's lt le gt ge eq ne order.
  static const int kOrder[] = {0, 1, 4, 5, 2, 3};
  if (cmp < 0 || cmp > 5) fail(Abort::unsupported_op);
  if (ta == ir::IRT_i64 && tc == ir::IRT_i64) return emit(r, ir::IROp(ir::IR_lt + kOrder[cmp]), a, c);
  // A float against an int compares exactly in CPython: convert only ints a double holds exactly.
  IRRef fa = ta == ir::IRT_f64 ? a : exact_i2f(r, a);
  IRRef fc = tc == ir::IRT_f64 ? c : exact_i2f(r, c);
  return emit(r, ir::IROp(ir::IR_flt + kOrder[cmp]), fa, fc);
}

// A conditional jump on `cond` (bool IR value) whose observed outcome is `taken_if_true == truth`.
void branch(Recorder* r, IRRef cond, bool value) {
  if (value) guard_true(r, cond);
  else guard_false(r, cond);
}

// Whether the live object tests true (only for the types truth() accepts).
bool live_truth(PyObject* o) {
  if (PyBool_Check(o)) return o == Py_True;
  if (PyFloat_CheckExact(o)) return PyFloat_AS_DOUBLE(o) != 0.0;
  return PyObject_IsTrue(o) > 0;   // exact ints here (truth() accepted the IR type)
}

// The constant object behind an IR value, or nullptr when it is not a kobj constant.
PyObject* const_obj(Recorder* r, IRRef v) {
  const ir::IRIns& i = r->t.ins[static_cast<size_t>(v)];
  return i.op == ir::IR_kobj ? reinterpret_cast<PyObject*>(static_cast<uintptr_t>(i.imm)) : nullptr;
}

// The address of element `idx` of an exact list or tuple `seq` with guards that it exists; negative indices
// count from the end as in Python. Returns the element's address (ptr): for a tuple, relative to ob_item.
IRRef element_addr(Recorder* r, IRRef seq, PyObject* live_seq, IRRef idx, int64_t live_idx, PyObject** sp) {
  bool is_list = PyList_CheckExact(live_seq);
  guard(r, ir::IR_guard_type, seq, kNoRef, reinterpret_cast<int64_t>(Py_TYPE(live_seq)));
  IRRef n = emit(r, ir::IR_load_i64, seq, kNoRef, offsetof(PyVarObject, ob_size));
  Py_ssize_t live_n = Py_SIZE(live_seq);
  if (live_idx < 0 ? live_idx + live_n < 0 : live_idx >= live_n) fail(Abort::would_raise);
  if (live_idx < 0) {
    guard_true(r, emit(r, ir::IR_lt, idx, r->b.kint(0)));
    idx = emit(r, ir::IR_add_ov, idx, n);   // cannot overflow: idx < 0 <= n
    guard_true(r, emit(r, ir::IR_ge, idx, r->b.kint(0)));
  } else if (range_checked_index(r, sp, idx, n, live_n)) {
    // `xs[i]`, `xs[i + 1]` in `for i in range(...)`: checked for the whole range at once, before the loop
  } else {
    // 0 <= idx < n: one unsigned compare (n, a length, is never negative); a signed one where idx is known
    // not negative (a constant: opt_guards drops the checks a larger constant index implies)
    guard_true(r, emit(r, known_nonneg(r, idx) ? ir::IR_lt : ir::IR_ult, idx, n));
  }
  if (is_list) {
    IRRef items = emit(r, ir::IR_load_ptr, seq, kNoRef, offsetof(PyListObject, ob_item));
    return emit(r, ir::IR_padd, items, idx, sizeof(PyObject*));
  }
  return emit(r, ir::IR_padd, seq, idx, sizeof(PyObject*));   // the tuple's items follow its header
}

// An element loaded from a container: unboxed (type-guarded) when it is a float or a 64-bit int.
IRRef typed_load(Recorder* r, IRRef addr, int64_t off, PyObject* live_item) {
  IRRef o = emit(r, ir::IR_load_obj, addr, kNoRef, off);
  int64_t iv;
  if (PyFloat_CheckExact(live_item)) return guard(r, ir::IR_unbox_f64, o);
  if (small_int(live_item, &iv)) return guard(r, ir::IR_unbox_i64, o);
  if (PyLong_CheckExact(live_item)) fail(Abort::big_int);
  if (PyBool_Check(live_item)) {
    guard(r, ir::IR_guard_eqp, o, kobj(r, live_item));
    return r->b.kbool(live_item == Py_True);
  }
  return o;
}

void rec_binary_subscr(Recorder* r, PyObject** sp) {
  if (rec_numpy_subscr(r, 1, sp)) return;
  PyObject* seq = live(sp, 2);
  PyObject* key = live(sp, 1);
  int64_t i;
  if (!(PyList_CheckExact(seq) || PyTuple_CheckExact(seq)) || PyBool_Check(key) || !small_int(key, &i))
    fail(Abort::unsupported_type);
  IRRef s = peek(r, 2), k = peek(r, 1);
  if (type_of(r, s) != ir::IRT_obj || type_of(r, k) != ir::IRT_i64) fail(Abort::unsupported_type);
  IRRef addr = element_addr(r, s, seq, k, i, sp);
  Py_ssize_t n = Py_SIZE(seq);
  Py_ssize_t j = i < 0 ? i + n : i;
  PyObject* item = PyList_CheckExact(seq) ? PyList_GET_ITEM(seq, j) : PyTuple_GET_ITEM(seq, j);
  IRRef v = typed_load(r, addr, PyList_CheckExact(seq) ? 0 : offsetof(PyTupleObject, ob_item), item);
  pop(r, 2);
  push_loaded(r, v, item);
}

// A new reference to the object for IR value v (boxing numbers), for a container to own.
IRRef owned_object(Recorder* r, IRRef v) {
  switch (type_of(r, v)) {
    case ir::IRT_f64: return emit(r, ir::IR_box_f64, v);
    case ir::IRT_i64: return emit(r, ir::IR_box_i64, v);
    case ir::IRT_obj: emit(r, ir::IR_incref, v); return v;
    default: fail(Abort::unsupported_type);   // bools: rare in containers
  }
}

void rec_store_subscr(Recorder* r, PyObject** sp) {   // [value, seq, index]
  if (rec_numpy_store(r, 1, sp)) return;
  no_np(r, 3);
  PyObject* seq = live(sp, 2);
  PyObject* key = live(sp, 1);
  int64_t i;
  if (!PyList_CheckExact(seq) || PyBool_Check(key) || !small_int(key, &i)) fail(Abort::unsupported_type);
  IRRef s = peek(r, 2), k = peek(r, 1), v = peek(r, 3);
  if (type_of(r, s) != ir::IRT_obj || type_of(r, k) != ir::IRT_i64) fail(Abort::unsupported_type);
  IRRef addr = element_addr(r, s, seq, k, i, sp);
  Py_ssize_t j = i < 0 ? i + Py_SIZE(seq) : i;
  PyObject* old = PyList_GET_ITEM(seq, j);
  // Releasing the old item must run no code and free nothing the trace still refers to: only ints and
  // floats are replaced here (their deallocators run nothing; the trace holds them unboxed).
  if (!PyFloat_CheckExact(old) && !PyLong_CheckExact(old)) fail(Abort::unsupported_type);
  IRRef o = emit(r, ir::IR_load_obj, addr, kNoRef, 0);
  guard(r, ir::IR_guard_type, o, kNoRef, reinterpret_cast<int64_t>(Py_TYPE(old)));
  // A float replaces a float: maybe in place -- unless the value is a float loaded from a container (a list
  // item, an attribute), which CPython moves as the object (`a[i], a[j] = a[j], a[i]`): the box below, which
  // forward makes that object again (no allocation), its identity CPython's.
  const ir::IRIns& vi = r->t.ins[static_cast<size_t>(v)];
  const bool moved = vi.op == ir::IR_unbox_f64 && r->t.ins[static_cast<size_t>(vi.a)].op == ir::IR_load_obj;
  if (PyFloat_CheckExact(old) && type_of(r, v) == ir::IRT_f64 && !moved) {
    guard_true(r, emit(r, ir::IR_store_fitem, addr, v));
    pop(r, 3);
    return;
  }
  IRRef nv = owned_object(r, v);
  emit(r, ir::IR_store_ptr, addr, nv, 0);
  emit(r, ir::IR_decref, o);
  pop(r, 3);
}

void append_value(Recorder* r, IRRef lst, IRRef x);

// CALL of a Python function (or of a method found by LOAD_METHOD, self first): the recording follows the
// call (inlining) when the function is simple enough
// for its frame to be re-created by re-executing the CALL at a side exit: positional arguments matching its
// parameters, no defaults used, no *args/**kwargs, no cells or free variables, not a generator.
void rec_call_python(Recorder* r, PyObject* fn, IRRef fnv, int oparg, bool is_meth) {
  int nargs = oparg + is_meth;   // a method's self is its first argument
  auto* func = reinterpret_cast<PyFunctionObject*>(fn);
  auto* code = reinterpret_cast<PyCodeObject*>(func->func_code);
  const int kNotSimple = CO_VARARGS | CO_VARKEYWORDS | CO_GENERATOR | CO_COROUTINE | CO_ASYNC_GENERATOR |
                         CO_ITERABLE_COROUTINE;
  if (static_cast<int64_t>(r->callers.size()) >= g_params.get(ParamId::max_inline) ||
      (code->co_flags & kNotSimple) || code->co_argcount != nargs || code->co_kwonlyargcount != 0 ||
      code->co_ncellvars != 0 || code->co_nfreevars != 0)
    fail(Abort::call_python);
  // The function is a version-guarded constant; its code can still be replaced (f.__code__ = ...).
  Py_INCREF(code);
  r->kept.push_back(reinterpret_cast<PyObject*>(code));
  IRRef c = emit(r, ir::IR_load_ptr, fnv, kNoRef, offsetof(PyFunctionObject, func_code));
  guard(r, ir::IR_guard_eqp, c, r->b.kptr(code));
  // The call makes no frame in the trace, but in CPython it would, and near the recursion limit it raises
  // RecursionError: exit (the interpreter then makes the call) unless the thread's recursion budget has room
  // for this level, with a margin (exiting early is always exact; CPython's own check has subtleties).
  int level = static_cast<int>(r->callers.size()) + 1;
  IRRef ts = emit(r, ir::IR_load_ptr, r->b.kptr(py::tstate_current_address()), kNoRef, 0);
  IRRef budget = emit(r, ir::IR_load_i32, ts, kNoRef, py::kRecursionRemainingOffset);
  guard_true(r, emit(r, ir::IR_ge, budget, r->b.kint(level + 2)));
  r->pending = code;
  r->pending_nargs = nargs;
  r->pending_npop = oparg + 2;
}

// The first instruction of the inlined callee's frame f: suspend the caller at its CALL, give the callee
// its slots (the arguments as the caller computed them; nothing else has a value yet).
void enter_callee(Recorder* r, _PyInterpreterFrame* f) {
  int nargs = r->pending_nargs;
  std::vector<IRRef> args(static_cast<size_t>(nargs));
  std::vector<uint8_t> kinds(static_cast<size_t>(nargs));
  std::vector<int32_t> idents(static_cast<size_t>(nargs));
  std::vector<IRRef> origins(static_cast<size_t>(nargs));
  for (int i = 0; i < nargs; i++) {
    args[static_cast<size_t>(i)] = peek(r, nargs - i);
    kinds[static_cast<size_t>(i)] = kind_at(r, nargs - i);
    idents[static_cast<size_t>(i)] = share_ident(r, r->top - (nargs - i));   // the callee gets the objects
    origins[static_cast<size_t>(i)] = r->origin[static_cast<size_t>(r->top - (nargs - i))];
  }
  r->callers.push_back(RFrame{r->f, r->co, r->first, r->base, r->pc, r->top, nargs, r->pending_npop});
  int base = r->base + r->co->co_nlocalsplus + r->co->co_stacksize;
  PyCodeObject* co = f->f_code;
  size_t need = static_cast<size_t>(base + co->co_nlocalsplus + co->co_stacksize);
  if (r->slot.size() < need) {
    r->slot.resize(need, kNoRef);
    r->written.resize(need, false);
    r->kind.resize(need, ir::SNAP_py);
    r->ident.resize(need, -1);
    r->origin.resize(need, kNoRef);
  }
  for (int i = 0; i < nargs; i++) {
    // Not `written`: the CALL re-executed at an exit passes the same objects into the new frame.
    r->slot[static_cast<size_t>(base + i)] = args[static_cast<size_t>(i)];
    r->kind[static_cast<size_t>(base + i)] = kinds[static_cast<size_t>(i)];
    r->ident[static_cast<size_t>(base + i)] = idents[static_cast<size_t>(i)];
    r->origin[static_cast<size_t>(base + i)] = origins[static_cast<size_t>(i)];
  }
  r->f = f;
  r->co = co;
  r->first = py::code_units(co);
  r->base = base;
  r->top = base + co->co_nlocalsplus;
  r->pending = nullptr;
}

// RETURN_VALUE: in an inlined callee, the call's result replaces [NULL, function, args] in the caller;
// in the loop's own frame the loop is left.
void rec_return(Recorder* r) {
  if (r->callers.empty()) fail(Abort::loop_exit);
  IRRef v = peek(r, 1);
  uint8_t kind = kind_at(r, 1);
  const int32_t id = r->ident[static_cast<size_t>(r->top - 1)];   // the caller gets the object
  const IRRef from = r->origin[static_cast<size_t>(r->top - 1)];
  for (int k = r->base; k < r->base + r->co->co_nlocalsplus + r->co->co_stacksize; k++) {
    r->slot[static_cast<size_t>(k)] = kNoRef;
    r->written[static_cast<size_t>(k)] = false;
    r->kind[static_cast<size_t>(k)] = ir::SNAP_py;
    r->ident[static_cast<size_t>(k)] = -1;
    r->origin[static_cast<size_t>(k)] = kNoRef;
  }
  RFrame c = r->callers.back();
  r->callers.pop_back();
  r->f = c.f;
  r->co = c.co;
  r->first = c.first;
  r->base = c.base;
  r->top = c.top;
  pop(r, c.npop);
  push_k(r, v, kind);
  r->ident[static_cast<size_t>(r->top - 1)] = id;
  r->origin[static_cast<size_t>(r->top - 1)] = from;
}

// CALL oparg: [NULL or method, callable or self, args...]. Only callables known at start-up, identified by
// identity (their constants come from version-guarded globals or module attributes).
void rec_call(Recorder* r, int oparg, PyObject** sp) {
  bool is_meth = live(sp, oparg + 2) != nullptr;
  int total = oparg + is_meth;
  PyObject* fn = live(sp, total + 1);
  IRRef fnv = peek(r, total + 1);
  if (const_obj(r, fnv) != fn) fail(Abort::call_unknown);
  auto arg = [&](int i) { return peek(r, total - i); };       // i-th argument (self first for methods)
  auto live_arg = [&](int i) { return live(sp, total - i); };
  IRRef res = kNoRef;
  uint8_t res_kind = ir::SNAP_py;
  auto arg_kind = [&](int i) { return kind_at(r, total - i); };
  for (int i = 0; i < total; i++)
    if (arg_kind(i) == ir::SNAP_own) fail(Abort::unsupported_type);   // the callee would share it
  if (fn == reinterpret_cast<PyObject*>(&PyRange_Type) && !is_meth) {
    rec_range_iter(r, oparg, sp);
    return;
  }
  if (PyFunction_Check(fn)) {
    rec_call_python(r, fn, fnv, oparg, is_meth);
    return;   // the callee's instructions follow; its RETURN_VALUE completes the call
  }
  if (fn == g_list_append && is_meth && total == 2) {
    if (!PyList_CheckExact(live_arg(0))) fail(Abort::unsupported_type);
    IRRef lst = arg(0);
    no_np(r, 1);
    guard(r, ir::IR_guard_type, lst, kNoRef, reinterpret_cast<int64_t>(&PyList_Type));
    append_value(r, lst, arg(1));
    res = r->b.kobj(Py_None);
  } else if (is_meth) {
    fail(Abort::call_unknown);
  } else if (fn == g_abs && total == 1) {
    IRRef x = arg(0);
    res_kind = arg_kind(0);   // abs of a numpy scalar is one
    if (res_kind == ir::SNAP_np32) fail(Abort::unsupported_type);
    if (type_of(r, x) == ir::IRT_i64) {
      int64_t iv;
      small_int(live_arg(0), &iv);
      if (iv == INT64_MIN) fail(Abort::big_int);
      res = guard(r, ir::IR_abs_ov, x);
    } else if (type_of(r, x) == ir::IRT_f64) {
      res = emit(r, ir::IR_fabs, x);
    } else {
      fail(Abort::unsupported_type);
    }
  } else if ((fn == g_min || fn == g_max) && total == 2) {
    IRRef x = arg(0), y = arg(1);
    ir::IRType tx = type_of(r, x), ty = type_of(r, y);
    if (tx != ty || !is_num(tx) || arg_kind(0) != arg_kind(1)) fail(Abort::unsupported_type);
    res_kind = arg_kind(0);   // min/max return one of their arguments
    bool is_min = fn == g_min;
    res = emit(r, tx == ir::IRT_i64 ? (is_min ? ir::IR_imin : ir::IR_imax) : (is_min ? ir::IR_fmin : ir::IR_fmax), x, y);
  } else if (fn == g_len && total == 1 && rec_numpy_len(r, arg(0), live_arg(0), &res)) {
    // a numpy array's first dimension
  } else if (fn == g_len && total == 1) {
    PyObject* s = live_arg(0);
    if (!PyList_CheckExact(s) && !PyTuple_CheckExact(s)) fail(Abort::unsupported_type);
    IRRef x = arg(0);
    if (type_of(r, x) != ir::IRT_obj) fail(Abort::unsupported_type);
    guard(r, ir::IR_guard_type, x, kNoRef, reinterpret_cast<int64_t>(Py_TYPE(s)));
    res = emit(r, ir::IR_load_i64, x, kNoRef, offsetof(PyVarObject, ob_size));
  } else if (fn == reinterpret_cast<PyObject*>(&PyFloat_Type) && total == 1) {
    IRRef x = arg(0);
    if (!is_num(type_of(r, x))) fail(Abort::unsupported_type);
    res = to_f64(r, x);
  } else if (fn == reinterpret_cast<PyObject*>(&PyLong_Type) && total == 1) {
    IRRef x = arg(0);
    if (type_of(r, x) == ir::IRT_i64) {
      res = x;
    } else if (type_of(r, x) == ir::IRT_f64) {
      double d = PyFloat_AS_DOUBLE(live_arg(0));
      if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) fail(Abort::big_int);
      res = guard(r, ir::IR_f2i, x);
    } else {
      fail(Abort::unsupported_type);
    }
  } else if (fn == g_math_fabs && total == 1) {
    IRRef x = arg(0);
    if (!is_num(type_of(r, x))) fail(Abort::unsupported_type);
    res = emit(r, ir::IR_fabs, to_f64(r, x));
  } else {
    const MathFn* m = nullptr;
    for (const MathFn& c : g_math) {
      if (c.obj == fn) m = &c;
    }
    if (!m || total != 1) fail(Abort::call_unknown);
    IRRef x = arg(0);
    if (!is_num(type_of(r, x))) fail(Abort::unsupported_type);
    PyObject* lx = live_arg(0);
    double d = live_double(lx);
    double out = m->fn(d);
    if ((std::isnan(out) && !std::isnan(d)) || (std::isinf(out) && std::isfinite(d))) fail(Abort::would_raise);
    if (m == &g_math[0] && d >= 0.0) {   // sqrt: the instruction itself where it cannot raise (a >= 0)
      IRRef f = to_f64(r, x);
      guard_true(r, emit(r, ir::IR_fge, f, r->b.kflt(0.0)));
      res = emit(r, ir::IR_fsqrt, f);
    } else {
      res = guard(r, ir::IR_callf1, to_f64(r, x), kNoRef, reinterpret_cast<int64_t>(m->fn));
    }
  }
  pop(r, oparg + 2);
  push_k(r, res, res_kind);
}

// A value appended to a list (list.append, LIST_APPEND): the list takes its own reference; a number is
// boxed for the call and the box released after it.
void append_value(Recorder* r, IRRef lst, IRRef x) {
  if (type_of(r, x) == ir::IRT_obj) {
    guard_true(r, emit(r, ir::IR_list_append, lst, x));
    return;
  }
  // The box is released before the guard: when the append failed, the exit restores x unboxed and the box
  // must not outlive it.
  IRRef boxed = owned_object(r, x);
  IRRef ok = emit(r, ir::IR_list_append, lst, boxed);
  emit(r, ir::IR_decref, boxed);
  guard_true(r, ok);
}

// UNPACK_SEQUENCE n of an exact tuple or list of length n: items pushed last first.
void rec_unpack(Recorder* r, int n, PyObject** sp) {
  PyObject* seq = live(sp, 1);
  if ((!PyTuple_CheckExact(seq) && !PyList_CheckExact(seq)) || Py_SIZE(seq) != n) fail(Abort::unsupported_type);
  IRRef s = peek(r, 1);
  if (type_of(r, s) != ir::IRT_obj) fail(Abort::unsupported_type);
  bool is_list = PyList_CheckExact(seq);
  guard(r, ir::IR_guard_type, s, kNoRef, reinterpret_cast<int64_t>(Py_TYPE(seq)));
  IRRef len = emit(r, ir::IR_load_i64, s, kNoRef, offsetof(PyVarObject, ob_size));
  guard(r, ir::IR_guard_eqi, len, r->b.kint(n));
  std::vector<IRRef> items(static_cast<size_t>(n));
  std::vector<PyObject*> live_items(static_cast<size_t>(n));
  IRRef base = is_list ? emit(r, ir::IR_load_ptr, s, kNoRef, offsetof(PyListObject, ob_item)) : s;
  int64_t off0 = is_list ? 0 : static_cast<int64_t>(offsetof(PyTupleObject, ob_item));
  for (int k = 0; k < n; k++) {
    PyObject* item = is_list ? PyList_GET_ITEM(seq, k) : PyTuple_GET_ITEM(seq, k);
    items[static_cast<size_t>(k)] = typed_load(r, base, off0 + k * static_cast<int64_t>(sizeof(PyObject*)), item);
    live_items[static_cast<size_t>(k)] = item;
  }
  pop(r);
  for (int k = n - 1; k >= 0; k--) push_loaded(r, items[static_cast<size_t>(k)], live_items[static_cast<size_t>(k)]);
}

// Records one instruction. The interpreter has set prev_instr and stacktop for it.
void record(Recorder* r, int op, int oparg, PyObject** sp) {
  switch (op) {
    case NOP:
    case JUMP_FORWARD:
      return;
    case RESUME:   // an inlined callee's first instruction
      return;
    case LOAD_FAST: {
      IRRef v = read_slot(r, r->base + oparg);
      int32_t id = share_ident(r, r->base + oparg);
      push_k(r, v, r->kind[static_cast<size_t>(r->base + oparg)]);
      r->ident[static_cast<size_t>(r->top - 1)] = id;
      r->origin[static_cast<size_t>(r->top - 1)] = r->origin[static_cast<size_t>(r->base + oparg)];
      return;
    }
    case STORE_FAST: {
      IRRef v = peek(r, 1);
      uint8_t kind = kind_at(r, 1);
      size_t local = static_cast<size_t>(r->base + oparg);
      if (kind == ir::SNAP_own) {
        // The local becomes the owner (unless it already owns something: releasing that is not safe here,
        // and an inlined callee's locals are never written back).
        if (r->kind[local] == ir::SNAP_own || !r->callers.empty()) fail(Abort::unsupported_type);
        r->kind[static_cast<size_t>(r->top - 1)] = ir::SNAP_py;   // moved, not released
      } else if (r->kind[local] == ir::SNAP_own) {
        fail(Abort::unsupported_type);   // overwriting what the local owns would release it here
      }
      int32_t id = share_ident(r, r->top - 1);
      IRRef from = r->origin[static_cast<size_t>(r->top - 1)];
      pop(r);
      set_slot(r, r->base + oparg, v);
      r->kind[local] = kind;
      r->ident[local] = id;
      r->origin[local] = from;
      return;
    }
    case RETURN_VALUE:
      rec_return(r);
      return;
    case LOAD_CONST:
      push(r, constant(r, PyTuple_GET_ITEM(r->co->co_consts, oparg)));
      return;
    case POP_TOP:
      peek(r, 1);   // a value never read is still the frame's: reading it keeps the slot bookkeeping simple
      pop(r);
      return;
    case PUSH_NULL:
      push(r, r->b.kobj(nullptr));
      return;
    case COPY: {
      IRRef v = peek(r, oparg);
      int32_t id = share_ident(r, r->top - oparg);
      IRRef from = r->origin[static_cast<size_t>(r->top - oparg)];
      push_k(r, v, kind_at(r, oparg));
      r->ident[static_cast<size_t>(r->top - 1)] = id;
      r->origin[static_cast<size_t>(r->top - 1)] = from;
      return;
    }
    case SWAP: {
      IRRef a = peek(r, 1), c = peek(r, oparg);
      uint8_t ka = kind_at(r, 1), kc = kind_at(r, oparg);
      int32_t ia = share_ident(r, r->top - 1), ic = share_ident(r, r->top - oparg);
      IRRef oa = r->origin[static_cast<size_t>(r->top - 1)], oc = r->origin[static_cast<size_t>(r->top - oparg)];
      set_slot(r, r->top - 1, c);
      set_slot(r, r->top - oparg, a);
      r->kind[static_cast<size_t>(r->top - 1)] = kc;
      r->kind[static_cast<size_t>(r->top - oparg)] = ka;
      r->ident[static_cast<size_t>(r->top - 1)] = ic;
      r->ident[static_cast<size_t>(r->top - oparg)] = ia;
      r->origin[static_cast<size_t>(r->top - 1)] = oc;
      r->origin[static_cast<size_t>(r->top - oparg)] = oa;
      return;
    }
    case BINARY_OP:
      rec_binary(r, oparg, sp);
      return;
    case UNARY_NEGATIVE: {
      IRRef a = peek(r, 1);
      uint8_t kind = kind_at(r, 1);
      if (kind == ir::SNAP_np32) fail(Abort::unsupported_type);   // stays a 32-bit scalar
      IRRef res;
      if (type_of(r, a) == ir::IRT_f64) {
        res = emit(r, ir::IR_fneg, a);
      } else if (type_of(r, a) == ir::IRT_i64) {
        int64_t iv;
        small_int(live(sp, 1), &iv);
        if (iv == INT64_MIN) fail(Abort::big_int);
        res = guard(r, ir::IR_neg_ov, a);
      } else {
        fail(Abort::unsupported_type);
      }
      pop(r);
      push_k(r, res, kind);
      return;
    }
    case UNARY_NOT: {
      IRRef res = emit(r, ir::IR_not, truth(r, peek(r, 1)));
      pop(r);
      push(r, res);
      return;
    }
    case COMPARE_OP: {
      // A numpy scalar compares to a numpy.bool_: only a conditional jump may consume it (it is not kept).
      bool np_result = (kind_at(r, 1) | kind_at(r, 2)) != ir::SNAP_py;
      IRRef c = compare(r, oparg);
      pop(r, 2);
      push(r, c);
      // The interpreter fuses a compare of two floats or small ints with the conditional jump after it
      // (the jump then never dispatches): record that jump now, and skip it if it does dispatch after all.
      _Py_CODEUNIT* next = r->here + 1 + fastpy_opcode_caches[COMPARE_OP];
      int jop = fastpy_opcode_deopt[_Py_OPCODE(*next)];
      if (jop == POP_JUMP_FORWARD_IF_FALSE || jop == POP_JUMP_FORWARD_IF_TRUE) {
        PyObject* res = PyObject_RichCompare(live(sp, 2), live(sp, 1), oparg);   // numbers: no side effects
        if (!res) {
          PyErr_Clear();
          fail(Abort::unsupported_type);
        }
        int t = PyObject_IsTrue(res);   // numpy scalars compare to a numpy.bool_
        Py_DECREF(res);
        if (t < 0) {
          PyErr_Clear();
          fail(Abort::unsupported_type);
        }
        bool v = t != 0;
        r->pc = static_cast<int>(next - r->first);
        r->snapped = false;
        branch(r, c, v);
        pop(r);
        r->skip_at = r->pc;
      } else if (np_result) {
        fail(Abort::unsupported_type);
      }
      return;
    }
    case IS_OP: {
      IRRef a = peek(r, 2), c = peek(r, 1);
      bool same = live(sp, 2) == live(sp, 1);
      bool oa = type_of(r, a) == ir::IRT_obj, oc = type_of(r, c) == ir::IRT_obj;
      IRRef res;
      if (oa && oc) {   // a bool the jump after it branches on (either outcome may get a side trace)
        res = emit(r, oparg ? ir::IR_pne : ir::IR_peq, a, c);
      } else if (oa == oc || same) {
        fail(Abort::unsupported_type);   // identity of two numbers depends on CPython's caches
      } else {
        // A number (an exact int or float, type-guarded) against an object of another type: never the same.
        res = r->b.kbool(oparg != 0);
      }
      pop(r, 2);
      push(r, res);
      return;
    }
    case POP_JUMP_FORWARD_IF_NONE:
    case POP_JUMP_FORWARD_IF_NOT_NONE:
    case POP_JUMP_BACKWARD_IF_NONE:
    case POP_JUMP_BACKWARD_IF_NOT_NONE: {
      // `if x is None` / `if x is not None`: branches on x's identity with None (a number is never None)
      IRRef v = peek(r, 1);
      bool none = live(sp, 1) == Py_None;
      if (type_of(r, v) == ir::IRT_obj)
        branch(r, emit(r, ir::IR_peq, v, kobj(r, Py_None)), none);
      else if (none)
        fail(Abort::unsupported_type);
      pop(r);
      return;
    }
    case POP_JUMP_FORWARD_IF_FALSE:
    case POP_JUMP_FORWARD_IF_TRUE:
    case POP_JUMP_BACKWARD_IF_FALSE:
    case POP_JUMP_BACKWARD_IF_TRUE: {
      IRRef c = truth(r, peek(r, 1));
      branch(r, c, live_truth(live(sp, 1)));
      pop(r);
      return;
    }
    case JUMP_IF_FALSE_OR_POP:
    case JUMP_IF_TRUE_OR_POP: {
      IRRef c = truth(r, peek(r, 1));
      bool v = live_truth(live(sp, 1));
      branch(r, c, v);
      if (v != (op == JUMP_IF_TRUE_OR_POP)) pop(r);   // not jumping: the value is popped
      return;
    }
    case JUMP_BACKWARD:
      return;   // rec_back_edge decides
    case FOR_ITER:
      rec_for_iter(r, sp);
      return;
    case GET_ITER:
      rec_get_iter(r, sp);
      return;
    case LOAD_GLOBAL:
      rec_load_global(r, oparg);
      return;
    case LOAD_ATTR: {
      PyObject* name = PyTuple_GET_ITEM(r->co->co_names, oparg);
      if (PyObject* v = module_attr(r, peek(r, 1), name)) {
        pop(r);
        push(r, constant(r, v));
        return;
      }
      if (rec_load_attr_instance(r, name, sp)) return;
      fail(Abort::attribute);
    }
    case STORE_ATTR:
      if (rec_store_attr_instance(r, PyTuple_GET_ITEM(r->co->co_names, oparg), sp)) return;
      fail(Abort::attribute);
    case LOAD_METHOD: {
      PyObject* name = PyTuple_GET_ITEM(r->co->co_names, oparg);
      IRRef owner = peek(r, 1);
      if (PyObject* v = module_attr(r, owner, name)) {   // NULL | attribute
        pop(r);
        push(r, r->b.kobj(nullptr));
        push(r, constant(r, v));
        return;
      }
      if (PyList_CheckExact(live(sp, 1)) && PyUnicode_CompareWithASCIIString(name, "append") == 0) {
        guard(r, ir::IR_guard_type, owner, kNoRef, reinterpret_cast<int64_t>(&PyList_Type));
        pop(r);
        push(r, kobj(r, g_list_append));   // method | self
        push(r, owner);
        return;
      }
      if (rec_load_method_instance(r, name, sp)) return;
      fail(Abort::attribute);
    }
    case PRECALL: {
      bool is_meth = live(sp, oparg + 2) != nullptr;
      if (!is_meth && Py_TYPE(live(sp, oparg + 1)) == &PyMethod_Type) fail(Abort::call_unknown);
      return;
    }
    case CALL:
      rec_call(r, oparg, sp);
      return;
    case BINARY_SUBSCR:
      rec_binary_subscr(r, sp);
      return;
    case STORE_SUBSCR:
      rec_store_subscr(r, sp);
      return;
    case UNPACK_SEQUENCE:
      rec_unpack(r, oparg, sp);
      return;
    case BUILD_SLICE:
      rec_list_slice(r, oparg, sp);
      return;
    case BUILD_TUPLE: {
      // `a[i, j]` builds an index tuple only for the subscript right after it: recorded together (the
      // tuple is never made in the trace; an exit resumes at BUILD_TUPLE, which makes it).
      _Py_CODEUNIT* next = r->here + 1 + fastpy_opcode_caches[BUILD_TUPLE];
      int nop = fastpy_opcode_deopt[_Py_OPCODE(*next)];
      bool done = (nop == BINARY_SUBSCR && rec_numpy_subscr(r, oparg, sp)) ||
                  (nop == STORE_SUBSCR && rec_numpy_store(r, oparg, sp));
      if (!done) fail(Abort::unsupported_op);
      r->skip_at = static_cast<int>(next - r->first);
      return;
    }
    case LIST_APPEND: {   // a list comprehension: [..., list, ..., v] with the list oparg deep after the pop
      if (!PyList_CheckExact(live(sp, oparg + 1))) fail(Abort::unsupported_type);
      no_np(r, 1);
      IRRef v = peek(r, 1);
      IRRef lst = peek(r, oparg + 1);
      append_value(r, lst, v);
      pop(r);
      return;
    }
    default:
      fail(Abort::unsupported_op);
  }
}

// ---------------------------------------------------------------- starting, ending
void log_abort(Recorder* r, Abort why, int pc) {
  if (!g_params.has(ParamId::log, kLogAbort)) return;
  int line = PyCode_Addr2Line(r->co, pc * static_cast<int>(sizeof(_Py_CODEUNIT)));
  int op = fastpy_opcode_deopt[_Py_OPCODE(r->first[pc])];
  std::fprintf(stderr, "fastpy: abort %s: loop at %s:%d, instruction %d (opcode %d) line %d of %s\n",
               kAbortNames[int(why)], PyUnicode_AsUTF8(r->root_co->co_filename),
               PyCode_Addr2Line(r->root_co, r->header * 2), pc, op, line, PyUnicode_AsUTF8(r->co->co_qualname));
}

void stop(Recorder* r) {
  interp_set_record_dispatch(false);
  g_recorder = nullptr;
  for (PyObject* o : r->kept) Py_DECREF(o);
  delete r;
}

void abort_recording(Recorder* r, Abort why) {
  log_abort(r, why, r->pc);
  count_abort(why);
  stat_inc(Stat::traces_aborted);
  if (r->parent) {   // a side trace: the loop keeps its trace; this exit is tried FASTPY_MAX_ABORTS times
    uint8_t& tries = r->parent->side_tries[static_cast<size_t>(r->parent_guard)];
    if (r->waits) r->parent->side_wait[static_cast<size_t>(r->parent_guard)] = r->waits;
    else if (tries < 255) tries++;
    stop(r);
    return;
  }
  LoopSlot* loop = r->loop;
  loop->abort_reason = static_cast<uint8_t>(why);
  // The loop ending during the recorded iteration says little against recording it (the recording started
  // at its last iteration): try again at its next back-edge, and count only every 16th such abort toward the
  // blacklist (a loop that only ever runs one iteration must not be recorded on every run).
  bool retry_soon = false;
  if (why == Abort::loop_exit) {
    retry_soon = ++loop->exit_aborts % 16 != 0;
    if (!retry_soon) loop->aborts++;
  } else {
    loop->aborts++;
  }
  if (loop->aborts >= g_params.get(ParamId::max_aborts)) {
    loop->state = LoopState::kBlacklisted;
    stat_inc(Stat::loops_blacklisted);
  } else {
    loop->state = LoopState::kCounting;
    uint32_t hot = static_cast<uint32_t>(g_params.get(ParamId::hot_loop));
    loop->count = retry_soon ? hot - 1 : 0;
  }
  stop(r);
}

void finish(Recorder* r, LoopSlot* link = nullptr) {
  // The state at the header for the next iteration (a side trace linked to another loop: at that loop's
  // header); a poll first, so a trace that loops forever still lets signals and other threads in (it exits
  // to the header, where the interpreter polls at its back-edge).
  r->pc = link ? link->header : r->header;
  r->snapped = false;
  guard(r, ir::IR_poll, kNoRef, kNoRef,
        reinterpret_cast<int64_t>(py::eval_breaker_address(PyThreadState_GET())));
  r->snapped = false;
  r->final_snap = true;
  snap(r);
  std::string err = ir::ir_verify(r->t);
  auto* td = new TraceData;
  td->recorded = r->t;
  td->opt = r->t;
  opt::OptOptions passes;
  passes.bits = static_cast<uint32_t>(g_params.get(ParamId::opt));
  if (r->parent) passes.set(opt::OPT_peel, false);   // a side trace ends at the header: no loop of its own
  if (err.empty()) err = opt::opt_run(td->opt, passes);
  if (!err.empty()) {
    delete td;
    if (g_params.has(ParamId::log, kLogAbort)) std::fprintf(stderr, "fastpy: internal: %s\n", err.c_str());
    abort_recording(r, Abort::internal);
    return;
  }
  td->exits.assign(td->opt.ins.size(), 0);
  td->borrowed = std::move(r->borrowed);   // (before compiling: a side trace's entry checks embed it)
  borrowed_prune(td->borrowed, td->opt);
  if (r->parent) {   // machine code only; owned by the parent, run in place of its exit (baseline_entry)
    td->root = r->tree;
    td->parent = r->parent;
    td->parent_guard = r->parent_guard;
    td->chain_holds = !td->borrowed.objs.empty() || r->parent->chain_holds;
    if (!baseline_compile(r->root_co, r->loop, td, true)) {
      td->root = nullptr;
      trace_free(td);
      abort_recording(r, Abort::compile);
      return;
    }
    td->kept.swap(r->kept);
    td->loop = r->loop;
    td->link = link;
    td->hops = link && !td->chain_holds && td->opt.snaps.back().pc == link->header;
    r->parent->side[static_cast<size_t>(r->parent_guard)] = td;
    baseline_link(r->parent, r->parent_guard, td);
    r->tree->nside++;   // the tree's bound
    stat_inc(Stat::side_traces);
    log_trace(r->root_co, r->header, td);
    stop(r);
    return;
  }
  // The baseline tier when it may run (the default); the IR executor when asked for, or when the baseline
  // could not compile this trace.
  TraceEntry entry = nullptr;
  td->root = td;
  if (g_params.has(ParamId::tiers, kTierBaseline) && baseline_compile(r->root_co, r->loop, td, false)) {
    entry = &baseline_entry;
    td->hop_in = td->borrowed.objs.empty() && !td->borrowed.used[0] && !td->borrowed.used[1] &&
                 td->native.out_words <= baseline::kLinkWords;
  } else if (g_params.has(ParamId::tiers, kTierIR)) {
    entry = &ir_entry;
  } else {
    trace_free(td);
    abort_recording(r, Abort::compile);
    return;
  }
  td->kept.swap(r->kept);
  LoopSlot* loop = r->loop;
  loop->trace = td;
  loop->trace_free = &trace_free;
  loop->entry = entry;
  loop->state = LoopState::kCompiled;
  td->loop = loop;
  if (entry == &baseline_entry) baseline_cache_add(td);
  stat_inc(Stat::traces_recorded);
  log_trace(r->root_co, r->header, td);
  stop(r);
}

// Starts recording frame f from its current instruction, for `loop`, ending at its header with stack top top0.
Recorder* begin(_PyInterpreterFrame* f, LoopSlot* loop, int top0) {
  auto* r = new Recorder;
  r->f = r->root = f;
  r->co = r->root_co = f->f_code;
  r->first = py::code_units(r->co);
  r->loop = loop;
  r->header = loop->header;
  r->nlocals = r->co->co_nlocalsplus;
  r->top = r->top_in = f->stacktop;
  r->top0 = top0;
  size_t n = static_cast<size_t>(r->nlocals + r->co->co_stacksize);
  r->slot.assign(n, kNoRef);
  r->written.assign(n, false);
  r->kind.assign(n, ir::SNAP_py);
  r->ident.assign(n, -1);
  r->origin.assign(n, kNoRef);
  r->fref.assign(n, kNoRef);
  r->fkind.assign(n, ir::SNAP_py);
  r->max_len = static_cast<int>(g_params.get(ParamId::max_trace));
  r->borrowed.ns[0] = f->f_globals;
  r->borrowed.ns[1] = f->f_builtins;
  r->borrowed.expect.reset(new uint64_t[2]{0, 0});
  g_recorder = r;
  interp_set_record_dispatch(true);
  return r;
}

void hot_loop(PyThreadState*, _PyInterpreterFrame* f, LoopSlot* loop) {
  if (!g_params.has(ParamId::tiers, kTierIR) && !g_params.has(ParamId::tiers, kTierBaseline)) {   // no tier runs traces
    loop->state = LoopState::kBlacklisted;
    stat_inc(Stat::loops_no_recorder);
    return;
  }
  if (g_recorder) {   // one recording at a time: try again later
    loop->count = 0;
    return;
  }
  begin(f, loop, f->stacktop);
  loop->state = LoopState::kRecording;
}

void start_side_trace(_PyInterpreterFrame* f, LoopSlot* loop, TraceData* td, IRRef guard) {
  if (g_recorder) return;
  // Mid-iteration: stack slots above the header's may be live; it ends at the header's stack top.
  // (the root's last snapshot is at the header: a side trace's may be at another loop's)
  Recorder* r = begin(f, loop, static_cast<TraceData*>(loop->trace)->opt.snaps.back().top);
  r->parent = td;
  r->parent_guard = guard;
  r->tree = static_cast<TraceData*>(loop->trace);
  // It runs straight from the parent's exit, before any restore: what the exit's snapshot holds comes from
  // the parent's exit values (pload; constants as they are), and every snapshot of it lists those slots
  // (written), since the frame never got them.
  const ir::Snapshot& sn = td->opt.snaps[static_cast<size_t>(td->opt.ins[static_cast<size_t>(guard)].snap)];
  // A number's object (SnapEntry::num) is taken as that number below; where forward dropped its unbox the
  // parent never checked it, so the object the exit restored may be anything (the guard that failed may be
  // about it): no side trace from such an exit (it would only exit at its first guard; the exit restores the
  // object itself, correct as it is).
  for (const ir::SnapEntry& en : sn.entries) {
    if (en.num == ir::NUM_none) continue;
    PyObject* live = sn.inlined.empty() && en.slot < sn.top ? f->localsplus[en.slot] : nullptr;
    int64_t iv;
    if (!live || !(en.num == ir::NUM_f64 ? PyFloat_CheckExact(live) : small_int(live, &iv))) {
      abort_recording(r, Abort::unsupported_type);
      return;
    }
  }
  std::vector<IRRef> loaded(sn.entries.size(), kNoRef);
  std::vector<std::pair<int32_t, ir::IROp>> origins;   // slots the exit restores from a number's object
  for (size_t e = 0; e < sn.entries.size(); e++) {
    const ir::SnapEntry& en = sn.entries[e];
    const ir::IRIns& v = td->opt.ins[static_cast<size_t>(en.ref)];
    IRRef x = kNoRef;
    // Slots sharing an object share its value's load too (their snapshots' links need the same ref).
    for (size_t m = 0; m < e && x == kNoRef && en.same >= 0; m++)
      if (sn.entries[m].ref == en.ref) x = loaded[m];
    // (Not an owned one, forward's take-over: the reference is the side trace's to hand on, as an object.)
    if (x == kNoRef && en.num != ir::NUM_none) {
      x = r->b.emit(ir::IR_pload_obj, kNoRef, kNoRef, static_cast<int64_t>(e));   // a number's own object
      origins.emplace_back(en.slot, en.num == ir::NUM_f64 ? ir::IR_unbox_f64 : ir::IR_unbox_i64);
    }
    if (x == kNoRef) {
      switch (v.op) {
        case ir::IR_kint: case ir::IR_kflt: case ir::IR_kbool: x = r->b.emit(v.op, kNoRef, kNoRef, v.imm); break;
        case ir::IR_kobj: x = kobj(r, reinterpret_cast<PyObject*>(static_cast<uintptr_t>(v.imm))); break;
        default: {
          static const ir::IROp kLoad[] = {ir::IR_pload_i64, ir::IR_pload_f64, ir::IR_pload_bool, ir::IR_pload_obj};
          int t = v.type == ir::IRT_i64 ? 0 : v.type == ir::IRT_f64 ? 1 : v.type == ir::IRT_bool ? 2 : 3;
          x = r->b.emit(kLoad[t], kNoRef, kNoRef, static_cast<int64_t>(e));
        }
      }
    }
    loaded[e] = x;
    size_t k = static_cast<size_t>(en.slot);
    r->slot[k] = x;
    r->written[k] = true;
    r->kind[k] = en.box;
  }
  // The objects the parent's exit shares between slots are the side trace's to share (Recorder::ident):
  // the frame's, which it still holds (no restore ran), or one number per entry that others link to.
  for (const ir::SnapEntry& en : sn.entries) {
    if (en.same < 0) continue;
    size_t k = static_cast<size_t>(en.slot), j = static_cast<size_t>(en.same);
    if (en.same_frame) {
      r->ident[k] = -2 - en.same;
      if (r->fref[j] == kNoRef) r->fref[j] = r->slot[k], r->fkind[j] = en.box;
    } else {
      if (r->ident[j] == -1) r->ident[j] = r->next_ident++;
      r->ident[k] = r->ident[j];
    }
  }
  // A number the parent's exit restores from the object it was loaded from (Recorder::origin) is that
  // object here too, and its value the number (unboxed, behind the entry's snapshot: the exit's state).
  // (Its guard's snapshot is the exit's state itself, at the exit's resume point.)
  r->pc = sn.pc;
  r->snapped = false;
  for (const auto& [k, unbox] : origins) {
    size_t u = static_cast<size_t>(k);
    IRRef o = r->slot[u];
    r->slot[u] = rec::guard(r, unbox, o);
    r->origin[u] = o;
  }
  r->snapped = false;
  // What it borrows from the namespaces is its own (kobj_in): the parent's constants it starts from are
  // strong references (kobj above), and a side trace that reads no namespace makes no entry checks
  // (LinkOptions::ns; fannkuch's `i, j = 0, k` after its swap loop is entered 1.07 M times a run).
}

}  // namespace rec

using namespace rec;

// ---------------------------------------------------------------- the interpreter's calls
// The loop of `loops` with its header at pc that runs a baseline trace (not `self`), or nullptr.
LoopSlot* compiled_loop_at(const LoopTable* loops, int pc, const LoopSlot* self) {
  if (!loops) return nullptr;
  for (int i = 0; i < loops->n; i++) {
    LoopSlot* l = loops->slots[i].owner;
    if (l != self && l->header == pc && l->state == LoopState::kCompiled && l->entry == &baseline_entry) return l;
  }
  return nullptr;
}

static bool encloses(const LoopSlot* outer, const LoopSlot* inner) {
  return outer != inner && outer->header <= inner->header && inner->last_jump <= outer->last_jump;
}

// True when a side trace of `root`'s tree that reaches the back-edge of `outer` (a loop with a trace of its
// own) goes on through outer's header rather than linking to outer's trace: outer encloses root, and every
// other loop whose header comes between outer's and root's encloses root too, so that the way from outer's
// header to root's meets no other loop's body first. The side trace then ends at root's header, back in
// its own tree (closed in machine code), where linking would run outer's trace up to root's header and
// hand over to root's tree in C++ (twice per iteration of outer: fannkuch's `while k` around its swaps).
static bool through_outer(const LoopTable* loops, const LoopSlot* outer, const LoopSlot* root) {
  if (!loops || !encloses(outer, root)) return false;
  for (int i = 0; i < loops->n; i++) {
    const LoopSlot* l = loops->slots[i].owner;
    if (l == outer || l == root || l->header <= outer->header || l->header >= root->header) continue;
    if (!encloses(l, root)) return false;
  }
  return true;
}

void rec_instruction(_PyInterpreterFrame* f, _Py_CODEUNIT* start, _Py_CODEUNIT* here, int op, int oparg,
                     PyObject** sp, const LoopTable* loops) {
  Recorder* r = g_recorder;
  if (r->f != f) {
    // The callee of a recorded CALL (its frame links to the caller's), or a frame the recording does not
    // follow (a call made by a builtin, say).
    if (!r->pending || f->f_code != r->pending || f->previous != r->f) return;
    enter_callee(r, f);
  } else if (r->pending) {   // the callee ran elsewhere (CPython's evaluator): the trace cannot follow it
    r->pc = static_cast<int>(start - r->first);
    abort_recording(r, Abort::call_python);
    return;
  }
  int pc = static_cast<int>(start - r->first);
  if (pc == r->skip_at) {   // the jump fused into the compare before it, recorded with it
    r->skip_at = -1;
    return;
  }
  r->skip_at = -1;
  r->here = here;
  r->pc = pc;
  r->snapped = false;
  try {
    if (r->callers.empty() && (pc < r->header || pc > r->loop->last_jump) && !r->parent) fail(Abort::loop_exit);
    if (r->top - r->base != static_cast<int>(sp - f->localsplus)) fail(Abort::internal);
    if (r->parent && r->callers.empty() && pc == r->header && r->ninstr > 0) {
      // A side trace back at the header (from outside the body: the enclosing loop's next iteration, or the
      // loop entered again): the trace it left takes over from here.
      if (r->top != r->top0) fail(Abort::internal);
      finish(r);
      return;
    }
    if (r->parent && r->callers.empty() && r->ninstr > 0) {
      // At the header of another loop with a trace of its own (the next loop of the enclosing body): it ends
      // here, and that trace takes over (baseline_entry links them).
      LoopSlot* other = compiled_loop_at(loops, pc, r->loop);
      if (other && std::find(r->crossed.begin(), r->crossed.end(), pc) == r->crossed.end()) {
        finish(r, other);
        return;
      }
    }
    r->ninstr++;
    record(r, op, oparg, sp);
    if (r->t.size() > r->max_len) fail(Abort::too_long);
  } catch (const AbortEx& e) {
    abort_recording(r, e.why);
  }
}

void rec_back_edge(_PyInterpreterFrame* f, _Py_CODEUNIT* target, LoopSlot* jumps_to, const LoopTable* loops) {
  Recorder* r = g_recorder;
  if (r->f != f) return;
  if (!r->callers.empty()) {   // a loop inside an inlined call
    abort_recording(r, Abort::inner_loop);
    return;
  }
  int to = static_cast<int>(target - r->first);
  if (to != r->header) {
    // A side trace may go on into the next iteration of a loop around the recorded one, once per loop (a
    // second time would unroll it); into a loop with a trace of its own only when the way leads straight
    // back to the recorded loop (through_outer; the interpreter then leaves that trace alone, rec_records),
    // else it links to that trace.
    bool again = std::find(r->crossed.begin(), r->crossed.end(), to) != r->crossed.end();
    if (r->parent && jumps_to && jumps_to->header == to && jumps_to->state == LoopState::kCompiled &&
        jumps_to->entry == &baseline_entry && !again && through_outer(loops, jumps_to, r->loop)) {
      r->crossed.push_back(to);   // on to the root's header (the interpreter leaves jumps_to's trace alone)
      return;
    }
    if (r->parent && jumps_to && jumps_to->header == to && jumps_to->state == LoopState::kCompiled &&
        jumps_to->entry == &baseline_entry) {
      if (r->top - r->base != static_cast<int>(f->stacktop)) {   // (f->stacktop: set at the back-edge)
        abort_recording(r, Abort::internal);
        return;
      }
      finish(r, jumps_to);   // the next iteration of a loop with a trace: linked to it
      return;
    }
    if (!r->parent || again || (jumps_to && jumps_to->state == LoopState::kCompiled)) {
      // A second iteration of a loop that may still get a trace of its own: the side trace could link to
      // it then, so this does not count as a failed try; the exit waits for that loop.
      if (again && jumps_to && jumps_to->header == to && jumps_to->state != LoopState::kBlacklisted)
        r->waits = jumps_to;
      abort_recording(r, Abort::inner_loop);
      return;
    }
    r->crossed.push_back(to);
    return;
  }
  if (r->top != r->top0) {
    abort_recording(r, Abort::internal);
    return;
  }
  finish(r);
}

void rec_frame_leaves(_PyInterpreterFrame* f, Abort why) {
  Recorder* r = g_recorder;
  if (!r) return;
  bool ours = r->f == f;
  for (const RFrame& c : r->callers) ours |= c.f == f;
  if (ours) abort_recording(r, why);
}

bool rec_expects_callee(PyCodeObject* co) { return g_recorder && g_recorder->pending == co; }

bool rec_records(const _PyInterpreterFrame* f) { return g_recorder && g_recorder->f == f; }

// ---------------------------------------------------------------- start-up and introspection
const char* abort_name(Abort a) { return kAbortNames[static_cast<int>(a)]; }
const char* abort_doc(Abort a) { return kAbortDocs[static_cast<int>(a)]; }
const uint64_t* abort_counts() { return g_aborts; }
void abort_counts_reset() { std::memset(g_aborts, 0, sizeof g_aborts); }

namespace {

}  // namespace

bool recorder_init() {
  static bool done = false;
  if (done) return true;
  PyObject* builtins = PyEval_GetBuiltins();
  if (!builtins) {
    PyObject* bm = PyImport_ImportModule("builtins");
    if (!bm) return false;
    builtins = PyModule_GetDict(bm);
    Py_DECREF(bm);
  }
  struct {
    PyObject** slot;
    const char* name;
  } known[] = {{&g_abs, "abs"}, {&g_min, "min"}, {&g_max, "max"}, {&g_len, "len"}};
  for (auto& k : known) {
    *k.slot = PyDict_GetItemString(builtins, k.name);
    Py_XINCREF(*k.slot);
  }
  g_list_append = PyDict_GetItemString(PyList_Type.tp_dict, "append");
  Py_XINCREF(g_list_append);
  PyObject* math = PyImport_ImportModule("math");
  if (!math) return false;
  for (MathFn& m : g_math) m.obj = PyObject_GetAttrString(math, m.name);   // kept for the process' life
  g_math_fabs = PyObject_GetAttrString(math, "fabs");
  Py_DECREF(math);
  PyErr_Clear();
  iter_init();
  numpy_init();
  set_hot_loop_handler(&hot_loop);
  done = true;
  return true;
}

bool loop_trace_info(const LoopSlot* loop, TraceInfo* out) {
  if (!loop->trace || loop->trace_free != &trace_free) return false;
  auto* td = static_cast<const TraceData*>(loop->trace);
  *out = TraceInfo{&td->recorded, &td->opt, td->exits.data(), td->runs, td->native.fn ? "baseline" : "ir",
                   td->native.code_size, {}};
  for (size_t g = 0; g < td->side.size(); g++)
    if (td->side[g]) out->side.emplace_back(static_cast<IRRef>(g), td->side[g]->runs);
  return true;
}

std::string trace_note(PyCodeObject* co, const ir::Trace& t, IRRef ref) {
  const ir::IRIns& i = t.ins[static_cast<size_t>(ref)];
  switch (i.op) {
    case ir::IR_sload_obj:
    case ir::IR_sload_i64:
    case ir::IR_sload_f64:
    case ir::IR_sload_bool: {
      if (i.imm < co->co_nlocalsplus) {
        PyObject* name = PyTuple_GET_ITEM(co->co_localsplusnames, i.imm);
        return PyUnicode_AsUTF8(name);
      }
      return "stack " + std::to_string(i.imm - co->co_nlocalsplus);
    }
    case ir::IR_kobj: {
      auto* o = reinterpret_cast<PyObject*>(static_cast<uintptr_t>(i.imm));
      if (!o) return "NULL";
      if (PyDict_CheckExact(o)) return "dict";
      if (PyModule_CheckExact(o)) return std::string("module ") + PyModule_GetName(o);
      if (PyFunction_Check(o)) {
        PyObject* qn = reinterpret_cast<PyFunctionObject*>(o)->func_qualname;
        return std::string("function ") + (qn && PyUnicode_Check(qn) ? PyUnicode_AsUTF8(qn) : "?");
      }
      if (PyCFunction_Check(o) || PyType_Check(o) || o == Py_None || o == g_list_append) {
        PyObject* rep = PyObject_Repr(o);
        std::string s = rep ? PyUnicode_AsUTF8(rep) : "?";
        Py_XDECREF(rep);
        PyErr_Clear();
        // Drop the address CPython puts in some reprs.
        size_t at = s.find(" at 0x");
        if (at != std::string::npos) s = s.substr(0, at) + ">";
        return s;
      }
      return Py_TYPE(o)->tp_name;
    }
    case ir::IR_guard_type: {
      auto* tp = reinterpret_cast<PyTypeObject*>(static_cast<uintptr_t>(i.imm));
      return tp->tp_name;
    }
    case ir::IR_callf1:
      for (const MathFn& m : g_math) {
        if (reinterpret_cast<int64_t>(m.fn) == i.imm) return std::string("math.") + m.name;
      }
      return "";
    case ir::IR_poll: return "eval breaker";
    case ir::IR_kint:   // a dict version a guard compares with: it differs from run to run
      for (const ir::IRIns& g : t.ins) {
        if (g.op == ir::IR_guard_eqi && g.b == ref && trace_note(co, t, g.a) == "dict version") return "dict version";
      }
      return "";
    case ir::IR_load_i32:
      if (i.imm == py::kRecursionRemainingOffset && i.a >= 0 && t.ins[static_cast<size_t>(i.a)].op == ir::IR_load_ptr)
        return "recursion budget";
      return "";
    case ir::IR_load_ptr:
      if (i.a >= 0 && t.ins[static_cast<size_t>(i.a)].op == ir::IR_kptr &&
          t.ins[static_cast<size_t>(i.a)].imm == reinterpret_cast<int64_t>(py::tstate_current_address()))
        return "thread state";
      if (i.imm == static_cast<int64_t>(offsetof(PyFunctionObject, func_code)) && i.a >= 0 &&
          t.ins[static_cast<size_t>(i.a)].op == ir::IR_kobj) {
        auto* o = reinterpret_cast<PyObject*>(static_cast<uintptr_t>(t.ins[static_cast<size_t>(i.a)].imm));
        if (o && PyFunction_Check(o)) return "__code__";
      }
      return "";
    case ir::IR_load_i64:
      for (const ir::IRIns& g : t.ins) {   // the version a trace expects (Borrowed::expect)
        if (g.op == ir::IR_guard_eqi && g.b == ref && trace_note(co, t, g.a) == "dict version")
          return "expected dict version";
      }
      if (i.imm == static_cast<int64_t>(offsetof(PyDictObject, ma_version_tag)) && i.a >= 0 &&
          t.ins[static_cast<size_t>(i.a)].op == ir::IR_kobj) {
        auto* o = reinterpret_cast<PyObject*>(static_cast<uintptr_t>(t.ins[static_cast<size_t>(i.a)].imm));
        if (o && PyDict_CheckExact(o)) return "dict version";
      }
      return "";
    default:
      return "";
  }
}

}  // namespace fastpy
