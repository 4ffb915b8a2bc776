// The recorder's internals, shared by the files that record one family of instructions each
// (recorder.cpp: numbers, control flow, globals, lists, calls of known builtins). Include after
// python/cpython311/internals.h. Not an interface for anything outside interp/.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "interp/loops.h"
#include "interp/recorder.h"
#include "runtime/restore.h"
#include "tiers/baseline/codegen.h"
#include "tiers/ir/ir.h"

namespace fastpy {

using ir::IRRef;
using ir::kNoRef;

// ---------------------------------------------------------------- the recording
// A frame suspended at a CALL while the recording follows the Python function it called (inlining).
struct RFrame {
  _PyInterpreterFrame* f;
  PyCodeObject* co;
  _Py_CODEUNIT* first;
  int base;      // its slot 0 in the recording's slot numbering
  int call_pc;   // its CALL instruction
  int top;       // its abstract stack top (absolute) at the CALL: [NULL, function, args] included
  int nargs;     // the call's arguments (self included for a method)
  int npop;      // stack items the call consumes: [NULL or function, function or self, args...]
};

// What a trace reads from its frame's own namespaces without owning it: the globals and builtins dicts
// ([0], [1]) and the values it read from them. Owning them would make a cycle the GC cannot see (a
// namespace holds its functions, a function its code, the code (co_extra) its traces): a function exec'd
// into a namespace that is later dropped would never be freed. Instead every entry checks that the frame's
// namespaces are these dicts, at the versions the recording saw (then each dict still holds the values), and
// owns the values while the trace runs (Held).
//
// A version is the whole dict's: any store into a module's globals (module-level code between two calls)
// changes it. Then the entry revalidates what the trace read from that dict (NsRead): each name still
// absent, or bound to a number of the same value, or to the same object -- known through a weak reference,
// so that an object freed meanwhile and another allocated at its address never passes for it. Values that
// allow neither (a list, a builtin function) make the dict unrevalidatable. When every read holds, the
// version the trace expects becomes the new one (`expect`, which the trace's own version guards load).
struct NsRead {
  PyObject* name;                // a str of a code object the trace keeps alive
  enum Kind : uint8_t { kAbsent, kFloat, kInt, kBool, kSame } kind;
  uint64_t bits = 0;             // kFloat: the IEEE bits; kInt: the value; kBool: 0/1
  PyObject* weak = nullptr;      // kSame: a weak reference to the object (owned by the trace's `kept`)
};
struct Borrowed {
  PyObject* ns[2] = {nullptr, nullptr};   // compared with the frame's (never dereferenced before that)
  uint64_t tag[2] = {0, 0};               // ma_version_tag when the recording first read the dict
  bool used[2] = {false, false};
  std::vector<PyObject*> objs;            // the values behind borrowed kobj constants (not ns[]: the frame's)
  std::vector<NsRead> reads[2];           // what the trace read from each dict
  bool fixed[2] = {false, false};         // a read that cannot be revalidated: only the same version will do
  std::unique_ptr<uint64_t[]> expect;     // [2]: the versions the trace's guards compare with (stable address)
};

namespace rec {
// Entry, namespace dict k changed since the version b expects: true (and b expects the new version) when
// every read of it still holds.
bool ns_revalidate(const Borrowed& b, int k, PyObject* dict);
// Drops from b.objs the values that optimized trace t needs no reference to while it runs: none of its
// instructions uses the value (as an operand or an immediate), and the snapshots that hold it are exited
// to only before anything in t may run code (the namespace still holds it there).
void borrowed_prune(Borrowed& b, const ir::Trace& t);
}  // namespace rec

// The borrowed objects of a trace, owned while it runs (released when this goes out of scope, which must be
// before the trace's data can go: declare it after the trace's Pin).
class Held {
 public:
  Held() = default;
  Held(const Held&) = delete;
  Held& operator=(const Held&) = delete;
  ~Held() { release(); }
  // Owns b's objects when frame f's namespaces are b's at the recorded versions; false (nothing held)
  // otherwise: the trace must not run (a value it embeds may be gone).
  bool take(const _PyInterpreterFrame* f, const Borrowed& b);
  void release();

 private:
  const std::vector<PyObject*>* objs_ = nullptr;   // b.objs (no copy: entries happen all the time)
};

inline bool Held::take(const _PyInterpreterFrame* f, const Borrowed& b) {
  PyObject* const now[2] = {f->f_globals, f->f_builtins};
  for (int k = 0; k < 2; k++) {
    if (!b.used[k]) continue;
    if (now[k] != b.ns[k]) return false;
    if (reinterpret_cast<PyDictObject*>(now[k])->ma_version_tag != b.expect[k] && !rec::ns_revalidate(b, k, now[k]))
      return false;
  }
  if (b.objs.empty()) return true;   // (most traces: nothing for release to do)
  for (PyObject* o : b.objs) Py_INCREF(o);
  objs_ = &b.objs;
  return true;
}

inline void Held::release() {
  // Last: a value the run unbound from its namespace dies here, after the frame was restored.
  const std::vector<PyObject*>* objs = objs_;
  if (!objs) return;
  objs_ = nullptr;
  for (PyObject* o : *objs) Py_DECREF(o);
}

struct Recorder {
  // The frame being recorded now: the loop's own, or an inlined callee's (then `callers` holds the rest).
  _PyInterpreterFrame* f;
  PyCodeObject* co;
  _Py_CODEUNIT* first;
  int base = 0;                     // the current frame's slot 0 (slots are numbered across all frames)
  std::vector<RFrame> callers;      // outermost first; empty while recording the loop's own frame
  PyCodeObject* pending = nullptr;  // a CALL into this code was recorded: its frame comes next
  int pending_nargs = 0;
  int pending_npop = 0;
  _PyInterpreterFrame* root;        // the loop's frame
  PyCodeObject* root_co;
  LoopSlot* loop;
  int header;                       // loop header index (code units)
  int nlocals;                      // co_nlocalsplus
  int top0;                         // the frame's stack top at the header
  int top_in;                       // the frame's stack top where the recording started (its live slots)
  int top;                          // abstract stack top (absolute slot), base + the interpreter's stacktop
  ir::Trace t;
  ir::IRBuilder b{&t};
  std::vector<IRRef> slot;          // per frame slot: its IR value, kNoRef = not read (the frame's own)
  std::vector<bool> written;        // per frame slot: differs from the frame (goes into snapshots)
  std::vector<uint8_t> kind;        // per frame slot: ir::SnapBox of its value (SNAP_np: a numpy scalar)
  // Object identity (ir::SnapEntry::same), per frame slot: -1 an object of its own (a restore makes it);
  // >= 0 the object of every slot with that number (a value LOAD_FAST, STORE_FAST, COPY, SWAP, a call's
  // arguments or a return moved: CPython moves the object); <= -2 the object the loop's frame holds in slot
  // -2 - ident (read there, fref), which the frame keeps until a restore writes it.
  std::vector<int32_t> ident;
  int32_t next_ident = 0;
  // Per frame slot: the object its number was loaded from (a list item, an attribute: load_obj), which is
  // the slot's object in CPython (`b = lst[i]`); a snapshot restores that object while nothing that may
  // release it (ir_may_release) came after the load (last_release). kNoRef: none.
  std::vector<IRRef> origin;
  IRRef last_release = kNoRef;      // the latest instruction that may release a borrowed object
  bool snap_origins = false;        // the current instruction's snapshot restores some origin
  bool final_snap = false;          // snap() takes the end snapshot (peel: a slot read at entry keeps its type)
  std::vector<IRRef> fref;          // per slot of the loop's frame: the value of the object it held at entry
  std::vector<uint8_t> fkind;       // ... and its SnapBox (kNoRef / unread: nothing known)
  std::vector<PyObject*> kept;      // strong references behind kobj constants
  Borrowed borrowed;                // constants of the root frame's namespaces (not owned)
  int pc = 0;                       // the current instruction's first code unit (its EXTENDED_ARGs)
  _Py_CODEUNIT* here = nullptr;     // the current instruction itself
  bool snapped = false;             // a snapshot for the current instruction exists
  int skip_at = -1;                 // an instruction already recorded with the one before it (fused jump)
  struct TraceData* parent = nullptr;   // a side trace: the trace whose exit it continues from
  struct TraceData* tree = nullptr;     // ... in the tree of this loop trace (the loop's when it started)
  IRRef parent_guard = kNoRef;          // ... at this guard of parent->opt
  int max_len = 4000;
  int ninstr = 0;                       // instructions recorded (a side trace may start at the header)
  std::vector<int> crossed;             // a side trace: back-edge targets it crossed (enclosing loops)
  LoopSlot* waits = nullptr;            // a side trace stopped at this loop, which may get a trace later
};

// What a loop's compiled trace owns.
struct TraceData {
  ir::Trace recorded;               // as recorded (fastpy.explain, golden tests)
  ir::Trace opt;                    // as it runs
  std::vector<uint64_t> exits;      // side exits per guard (instruction) of opt
  uint64_t runs = 0;                // entries
  std::vector<PyObject*> kept;      // strong references behind kobj constants
  Borrowed borrowed;                // constants read from the frame's namespaces (checked at each entry)
  int last_exit = -1;               // snapshot of the latest exit taken before a whole iteration ran
  int64_t streak = 0;               // such exits in a row at last_exit
  baseline::CompiledTrace native;   // the baseline tier's machine code for opt (fn null: another tier runs it)
  LoopSlot* loop = nullptr;         // the loop it is attached to
  uint64_t last_entry = 0;          // the baseline tier's clock at its latest entry (eviction: LRU)
  uint32_t active = 0;              // entries of it now on the C stack (Pin: never freed while > 0)
  bool zombie = false;              // released while active: freed when the last entry leaves
  size_t cache_index = SIZE_MAX;    // its place in the baseline tier's code cache
  LoopSlot* link = nullptr;         // a side trace that ends at another loop's header (of the same code):
                                    // that loop, whose trace takes over there
  bool hops = false;                // link is set, its end is at link's header and its chain holds nothing:
                                    // run_loop goes on in link's trace at once (its fast path)
  std::vector<TraceData*> side;     // per guard of opt: its side trace (owned), or nullptr; empty: none yet
  std::vector<uint8_t> side_tries;  // per guard: side-trace recordings that aborted (FASTPY_MAX_ABORTS: no more)
  int nside = 0;                    // side traces attached (dropped ones included: the tree's bound)
  int rerecords = 0;                // a root: side traces of its tree released to be recorded again
  uint64_t rare_checked = 0;        // (baseline_tier.cpp: rerecord_rare_paths), and `runs` when it last looked
  int side_drops = 0;               // side traces dropped because they kept exiting
  std::vector<LoopSlot*> side_wait; // per guard: a loop without a trace (yet) its side recording stopped at:
                                    // no new recording from there before that loop is compiled or given up
  // Links in machine code (docs/architecture.md): a side trace's place in its tree, and per guard of opt
  // the TraceFn of the side trace its exit calls directly (null: the exit returns to run_loop/run_tree).
  TraceData* root = nullptr;        // the tree's root (itself for a loop's trace)
  TraceData* parent = nullptr;      // a side trace: the trace whose exit it continues from, at parent_guard
  IRRef parent_guard = kNoRef;
  bool hop_in = false;              // a loop's baseline trace that borrows nothing (Borrowed) and whose exit
                                    // values fit a link's buffer: run_loop's fast hop may enter it as is
  bool chain_holds = false;         // a side trace: it or a side trace above it holds objects at entry
                                    // (LinkOptions::hold; false: a chain ending here releases nothing)
  std::unique_ptr<void*[]> links;   // opt.ins.size() cells (baseline traces)
  std::vector<TraceData*> deferred; // a root: side traces released while the tree ran (freed when it ends)
  bool in_deferred = false;         // a side trace: in its root's `deferred`
  IRRef loop_ref = 0;               // opt's `loop` instruction (its size without one): exits below it are
                                    // in the first iteration
  RestoreKinds kinds;               // opt's snapshot entry kinds (restore_frame's fast path), built at the
                                    // first restore
};

// td->kinds, built when first needed.
inline const RestoreKinds& restore_kinds(TraceData* td) {
  if (!td->kinds.built) restore_kinds_build(td->opt, &td->kinds);
  return td->kinds;
}


namespace rec {

// Releases a TraceData (LoopSlot::trace_free) and the references it holds; one that is running (an entry
// of it further up the C stack: a loop body that called its own function) is released when that ends (Pin).
void trace_free(void* p);
// The last Pin of td went: frees the side traces released while its tree ran, then td if it was released.
void trace_unpinned(TraceData* td);
// Counts trace_free calls: a walk down a trace tree that sees it unchanged knows no part of the tree went.
extern uint64_t g_trace_frees;

// Keeps a trace's data and code alive while a tier runs it (the run may release it: an unstable exit, a
// changed namespace, a recursive call that did either).
class Pin {
 public:
  explicit Pin(TraceData* td) : td_(td) { td_->active++; }
  Pin(const Pin&) = delete;
  Pin& operator=(const Pin&) = delete;
  ~Pin() { unpin(); }
  // Pins td instead. The new one first: releasing the old one may free it, and what its references held
  // may run code (a __del__) that releases td as well -- which then stays in memory, as a zombie. (Nothing
  // of the old one may run any more.)
  void reset(TraceData* td) {
    TraceData* old = td_;
    td->active++;
    td_ = td;
    unpin(old);
  }

 private:
  static void unpin(TraceData* td) {
    if (--td->active == 0 && (td->zombie || !td->deferred.empty())) trace_unpinned(td);
  }
  void unpin() { unpin(td_); }
  TraceData* td_;
};
// Counts an abort of reason why in stats()["aborts"].
void count_abort(Abort why);
// interp/ir_tier.cpp: the IR tier's entry (a TraceEntry), the runtime hook it gives the executor, and the
// FASTPY_LOG=trace/ir line for a new trace.
int ir_entry(PyThreadState* ts, _PyInterpreterFrame* f, LoopSlot* loop);
// interp/baseline_tier.cpp: compiles td->opt to machine code (side: a side trace, whose end restores the
// frame itself; false: it could not, the reason logged with
// FASTPY_LOG=abort), and the entry that runs it.
bool baseline_compile(PyCodeObject* co, LoopSlot* loop, TraceData* td, bool side);
// Side trace `side`, just attached at parent's exit `guard`: that exit calls it in machine code from now on
// when both traces allow (their exit values fit in baseline::kLinkWords words).
void baseline_link(TraceData* parent, IRRef guard, TraceData* side);
// Takes td (attached to td->loop) into the code cache, evicting least recently entered traces while the
// cache is over FASTPY_CODE_CACHE; baseline_forget removes td (trace_free calls it).
void baseline_cache_add(TraceData* td);
void baseline_forget(TraceData* td);
// Starts recording a side trace of td from its exit at `guard` (the frame restored at that exit); recorder.cpp.
void start_side_trace(_PyInterpreterFrame* f, LoopSlot* loop, TraceData* td, IRRef guard);
// True when guard's op is a type, identity or version check (what a trace specialized on).
bool specialization_guard(ir::IROp op);
int baseline_entry(PyThreadState* ts, _PyInterpreterFrame* f, LoopSlot* loop);
// What every tier does after its trace stopped: counts the exit at `guard` (kNoRef: the trace completed),
// applies the unstable-trace policy, restores snapshot `snap` with `values` (first: no iteration completed)
// and returns the bytecode index to resume at (-1: error). *again: a trace without loop completed at the
// header and may run once more.
int after_run(_PyInterpreterFrame* f, LoopSlot* loop, TraceData* td, IRRef guard, int snap, bool first,
              const uint64_t* values, bool* again);
// Takes the loop's trace off it (entry, trace, free function) and lets the loop count toward a new
// recording; returns the trace for the caller to release (trace_free).
void* detach_trace(LoopSlot* loop);
// At an entry: the trace's borrowed constants are not valid for this frame (Held::take said so): releases
// the trace (the loop counts toward a new recording, not toward blacklisting) and returns the header.
int invalidated(LoopSlot* loop);
// A tier's internal failure: SystemError (unless an error is set), the frame at the loop header; -1.
int trace_error(_PyInterpreterFrame* f, LoopSlot* loop, const char* tier, const std::string& what);
bool runtime_hook(const ir::IRIns& i, uint64_t a, uint64_t b, uint64_t* out);
void log_trace(PyCodeObject* co, int header, const TraceData* td);
std::string loop_where(PyCodeObject* co, int header);

// iter(range(start, stop, step)) as CPython's range_iter makes it for C-long bounds (a new reference), or
// nullptr (no error set) where CPython would make a longrange_iterator instead, or memory ran out.
PyObject* new_range_iter(int64_t start, int64_t stop, int64_t step);
// The spare range iterators new_range_iter hands out, for machine code that takes one inline as it would
// (tiers/baseline PyLayout::range_spares): ok false when the probe of 3.11's range_iterator failed.
struct RangeIterPool {
  bool ok = false;
  PyObject* const* spares = nullptr;
  int* nspare = nullptr;
  int fields[4] = {0, 0, 0, 0};   // byte offsets of index, start, step, len
};
RangeIterPool range_iter_pool();
// iter(seq) of an exact list or tuple, with the cyclic GC paused (its allocation would otherwise be able to
// start a collection, and finalizers with it, in the middle of a trace): a new reference, or nullptr (no
// error set).
PyObject* new_seq_iter(PyObject* seq);
// list[lo:hi] of an exact list (0 <= lo, hi), with the cyclic GC paused: a new reference, or nullptr (no
// error set).
PyObject* new_list_slice(PyObject* list, int64_t lo, int64_t hi);
// list.append(item) for list_append: 1 appended, 0 not (the error cleared: the guard after it exits, and the
// interpreter appends again and raises itself).
int64_t list_append_item(PyObject* list, PyObject* item);

// Thrown (as a value) by the recording cases: the reason to abort; caught once per instruction.
struct AbortEx {
  Abort why;
};
[[noreturn]] void fail(Abort why);

// ---- the abstract state (record_state.cpp)
ir::IRType type_of(Recorder* r, IRRef v);
// Takes the snapshot of the state before the current instruction (once per instruction).
void snap(Recorder* r);
// Emits a guard (or any op that can exit) after the current instruction's snapshot.
IRRef guard(Recorder* r, ir::IROp op, IRRef a = kNoRef, IRRef b = kNoRef, int64_t imm = 0);
// Emits a non-exiting op through fold and CSE.
IRRef emit(Recorder* r, ir::IROp op, IRRef a = kNoRef, IRRef b = kNoRef, int64_t imm = 0);
void guard_true(Recorder* r, IRRef c);
void guard_false(Recorder* r, IRRef c);
// A kobj constant; the trace keeps a strong reference to o (nullptr: the NULL below a callable).
IRRef kobj(Recorder* r, PyObject* o);
// A kobj constant for o, which `dict` holds: borrowed (Borrowed) when dict is the root frame's globals or
// builtins and has not changed during the recording, owned (kobj) otherwise.
IRRef kobj_in(Recorder* r, PyObject* o, PyObject* dict);
// The object behind a kobj constant, or nullptr.
PyObject* const_obj(Recorder* r, IRRef v);
// The IR constant for an object: unboxed for exact floats, 64-bit ints and bools; kobj otherwise.
IRRef constant(Recorder* r, PyObject* o);
// True when o is an exact int that fits in 64 bits; its value in *v.
bool small_int(PyObject* o, int64_t* v);
// Frame slot k's IR value (loaded and type-guarded on first use).
IRRef read_slot(Recorder* r, int k);
// Stack: peek(r, 1) is the top; the live objects are sp[-1], sp[-2], ...
IRRef peek(Recorder* r, int n);
void push(Recorder* r, IRRef v);
void pop(Recorder* r, int n = 1);
void set_slot(Recorder* r, int k, IRRef v);
// push(r, v) of a number just loaded from a container or an attribute (v = unbox of a load_obj; live_item
// the object): the slot's object is the loaded one (Recorder::origin), unless it is a small int.
void push_loaded(Recorder* r, IRRef v, PyObject* live_item);
// The identity of slot k's object for sharing it with another slot (Recorder::ident; numbers it if new).
int32_t share_ident(Recorder* r, int k);
// The Python type family (ir::SnapBox) of the stack value at depth n; push with one.
uint8_t kind_at(Recorder* r, int n);
void push_k(Recorder* r, IRRef v, uint8_t kind);
// Aborts when the stack value at depth n is a numpy scalar (a container would have to hold that object).
void no_np(Recorder* r, int n);
bool is_num(ir::IRType ty);
// An int as Python's float arithmetic converts it (i2f); f64 unchanged.
IRRef to_f64(Recorder* r, IRRef v);
// The live number o (an operand the trace has as i64 or f64) as a double; aborts where it will not convert.
double live_double(PyObject* o);
// record_numpy.cpp: a guard that a numpy scalar's float op (BINARY_OP nb of lo, ro) gave a finite res.
void np_float_finite(Recorder* r, PyObject* lo, PyObject* ro, int nb, IRRef res);
// An object loaded from memory (addr + off), unboxed with a type guard when it is a float, a 64-bit int or
// a bool (live_item: the object there now).
IRRef typed_load(Recorder* r, IRRef addr, int64_t off, PyObject* live_item);
// A new reference to the object for IR value v (numbers boxed, objects increfed), for a container to own.
IRRef owned_object(Recorder* r, IRRef v);
// Guards that an exact dict's PEP 509 version is still what it is now.
void guard_dict_version(Recorder* r, PyObject* dict);

// The concrete object at stack depth n (1 = top) of the interpreter.
inline PyObject* live(PyObject** sp, int n) { return sp[-n]; }
// True when the recording may follow the interpreter out of a loop: a side trace in the loop's own frame
// (it runs on to the loop's header again, through the enclosing loops), not the loop's own trace. Only such
// a trace makes objects it owns (iterators, list copies): it runs once per entry, never as a loop.
bool can_leave_loop(const Recorder* r);
// Owned slot k is being popped: a copy of its value becomes the owner, or the trace releases it (aborts
// where that could run code).
void release_owned(Recorder* r, size_t k);

// ---- instruction families recorded in their own files; each returns false when the operands are not its
// kind (the caller then aborts), or fails with a reason
// interp/record_attr.cpp: `owner.name` loads (LOAD_ATTR) and stores (STORE_ATTR, [value, owner] on the
// stack) on instances of user classes.
bool rec_load_attr_instance(Recorder* r, PyObject* name, PyObject** sp);
bool rec_store_attr_instance(Recorder* r, PyObject* name, PyObject** sp);
// LOAD_METHOD of a Python function defined in the instance's class (the CALL then inlines it).
bool rec_load_method_instance(Recorder* r, PyObject* name, PyObject** sp);
// interp/record_numpy.cpp: numpy arrays (exact ndarray, 1-D or 2-D, C-contiguous, float64 or int64) element
// loads `a[i]`, `a[i, j]` (BINARY_SUBSCR, nidx indices on the stack above the array) and stores (STORE_SUBSCR,
// the value below the array), len(a); numpy scalars read from frame slots. False when not numpy's.
bool rec_numpy_subscr(Recorder* r, int nidx, PyObject** sp);
bool rec_numpy_store(Recorder* r, int nidx, PyObject** sp);
bool rec_numpy_len(Recorder* r, IRRef arr, PyObject* live_arr, IRRef* out);
// The sload for a numpy scalar in slot k (live object o): its value, or kNoRef when o is not one.
// *kind: ir::SNAP_np or SNAP_np32.
IRRef numpy_sload(Recorder* r, int k, PyObject* o, uint8_t* kind);
bool numpy_runtime(const ir::IRIns& i, uint64_t a, uint64_t b, uint64_t* out);
// Once, at start-up: registers the restore routine's boxing of numpy scalars.
void numpy_init();

// interp/record_globals.cpp: LOAD_GLOBAL, and LOAD_ATTR / LOAD_METHOD on a module constant (the attribute,
// guarded by the module dict's version; nullptr when owner is no module constant).
void rec_load_global(Recorder* r, int oparg);
PyObject* module_attr(Recorder* r, IRRef owner, PyObject* name);
// The value of name in an exact dict (borrowed); nullptr when missing; aborts when the lookup fails.
PyObject* dict_lookup(PyObject* dict, PyObject* name);

// interp/record_iter.cpp: FOR_ITER over range, list and tuple iterators (their end only in a side trace);
// CALL of range right before GET_ITER (range_iter), GET_ITER of a list or tuple (seq_iter), BUILD_SLICE 2
// before BINARY_SUBSCR of a list (list_slice): in side traces, owned. iter_init probes the iterators'
// layouts once, at start-up.
void rec_for_iter(Recorder* r, PyObject** sp);
void rec_range_iter(Recorder* r, int oparg, PyObject** sp);
void rec_get_iter(Recorder* r, PyObject** sp);
void rec_list_slice(Recorder* r, int oparg, PyObject** sp);
void iter_init();
// True when IR value v is never negative: a constant >= 0, or a range iterator's index (CPython keeps it in
// [0, len]), so a list index of it needs no `>= 0` guard.
bool known_nonneg(const Recorder* r, IRRef v);
// A subscript's index idx of the form i + c (c a constant, 0 included; i the value of a `for i in range(...)`
// loop with a step of 1 whose FOR_ITER this recording checked) into a sequence of length n (live_n now):
// emits guards that 0 <= i + c < n holds for every i the range gives -- of values the loop does not change,
// which peel hoists out of it -- and returns true; false (nothing emitted) for another index, or where the
// live values would not pass them. sp: the interpreter's stack pointer at the subscript (the iterator is on
// the frame's value stack).
bool range_checked_index(Recorder* r, PyObject** sp, IRRef idx, IRRef n, int64_t live_n);

// The IR tier's runtime hook for the ops record_attr.cpp emits (ir_exec.h's RuntimeHook contract); false
// for any other op.
bool attr_runtime(const ir::IRIns& i, uint64_t a, uint64_t b, uint64_t* out);

}  // namespace rec
}  // namespace fastpy
