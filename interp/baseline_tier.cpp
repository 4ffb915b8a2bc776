// The baseline tier on the interpreter's side (FASTPY_TIERS with baseline, the default): a loop's optimized
// trace compiled to x86-64 by tiers/baseline (codegen.h), the CPython layouts its fast paths read, the entry
// that runs it and hands every exit to the same after_run/restore path as the IR tier, and its diagnostics
// (FASTPY_LOG=asm: the machine code with its IR; FASTPY_LOG=perfmap: /tmp/perf-<pid>.map for perf).
// internals.h first: it defines Py_BUILD_CORE before <Python.h>.
#include "python/cpython311/internals.h"

#include <cstdio>
#include <string>
#include <vector>

#include "interp/recorder_impl.h"
#include "runtime/params.h"
#include "runtime/restore.h"
#include "runtime/stats.h"
#include "tiers/baseline/code_memory.h"
#include "tiers/baseline/codegen.h"

namespace fastpy::rec {

namespace {

static_assert(sizeof(digit) == 4, "the inline int unbox reads 32-bit digits");

const baseline::CompileOptions& compile_options(bool asm_text) {
  static baseline::CompileOptions o = [] {
    baseline::CompileOptions c;
    c.runtime = &runtime_hook;
    c.layout.float_type = &PyFloat_Type;
    c.layout.float_value = static_cast<int32_t>(offsetof(PyFloatObject, ob_fval));
    c.layout.long_type = &PyLong_Type;
    c.layout.long_size = static_cast<int32_t>(offsetof(PyVarObject, ob_size));
    c.layout.long_digit = static_cast<int32_t>(offsetof(PyLongObject, ob_digit));
    c.layout.true_obj = Py_True;
    c.layout.false_obj = Py_False;
    c.layout.dealloc = reinterpret_cast<void (*)(void*)>(&_Py_Dealloc);
    c.layout.box_f64 = reinterpret_cast<void* (*)(double)>(&PyFloat_FromDouble);
    c.layout.box_i64 = reinterpret_cast<void* (*)(long long)>(&PyLong_FromLongLong);
    constexpr auto lp = static_cast<int32_t>(offsetof(_PyInterpreterFrame, localsplus));
    c.layout.frame_stacktop = static_cast<int32_t>(offsetof(_PyInterpreterFrame, stacktop)) - lp;
    c.layout.frame_prev_instr = static_cast<int32_t>(offsetof(_PyInterpreterFrame, prev_instr)) - lp;
    c.layout.small_ints = &_PyLong_SMALL_INTS[0];
    c.layout.small_int_size = static_cast<int32_t>(sizeof(_PyLong_SMALL_INTS[0]));
    c.layout.small_int_count = _PY_NSMALLNEGINTS + _PY_NSMALLPOSINTS;
    c.layout.resume_pending = &g_resume_pending;
    c.layout.stat_restores = &g_stats[static_cast<int>(Stat::trace_restores)];
    c.layout.stat_in_place = &g_stats[static_cast<int>(Stat::restore_in_place)];
    c.layout.stat_compiled = &g_stats[static_cast<int>(Stat::restore_compiled)];
    return c;
  }();
  o.asm_text = asm_text;
  return o;
}

// FASTPY_LOG=perfmap: one line per trace, "START SIZE name", the format perf reads from /tmp/perf-<pid>.map.
void perf_map_add(PyCodeObject* co, int header, const baseline::CompiledTrace& c) {
  static FILE* map = nullptr;
  if (!map) {
    std::string path = "/tmp/perf-" + std::to_string(getpid()) + ".map";
    map = std::fopen(path.c_str(), "a");
    if (!map) return;
  }
  std::fprintf(map, "%lx %zx fastpy:%s:%s\n", reinterpret_cast<unsigned long>(c.fn), c.code_size,
               PyUnicode_AsUTF8(co->co_qualname), loop_where(co, header).c_str());
  std::fflush(map);
}

// Room for a compiled trace's exit values (on the stack unless its largest snapshot is big).
struct ExitValues {
  explicit ExitValues(const TraceData* td) {
    if (td->native.out_words > 64) {
      big.resize(td->native.out_words);
      out = big.data();
    }
  }
  uint64_t small[64];
  std::vector<uint64_t> big;
  uint64_t* out = small;
};

// The code cache: every trace with machine code, for the size bound.
std::vector<TraceData*> g_cache;
uint64_t g_clock = 0;

// Detaches td from its loop and releases it; the loop counts toward a new recording.
void evict(TraceData* td) {
  detach_trace(td->loop);
  stat_inc(Stat::traces_evicted);
  trace_free(td);
}

}  // namespace

void baseline_cache_add(TraceData* td) {
  size_t limit = static_cast<size_t>(g_params.get(ParamId::code_cache)) * 1024;
  td->last_entry = ++g_clock;
  while (baseline::code_bytes() > limit) {
    TraceData* cold = nullptr;
    for (TraceData* c : g_cache)
      if (!c->active && (!cold || c->last_entry < cold->last_entry)) cold = c;
    if (!cold) break;
    evict(cold);
  }
  td->cache_index = g_cache.size();
  g_cache.push_back(td);
}

void baseline_forget(TraceData* td) {
  if (td->cache_index >= g_cache.size() || g_cache[td->cache_index] != td) return;
  g_cache[td->cache_index] = g_cache.back();
  g_cache[td->cache_index]->cache_index = td->cache_index;
  g_cache.pop_back();
  td->cache_index = SIZE_MAX;
}

bool baseline_compile(PyCodeObject* co, int header, TraceData* td, bool side) {
  bool want_asm = g_params.has(ParamId::log, kLogAsm);
  baseline::CompileOptions opts = compile_options(want_asm);
  if (side) {   // its end restores the frame itself (run_tree takes kRestored)
    opts.frame_nlocals = co->co_nlocalsplus;
    opts.frame_code = py::code_units(co);
  }
  std::string err = baseline::compile_trace(td->opt, opts, &td->native);
  if (!err.empty()) {
    if (g_params.has(ParamId::log, kLogAbort))
      std::fprintf(stderr, "fastpy: baseline: the trace of the loop at %s was not compiled: %s\n",
                   loop_where(co, header).c_str(), err.c_str());
    return false;
  }
  td->loop_ref = td->opt.size();
  for (IRRef r = 0; r < td->opt.size(); r++) {
    if (td->opt.ins[static_cast<size_t>(r)].op == ir::IR_loop) {
      td->loop_ref = r;
      break;
    }
  }
  stat_inc(Stat::traces_compiled);
  stat_inc(Stat::baseline_compile_ns, td->native.compile_ns);
  if (want_asm) {
    std::fprintf(stderr, "fastpy: machine code for the loop at %s (%s): %zu bytes at %p, compiled in %.1f us\n%s",
                 loop_where(co, header).c_str(), PyUnicode_AsUTF8(co->co_qualname), td->native.code_size,
                 reinterpret_cast<void*>(td->native.fn), static_cast<double>(td->native.compile_ns) / 1000.0,
                 td->native.asm_text.c_str());
    td->native.asm_text.clear();
    td->native.asm_text.shrink_to_fit();
  }
  if (g_params.has(ParamId::log, kLogPerfmap)) perf_map_add(co, header, td->native);
  return true;
}

namespace {

// A side trace that kept exiting (FASTPY_HOT_EXIT times in a row, at guards that get no side trace of their
// own) is dropped from its parent's exit `guard` (which may get another); after FASTPY_MAX_ABORTS such drops
// in the tree of root the loop is blacklisted (abort reason side_exits): it runs on CPython's evaluator.
void drop_side(LoopSlot* loop, TraceData* root, TraceData* parent, IRRef guard) {
  TraceData*& side = parent->side[static_cast<size_t>(guard)];
  trace_free(side);
  side = nullptr;
  uint8_t& tries = parent->side_tries[static_cast<size_t>(guard)];
  if (tries < 255) tries++;
  if (++root->side_drops < g_params.get(ParamId::max_aborts)) return;
  count_abort(Abort::side_exits);
  stat_inc(Stat::loops_blacklisted);
  loop->entry = nullptr;
  loop->trace = nullptr;
  loop->trace_free = nullptr;
  loop->aborts = static_cast<uint8_t>(g_params.get(ParamId::max_aborts));
  loop->abort_reason = static_cast<uint8_t>(Abort::side_exits);
  loop->state = LoopState::kBlacklisted;
  trace_free(root);
}

// After an exit at guard g of trace td (the loop's trace, root, or a side trace in its tree): a side trace
// is worth recording from there once the guard has failed FASTPY_HOT_EXIT times, when it is a branch or
// overflow (not what the trace specialized on: those drop the trace), the exit is in the trace's own frame,
// and the tree has room (FASTPY_MAX_SIDE). An exit at the loop's header (its iterator running out) is one:
// the side trace follows the enclosing loops to the header again.
bool wants_side(const TraceData* root, TraceData* td, IRRef g) {
  int64_t max_side = g_params.get(ParamId::max_side);
  if (g_recorder || root->nside >= max_side) return false;
  const ir::IRIns& i = td->opt.ins[static_cast<size_t>(g)];
  if (i.op == ir::IR_poll) return false;
  // What the trace specialized on: a changed type of a frame slot or a loaded number is the trace's premise
  // gone (the unstable-trace policy records the loop again), but a type or type-version check on an object
  // (a polymorphic call site: the items of a list of several classes) is a branch like any other.
  bool polymorphic = (i.op == ir::IR_guard_type || i.op == ir::IR_guard_tpversion) && i.a >= 0 &&
                     td->opt.ins[static_cast<size_t>(i.a)].op == ir::IR_load_obj;
  if (specialization_guard(i.op) && !polymorphic) return false;
  const ir::Snapshot& sn = td->opt.snaps[static_cast<size_t>(i.snap)];
  if (!sn.inlined.empty()) return false;
  if (td->exits[static_cast<size_t>(g)] < static_cast<uint64_t>(g_params.get(ParamId::hot_exit))) return false;
  if (td->side_tries.empty()) return true;
  if (const LoopSlot* w = td->side_wait[static_cast<size_t>(g)]) {   // until that loop has a trace or none
    if (w->state != LoopState::kCompiled && w->state != LoopState::kBlacklisted) return false;
  }
  return td->side_tries[static_cast<size_t>(g)] < g_params.get(ParamId::max_aborts);
}

// One step down a trace tree: the side trace at parent's exit `guard`.
struct Link {
  TraceData* parent;
  IRRef guard;
  TraceData* side;
};

// The links run_tree went down (on the stack unless the tree is deep).
class Path {
 public:
  void push_back(const Link& l) {
    if (n_ < 16) small_[n_] = l;
    else big_.push_back(l);
    n_++;
  }
  size_t size() const { return n_; }
  const Link& operator[](size_t i) const { return i < 16 ? small_[i] : big_[i - 16]; }

 private:
  Link small_[16];
  std::vector<Link> big_;
  size_t n_ = 0;
};

// True when every link of the path still holds (a run may release any part of the tree: a call out of the
// trace that re-entered this loop and dropped a side trace). *frees: g_trace_frees when the path was last
// seen whole (nothing was released since: it still is).
bool path_intact(LoopSlot* loop, TraceData* root, const Path& path, uint64_t* frees) {
  if (loop->trace != root) return false;
  if (*frees == g_trace_frees) return true;
  *frees = g_trace_frees;
  for (size_t i = 0; i < path.size(); i++) {
    const Link& l = path[i];
    if (l.parent->side.empty() || l.parent->side[static_cast<size_t>(l.guard)] != l.side) return false;
  }
  return true;
}

// Room for one side trace's exit values (on the stack unless it is big).
class ExitBuf {
 public:
  uint64_t* get(uint32_t words) {
    if (words <= 64) return small_;
    big_.resize(words);
    return big_.data();
  }

 private:
  uint64_t small_[64];
  std::vector<uint64_t> big_;
};

constexpr int kNextIteration = -100;   // run_tree: the tree completed the iteration at the loop header

// Runs the side traces down root's tree from the exit at guard cg of trace cur (which has a side trace there),
// whose exit values are `in`: each side trace starts from its parent's exit values (the frame is written
// only once, by the last one), until one completes the iteration or exits where no side trace continues (one
// may be recorded from there, or the side trace that keeps exiting dropped). Returns the bytecode index to
// continue at with the frame restored, kNextIteration (the frame restored at the loop header: the loop's
// trace runs the next iteration), or -1 with an error set. *hop: the loop whose header the last side trace
// ended at (linked: that loop's trace runs next), else unchanged.
int run_tree(_PyInterpreterFrame* f, LoopSlot* loop, TraceData* root, TraceData* cur, int32_t cg,
             const uint64_t* in, LoopSlot** hop) {
  ExitBuf bufs[2];
  int which = 0;
  Path path;
  uint64_t frees = g_trace_frees;
  const auto* slots = reinterpret_cast<const uint64_t*>(f->localsplus);
  for (;;) {
    TraceData* side = cur->side[static_cast<size_t>(cg)];
    Pin pin(side);
    Held held;
    if (!held.take(f, side->borrowed))   // a namespace changed: the interpreter goes on from cur's exit
      return restore_frame(f, cur->opt, cur->opt.ins[static_cast<size_t>(cg)].snap, in, restore_kinds(cur));
    side->runs++;
    stat_inc(Stat::side_trace_runs);
    uint64_t* out = bufs[which].get(side->native.out_words);
    which ^= 1;
    int32_t g = side->native.fn(slots, out, in);
    if (g == baseline::kError) return trace_error(f, loop, "baseline tier (side trace)", "a runtime call failed");
    path.push_back({cur, cg, side});
    // (the run may have released parts of the tree: a call out of it that re-entered this loop)
    bool intact = path_intact(loop, root, path, &frees);
    bool linked = g >= 0 && !side->side.empty() && side->side[static_cast<size_t>(g)];
    // Exits in a row, not counting those a side trace of its own continues from.
    side->streak = g >= 0 && !linked ? side->streak + 1 : 0;
    if (g >= 0) {
      side->exits[static_cast<size_t>(g)]++;
      stat_inc(Stat::trace_exits);
    }
    if (linked && intact) {
      cur = side;
      cg = g;
      in = out;
      continue;
    }
    int snap = g >= 0 ? side->opt.ins[static_cast<size_t>(g)].snap : static_cast<int>(side->opt.snaps.size()) - 1;
    // (kRestored: the machine code wrote the completion snapshot into the frame itself)
    int resume = g == baseline::kRestored ? side->opt.snaps.back().pc
                                          : restore_frame(f, side->opt, snap, out, restore_kinds(side));
    if (g >= 0 && g_params.has(ParamId::log, kLogDeopt))   // FASTPY_LOG=deopt
      std::fprintf(stderr, "fastpy: exit from a side trace of the loop at %s at %%%d %s (snapshot %d) -> instruction %d\n",
                   loop_where(f->f_code, loop->header).c_str(), static_cast<int>(g),
                   ir::ir_name(side->opt.ins[static_cast<size_t>(g)].op), snap, resume);
    if (resume < 0 || !intact) return resume;
    if (g < 0) {
      if (resume == loop->header) return kNextIteration;
      if (side->link && resume == side->link->header) *hop = side->link;
      return resume;
    }
    if (wants_side(root, side, g)) {
      if (side->side.empty()) {
        side->side.assign(side->opt.ins.size(), nullptr);
        side->side_tries.assign(side->opt.ins.size(), 0);
        side->side_wait.assign(side->opt.ins.size(), nullptr);
      }
      start_side_trace(f, loop, side, g);   // the interpreter continues at `resume`, recorded
    } else if (side->streak >= g_params.get(ParamId::hot_exit)) {
      drop_side(loop, root, cur, cg);
    }
    return resume;
  }
}


// Runs loop's trace tree from its header (baseline_entry's contract); *hop as run_tree's.
int run_loop(_PyInterpreterFrame* f, LoopSlot* loop, LoopSlot** hop) {
  auto* td = static_cast<TraceData*>(loop->trace);
  Pin pin(td);
  ExitValues values(td);
  uint64_t* out = values.out;
  Held held;
  if (!held.take(f, td->borrowed)) return invalidated(loop);
  td->last_entry = ++g_clock;
  for (;;) {
    td->runs++;
    stat_inc(Stat::trace_native_runs);
    int32_t g = td->native.fn(reinterpret_cast<const uint64_t*>(f->localsplus), out, nullptr);
    if (g == baseline::kError) return trace_error(f, loop, "baseline tier", "a runtime call failed");
    if (g >= 0 && !td->side.empty() && td->side[static_cast<size_t>(g)]) {
      // A side trace continues from this exit (a branch or overflow guard: not what the trace specialized on).
      td->exits[static_cast<size_t>(g)]++;
      stat_inc(Stat::trace_exits);
      td->last_exit = -1;
      td->streak = 0;
      int resume = run_tree(f, loop, td, td, g, out, hop);
      if (resume == kNextIteration && loop->trace == td) continue;
      return resume == kNextIteration ? loop->header : resume;
    }
    int snap = g >= 0 ? td->opt.ins[static_cast<size_t>(g)].snap : static_cast<int>(td->opt.snaps.size()) - 1;
    bool again;
    int resume = after_run(f, loop, td, g >= 0 ? g : kNoRef, snap, g < td->loop_ref, out, &again);
    if (g < 0 && again) continue;   // a trace without `loop` completed an iteration: the next one
    // (after_run may have dropped td)
    if (g >= 0 && resume >= 0 && loop->trace == td && wants_side(td, td, g)) {
      if (td->side.empty()) {
        td->side.assign(td->opt.ins.size(), nullptr);
        td->side_tries.assign(td->opt.ins.size(), 0);
        td->side_wait.assign(td->opt.ins.size(), nullptr);
      }
      start_side_trace(f, loop, td, g);   // the interpreter continues at `resume`, recorded
    }
    return resume;
  }
}

}  // namespace

int baseline_entry(PyThreadState*, _PyInterpreterFrame* f, LoopSlot* loop) {
  // A trampoline: a side trace that ended at another loop's header hands over to that loop's trace here
  // (iteratively: loops that hand over to each other in turn, as consecutive loops of an enclosing body do,
  // never nest C frames).
  for (;;) {
    LoopSlot* hop = nullptr;
    int resume = run_loop(f, loop, &hop);
    if (!hop || resume != hop->header || hop->state != LoopState::kCompiled || hop->entry != &baseline_entry)
      return resume;
    stat_inc(Stat::trace_links);
    loop = hop;
  }
}

}  // namespace fastpy::rec
