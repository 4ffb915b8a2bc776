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
    c.layout.unbox_long = [](void* o, int64_t* out) -> bool {   // what the runtime hook's unbox does
      return small_int(static_cast<PyObject*>(o), out);
    };
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
    c.layout.frame_globals = static_cast<int32_t>(offsetof(_PyInterpreterFrame, f_globals)) - lp;
    c.layout.frame_builtins = static_cast<int32_t>(offsetof(_PyInterpreterFrame, f_builtins)) - lp;
    c.layout.dict_version = static_cast<int32_t>(offsetof(PyDictObject, ma_version_tag));
    c.layout.range_iter_fn = [](int64_t start, int64_t stop, int64_t step) -> void* {
      return new_range_iter(start, stop, step);
    };
    c.layout.list_slice_fn = [](void* list, int64_t lo, int64_t hi) -> void* {
      return new_list_slice(static_cast<PyObject*>(list), lo, hi);
    };
    c.layout.seq_iter_fn = [](void* seq) -> void* { return new_seq_iter(static_cast<PyObject*>(seq)); };
    c.layout.list_append_fn = [](void* list, void* item) -> int64_t {
      return list_append_item(static_cast<PyObject*>(list), static_cast<PyObject*>(item));
    };
    RangeIterPool pool = range_iter_pool();
    if (pool.ok) {
      c.layout.range_spares = reinterpret_cast<void* const*>(pool.spares);
      c.layout.range_nspare = pool.nspare;
      c.layout.tracemalloc_tracing = py::tracemalloc_tracing();
      for (int k = 0; k < 4; k++) c.layout.range_fields[k] = pool.fields[k];
      c.layout.stat_range_reused = &g_stats[static_cast<int>(Stat::range_iters_reused)];
    }
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

// The trace that returned the result of the latest run, and its exit values (LinkOptions::exit_cell: the
// machine code writes it right before it returns; only while the GIL is held).
uint64_t g_exit_cell[2];

// Room for a loop's trace's exit values (on the stack unless its largest snapshot is big), and the
// kLinkWords beyond them its linked side traces may use.
struct ExitValues {
  explicit ExitValues(const TraceData* td) {
    if (td->native.out_words > baseline::kLinkWords) {
      big.resize(td->native.out_words + baseline::kLinkWords);
      out = big.data();
    }
  }
  uint64_t small[2 * baseline::kLinkWords];
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

bool baseline_compile(PyCodeObject* co, LoopSlot* loop, TraceData* td, bool side) {
  const int header = loop->header;
  bool want_asm = g_params.has(ParamId::log, kLogAsm);
  baseline::CompileOptions opts = compile_options(want_asm);
  // Links in machine code: every exit may call the side trace its cell names; every trace says in the exit
  // cell that a result is its own.
  td->links.reset(new void*[td->opt.ins.size()]());
  opts.link.cells = td->links.get();
  opts.link.exit_cell = g_exit_cell;
  opts.link.id = reinterpret_cast<uint64_t>(td);
  opts.link.side = side;
  // The counts a link taken or a side trace's entry adds to, kept by the machine code (ran() walks nothing).
  static_assert(sizeof(td->last_exit) == sizeof(int32_t), "the machine code writes last_exit as 32 bits");
  opts.link.exits = td->exits.data();
  opts.link.streak = &td->streak;
  if (!side) {
    opts.link.last_exit = reinterpret_cast<int32_t*>(&td->last_exit);
    // A chain that ends at this loop's header with kLoopBack: the next iteration in machine code, counted
    // as run_loop counts one (while the trace is still the loop's and no trace was released meanwhile).
    opts.link.loop_trace = &loop->trace;
    opts.link.trace_frees = &g_trace_frees;
    opts.link.run_counts[0] = &td->runs;
    opts.link.run_counts[1] = &g_stats[static_cast<int>(Stat::trace_native_runs)];
    opts.link.run_counts[2] = &g_stats[static_cast<int>(Stat::trace_loop_backs)];
  }
  opts.link.link_counts[0] = &g_stats[static_cast<int>(Stat::side_links)];
  opts.link.link_counts[1] = &g_stats[static_cast<int>(Stat::trace_exits)];
  if (side) {   // its end restores the frame itself (run_tree takes kRestored)
    opts.link.entry_counts[0] = &td->runs;
    opts.link.entry_counts[1] = &g_stats[static_cast<int>(Stat::side_trace_runs)];
    opts.frame_nlocals = co->co_nlocalsplus;
    opts.frame_code = py::code_units(co);
    // Its tree runs with the frame at the loop's header (run_loop's entry, a hop's restore): the root's last
    // snapshot's stack top.
    if (td->root && !td->root->opt.snaps.empty()) opts.frame_entry_top = td->root->opt.snaps.back().top;
    // Entered from its parent's exit with no C++ in between: its entry makes Held::take's checks and
    // takes the references (released after the run, ChainHeld).
    for (int k = 0; k < 2; k++) {
      if (!td->borrowed.used[k]) continue;
      opts.link.ns[k] = td->borrowed.ns[k];
      opts.link.expect[k] = &td->borrowed.expect[static_cast<size_t>(k)];
    }
    opts.link.hold = reinterpret_cast<void* const*>(td->borrowed.objs.data());
    opts.link.nhold = td->borrowed.objs.size();
    // Its end at the loop's header closes the loop in machine code when nothing in its chain holds
    // references the C++ would release after it (ChainHeld); else run_loop continues the loop.
    opts.link.loop_back = !td->chain_holds && !td->opt.snaps.empty() && td->opt.snaps.back().pc == header;
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
  if (td->native.recompiled) stat_inc(Stat::baseline_recompiles);
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

void baseline_link(TraceData* parent, IRRef guard, TraceData* side) {
  if (!parent->links || !parent->native.fn || !side->native.fn) return;
  if (parent->native.out_words > baseline::kLinkWords || side->native.out_words > baseline::kLinkWords) return;
  parent->links[static_cast<size_t>(guard)] = reinterpret_cast<void*>(side->native.fn);
}

namespace {

// A side trace that kept exiting (FASTPY_HOT_EXIT times in a row, at guards that get no side trace of their
// own) is dropped from its parent's exit `guard` (which may get another); after FASTPY_MAX_ABORTS such drops
// in the tree of root the loop is blacklisted (abort reason side_exits): it runs on CPython's evaluator.
void drop_side(LoopSlot* loop, TraceData* root, TraceData* parent, IRRef guard) {
  TraceData*& side = parent->side[static_cast<size_t>(guard)];
  if (parent->links) parent->links[static_cast<size_t>(guard)] = nullptr;
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

// A side trace records the branch its recording happened to take, which may be the rarer one: fannkuch's
// `flips += 1; k = perm[0]; while k:` after its swap loop was recorded where k == 0 (a permutation's
// end), and on 82 % of its runs its guard on k exited to a second side trace (`i, j = 0, k`): an exit, a
// link and another trace's entry per flip. A side trace S of root's tree that has run kRareRuns times and
// exits at one guard to a side trace of its own on at least 3/4 of its runs is released from its parent's
// exit (with its subtree); the next exit there records again, most likely along the common branch, and the
// rare one gets its side trace in turn. At most kMaxRerecords times per tree (a branch near the threshold
// could otherwise flip back and forth); the released traces leave the tree's bound (FASTPY_MAX_SIDE). Looked
// at by run_loop when the loop is entered (nothing of the tree on the stack) once root ran kRareCheckEvery times
// more (TraceData::runs, which machine-code loop-backs and hops add to as well). Not between the runs of
// one entry: a test there cost n-body's 400 K hops 0.3 % of its instructions (fannkuch's trees are entered
// often enough: its swap loop's tree is looked at after its first few thousand runs).
constexpr uint64_t kRareRuns = 4096;
constexpr int kMaxRerecords = 4;
constexpr uint64_t kRareCheckEvery = 4096;

// Side traces below t (recursively), counted.
int subtree_size(const TraceData* t) {
  int n = 0;
  for (const TraceData* s : t->side)
    if (s) n += 1 + subtree_size(s);
  return n;
}

// Finds one side trace below t that took the rare branch and releases it; true when it did. (co: the
// loop's code, for FASTPY_LOG=trace.)
bool rerecord_below(PyCodeObject* co, TraceData* root, TraceData* t) {
  for (size_t g = 0; g < t->side.size(); g++) {
    TraceData* s = t->side[g];
    if (!s) continue;
    if (s->runs >= kRareRuns) {
      for (size_t h = 0; h < s->side.size(); h++) {
        if (!s->side[h] || s->exits[h] * 4 < s->runs * 3) continue;
        const int freed = 1 + subtree_size(s);
        if (g_params.has(ParamId::log, kLogTrace))
          std::fprintf(stderr, "fastpy: side trace of the loop at %s from %%%d of %s released to be recorded again: "
                       "its guard %%%d went on in a side trace of its own on %llu of its %llu runs\n",
                       loop_where(co, s->loop->header).c_str(), static_cast<int>(g),
                       t == root ? "the loop's trace" : "a side trace", static_cast<int>(h),
                       static_cast<unsigned long long>(s->exits[h]), static_cast<unsigned long long>(s->runs));
        if (t->links) t->links[g] = nullptr;
        trace_free(s);   // (the tree is pinned by our caller: freed when its run ends)
        t->side[g] = nullptr;
        // (FASTPY_HOT_EXIT exits again before the recording: the exit right after this point is not a
        // fair sample -- this runs at an entry of the tree, where the program is at the start of something)
        t->exits[g] = 0;
        root->nside -= freed;   // (replaced: the bound counts the tree as it stands after this)
        root->rerecords++;
        stat_inc(Stat::side_traces_rerecorded);
        return true;
      }
    }
    if (rerecord_below(co, root, s)) return true;
  }
  return false;
}

__attribute__((noinline)) void rerecord_rare_paths(PyCodeObject* co, TraceData* root) {
  root->rare_checked = root->runs;
  if (root->rerecords >= kMaxRerecords || g_recorder || root->side.empty()) return;
  rerecord_below(co, root, root);
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

// Room for one side trace's exit values (on the stack unless it is big; at least kLinkWords: a side trace
// it calls in machine code writes its own there).
class ExitBuf {
 public:
  uint64_t* get(uint32_t words) {
    if (words <= baseline::kLinkWords) return small_;
    big_.resize(words);
    return big_.data();
  }
  bool owns(const uint64_t* p) const { return p == small_ || (!big_.empty() && p == big_.data()); }

 private:
  uint64_t small_[baseline::kLinkWords];
  std::vector<uint64_t> big_;
};

constexpr int kNextIteration = -100;   // run_tree: the tree completed the iteration at the loop header

// What a run of one trace of a tree returned: the trace whose result it is (the one called, or a side trace
// the exits linked to in machine code), the result, and where that trace wrote its exit values. td null: not
// run yet.
struct Ran {
  TraceData* td = nullptr;
  int32_t g = 0;
  uint64_t* out = nullptr;
};

// `called` returned g: whose result it is (the exit cell). Each link the machine code took it counted itself
// as run_tree counts one taken in C++ (the parent's exit, its streak ended, the side trace's run:
// LinkOptions::exits, entry_counts).
Ran ran(TraceData* called, int32_t g, uint64_t* out) {
  if (g == baseline::kRefused) return {called, g, out};
  if (g == baseline::kLoopBack) g = baseline::kRestored;   // (a side trace called from C++: run_tree)
  auto* x = reinterpret_cast<TraceData*>(g_exit_cell[0]);
  if (x == called) return {called, g, out};
  return {x, g, reinterpret_cast<uint64_t*>(g_exit_cell[1])};
}

// The references the entries of side traces took (baseline_compile: LinkOptions::hold), from the one whose
// result it was up to, not including, `stop`: released when this goes, after the frame is restored.
class ChainHeld {
 public:
  ChainHeld() = default;
  ChainHeld(const ChainHeld&) = delete;
  ChainHeld& operator=(const ChainHeld&) = delete;
  void set(TraceData* x, TraceData* stop) {
    x_ = x;
    stop_ = stop;
  }
  ~ChainHeld() {
    if (!x_ || !x_->chain_holds) return;
    for (TraceData* s = x_; s && s != stop_; s = s->parent)
      for (PyObject* o : s->borrowed.objs) Py_DECREF(o);
  }

 private:
  TraceData* x_ = nullptr;
  TraceData* stop_ = nullptr;
};

// True when x is still where it was in root's tree (a run may release any part of the tree: a call out of
// a trace that re-entered this loop and dropped a side trace; released parts stay in memory while the tree
// runs, trace_free). *frees: g_trace_frees when the tree was last seen whole (nothing released since: it
// still is).
bool tree_intact(LoopSlot* loop, TraceData* root, TraceData* x, uint64_t* frees) {
  if (loop->trace != root) return false;
  if (*frees == g_trace_frees) return true;
  *frees = g_trace_frees;
  for (TraceData* s = x; s != root; s = s->parent) {
    TraceData* p = s->parent;
    if (!p || p->side.empty() || p->side[static_cast<size_t>(s->parent_guard)] != s) return false;
  }
  return true;
}

// Runs the side traces down root's tree from the exit at guard cg of trace cur (which has a side trace there),
// whose exit values are `in` -- or, with done.td set, goes on from a run that already happened (side traces
// the loop's trace linked to in machine code; *frees: g_trace_frees before it). Each side trace starts from
// its parent's exit values (the frame is written only once, by the last one), until one completes the
// iteration or exits where no side trace continues (one may be recorded from there, or the side trace that
// keeps exiting dropped). Returns the bytecode index to continue at with the frame restored, kNextIteration
// (the frame restored at the loop header: the loop's trace runs the next iteration), or -1 with an error set.
// *hop: the loop whose header the last side trace ended at (linked: that loop's trace runs next), else
// unchanged.
int run_tree(_PyInterpreterFrame* f, LoopSlot* loop, TraceData* root, TraceData* cur, int32_t cg,
             const uint64_t* in, LoopSlot** hop, Ran done, uint64_t frees) {
  ExitBuf bufs[2];
  const auto* slots = reinterpret_cast<const uint64_t*>(f->localsplus);
  for (;;) {
    Ran r = done;
    done = Ran();
    Held held;
    ChainHeld chain;
    if (!r.td) {
      TraceData* side = cur->side[static_cast<size_t>(cg)];
      // (no Pin: a side trace released while its tree runs stays until the tree's Pin goes)
      if (!held.take(f, side->borrowed))   // a namespace changed: the interpreter goes on from cur's exit
        return restore_frame(f, cur->opt, cur->opt.ins[static_cast<size_t>(cg)].snap, in, restore_kinds(cur));
      // (its entry counts its run: LinkOptions::entry_counts)
      uint64_t* out = bufs[bufs[0].owns(in) ? 1 : 0].get(side->native.out_words);
      int32_t g = side->native.fn(slots, out, in);
      if (g == baseline::kRefused)   // (Held::take passed: not expected) the interpreter goes on from cur's exit
        return restore_frame(f, cur->opt, cur->opt.ins[static_cast<size_t>(cg)].snap, in, restore_kinds(cur));
      r = ran(side, g, out);
      chain.set(r.td, side->parent);
    } else {
      chain.set(r.td, root);
    }
    TraceData* side = r.td;
    int32_t g = r.g;
    uint64_t* out = r.out;
    cur = side->parent;
    cg = side->parent_guard;
    if (g == baseline::kError) return trace_error(f, loop, "baseline tier (side trace)", "a runtime call failed");
    bool intact = tree_intact(loop, root, side, &frees);
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


// Runs loop's trace tree from its header (baseline_entry's contract); *hop as run_tree's. A chain linked in
// machine code that ends at the header of the loop it links to goes on in that loop's trace right here (the
// pin, the held references and the loop switched over), when the exit values fit; else *hop.
int run_loop(_PyInterpreterFrame* f, LoopSlot* loop, LoopSlot** hop) {
  auto* td = static_cast<TraceData*>(loop->trace);
  Pin pin(td);
  ExitValues values(td);
  uint64_t* out = values.out;
  Held held;
  if (!held.take(f, td->borrowed)) return invalidated(loop);
  td->last_entry = ++g_clock;
  if (td->runs - td->rare_checked >= kRareCheckEvery) rerecord_rare_paths(f->f_code, td);
  for (;;) {
    td->runs++;
    stat_inc(Stat::trace_native_runs);
    uint64_t frees = g_trace_frees;
    int32_t g = td->native.fn(reinterpret_cast<const uint64_t*>(f->localsplus), out, nullptr);
    if (g == baseline::kRestored) {
      // The common hop first (fannkuch: 850 K a run, nbody 400 K): a chain linked in machine code ended at
      // the header of another loop with a trace, the frame restored, nothing of the chain to release. Its
      // trace runs next, as the general path below would have it (whether the chain is still in td's tree
      // does not matter: none of it runs again, and released parts stay in memory while td is pinned).
      // (A loop's trace is its LoopSlot::trace exactly while it is attached and compiled; hop_in: by this
      // tier, with nothing for Held to check or take.)
      auto* x = reinterpret_cast<TraceData*>(g_exit_cell[0]);
      LoopSlot* to = x && x->hops ? x->link : nullptr;
      auto* t2 = to ? static_cast<TraceData*>(to->trace) : nullptr;
      if (t2 && t2->hop_in && values.out == values.small) {
        x->streak = 0;
        held.release();
        pin.reset(t2);   // (may release td: nothing of its tree runs any more)
        if (to->trace != t2) {   // (released meanwhile, by what releasing td ran: baseline_entry decides)
          *hop = to;
          return to->header;
        }
        stat_inc(Stat::trace_links);
        loop = to;
        td = t2;
        td->last_entry = ++g_clock;
        continue;
      }
    }
    Ran r = ran(td, g, out);
    if (r.td != td) {   // its exit went on in side traces, linked in machine code
      // The common ends first, as run_tree ends them: the last one wrote the frame at this loop's header
      // (kNextIteration), or at the header of the loop it links to (*hop: that loop's trace runs next).
      const int pc = r.g == baseline::kRestored ? r.td->opt.snaps.back().pc : -1;
      const bool next = pc == loop->header;
      if (pc >= 0 && (next || (r.td->link && pc == r.td->link->header))) {
        if (tree_intact(loop, td, r.td, &frees)) {
          LoopSlot* to = r.td->link;
          {
            ChainHeld chain;
            chain.set(r.td, td);
            r.td->streak = 0;
          }
          if (next) continue;
          // A hop to the next loop's trace (baseline_entry's, without leaving this frame): when it has one
          // and its exit values fit what this run set aside.
          auto* t2 = static_cast<TraceData*>(to->trace);
          if (to->state != LoopState::kCompiled || to->entry != &baseline_entry || !t2 ||
              t2->native.out_words > baseline::kLinkWords || values.out != values.small) {
            *hop = to;
            return pc;
          }
          held.release();
          pin.reset(t2);   // (may release td: nothing of its tree runs any more)
          if (to->trace != t2 || !held.take(f, t2->borrowed)) {   // baseline_entry's run_loop sees it too
            *hop = to;
            return pc;
          }
          stat_inc(Stat::trace_links);
          loop = to;
          td = t2;
          td->last_entry = ++g_clock;
          continue;
        }
      }
      int resume = run_tree(f, loop, td, nullptr, 0, nullptr, hop, r, frees);
      if (resume == kNextIteration && loop->trace == td) continue;
      return resume == kNextIteration ? loop->header : resume;
    }
    if (g == baseline::kError) return trace_error(f, loop, "baseline tier", "a runtime call failed");
    if (g >= 0 && !td->side.empty() && td->side[static_cast<size_t>(g)]) {
      // A side trace continues from this exit (a branch or overflow guard: not what the trace specialized on).
      td->exits[static_cast<size_t>(g)]++;
      stat_inc(Stat::trace_exits);
      td->last_exit = -1;
      td->streak = 0;
      int resume = run_tree(f, loop, td, td, g, out, hop, Ran(), g_trace_frees);
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
  // never nest C frames), where run_loop did not go on itself (a chain that went through C++, a namespace
  // check to fail again there, big exit values).
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
