// The reference executor of Trace IR: one switch case per op, written for obviousness, not speed.
// The semantics are the doc column of ir_ops.def; ir_exec.h says how inputs, loops, frame slots and the
// runtime hook work. Python's numeric rules come from ir_arith.h, shared with the fold engine.
#include "tiers/ir/ir_exec.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <utility>

#include "tiers/ir/ir_arith.h"

namespace fastpy::ir {

namespace {

// What running one instruction did.
enum class Step { next, stop };

// The 64-bit value of a double (its IEEE bits).
uint64_t from_f64(double d) { return uint64_t(f64_bits(d)); }
// The double held in a 64-bit value.
double to_f64(uint64_t v) { return bits_f64(int64_t(v)); }
// The 64-bit value of a bool: 0 or 1.
uint64_t from_bool(bool b) { return b ? 1 : 0; }

// Pure i64 ops: add (wrapping), bitwise, shifts (count masked by 63), signed compares and ult, Python's min and max. False when op is
// not one of them.
bool eval_i64(IROp op, int64_t x, int64_t y, uint64_t* out) {
  unsigned sh = unsigned(uint64_t(y) & 63);
  switch (op) {
    case IR_add: *out = uint64_t(x) + uint64_t(y); return true;   // wraps (never does where emitted)
    case IR_and: *out = uint64_t(x & y); return true;
    case IR_or: *out = uint64_t(x | y); return true;
    case IR_xor: *out = uint64_t(x ^ y); return true;
    case IR_shl: *out = uint64_t(x) << sh; return true;       // wraps: unsigned shift
    case IR_sar: *out = uint64_t(x >> sh); return true;       // arithmetic on g++ (and C++20)
    case IR_lt: *out = from_bool(x < y); return true;
    case IR_le: *out = from_bool(x <= y); return true;
    case IR_gt: *out = from_bool(x > y); return true;
    case IR_ge: *out = from_bool(x >= y); return true;
    case IR_eq: *out = from_bool(x == y); return true;
    case IR_ne: case IR_pne: *out = from_bool(x != y); return true;
    case IR_ult: *out = from_bool(uint64_t(x) < uint64_t(y)); return true;
    case IR_peq: *out = from_bool(x == y); return true;
    case IR_imin: *out = uint64_t(py_imin(x, y)); return true;
    case IR_imax: *out = uint64_t(py_imax(x, y)); return true;
    default: return false;
  }
}

// Pure f64 ops: IEEE arithmetic and compares (NaN: false, except fne), Python's //, %, min, max and abs.
// False when op is not one of them.
bool eval_f64(IROp op, double x, double y, uint64_t* out) {
  switch (op) {
    case IR_fadd: *out = from_f64(py_fadd(x, y)); return true;
    case IR_fsub: *out = from_f64(x - y); return true;
    case IR_fmul: *out = from_f64(py_fmul(x, y)); return true;
    case IR_fdiv: *out = from_f64(x / y); return true;
    case IR_fneg: *out = from_f64(x) ^ (uint64_t(1) << 63); return true;  // the sign bit, NaN included
    case IR_flt: *out = from_bool(x < y); return true;
    case IR_fle: *out = from_bool(x <= y); return true;
    case IR_fgt: *out = from_bool(x > y); return true;
    case IR_fge: *out = from_bool(x >= y); return true;
    case IR_feq: *out = from_bool(x == y); return true;
    case IR_fne: *out = from_bool(x != y); return true;
    case IR_fabs: *out = from_f64(x) & ~(uint64_t(1) << 63); return true;  // the sign bit, NaN included
    case IR_fmin: *out = from_f64(py_fmin(x, y)); return true;
    case IR_fmax: *out = from_f64(py_fmax(x, y)); return true;
    case IR_ffloordiv: *out = from_f64(py_ffloordiv(x, y)); return true;
    case IR_fmod: *out = from_f64(py_fmod(x, y)); return true;
    case IR_fsqrt: *out = from_f64(std::sqrt(x)); return true;   // IEEE: correctly rounded
    default: return false;
  }
}

// Every other pure op: constants, i2f, not, padd. False when op is not one of them.
bool eval_misc(const IRIns& i, uint64_t x, uint64_t y, uint64_t* out) {
  switch (i.op) {
    case IR_kint: case IR_kflt: case IR_kbool: case IR_kobj: case IR_kptr:
      *out = uint64_t(i.imm);
      return true;
    case IR_i2f: *out = from_f64(double(int64_t(x))); return true;  // round to nearest
    case IR_not: *out = from_bool(x == 0); return true;
    case IR_b2i: *out = x != 0; return true;
    case IR_padd: *out = x + y * uint64_t(i.imm); return true;  // address arithmetic wraps, never traps
    default: return false;
  }
}

// Checked i64 arithmetic and f2i. False when op is not one of them; *ok false when the guard exits
// (signed overflow, a zero divisor or INT64_MIN / -1, f2i out of range); *out is only set when *ok.
bool eval_ov(IROp op, uint64_t ux, uint64_t uy, int64_t* out, bool* ok) {
  int64_t x = int64_t(ux), y = int64_t(uy);
  switch (op) {
    case IR_add_ov: *ok = !__builtin_add_overflow(x, y, out); return true;
    case IR_sub_ov: *ok = !__builtin_sub_overflow(x, y, out); return true;
    case IR_mul_ov: *ok = !__builtin_mul_overflow(x, y, out); return true;
    case IR_neg_ov: *ok = !__builtin_sub_overflow(int64_t(0), x, out); return true;
    case IR_abs_ov:
      *ok = x != std::numeric_limits<int64_t>::min();
      if (*ok) *out = x < 0 ? -x : x;
      return true;
    case IR_floordiv_ov: case IR_mod_ov:
      *ok = py_divmod_ok(x, y);
      if (*ok) *out = op == IR_floordiv_ov ? py_floordiv(x, y) : py_mod(x, y);
      return true;
    case IR_f2i:
      *ok = py_f2i_ok(to_f64(ux));
      if (*ok) *out = py_f2i(to_f64(ux));
      return true;
    default: return false;
  }
}

// Checks of the plain guards. False when op is not one of them; *ok false when the check fails.
bool eval_check(IROp op, uint64_t x, uint64_t y, bool* ok) {
  switch (op) {
    case IR_guard_true: *ok = x != 0; return true;
    case IR_guard_false: *ok = x == 0; return true;
    case IR_guard_eqi: *ok = x == y; return true;
    case IR_guard_eqp: *ok = x == y; return true;
    case IR_guard_nonnull: *ok = x != 0; return true;
    default: return false;
  }
}

// True for the ops that go through ExecOptions::runtime (they need Python).
bool is_runtime(IROp op) {
  switch (op) {
    case IR_box_f64: case IR_box_i64: case IR_unbox_f64: case IR_unbox_i64:
    case IR_sload_i64: case IR_sload_f64: case IR_sload_bool: case IR_sload_npf64: case IR_sload_npi64:
    case IR_sload_npf32: case IR_sload_npi32:
    case IR_incref: case IR_decref: case IR_list_append: case IR_range_iter: case IR_seq_iter: case IR_list_slice: case IR_store_fitem: case IR_fpow: case IR_ipow:
    case IR_guard_tpversion: case IR_guard_method: case IR_getattr: case IR_setattr:
      return true;
    default: return false;
  }
}

// True for the ops that read a frame slot.
bool is_sload(IROp op) {
  return op == IR_sload_obj || op == IR_sload_i64 || op == IR_sload_f64 || op == IR_sload_bool ||
         op == IR_sload_npf64 || op == IR_sload_npi64 || op == IR_sload_npf32 || op == IR_sload_npi32;
}

// One execution of one trace.
class Exec {
 public:
  Exec(const Trace& t, const ExecOptions& o) : t_(t), o_(o) {}
  // Runs the trace to completion, a side exit, the iteration limit or an error.
  ExecResult run();

 private:
  Step step(IRRef r);                          // runs instruction r
  Step pure(IRRef r);                          // constants, arithmetic, compares, conversions
  Step guard(IRRef r);                         // checked arithmetic, f2i, callf1 and the plain guards
  Step memory(IRRef r);                        // load_* and store_*
  Step slot(IRRef r, uint64_t* v);             // sload_*: the frame word at imm into *v (stop: out of range)
  Step runtime(IRRef r);                       // the ops that need Python, through the hook
  Step control(IRRef r);                       // loop (nothing) and phi on loop entry (operand a)
  void back_edge();                            // every phi takes its operand b, all at once
  Step exit_at(IRRef r);                       // guard r failed: fills the side-exit fields
  void fill_snap(int32_t s);                   // snap, pc and slots from snapshot s and the current values
  Step fail(IRRef r, const std::string& msg);  // an error at instruction r
  void set(IRRef r, uint64_t v) { res_.values[size_t(r)] = v; }
  uint64_t val(IRRef r) const { return r == kNoRef ? 0 : res_.values[size_t(r)]; }

  const Trace& t_;
  const ExecOptions& o_;
  ExecResult res_;
  std::vector<IRRef> phis_;                    // the loop's phis, in order
  std::vector<uint64_t> next_;                 // back_edge scratch: their new values
};

ExecResult Exec::run() {
  res_.values.assign(size_t(t_.size()), 0);
  IRRef loop = kNoRef;
  for (IRRef r = 0; r < t_.size() && loop == kNoRef; r++)
    if (t_.ins[r].op == IR_loop) loop = r;
  IRRef body = loop + 1;  // first instruction after the loop's phis
  while (loop != kNoRef && body < t_.size() && t_.ins[body].op == IR_phi) phis_.push_back(body++);
  next_.resize(phis_.size());
  IRRef pc = 0;
  for (;;) {
    if (pc == t_.size()) {
      if (loop == kNoRef) {
        res_.status = ExecStatus::completed;
        if (!t_.snaps.empty() && t_.snaps.back().at == t_.size()) fill_snap(int32_t(t_.snaps.size() - 1));
        break;
      }
      if (res_.iterations >= o_.max_iterations) { res_.status = ExecStatus::iteration_limit; break; }
      res_.iterations++;
      back_edge();
      pc = body;
      continue;
    }
    if (step(pc) == Step::stop) break;
    pc++;
  }
  return std::move(res_);
}

Step Exec::step(IRRef r) {
  IROp op = t_.ins[r].op;
  if (is_runtime(op)) return runtime(r);
  if (op == IR_sload_obj) {
    uint64_t v = 0;
    if (slot(r, &v) == Step::stop) return Step::stop;
    set(r, v);  // the word itself: a borrowed PyObject*
    return Step::next;
  }
  if (op >= IR_pload_i64 && op <= IR_pload_obj) {
    int64_t k = t_.ins[r].imm;
    if (k < 0 || uint64_t(k) >= o_.nparent || !o_.parent)
      return fail(r, "parent value " + std::to_string(k) + " out of range (ExecOptions::nparent is " +
                         std::to_string(o_.nparent) + ")");
    set(r, o_.parent[k]);
    return Step::next;
  }
  switch (ir_info(op).effect) {
    case IRE_pure: return pure(r);
    case IRE_guard: return guard(r);
    case IRE_load: case IRE_store: return memory(r);
    case IRE_call: return fail(r, "unsupported call op");
    case IRE_control: return control(r);
  }
  return fail(r, "unknown effect");
}

Step Exec::pure(IRRef r) {
  const IRIns& i = t_.ins[r];
  uint64_t x = val(i.a), y = val(i.b), out = 0;
  bool done = eval_i64(i.op, int64_t(x), int64_t(y), &out) || eval_f64(i.op, to_f64(x), to_f64(y), &out) ||
              eval_misc(i, x, y, &out);
  if (!done) return fail(r, "the executor does not implement this op");
  set(r, out);
  return Step::next;
}

Step Exec::guard(IRRef r) {
  const IRIns& i = t_.ins[r];
  uint64_t x = val(i.a), y = val(i.b), out = 0;
  int64_t iout = 0;
  bool ok = false;
  switch (i.op) {
    case IR_guard_type: {  // Py_TYPE(a): the ob_type word right after ob_refcnt
      if (x == 0) return fail(r, "null object");
      uint64_t type;
      std::memcpy(&type, reinterpret_cast<const void*>(uintptr_t(x + 8)), 8);
      ok = type == uint64_t(i.imm);
      break;
    }
    case IR_poll: {
      if (i.imm == 0) return fail(r, "null eval-breaker address");
      int32_t word;
      std::memcpy(&word, reinterpret_cast<const void*>(uintptr_t(i.imm)), 4);
      ok = word == 0;
      break;
    }
    case IR_callf1: {
      if (i.imm == 0) return fail(r, "null function");
      double (*f)(double) = reinterpret_cast<double (*)(double)>(uintptr_t(i.imm));
      double res = f(to_f64(x));
      ok = math1_ok(to_f64(x), res);
      out = from_f64(res);
      break;
    }
    default:
      if (eval_ov(i.op, x, y, &iout, &ok)) out = uint64_t(iout);
      else if (!eval_check(i.op, x, y, &ok)) return fail(r, "the executor does not implement this guard");
  }
  if (!ok) return exit_at(r);
  set(r, out);  // 0 for the void guards
  return Step::next;
}

Step Exec::memory(IRRef r) {
  const IRIns& i = t_.ins[r];
  uint64_t base = val(i.a);
  if (base == 0) return fail(r, "null base pointer");
  void* p = reinterpret_cast<void*>(uintptr_t(base + uint64_t(i.imm)));
  uint64_t v = val(i.b);
  switch (i.op) {
    case IR_load_obj: case IR_load_i64: case IR_load_f64: case IR_load_ptr: case IR_load_cptr:
      std::memcpy(&v, p, 8);  // all are 8 bytes: PyObject*, int64_t, double, void*
      set(r, v);
      return Step::next;
    case IR_load_i32: {
      int32_t w;
      std::memcpy(&w, p, 4);
      set(r, uint64_t(int64_t(w)));
      return Step::next;
    }
    case IR_load_f32: {
      float w;
      std::memcpy(&w, p, 4);
      set(r, from_f64(double(w)));
      return Step::next;
    }
    case IR_store_i64: case IR_store_f64: case IR_store_ptr:
      std::memcpy(p, &v, 8);
      return Step::next;
    case IR_store_f32: {
      float w = float(to_f64(v));
      std::memcpy(p, &w, 4);
      return Step::next;
    }
    case IR_store_i32: {
      int32_t w = int32_t(int64_t(v));
      std::memcpy(p, &w, 4);
      return Step::next;
    }
    default: return fail(r, "the executor does not implement this memory op");
  }
}

Step Exec::slot(IRRef r, uint64_t* v) {
  int64_t k = t_.ins[r].imm;
  if (k < 0 || uint64_t(k) >= o_.nslots || !o_.slots)
    return fail(r, "slot " + std::to_string(k) + " out of range (ExecOptions::nslots is " +
                       std::to_string(o_.nslots) + ")");
  *v = o_.slots[k];
  return Step::next;
}

Step Exec::runtime(IRRef r) {
  const IRIns& i = t_.ins[r];
  uint64_t a = val(i.a), b = val(i.b), out = 0;
  if (is_sload(i.op)) {
    b = 0;
    if (slot(r, &a) == Step::stop) return Step::stop;
  }
  if (!o_.runtime) return fail(r, "needs ExecOptions::runtime (no Python in the executor)");
  bool ok = o_.runtime(i, a, b, &out);
  if (!ok && ir_info(i.op).is_guard) return exit_at(r);
  if (!ok) return fail(r, "the runtime hook failed");
  if ((i.op == IR_list_append || i.op == IR_setattr || i.op == IR_store_fitem) && out > 1)
    return fail(r, "the runtime hook returned " + std::to_string(out));
  set(r, ir_info(i.op).result == IRT_void ? 0 : out);  // incref/decref have no value
  return Step::next;
}

Step Exec::control(IRRef r) {
  const IRIns& i = t_.ins[r];
  if (i.op == IR_phi) set(r, val(i.a));
  else if (i.op != IR_loop) return fail(r, "the executor does not implement this control op");
  return Step::next;
}

void Exec::back_edge() {
  for (size_t k = 0; k < phis_.size(); k++) next_[k] = val(t_.ins[phis_[k]].b);  // read every b first,
  for (size_t k = 0; k < phis_.size(); k++) set(phis_[k], next_[k]);             // then write the phis
}

Step Exec::exit_at(IRRef r) {
  res_.status = ExecStatus::exited;
  res_.guard = r;
  fill_snap(t_.ins[r].snap);
  return Step::stop;
}

void Exec::fill_snap(int32_t s) {
  const Snapshot& sn = t_.snaps[size_t(s)];
  res_.snap = s;
  res_.pc = sn.pc;
  for (const SnapEntry& e : sn.entries) res_.slots.push_back(ExitSlot{e.slot, val(e.ref)});
}

Step Exec::fail(IRRef r, const std::string& msg) {
  res_.status = ExecStatus::error;
  res_.error = "%" + std::to_string(r) + ": " + ir_name(t_.ins[r].op) + ": " + msg;
  return Step::stop;
}

}  // namespace

ExecResult ir_execute(const Trace& t, const ExecOptions& opts) {
  std::string e = opts.verify ? ir_verify(t) : "";
  if (!e.empty()) {
    ExecResult r;
    r.error = "invalid trace: " + e;
    return r;
  }
  return Exec(t, opts).run();
}

const char* exec_status_name(ExecStatus s) {
  switch (s) {
    case ExecStatus::completed: return "completed";
    case ExecStatus::exited: return "exited";
    case ExecStatus::iteration_limit: return "iteration_limit";
    case ExecStatus::error: return "error";
  }
  return "?";
}

std::string exec_describe(const ExecResult& r) {
  std::string s = exec_status_name(r.status);
  if (r.status == ExecStatus::error) return s + ": " + r.error;
  if (r.status == ExecStatus::exited || (r.status == ExecStatus::completed && r.snap >= 0)) {
    if (r.status == ExecStatus::exited) s += " at %" + std::to_string(r.guard);
    s += " snap " + std::to_string(r.snap) + " pc=" + std::to_string(r.pc) + " [";
    for (size_t k = 0; k < r.slots.size(); k++)
      s += (k ? " " : "") + std::to_string(r.slots[k].slot) + "=" + std::to_string(int64_t(r.slots[k].value));
    s += "]";
  }
  return s + " after " + std::to_string(r.iterations) + " iterations";
}

}  // namespace fastpy::ir
