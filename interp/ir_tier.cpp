// The IR tier (FASTPY_TIERS=interp,ir): a loop's trace run by the reference executor, the runtime hook that
// gives the executor Python's semantics for the ops that need them, exits through the one restore routine,
// and the policy for traces whose specialization no longer holds. Diagnostics for FASTPY_LOG=trace/ir/deopt.
// internals.h first: it defines Py_BUILD_CORE before <Python.h>.
#include "python/cpython311/internals.h"

#include <cstdio>
#include <string>
#include <vector>

#include "interp/recorder_impl.h"
#include "runtime/params.h"
#include "runtime/restore.h"
#include "runtime/stats.h"
#include "tiers/ir/ir_exec.h"

namespace fastpy::rec {

// The tier that runs a trace with the IR reference executor (FASTPY_TIERS=interp,ir).
bool runtime_hook(const ir::IRIns& i, uint64_t a, uint64_t b, uint64_t* out) {
  auto* o = reinterpret_cast<PyObject*>(static_cast<uintptr_t>(a));
  switch (i.op) {
    case ir::IR_sload_f64:
    case ir::IR_unbox_f64:
      if (!o || !PyFloat_CheckExact(o)) return false;
      *out = static_cast<uint64_t>(ir::f64_bits(PyFloat_AS_DOUBLE(o)));
      return true;
    case ir::IR_sload_i64:
    case ir::IR_unbox_i64: {
      int64_t v;
      if (!o || PyBool_Check(o) || !small_int(o, &v)) return false;
      *out = static_cast<uint64_t>(v);
      return true;
    }
    case ir::IR_sload_bool:
      if (o != Py_True && o != Py_False) return false;
      *out = o == Py_True;
      return true;
    case ir::IR_fpow:
    case ir::IR_ipow: {   // CPython's own power on the boxed operands: identical results and errors
      bool f = i.op == ir::IR_fpow;
      PyObject* x = box_value(f ? ir::IRT_f64 : ir::IRT_i64, a);
      PyObject* y = box_value(f ? ir::IRT_f64 : ir::IRT_i64, b);
      PyObject* p = x && y ? PyNumber_Power(x, y, Py_None) : nullptr;
      Py_XDECREF(x);
      Py_XDECREF(y);
      bool ok = false;
      int64_t v;
      if (p && f && PyFloat_CheckExact(p)) {
        *out = static_cast<uint64_t>(ir::f64_bits(PyFloat_AS_DOUBLE(p)));
        ok = true;
      } else if (p && !f && !PyBool_Check(p) && small_int(p, &v)) {
        *out = static_cast<uint64_t>(v);
        ok = true;
      }
      Py_XDECREF(p);
      if (!p) PyErr_Clear();   // the guard exits; the interpreter raises it again
      return ok;
    }
    case ir::IR_box_f64:
    case ir::IR_box_i64: {
      PyObject* x = box_value(i.op == ir::IR_box_f64 ? ir::IRT_f64 : ir::IRT_i64, a);
      *out = reinterpret_cast<uintptr_t>(x);
      return x != nullptr;
    }
    case ir::IR_incref:
      Py_INCREF(o);
      return true;
    case ir::IR_decref:
      Py_DECREF(o);
      return true;
    case ir::IR_list_append:
      *out = uint64_t(list_append_item(o, reinterpret_cast<PyObject*>(static_cast<uintptr_t>(b))));
      return true;
    case ir::IR_store_fitem: {
      auto** item = reinterpret_cast<PyObject**>(static_cast<uintptr_t>(a));
      PyObject* old = *item;
      double d = ir::bits_f64(static_cast<int64_t>(b));
      if (Py_REFCNT(old) == 1) {   // the list's own reference: nothing else sees the value change
        reinterpret_cast<PyFloatObject*>(old)->ob_fval = d;
        *out = 1;
        return true;
      }
      PyObject* n = PyFloat_FromDouble(d);
      if (!n) {
        PyErr_Clear();   // the guard exits; the interpreter's store raises MemoryError itself
        *out = 0;
        return true;
      }
      *item = n;
      Py_DECREF(old);   // a float: its deallocator runs no code
      *out = 1;
      return true;
    }
    case ir::IR_list_slice:
      *out = reinterpret_cast<uintptr_t>(new_list_slice(o, static_cast<int64_t>(b), i.imm));   // null: exits
      return true;
    case ir::IR_seq_iter:
      *out = reinterpret_cast<uintptr_t>(new_seq_iter(o));   // null: the guard exits
      return true;
    case ir::IR_range_iter:
      *out = reinterpret_cast<uintptr_t>(
          new_range_iter(static_cast<int64_t>(a), static_cast<int64_t>(b), i.imm));   // null: the guard exits
      return true;
    default:
      return attr_runtime(i, a, b, out) || numpy_runtime(i, a, b, out);
  }
}

// Guards on what a trace specialized on (types, identities, dict versions), as opposed to its control flow.
bool specialization_guard(ir::IROp op) {
  switch (op) {
    case ir::IR_sload_i64: case ir::IR_sload_f64: case ir::IR_sload_bool:
    case ir::IR_unbox_i64: case ir::IR_unbox_f64: case ir::IR_guard_type:
    case ir::IR_guard_eqi: case ir::IR_guard_eqp: case ir::IR_guard_tpversion:
      return true;
    default:
      return false;
  }
}

// Detaches a loop's trace and lets the loop count toward a new recording (or blacklists it: each discard
// counts as an abort of reason `unstable`).
void discard_trace(LoopSlot* loop) {
  void* td = detach_trace(loop);
  loop->aborts++;
  loop->abort_reason = static_cast<uint8_t>(Abort::unstable);
  count_abort(Abort::unstable);
  stat_inc(Stat::traces_discarded);
  if (loop->aborts >= g_params.get(ParamId::max_aborts)) {
    loop->state = LoopState::kBlacklisted;
    stat_inc(Stat::loops_blacklisted);
  } else {
    loop->state = LoopState::kCounting;
  }
  trace_free(td);
}

int after_run(_PyInterpreterFrame* f, LoopSlot* loop, TraceData* td, IRRef guard, int snap, bool first,
              const uint64_t* values, bool* again) {
  *again = false;
  bool exited = guard >= 0;
  bool drop = false;
  if (exited) {
    td->exits[static_cast<size_t>(guard)]++;
    stat_inc(Stat::trace_exits);
    // An exit at a type or identity guard before a single iteration completed, at the same guard as the last
    // time: what the trace specialized on has changed (a type, a global). Record the loop again rather than
    // enter and leave it on every iteration. (Branches and overflows that keep failing are not what the
    // trace specialized on; they keep the trace.)
    if (!specialization_guard(td->opt.ins[static_cast<size_t>(guard)].op)) {
      td->last_exit = -1;
      td->streak = 0;
    } else if (first && snap == td->last_exit) {
      drop = ++td->streak >= g_params.get(ParamId::hot_exit);
    } else {
      td->last_exit = first ? snap : -1;
      td->streak = first ? 1 : 0;
      drop = td->streak >= g_params.get(ParamId::hot_exit);
    }
  }
  int resume = restore_frame(f, td->opt, snap, values, restore_kinds(td));
  if (exited && g_params.has(ParamId::log, kLogDeopt)) {   // FASTPY_LOG=deopt
    std::fprintf(stderr, "fastpy: exit from the trace of the loop at %s at %%%d %s (snapshot %d) -> instruction %d%s\n",
                 loop_where(f->f_code, loop->header).c_str(), static_cast<int>(guard),
                 ir::ir_name(td->opt.ins[static_cast<size_t>(guard)].op), snap, resume,
                 drop ? " (trace dropped: recorded again)" : "");
  }
  if (drop) {
    discard_trace(loop);
    return resume;
  }
  // A trace without `loop` (FASTPY_OPT without peel) ran one iteration and left the frame at the header:
  // run the next one here rather than let the interpreter run every other iteration.
  *again = resume >= 0 && !exited && resume == loop->header;
  return resume;
}

void* detach_trace(LoopSlot* loop) {
  void* td = loop->trace;
  loop->entry = nullptr;
  loop->trace = nullptr;
  loop->trace_free = nullptr;
  loop->count = 0;
  loop->state = LoopState::kCounting;
  return td;
}

int invalidated(LoopSlot* loop) {
  void* td = detach_trace(loop);
  stat_inc(Stat::traces_invalidated);
  trace_free(td);
  return loop->header;
}

int trace_error(_PyInterpreterFrame* f, LoopSlot* loop, const char* tier, const std::string& what) {
  if (!PyErr_Occurred()) PyErr_Format(PyExc_SystemError, "fastpy: the %s failed: %s", tier, what.c_str());
  f->prev_instr = py::code_units(f->f_code) + loop->header;
  return -1;
}

int ir_entry(PyThreadState*, _PyInterpreterFrame* f, LoopSlot* loop) {
  auto* td = static_cast<TraceData*>(loop->trace);
  Pin pin(td);
  static const ir::RuntimeHook hook = &runtime_hook;
  ir::ExecOptions o;
  o.verify = false;
  o.max_iterations = UINT64_MAX;
  o.runtime = hook;
  Held held;
  if (!held.take(f, td->borrowed)) return invalidated(loop);
  for (;;) {
    o.slots = reinterpret_cast<const uint64_t*>(f->localsplus);
    o.nslots = static_cast<size_t>(f->stacktop);
    td->runs++;
    stat_inc(Stat::trace_ir_runs);
    ir::ExecResult res = ir::ir_execute(td->opt, o);
    if (res.status == ir::ExecStatus::error || res.snap < 0)
      return trace_error(f, loop, "IR executor", ir::exec_describe(res));
    std::vector<uint64_t> values(res.slots.size());
    for (size_t e = 0; e < values.size(); e++) values[e] = res.slots[e].value;
    bool again;
    int resume = after_run(f, loop, td, res.status == ir::ExecStatus::exited ? res.guard : kNoRef, res.snap,
                           res.iterations == 0, values.data(), &again);
    if (!again) return resume;
  }
}

// "file:line" of a loop header.
std::string loop_where(PyCodeObject* co, int header) {
  return std::string(PyUnicode_AsUTF8(co->co_filename)) + ":" +
         std::to_string(PyCode_Addr2Line(co, header * static_cast<int>(sizeof(_Py_CODEUNIT))));
}

// FASTPY_LOG=trace: one line per trace (a loop's, or a side trace: from which guard of which trace of its
// tree, and where it ends); FASTPY_LOG=ir: its recorded and optimized IR.
void log_trace(PyCodeObject* co, int header, const TraceData* td) {
  bool ir = g_params.has(ParamId::log, kLogIR);
  if (!ir && !g_params.has(ParamId::log, kLogTrace)) return;
  if (td->parent) {
    int end = td->opt.snaps.empty() ? -1 : td->opt.snaps.back().pc;
    std::string to = end == header                  ? "its loop's header"
                     : td->link && end == td->link->header ? "the header of the loop at " + loop_where(co, end)
                                                           : "instruction " + std::to_string(end);
    std::fprintf(stderr,
                 "fastpy: side trace of the loop at %s (%s) from %%%d of %s: %d instructions recorded, %d after "
                 "optimization, ends at %s\n",
                 loop_where(co, header).c_str(), PyUnicode_AsUTF8(co->co_qualname), static_cast<int>(td->parent_guard),
                 td->parent == td->root ? "the loop's trace" : "a side trace", static_cast<int>(td->recorded.size()),
                 static_cast<int>(td->opt.size()), to.c_str());
  } else {
    std::fprintf(stderr, "fastpy: trace for the loop at %s (%s): %d instructions recorded, %d after optimization\n",
                 loop_where(co, header).c_str(), PyUnicode_AsUTF8(co->co_qualname),
                 static_cast<int>(td->recorded.size()), static_cast<int>(td->opt.size()));
  }
  if (!ir) return;
  auto note = [&](const ir::Trace& t) {
    return [&t, co](IRRef ref) { return trace_note(co, t, ref); };
  };
  std::fprintf(stderr, "--- recorded\n%s--- optimized\n%s", ir::ir_print(td->recorded, note(td->recorded)).c_str(),
               ir::ir_print(td->opt, note(td->opt)).c_str());
}

}  // namespace fastpy::rec
