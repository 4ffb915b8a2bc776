// Trace IR: linear SSA with explicit types, snapshots for deopt, and the builder that emits through fold
// and CSE. The op list is ir_ops.def; everything here derives from it. Pure C++17, no Python headers.
#pragma once
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace fastpy::ir {

// Value types. IRT_any appears only in the table (phi: the type of its operands), never on an instruction.
enum IRType : uint8_t { IRT_i64, IRT_f64, IRT_bool, IRT_obj, IRT_ptr, IRT_void, IRT_any, IRT__count };
// What a ref operand must be: the first five equal the IRType of the same name.
enum IRKind : uint8_t { IRK_i64, IRK_f64, IRK_bool, IRK_obj, IRK_ptr, IRK_none, IRK_addr, IRK_any };
// What the 64-bit immediate holds.
enum IRImm : uint8_t { IMM_none, IMM_int, IMM_flt, IMM_bool, IMM_ptr };
// Effects, from the strongest freedom (pure) to the strongest constraint (control).
enum IREffect : uint8_t { IRE_pure, IRE_load, IRE_store, IRE_call, IRE_guard, IRE_control };

// Every op of ir_ops.def, as IR_<name>.
enum IROp : uint8_t {
#define FASTPY_IROP(name, ...) IR_##name,
#include "tiers/ir/ir_ops.def"
#undef FASTPY_IROP
  IR__count
};

// One row of ir_ops.def, as data.
struct IROpInfo {
  const char* name;   // text name, as printed and parsed
  int nargs;          // ref operands (a, then b)
  IRKind ka, kb;      // what a and b must be
  IRImm imm;          // what the immediate holds
  IRType result;      // result type (IRT_any: phi)
  IREffect effect;    // pure / load / store / call / guard / control
  bool is_guard;      // can exit the trace
  const char* doc;    // one line
};

#define FASTPY_IROP_KINDS(a, b, i) IRK_##a, IRK_##b, IMM_##i
// The table, indexed by IROp.
inline constexpr IROpInfo kIROpInfo[] = {
#define FASTPY_IROP(name, nargs, kinds, res, eff, guard, doc) \
  {#name, nargs, FASTPY_IROP_KINDS kinds, IRT_##res, IRE_##eff, (guard) != 0, doc},
#include "tiers/ir/ir_ops.def"
#undef FASTPY_IROP
};
#undef FASTPY_IROP_KINDS

// Text names of the IRType values, indexed by IRType.
inline constexpr const char* kIRTypeNames[] = {"i64", "f64", "bool", "obj", "ptr", "void", "any"};

// ---- what the rest of the code relies on
static_assert(sizeof(kIROpInfo) / sizeof(kIROpInfo[0]) == IR__count, "one info row per op");
static_assert(sizeof(kIRTypeNames) / sizeof(kIRTypeNames[0]) == IRT__count, "one name per type");
static_assert(int(IRK_i64) == int(IRT_i64) && int(IRK_f64) == int(IRT_f64) && int(IRK_bool) == int(IRT_bool) &&
                  int(IRK_obj) == int(IRT_obj) && int(IRK_ptr) == int(IRT_ptr),
              "value kinds equal their types");
static_assert(IR_kint == 0 && IR_kptr == 4, "constants come first (ir_is_const is a range check)");
static_assert(IR_pload_obj - IR_pload_i64 == 3, "the pload ops are contiguous (range checks)");
static_assert(IR_ne - IR_lt == 5 && IR_fne - IR_flt == 5 && IR_fle - IR_flt == IR_le - IR_lt &&
                  IR_feq - IR_flt == IR_eq - IR_lt,
              "i64 and f64 compares are contiguous and in the same order");

// True when each row's nargs, kinds, guard flag and constant range agree.
constexpr bool ir_table_consistent() {
  for (int i = 0; i < IR__count; i++) {
    const IROpInfo& r = kIROpInfo[i];
    int refs = (r.ka != IRK_none) + (r.kb != IRK_none);
    if (refs != r.nargs || (r.ka == IRK_none && r.kb != IRK_none)) return false;
    if (r.is_guard != (r.effect == IRE_guard)) return false;
    bool konst = r.nargs == 0 && r.imm != IMM_none && r.effect == IRE_pure;
    if (konst != (i <= IR_kptr)) return false;
    if ((r.ka == IRK_any || r.kb == IRK_any) != (r.result == IRT_any)) return false;
  }
  return true;
}
static_assert(ir_table_consistent(), "ir_ops.def: nargs/kinds/guard/constant columns disagree");

// The row of ir_ops.def for op.
inline const IROpInfo& ir_info(IROp op) { return kIROpInfo[op]; }
// The op's text name.
inline const char* ir_name(IROp op) { return kIROpInfo[op].name; }
// True when op may release a reference or change a number object in place (a call: decref, store_fitem,
// setattr, ...; not the boxes, which only allocate): an object the trace reads without a reference of its own
// (a list item, an attribute) may be gone after it. The snapshots' restores use such objects only before.
inline bool ir_may_release(IROp op) {
  return kIROpInfo[op].effect == IRE_call && op != IR_box_f64 && op != IR_box_i64;
}
// True for kint, kflt, kbool, kobj, kptr.
inline bool ir_is_const(IROp op) { return op <= IR_kptr; }
// Finds an op by text name; false when unknown.
bool ir_op_from_name(std::string_view name, IROp* out);
// Finds a type by text name (not "any"); false when unknown.
bool ir_type_from_name(std::string_view name, IRType* out);

// An instruction's index in its trace (SSA value number).
using IRRef = int32_t;
// No operand / no instruction (a guard folded away returns this).
constexpr IRRef kNoRef = -1;

// One instruction.
struct IRIns {
  IROp op;
  IRType type;           // result type (IRT_void for guards, stores, loop)
  IRRef a = kNoRef;      // first ref operand
  IRRef b = kNoRef;      // second ref operand (phi: the back-edge value)
  int64_t imm = 0;       // immediate: int64, double bits, 0/1 or pointer value
  int32_t snap = -1;     // guards: index of the snapshot to resume at
};

// Bits of a double, for IRIns::imm.
inline int64_t f64_bits(double d) { int64_t r; std::memcpy(&r, &d, 8); return r; }
// The double held in bits.
inline double bits_f64(int64_t b) { double r; std::memcpy(&r, &b, 8); return r; }

// One frame slot restored from an IR value on exit.
// How a restore boxes an entry's value (the IR type says what the bits are; this says which Python type).
enum SnapBox : uint8_t {
  SNAP_py = 0,   // i64 -> int, f64 -> float, bool -> bool, obj as is
  SNAP_np = 1,   // i64 -> numpy.int64, f64 -> numpy.float64 (a numpy scalar, as CPython's code would hold)
  SNAP_np32 = 2, // i64 -> numpy.int32, f64 -> numpy.float32 (the value is exactly representable)
  SNAP_own = 3,  // obj: a new reference the trace made (range_iter); the restore hands it to the frame as is
};
// What a number's object in a snapshot stands for (SnapEntry::num).
enum SnapNum : uint8_t {
  NUM_none = 0,   // an object as it is
  NUM_i64 = 1,    // an exact int's object whose number (an i64) the recording had in the slot
  NUM_f64 = 2,    // an exact float's object whose number (an f64) the recording had in the slot
};
struct SnapEntry {
  int32_t slot;          // frame slot (locals, then the value stack)
  IRRef ref;             // the value; constants are kint/kflt/... instructions
  SnapBox box = SNAP_py; // text: `slot=%ref:np` for SNAP_np, `:np32` for SNAP_np32, `:own` for SNAP_own
  // A borrowed object (SNAP_py) that is the number the recording had in the slot, loaded from a container
  // or an attribute and alive at the exit (the recorder's origins; opt_forward's, where the number itself
  // was only kept for exits): the restore hands the frame the object itself, as CPython's slot holds it,
  // and a side trace starting at the exit unboxes it again (no unbox of it need be left in the trace).
  // Text: `:i64`, `:f64`.
  SnapNum num = NUM_none;
  // Object identity of a number (i64/f64) moved between slots (`b = a`): CPython's b is a's object, the
  // trace only has the value. same >= 0: the slot gets the object the restore makes for slot `same` (an
  // entry of this snapshot, with the same ref and box and no `same` of its own; text `@same`), or, with
  // same_frame, the object the frame holds in slot `same` of the trace's own frame before the restore
  // writes anything (its value is this entry's; text `@fsame`). -1: a new object, as boxing makes.
  int32_t same = -1;
  bool same_frame = false;
};
// The frame of an inlined call in a snapshot (a Python function the trace followed into): its locals and
// stack are slots base .. base+top-1 of the snapshot's slot numbering; it resumes at pc (code units of
// `code`). The frame that called it resumes at its CALL instruction, which a restore re-executes to
// create this frame again (runtime/restore.h).
struct SnapFrame {
  int32_t base;   // its slot 0 in the snapshot's numbering (at or above every outer frame's slots)
  int32_t pc;     // bytecode index to resume at, in its own code
  int32_t top;    // its stack top (locals + value stack depth), relative to base
  int64_t code;   // its PyCodeObject* (checked against the frame the CALL creates)
};

// The interpreter state a guard resumes at: DESIGN.md section 4.
struct Snapshot {
  int32_t pc;                      // bytecode index to resume at
  int32_t top;                     // the frame's stack top after restore (slots: locals + value stack depth)
  IRRef at;                        // instruction count when taken: entries refer below, guards at or above
  std::vector<SnapEntry> entries;  // slots that differ from the frame, slot numbers increasing
  std::vector<SnapFrame> inlined;  // inlined calls' frames, outermost first (pc/top above: the trace's frame)
};

// A recorded trace: instructions and the snapshots its guards use.
struct Trace {
  std::vector<IRIns> ins;          // SSA: IRRef is the index
  std::vector<Snapshot> snaps;     // in the order taken
  // Appends an instruction as is (no fold, no CSE) and returns its ref.
  IRRef append(const IRIns& i) { ins.push_back(i); return IRRef(ins.size() - 1); }
  // Number of instructions.
  IRRef size() const { return IRRef(ins.size()); }
  // Takes a snapshot at the current end of the trace; returns its index.
  int add_snapshot(int32_t pc, int32_t top, std::vector<SnapEntry> entries);
};

// Text form of a trace (see docs in ir_text.cpp); ir_parse(ir_print(t)) gives t back. A non-empty note(r)
// is appended to instruction r's line as "  # <note>" (the parser drops it).
std::string ir_print(const Trace& t, const std::function<std::string(IRRef)>& note = nullptr);
// Parses the text form into *out; returns "" or "line N: what is wrong".
std::string ir_parse(std::string_view text, Trace* out);
// Checks a trace against the table and the SSA/snapshot rules; returns "" or the first problem found.
std::string ir_verify(const Trace& t);
// Puts the identity links (SnapEntry::same) of snapshot s in the form ir_verify checks: a link to an entry
// that links on is followed to its end; a link whose end has another value or box, or no entry, or that
// loops, is dropped (the slot gets a new object: a different identity, never a different value).
void snap_normalize_same(const Trace& t, Snapshot* s);
// The unbox_f64/unbox_i64 of object value obj (for a phi: of its value before the loop), the number the
// trace read from it; kNoRef when the trace never unboxed it. A snapshot entry that restores a number from
// the object it was loaded from (the recorder's origins) names the object; this is its number.
IRRef ir_unbox_of(const Trace& t, IRRef obj);
// True for a load through a load_cptr pointer: memory no trace writes, whose words change only with the
// pointer (a numpy array's dimensions): CSE'd across stores and calls, invariant in a loop while the pointer is.
bool ir_readonly_load(const Trace& t, const IRIns& i);

// Emits instructions into a trace through constant folding, then CSE (LuaJIT's emitir).
class IRBuilder {
 public:
  // Emits into t, which must outlive the builder.
  explicit IRBuilder(Trace* t);
  // Folds, CSEs or appends op; guards use the latest snapshot. Returns kNoRef for a guard folded away.
  IRRef emit(IROp op, IRRef a = kNoRef, IRRef b = kNoRef, int64_t imm = 0);
  // Constants (CSE'd like any pure op).
  IRRef kint(int64_t v) { return emit(IR_kint, kNoRef, kNoRef, v); }
  IRRef kflt(double v) { return emit(IR_kflt, kNoRef, kNoRef, f64_bits(v)); }
  IRRef kbool(bool v) { return emit(IR_kbool, kNoRef, kNoRef, v ? 1 : 0); }
  IRRef kobj(const void* p) { return emit(IR_kobj, kNoRef, kNoRef, int64_t(uintptr_t(p))); }
  IRRef kptr(const void* p) { return emit(IR_kptr, kNoRef, kNoRef, int64_t(uintptr_t(p))); }
  // Takes a snapshot that following guards exit to; returns its index.
  int snapshot(int32_t pc, int32_t top, std::vector<SnapEntry> entries) {
    return t_->add_snapshot(pc, top, std::move(entries));
  }
  // Appends `loop`. barrier false: loads and guards after it may still be CSE'd with identical ones before it
  // (loop peeling, when the loop body has no store or call, hoists them out of the loop that way).
  IRRef emit_loop(bool barrier);
  // Sets a phi's back-edge operand once the loop body has produced it.
  void set_backedge(IRRef phi, IRRef value) { t_->ins[phi].b = value; }
  // The trace being built.
  Trace* trace() const { return t_; }

  bool fold = true;   // constant folding and algebraic identities (off: for bisecting a miscompile)
  bool cse = true;    // common-subexpression elimination (off: for bisecting a miscompile)

 private:
  static constexpr IRRef kNoFold = -2;       // fold_*: nothing folds, emit i as is
  IRRef fold_ins(const IRIns& i);            // a replacement for i (kNoRef: dropped), or kNoFold
  IRRef fold_i64(const IRIns& i);            // i64 arithmetic, bitwise and identities
  IRRef fold_cmp(const IRIns& i);            // i64 and f64 compares of constants
  IRRef fold_f64(const IRIns& i);            // f64 arithmetic of constants
  IRRef fold_guard(const IRIns& i);          // guards whose check is known to pass
  IRRef cse_find(const IRIns& i) const;      // an earlier identical instruction, or kNoRef
  IRRef append(const IRIns& i);              // appends and links i into the CSE chains

  Trace* t_;
  std::vector<IRRef> chain_;                 // per instruction: previous instruction with the same op
  IRRef head_[IR__count];                    // per op: latest instruction with that op
  IRRef barrier_ = kNoRef;                   // latest store, call or control instruction (but those below)
  IRRef item_barrier_ = kNoRef;              // latest one that writes only array slots, float values and
                                             // reference counts (items_only): no object's other fields
};

}  // namespace fastpy::ir
