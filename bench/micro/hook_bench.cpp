// Per-call cost of fastpy's PEP 523 hook: the same Python calls with no hook, with fastpy's hook in
// pass-through mode (FASTPY_TIERS=none), and in whole-program mode.
#include <Python.h>
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>

namespace {

PyObject* g_ns = nullptr;

PyObject* eval(const char* src) {
  PyObject* r = PyRun_String(src, Py_eval_input, g_ns, g_ns);
  if (!r) {
    PyErr_Print();
    std::abort();
  }
  return r;
}

void exec(const char* src) { Py_XDECREF(eval(src)); }

void run_calls(benchmark::State& state, const char* setup, const char* func) {
  exec(setup);
  PyObject* f = eval(func);
  for (auto _ : state) {
    PyObject* r = PyObject_CallNoArgs(f);
    if (!r) std::abort();
    Py_DECREF(r);
  }
  Py_DECREF(f);
  exec("_fastpy_teardown()");
}

const char* kSetupFns[] = {"_mode(None)", "_mode('none')", "_mode('interp')"};

// A million small Python-to-Python calls per iteration (the 1.2x case of DESIGN.md).
void BM_SmallCalls(benchmark::State& state) { run_calls(state, kSetupFns[state.range(0)], "calls_1m"); }
// Recursive fib(20) per iteration (call-heavy code).
void BM_Fib(benchmark::State& state) { run_calls(state, kSetupFns[state.range(0)], "fib20"); }
// A loop without calls: the hook adds one frame's cost.
void BM_Loop(benchmark::State& state) { run_calls(state, kSetupFns[state.range(0)], "loop_1m"); }

BENCHMARK(BM_SmallCalls)->ArgName("mode")->DenseRange(0, 2)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Fib)->ArgName("mode")->DenseRange(0, 2)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Loop)->ArgName("mode")->DenseRange(0, 2)->Unit(benchmark::kMillisecond);

const char kPrelude[] = R"PY(
import sys
sys.path.insert(0, PYTHONPATH)
import fastpy

def _mode(tiers):          # None: no hook; 'none': hook passes every frame through; else whole program
    if tiers is not None:
        fastpy.config(tiers=tiers)
        fastpy.enable()

def _fastpy_teardown():
    fastpy.disable()

def leaf(x):
    return x

def calls_1m():
    for i in range(1000000):
        leaf(i)

def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)

def fib20():
    return fib(20)

def loop_1m():
    s = 0
    for i in range(1000000):
        s += i
    return s
)PY";

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  Py_InitializeEx(0);
  g_ns = PyDict_New();
  PyDict_SetItemString(g_ns, "__builtins__", PyEval_GetBuiltins());
  PyObject* path = PyUnicode_FromString(FASTPY_PYTHONPATH);
  PyDict_SetItemString(g_ns, "PYTHONPATH", path);
  Py_DECREF(path);
  PyObject* r = PyRun_String(kPrelude, Py_file_input, g_ns, g_ns);
  if (!r) {
    PyErr_Print();
    return 1;
  }
  Py_DECREF(r);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  Py_DECREF(g_ns);
  return Py_FinalizeEx() < 0 ? 1 : 0;
}
