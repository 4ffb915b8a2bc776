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

bool baseline_compile(PyCodeObject* co, int header, TraceData* td) {
  bool want_asm = g_params.has(ParamId::log, kLogAsm);
  std::string err = baseline::compile_trace(td->opt, compile_options(want_asm), &td->native);
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

// Runs side trace `side` on frame f (restored at its parent's exit, to continue at resume_here): restores
// its exit or completion and returns the bytecode index to continue at (resume_here when it cannot run).
// *guard: the guard it exited at, baseline::kCompleted when it ran to the loop header (an exit, its poll's
// included, may resume at the header too: that one goes back to the interpreter), or kError.
int run_side(_PyInterpreterFrame* f, LoopSlot* loop, TraceData* side, int resume_here, int32_t* guard) {
  Pin pin(side);
  ExitValues values(side);
  uint64_t* out = values.out;
  Held held;
  *guard = baseline::kError;
  if (!held.take(f, side->borrowed)) return resume_here;   // a namespace changed: the interpreter goes on
  side->runs++;
  stat_inc(Stat::side_trace_runs);
  int32_t g = side->native.fn(reinterpret_cast<const uint64_t*>(f->localsplus), out);
  *guard = g;
  if (g == baseline::kError) return trace_error(f, loop, "baseline tier (side trace)", "a runtime call failed");
  int snap = static_cast<int>(side->opt.snaps.size()) - 1;
  // Exits in a row, not counting those a side trace of its own continues from.
  bool linked = g >= 0 && !side->side.empty() && side->side[static_cast<size_t>(g)];
  side->streak = g >= 0 && !linked ? side->streak + 1 : 0;
  if (g >= 0) {
    side->exits[static_cast<size_t>(g)]++;
    stat_inc(Stat::trace_exits);
    snap = side->opt.ins[static_cast<size_t>(g)].snap;
  }
  int resume = restore_frame(f, side->opt, snap, out);
  if (g >= 0 && g_params.has(ParamId::log, kLogDeopt))   // FASTPY_LOG=deopt
    std::fprintf(stderr, "fastpy: exit from a side trace of the loop at %s at %%%d %s (snapshot %d) -> instruction %d\n",
                 loop_where(f->f_code, loop->header).c_str(), static_cast<int>(g),
                 ir::ir_name(side->opt.ins[static_cast<size_t>(g)].op), snap, resume);
  return resume;
}

// After an exit at guard g of trace td (the loop's trace, root, or a side trace in its tree): a side trace
// is worth recording from there once the guard has failed FASTPY_HOT_EXIT times, when it is a branch or
// overflow (not what the trace specialized on: those drop the trace), the exit is in the trace's own frame,
// and the tree has room (FASTPY_MAX_SIDE). An exit at the loop's header (its iterator running out) is one:
// the side trace follows the enclosing loops to the header again.
bool wants_side(const TraceData* root, const TraceData* td, IRRef g) {
  int64_t max_side = g_params.get(ParamId::max_side);
  if (g_recorder || root->nside >= max_side) return false;
  const ir::IRIns& i = td->opt.ins[static_cast<size_t>(g)];
  if (specialization_guard(i.op) || i.op == ir::IR_poll) return false;
  const ir::Snapshot& sn = td->opt.snaps[static_cast<size_t>(i.snap)];
  if (!sn.inlined.empty()) return false;
  if (td->exits[static_cast<size_t>(g)] < static_cast<uint64_t>(g_params.get(ParamId::hot_exit))) return false;
  return td->side_tries.empty() || td->side_tries[static_cast<size_t>(g)] < g_params.get(ParamId::max_aborts);
}

// One step down a trace tree: the side trace at parent's exit `guard`.
struct Link {
  TraceData* parent;
  IRRef guard;
  TraceData* side;
};

// True when every link of the path still holds (a run may release any part of the tree: a call out of the
// trace that re-entered this loop and dropped a side trace).
bool path_intact(LoopSlot* loop, TraceData* root, const std::vector<Link>& path) {
  if (loop->trace != root) return false;
  for (const Link& l : path)
    if (l.parent->side.empty() || l.parent->side[static_cast<size_t>(l.guard)] != l.side) return false;
  return true;
}

}  // namespace

int baseline_entry(PyThreadState*, _PyInterpreterFrame* f, LoopSlot* loop) {
  auto* td = static_cast<TraceData*>(loop->trace);
  Pin pin(td);
  ExitValues values(td);
  uint64_t* out = values.out;
  Held held;
  if (!held.take(f, td->borrowed)) return invalidated(loop);
  td->last_entry = ++g_clock;
  std::vector<Link> path;
  for (;;) {
    td->runs++;
    stat_inc(Stat::trace_native_runs);
    int32_t g = td->native.fn(reinterpret_cast<const uint64_t*>(f->localsplus), out);
    if (g == baseline::kError) return trace_error(f, loop, "baseline tier", "a runtime call failed");
    int snap = g >= 0 ? td->opt.ins[static_cast<size_t>(g)].snap : static_cast<int>(td->opt.snaps.size()) - 1;
    bool again;
    int resume = after_run(f, loop, td, g >= 0 ? g : kNoRef, snap, g < td->loop_ref, out, &again);
    if (g < 0 && again) continue;   // a trace without `loop` completed an iteration: the next one
    if (g < 0 || resume < 0 || loop->trace != td) return resume;   // (after_run may have dropped td)
    // Down the tree: the side trace of each exit continues from it, until one completes the iteration (the
    // loop's trace runs the next one), or an exit has none (one may be recorded from there).
    TraceData* cur = td;
    int32_t cg = g;
    path.clear();
    for (;;) {
      TraceData* side = cur->side.empty() ? nullptr : cur->side[static_cast<size_t>(cg)];
      if (!side) {
        if (wants_side(td, cur, cg)) {
          if (cur->side.empty()) {
            cur->side.assign(cur->opt.ins.size(), nullptr);
            cur->side_tries.assign(cur->opt.ins.size(), 0);
          }
          start_side_trace(f, loop, cur, cg);   // the interpreter continues at `resume`, recorded
        } else if (cur != td && cur->streak >= g_params.get(ParamId::hot_exit)) {
          const Link& up = path.back();
          drop_side(loop, td, up.parent, up.guard);
        }
        return resume;
      }
      int32_t sg;
      resume = run_side(f, loop, side, resume, &sg);
      path.push_back({cur, cg, side});
      if (resume < 0 || !path_intact(loop, td, path)) return resume;
      if (sg == baseline::kCompleted && resume == loop->header) break;   // the next iteration
      if (sg < 0) return resume;   // it could not run (a namespace changed)
      cur = side;
      cg = sg;
    }
  }
}

}  // namespace fastpy::rec
