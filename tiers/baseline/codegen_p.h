// Private to tiers/baseline: the code generator's state and its lowering steps, shared by codegen.cpp (values,
// control, the lowering of every op, the loop, the driver) and codegen_exits.cpp (what leaves a trace: its
// exit values into `out`, the completion restore into the frame, a side trace's entry checks, the link tail
// and the loops closed in machine code).
#pragma once
#include <asmjit/x86.h>

#include <functional>
#include <string>
#include <vector>

#include "tiers/baseline/codegen.h"

namespace fastpy::baseline::gen {

using namespace asmjit;
using ir::IRIns;
using ir::IRRef;
using ir::kNoRef;

// The general registers a System V function must preserve (rbx, rbp, r12-r15): what a trace's prologue saves
// where the allocated code uses them, and all of them on compile_trace's second attempt.
constexpr RegMask kCalleeSavedGp = Support::bitMask(x86::Gp::kIdBx, x86::Gp::kIdBp, x86::Gp::kIdR12,
                                                    x86::Gp::kIdR13, x86::Gp::kIdR14, x86::Gp::kIdR15);

class Gen {
 public:
  // save_all: the prologue saves every callee-saved register (compile_trace's retry, see there).
  Gen(const ir::Trace& t, const CompileOptions& o, x86::Compiler& cc, bool save_all)
      : t_(t), o_(o), cc_(cc), save_all_(save_all) {}
  std::string run();
  FuncNode* func() const { return func_; }

 private:
  // ---- values
  const IRIns& ins(IRRef r) const { return t_.ins[size_t(r)]; }
  bool is_k(IRRef r) const { return ir::ir_is_const(ins(r).op); }
  // An i64 constant that is one of CPython's cached small ints (its object is that one).
  bool small_int_k(IRRef r) const {
    return is_k(r) && ins(r).type == ir::IRT_i64 && ins(r).imm >= -5 && ins(r).imm < o_.layout.small_int_count - 5;
  }
  x86::Gp gp(IRRef r);                     // r in a general register (constants materialized here)
  x86::Xmm xmm(IRRef r);                   // an f64 in an xmm register
  x86::Gp bits(IRRef r);                   // r's 64-bit value in a general register (f64: its bits)
  Operand gp_or_imm(IRRef r);              // an int32 constant as an immediate, else gp(r)
  // New virtual registers, always named: asmjit names an unnamed one "%<n>" with snprintf (~750 instructions
  // each, ~5 % of a trace's compile time); the names only show in asmjit's own allocator logs.
  template <class R>
  R new_reg(TypeId ty, const char* name) {
    R r(Globals::NoInit);
    cc_._newReg(&r, ty, name);
    return r;
  }
  x86::Gp new_i64(const char* name = "v") { return new_reg<x86::Gp>(TypeId::kInt64, name); }
  x86::Gp new_i32(const char* name = "v") { return new_reg<x86::Gp>(TypeId::kInt32, name); }
  x86::Gp new_ptr(const char* name = "v") { return new_reg<x86::Gp>(TypeId::kIntPtr, name); }
  x86::Xmm new_f64(const char* name = "v") { return new_reg<x86::Xmm>(TypeId::kFloat64x1, name); }
  x86::Xmm new_f32(const char* name = "v") { return new_reg<x86::Xmm>(TypeId::kFloat32x1, name); }
  // r's new register; for a value the back-edge moves into a phi that is dead from r on, the phi's own
  // (coalesce_: the back-edge then has no copy to make).
  x86::Gp def_gp(IRRef r) {
    x86::Gp g = coalesce_[size_t(r)] >= 0 ? v_[size_t(coalesce_[size_t(r)])].as<x86::Gp>() : new_i64();
    v_[size_t(r)] = g;
    return g;
  }
  x86::Xmm def_xmm(IRRef r) {
    x86::Xmm x = coalesce_[size_t(r)] >= 0 ? v_[size_t(coalesce_[size_t(r)])].as<x86::Xmm>() : new_f64();
    v_[size_t(r)] = x;
    return x;
  }
  void plan_coalescing(IRRef loop);        // coalesce_
  x86::Mem mem(IRRef base, int64_t off, uint32_t size);   // [base + off]
  x86::Gp imm64(uint64_t v) { x86::Gp g = new_i64(); cc_.mov(g, Imm(int64_t(v))); return g; }
  static bool fits32(uint64_t v) { return int64_t(v) == int64_t(int32_t(v)); }
  // [p] (size bytes): an absolute address where p is a sign-extended 32-bit one (python3's own data in
  // Debian's non-PIE build), else through a register.
  x86::Mem mem_at(const void* p, uint32_t size = 8) {
    uint64_t a = uint64_t(reinterpret_cast<uintptr_t>(p));
    return fits32(a) ? x86::ptr_abs(a, size) : x86::ptr(imm64(a), 0, size);
  }
  // An f64 register copy: movapd, which renaming eliminates (movsd between registers merges into the
  // destination's upper half: a dependency on whatever last wrote that register).
  void fcopy(x86::Xmm d, x86::Xmm s) {
    if (d.id() != s.id()) cc_.movapd(d, s);
  }
  bool avx() const {
    static const bool host = CpuInfo::host().features().x86().hasAVX();
    return o_.avx && host;
  }
  void fop(ir::IROp op, x86::Xmm d, x86::Xmm a, const Operand& b);   // d = a op b (kFloatOps)
  // A compare's 64-bit operand: an immediate where the sign-extended 32 bits are v (an address in a
  // non-PIE python3's data, as Debian's), else v in a register.
  Operand cmp_k(uint64_t v) {
    if (fits32(v)) return Imm(int64_t(v));
    return imm64(v);
  }
  Operand cmp_k(const void* p) { return cmp_k(uint64_t(reinterpret_cast<uintptr_t>(p))); }

  // ---- control
  Label exit_of(IRRef guard);              // the guard's exit stub
  void cond_jump(IRRef cmp, bool when, Label l);   // jump to l when compare cmp is `when`
  bool fusable(IRRef cmp) const;           // a compare used only by the guard right after it (and its exit)
  void set_bool(IRRef r);                  // materialize compare r as 0/1
  void store_snapshot(int s);              // out[e] = entry e's value
  std::pair<bool, int64_t> snapshot_store(int s, size_t e) const;   // its store e: (immediate?, value/ref)
  std::vector<int> share_exit_blocks() const;   // per snapshot: whose exit block its exits use
  bool restorable(int s) const;            // the completion restore can write snapshot s (frame_nlocals)
  void emit_restore(int s, Label fallback);   // writes it into the frame, returns kRestored; else fallback
  void release(x86::Gp o);                 // Py_XDECREF(o)
  void check_frame_holders(const ir::Snapshot& sn, size_t e, x86::Gp o, Label fail);   // (emit_restore)
  bool call_runtime(IRRef r, x86::Gp a, x86::Gp b, Label on_false);   // runtime(&ins, a, b, &tmp)
  void load_runtime_result(IRRef r);       // r = tmp
  x86::Gp slot_word(IRRef r);              // frame slot imm of an sload

  // ---- lowering, by family
  bool lower(IRRef r);
  bool lower_i64(IRRef r);
  bool lower_f64(IRRef r);
  bool lower_guard(IRRef r);
  bool lower_memory(IRRef r);
  bool lower_unbox(IRRef r);
  bool lower_runtime(IRRef r);
  bool lower_range_iter(IRRef r);
  void lower_loop(IRRef r);
  void emit_entry();                       // LinkOptions: entry checks, held objects, exit_cell
  void emit_link();                        // LinkOptions: at an exit, the side trace its cell names
  void ret_own();                          // returns gid_ (exit_cell: naming this trace and its out)

  const ir::Trace& t_;
  const CompileOptions& o_;
  x86::Compiler& cc_;
  const bool save_all_;
  FuncNode* func_ = nullptr;
  std::vector<BaseReg> v_;        // per instruction: its register (invalid: constant, void, not yet)
  std::vector<int> uses_;         // per instruction: operand, phi and snapshot uses
  std::vector<int> snap_guards_;  // per snapshot: the guards that exit to it
  std::vector<Label> exits_;      // per instruction: exit stub label (invalid: none yet)
  std::vector<Label> snaps_;      // per snapshot: store-and-return block
  std::vector<IRRef> phis_;
  IRRef fused_guard_ = kNoRef;   // the guard_true the instruction before it checked itself (store_fitem)
  std::vector<IRRef> coalesce_;   // per instruction: the phi whose register it is defined in (kNoRef: its own)
  // Per instruction: a padd computed by no instruction of its own, its every use being a load's or store's
  // address in the same part of the trace (pre-roll or body), each folding it into its addressing mode.
  std::vector<char> fused_addr_;
  void plan_fused_addresses(IRRef loop);
  // Per instruction (an object): its exact type when that is int or float (whose objects never change
  // class) and a guard or an unbox before every later use of it checked it; null: unknown.
  std::vector<const void*> known_type_;
  bool immutable_type(const void* t) const { return t && (t == o_.layout.long_type || t == o_.layout.float_type); }
  std::vector<std::function<void()>> cold_;   // slow paths, emitted after the loop (out of the hot path)
  std::vector<BaseReg> hoisted_;   // per f64 constant the loop body uses: its register (lower_loop)
  bool in_body_ = false;           // lowering the loop body's own instructions: xmm() takes hoisted_
  Label body_, error_, refused_;
  Label reentry_;                 // LinkOptions::loop_trace: the start, after the entry (kLoopBack)
  x86::Mem frees_saved_;          // *LinkOptions::trace_frees at that start
  x86::Gp slots_, out_, parent_, gid_;
  x86::Mem tmp_;                  // the runtime hook's *out
  x86::Mem slots_saved_;          // slots, for the link tail (LinkOptions::cells)
  std::vector<std::string> lines_;   // IR text per instruction (asm_text)
};

}  // namespace fastpy::baseline::gen
