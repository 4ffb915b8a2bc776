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
// A guard whose check fails (including add_ov/sub_ov/mul_ov/neg_ov on signed overflow, and unbox_* refused by
// the hook) ends execution: the result names the guard, its snapshot, the resume pc and every entry's value.
//
// Python objects: kobj is just its pointer value (guard_eqp compares addresses). box_f64 / box_i64 / unbox_f64 /
// unbox_i64 need Python, so they go through ExecOptions::boxing; without a hook they end execution with
// ExecStatus::error ("... needs ExecOptions::boxing").
#pragma once
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
  error,            // invalid trace, unsupported op, missing hook, null base pointer: see ExecResult::error
};

// Box/unbox hook: op is box_f64, box_i64, unbox_f64 or unbox_i64, a the operand's 64-bit value. Stores the
// result in *out and returns true; false means "check failed" for unbox_* (the guard exits) and an error
// for box_*.
using BoxingHook = std::function<bool(IROp op, uint64_t a, uint64_t* out)>;

// Knobs of one execution.
struct ExecOptions {
  uint64_t max_iterations = 10'000'000;  // loop back-edges allowed before ExecStatus::iteration_limit
  BoxingHook boxing;                     // box/unbox semantics; empty: those ops are an error
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
  int32_t snap = -1;              // exited: its snapshot index
  int32_t pc = -1;                // exited: the snapshot's resume bytecode index
  std::vector<ExitSlot> slots;    // exited: every snapshot entry, in the snapshot's order
  uint64_t iterations = 0;        // loop back-edges taken
  std::vector<uint64_t> values;   // value of every instruction when execution stopped (0: void or not reached)
};

// Runs t (checked with ir_verify first; an invalid trace is an error result). Never throws or aborts
// on a verified trace, as long as its load/store addresses are valid memory.
ExecResult ir_execute(const Trace& t, const ExecOptions& opts = ExecOptions());
// Name of a status: "completed", "exited", "iteration_limit", "error".
const char* exec_status_name(ExecStatus s);
// One line describing r, for test messages and logs.
std::string exec_describe(const ExecResult& r);

}  // namespace fastpy::ir
