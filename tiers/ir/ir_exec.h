// The reference executor of Trace IR (like PyPy's llgraph backend): a plain evaluator of a Trace on raw 64-bit
// values, the semantic oracle every machine-code backend is tested against. Pure C++17, no Python headers.
//
// Values: every instruction's value is 64 bits: i64 as two's complement, f64 as its IEEE bits, bool as 0/1,
// obj and ptr as the address. Void instructions have value 0.
//
// Inputs: a trace reads its inputs the way compiled code does, through the existing ops: a `kptr` constant
// holding the address of a caller-owned buffer of 64-bit slots, then load_i64 / load_f64 / load_ptr at byte
// offsets. Results come back through store_* into that buffer, or as snapshot values when a guard exits.
// No op is added for inputs, so a trace runs unchanged here and on every backend.
//
// Control: instructions run in order. A trace without `loop` that reaches its end has completed. With `loop`,
// reaching the end jumps back to the first instruction after the loop's phis, and every phi takes the value of
// its back-edge operand b from the iteration just finished (all phis at once); on first entry a phi takes a.
// A guard whose check fails (add_ov/sub_ov/mul_ov/neg_ov/abs_ov on signed overflow, floordiv_ov/mod_ov on a
// zero divisor or INT64_MIN / -1, f2i out of range, callf1 on a math error, guard_type, poll, and unbox_* /
// sload_i64/f64/bool refused by the runtime hook) ends execution: the result names the guard, its snapshot,
// the resume pc and every entry's value.
//
// Completion snapshot: a recorded loop iteration (a trace without `loop`, run once per iteration by the
// runtime) ends with a snapshot taken at the trace's end: the state at the loop header for the next
// iteration. So when a trace without `loop` completes and its LAST snapshot has Snapshot::at == t.size(), the
// result (status still `completed`, guard still kNoRef) also carries snap, pc and slots from that snapshot,
// filled exactly as a side exit fills them.
//
// Frame slots: sload_* read ExecOptions::slots[imm], the raw 64-bit words of the frame the trace was entered
// with (locals, then the value stack). sload_obj is the word itself; sload_i64/f64/bool unbox it through the
// runtime hook. imm out of range is an error result.
//
// Python objects: kobj is just its pointer value (guard_eqp compares addresses). guard_type reads the ob_type
// word at offset 8 of its operand, poll the 32-bit word at its immediate, callf1 calls its immediate as a C
// double(double): those need no Python, only valid memory. box_f64 / box_i64 / unbox_f64 / unbox_i64 /
// sload_i64 / sload_f64 / sload_bool / incref / decref / list_append / guard_tpversion / getattr / setattr
// need Python, so they go through ExecOptions::runtime; without a hook they end execution with
// ExecStatus::error ("... needs ExecOptions::runtime").
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tiers/ir/ir.h"

namespace fastpy::ir {

// How an execution ended.
enum class ExecStatus : uint8_t {
  completed,        // a trace without loop reached its end
  exited,           // a guard failed: guard, snap, pc and slots say where and with what
  iteration_limit,  // the loop took more than ExecOptions::max_iterations back-edges
  error,            // invalid trace, unsupported op, missing or failing hook, null address, sload out of range
};

// Runtime hook: the ops that need Python (see above). i is the instruction; a and b are its operands' 64-bit
// values, except for sload_i64/f64/bool, where a is the frame slot's raw word (ExecOptions::slots[imm]) and b
// is 0. Stores the result in *out (ignored for incref and decref) and returns true. False means "check
// failed" for the guards (unbox_*, sload_*, guard_tpversion: the guard exits) and an error for box_*, incref,
// decref, list_append, getattr and setattr. list_append returns true with *out = 1 (appended) or 0
// (PyList_Append failed, error cleared); setattr likewise (1 stored, 0 not); getattr with *out the new
// reference or 0 (error cleared).
using RuntimeHook = std::function<bool(const IRIns& i, uint64_t a, uint64_t b, uint64_t* out)>;

// Knobs of one execution.
struct ExecOptions {
  uint64_t max_iterations = 10'000'000;  // loop back-edges allowed before ExecStatus::iteration_limit
  RuntimeHook runtime;                   // semantics of the ops that need Python; empty: those ops are an error
  const uint64_t* slots = nullptr;       // the frame slots sload_* read (raw words: PyObject* for objects)
  size_t nslots = 0;                     // how many: an sload at or beyond this is an error result
  const uint64_t* parent = nullptr;      // a side trace: its parent's exit values (what pload_* read)
  size_t nparent = 0;                    // how many: a pload at or beyond this is an error result
  bool verify = true;                    // run ir_verify first; false: the caller verified the trace already
                                         // (the runtime verifies once when compiling, then executes many times)
};

// One frame slot restored on a side exit: the value of the snapshot entry's instruction at exit time.
struct ExitSlot {
  int32_t slot;     // frame slot (SnapEntry::slot)
  uint64_t value;   // 64-bit value of SnapEntry::ref when the guard failed
  // Equal slot and value.
  bool operator==(const ExitSlot& o) const { return slot == o.slot && value == o.value; }
};

// What an execution did.
struct ExecResult {
  ExecStatus status = ExecStatus::error;
  std::string error;              // error: what is wrong ("" otherwise)
  IRRef guard = kNoRef;           // exited: the failing guard instruction
  int32_t snap = -1;              // exited: its snapshot index; completed: the completion snapshot's, or -1
  int32_t pc = -1;                // exited (and completed with a snapshot): the snapshot's resume bytecode index
  std::vector<ExitSlot> slots;    // exited (and completed with a snapshot): every entry, in the snapshot's order
  uint64_t iterations = 0;        // loop back-edges taken
  std::vector<uint64_t> values;   // value of every instruction when execution stopped (0: void or not reached)
};

// Runs t (checked with ir_verify first unless opts.verify is false; an invalid trace is an error result).
// Never throws or aborts on a verified trace, as long as its load/store/guard_type/poll addresses are valid
// memory and its callf1 immediates are functions.
ExecResult ir_execute(const Trace& t, const ExecOptions& opts = ExecOptions());
// Name of a status: "completed", "exited", "iteration_limit", "error".
const char* exec_status_name(ExecStatus s);
// One line describing r, for test messages and logs.
std::string exec_describe(const ExecResult& r);

}  // namespace fastpy::ir
