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
CodeData* interp_candidate(py::Frame* f) {
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
  return (g_whole_program && cd->loops) ? cd : nullptr;
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
  if (__builtin_expect(g_resume_pending, 0)) resume_apply(f);
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
  if (CodeData* cd = interp_candidate(f)) {
    stat_inc(Stat::frames_interp);
    return interp_run(ts, f, cd);
  }
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
  } else if (!want && g_interp) {
    // Only take ourselves out if nobody installed a hook on top of ours; otherwise stay as a pass-through.
    if (py::get_eval_frame(g_interp) == &fastpy_eval_frame) {
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
