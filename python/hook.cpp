#include "python/hook.h"

#include <pthread.h>

#include <algorithm>

#include "gc/code_data.h"
#include "interp/eval.h"
#include "interp/recorder.h"
#include "runtime/restore.h"
#include "python/code_extra.h"
#include "python/cpython311/internals.h"
#include "runtime/params.h"
#include "runtime/stats.h"

namespace fastpy {
namespace {

bool g_whole_program = false;
long g_jit_live = 0;                       // live code objects marked @jit
PyInterpreterState* g_interp = nullptr;    // where the hook is installed
py::EvalFrameFunc g_prev = nullptr;        // eval function installed before ours, if not CPython's

// ---------------------------------------------------------------- C stack guard
struct ThreadStack {
  char* low = nullptr;    // lowest usable address (stacks grow down on x86-64)
  size_t size = 0;
  size_t margin = 0;
};
// initial-exec: no __tls_get_addr call per frame (the struct is small enough for the static TLS surplus).
__attribute__((tls_model("initial-exec"))) thread_local ThreadStack t_stack;

void init_thread_stack() {
  pthread_attr_t attr;
  void* addr = nullptr;
  size_t size = 0;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    pthread_attr_getstack(&attr, &addr, &size);
    pthread_attr_destroy(&attr);
  }
  if (!addr || size == 0) {   // unknown bounds: disable the guard rather than guess
    t_stack.low = reinterpret_cast<char*>(1);
    return;
  }
  t_stack.size = size;
  // Keep enough for C code that runs between two hook calls (extension code, the error path itself).
  t_stack.margin = std::clamp(size / 8, size_t(16) << 10, size_t(256) << 10);
  t_stack.low = static_cast<char*>(addr) + t_stack.margin;
}

inline bool c_stack_exhausted() {
  if (__builtin_expect(t_stack.low == nullptr, 0)) init_thread_stack();
  return static_cast<char*>(__builtin_frame_address(0)) < t_stack.low;
}

// ---------------------------------------------------------------- imports
// CPython runs an import's Python code beneath importlib._bootstrap._find_and_load (IMPORT_NAME through
// PyImport_ImportModuleLevelObject, importlib.import_module): finding the module, its body, whatever that
// calls. All of it runs once, and numpy's import alone has thousands of frames with loops, which fastpy's
// interpreter would run (to count their back-edges) at about twice CPython's cost. With FASTPY_IMPORTS=cpython
// (the default) a _find_and_load frame runs on CPython's evaluator, and everything beneath it too: with the
// hook lifted (CPython then also inlines and specializes the calls) while no @fastpy.jit function exists,
// else through the hook, which sends every frame but @jit ones to CPython while t_import_depth > 0. A script
// (`python -m fastpy script.py`, runpy) is not imported: its body runs in fastpy as always.
PyCodeObject* g_import_code = nullptr;   // _find_and_load's code (a strong reference), found at installation
__attribute__((tls_model("initial-exec"))) thread_local int t_import_depth = 0;   // (read at every frame)

void find_import_code() {
  if (g_import_code) return;
  PyObject* m = PyImport_AddModule("_frozen_importlib");   // (borrowed; importlib._bootstrap)
  PyObject* fn = m ? PyObject_GetAttrString(m, "_find_and_load") : nullptr;
  if (fn && PyFunction_Check(fn)) {
    g_import_code = reinterpret_cast<PyCodeObject*>(PyFunction_GetCode(fn));
    Py_INCREF(g_import_code);
  }
  Py_XDECREF(fn);
  PyErr_Clear();
}

// ---------------------------------------------------------------- executors
inline PyObject* run_cpython(PyThreadState* ts, py::Frame* f, int throwflag) {
  if (g_prev) {
    stat_inc(Stat::frames_chained);
    return g_prev(ts, f, throwflag);
  }
  return py::eval_default(ts, f, throwflag);
}

// Which frames the fastpy interpreter runs (everything else stays on CPython's evaluator, so cold code pays
// only this lookup): in whole-program mode frames whose code has a loop; @jit code always; @nojit never.
// Not while an eval function installed before ours is chained: it asked to see every frame.
// *loop_free is set to the data of whole-program code that is not run here and has no loop: such frames
// may run with the hook lifted (run_loop_free).
CodeData* interp_candidate(py::Frame* f, CodeData** loop_free) {
  if (g_prev || !g_params.has(ParamId::tiers, kTierInterp)) return nullptr;
  PyCodeObject* co = py::frame_code(f);
  if (__builtin_expect(g_recorder != nullptr, 0) && rec_expects_callee(co)) {
    // The recorder follows a call into this function: the fastpy interpreter must run it.
    CodeData* cd = code_data_get(co);
    if (cd) interp_prepare(co, cd);
    else PyErr_Clear();
    return cd;
  }
  CodeData* cd = code_data_peek(co);
  if (!cd) {
    if (!g_whole_program) return nullptr;
    cd = code_data_get(co);
    if (!cd) {   // out of memory or co_extra refused: not worth failing the call over
      PyErr_Clear();
      return nullptr;
    }
  }
  if (cd->flags & kCodeNoJit) return nullptr;
  interp_prepare(co, cd);
  if (cd->flags & kCodeJit) return cd;
  if (!g_whole_program) return nullptr;
  if (cd->loops) return cd;
  *loop_free = cd;
  return nullptr;
}

// ---------------------------------------------------------------- lifting the hook
// With any PEP 523 hook set, CPython 3.11 neither inlines Python-to-Python calls nor specializes them
// (CALL's inline path and CALL_PY_EXACT_ARGS test interp->eval_frame): every call of call-heavy code that
// fastpy leaves to CPython pays _PyEval_Vector, this hook and a C-recursive evaluator. So loop-free code is
// watched: g_hook_work counts what fastpy does for a frame (the fastpy interpreter runs it, or an inlined
// frame is resumed). Once FASTPY_HOOK_LIFT frames of one loop-free code object in a row returned with the
// count unchanged, its frames run with interp->eval_frame cleared, as if fastpy were not installed: the calls
// beneath are CPython's own. Whatever runs there runs on CPython's evaluator, which is always correct; what is
// at stake is only speed (a loop beneath no longer reaches fastpy), so every 64th frame runs with the hook
// again, and one that finds fastpy work beneath takes the lift back.
// The hook is put back when the lifted frame returns, and before then by anything that needs it: a side
// exit that leaves frames to be resumed (g_resume_needs_hook), fastpy.disable() (update_installation). The
// field is the interpreter's, so other threads run unhooked meanwhile too (speed only: nothing they run needs
// the hook except a pending resume, which puts it back).
uint64_t g_hook_work = 0;
constexpr uint32_t kLiftWatchEvery = 64;
long g_lifted_depth = 0;   // lifted frames running (all threads)

PyObject* fastpy_eval_frame(PyThreadState* ts, py::Frame* f, int throwflag);

void hook_put_back() {
  if (g_interp && g_interp->eval_frame == nullptr) g_interp->eval_frame = &fastpy_eval_frame;
}

PyObject* run_loop_free(PyThreadState* ts, py::Frame* f, CodeData* cd) {
  stat_inc(Stat::frames_cpython);
  const int64_t lift_after = g_params.get(ParamId::hook_lift);
  // Only while ours is the installed hook: one installed on top of it, which calls ours, keeps its place.
  if ((cd->flags & kCodeLifted) && lift_after > 0 && g_interp && g_interp->eval_frame == &fastpy_eval_frame &&
      !g_resume_pending && !g_recorder && ++cd->lifted_runs % kLiftWatchEvery) {
    stat_inc(Stat::frames_lifted);
    g_interp->eval_frame = nullptr;
    g_lifted_depth++;
    PyObject* r = py::eval_default(ts, f, 0);
    g_lifted_depth--;
    hook_put_back();
    return r;
  }
  const uint64_t before = g_hook_work;
  PyObject* r = py::eval_default(ts, f, 0);
  if (g_hook_work != before) {
    cd->quiet = 0;
    if (cd->flags & kCodeLifted) {
      cd->flags &= ~kCodeLifted;
      stat_inc(Stat::code_unlifted);
    }
  } else if (lift_after > 0 && !(cd->flags & kCodeLifted) && ++cd->quiet >= lift_after) {
    cd->flags |= kCodeLifted;
    stat_inc(Stat::code_lifted);
  }
  return r;
}

// A _find_and_load frame (FASTPY_IMPORTS=cpython): the import on CPython's evaluator, lifted where it can be.
PyObject* run_import(PyThreadState* ts, py::Frame* f) {
  stat_inc(Stat::imports_cpython);
  t_import_depth++;
  PyObject* r;
  if (g_jit_live == 0 && g_params.get(ParamId::hook_lift) > 0 && g_interp && g_interp->eval_frame == &fastpy_eval_frame &&
      !g_resume_pending && !g_recorder) {
    g_interp->eval_frame = nullptr;
    g_lifted_depth++;
    r = py::eval_default(ts, f, 0);
    g_lifted_depth--;
    hook_put_back();
  } else {
    r = run_cpython(ts, f, 0);
  }
  t_import_depth--;
  return r;
}

// True when frame f runs on CPython's evaluator because an import is running it (see run_import).
inline bool import_runs(py::Frame* f) {
  if (__builtin_expect(t_import_depth == 0, 1) || g_recorder) return false;
  CodeData* cd = code_data_peek(py::frame_code(f));
  return !cd || !(cd->flags & kCodeJit);
}

PyObject* fastpy_eval_frame(PyThreadState* ts, py::Frame* f, int throwflag) {
  stat_inc(Stat::frames_seen);
  if (throwflag) {
    stat_inc(Stat::frames_throw);
    return run_cpython(ts, f, throwflag);
  }
  if (py::frame_is_generator(f)) {
    stat_inc(Stat::frames_generator);
    return run_cpython(ts, f, throwflag);
  }
  // A side exit inside an inlined call re-executed its CALL: this may be the callee, to resume mid-frame.
  if (__builtin_expect(g_resume_pending, 0)) {
    g_hook_work++;
    resume_apply(f);
  }
  if (c_stack_exhausted()) {
    // Not yet linked or started: the caller (_PyEval_Vector) clears the frame, as when CPython's own
    // recursion check fails at frame entry.
    stat_inc(Stat::recursion_errors);
    PyErr_SetString(PyExc_RecursionError, "maximum recursion depth exceeded");
    return nullptr;
  }
  if (py::tracing_active(ts)) {
    stat_inc(Stat::frames_tracing);
    return run_cpython(ts, f, throwflag);
  }
  if (py::frame_code(f) == g_import_code && g_import_code && g_whole_program && !g_recorder &&
      g_params.get(ParamId::imports) == 0)
    return run_import(ts, f);
  if (import_runs(f)) {
    stat_inc(Stat::frames_cpython);
    return run_cpython(ts, f, throwflag);
  }
  CodeData* loop_free = nullptr;
  if (CodeData* cd = interp_candidate(f, &loop_free)) {
    stat_inc(Stat::frames_interp);
    g_hook_work++;
    return interp_run(ts, f, cd);
  }
  if (loop_free) return run_loop_free(ts, f, loop_free);
  stat_inc(Stat::frames_cpython);
  return run_cpython(ts, f, throwflag);
}

void update_installation() {
  bool want = g_whole_program || g_jit_live > 0;
  if (want && !g_interp) {
    PyInterpreterState* interp = PyInterpreterState_Get();
    py::EvalFrameFunc cur = py::get_eval_frame(interp);
    g_prev = (cur == &_PyEval_EvalFrameDefault) ? nullptr : cur;
    py::set_eval_frame(interp, &fastpy_eval_frame);
    g_interp = interp;
    find_import_code();
    g_resume_needs_hook = &hook_put_back;
  } else if (!want && g_interp) {
    // Only take ourselves out if nobody installed a hook on top of ours; otherwise stay as a pass-through.
    if (py::get_eval_frame(g_interp) == &fastpy_eval_frame || (g_lifted_depth > 0 && g_interp->eval_frame == nullptr)) {
      py::set_eval_frame(g_interp, g_prev ? g_prev : &_PyEval_EvalFrameDefault);
      g_interp = nullptr;
      g_prev = nullptr;
    }
  }
}

}  // namespace

void hook_set_whole_program(bool on) {
  g_whole_program = on;
  update_installation();
}
bool hook_whole_program() { return g_whole_program; }
void hook_jit_code_added() {
  g_jit_live++;
  update_installation();
  if (t_import_depth > 0 && g_lifted_depth > 0) hook_put_back();   // (an import defines it: its calls need the hook)
}
void hook_jit_code_removed() {
  g_jit_live--;
  update_installation();
}
bool hook_installed() { return g_interp != nullptr; }
bool hook_chained() { return g_prev != nullptr; }

StackInfo hook_stack_info() {
  c_stack_exhausted();
  char* here = static_cast<char*>(__builtin_frame_address(0));
  size_t remaining = t_stack.size ? size_t(here - (t_stack.low - t_stack.margin)) : 0;
  return {t_stack.size, t_stack.margin, remaining};
}

}  // namespace fastpy
