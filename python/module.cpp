// The _fastpy extension module: the C API under the `fastpy` package (python/fastpy/).
#include <Python.h>

#include <memory>
#include <string>

#include "gc/jit_heap.h"
#include "interp/eval.h"
#include "interp/loops.h"
#include "interp/recorder.h"
#include "tiers/ir/ir.h"
#include "python/code_extra.h"
#include "python/hook.h"
#include "runtime/params.h"
#include "runtime/stats.h"
#include "tiers/baseline/code_memory.h"
#include "tiers/baseline/codegen.h"

namespace fastpy {
namespace {

PyObject* g_config_error = nullptr;   // fastpy.ConfigError (a ValueError)

// ---------------------------------------------------------------- hook control
PyObject* py_set_whole_program(PyObject*, PyObject* arg) {
  int on = PyObject_IsTrue(arg);
  if (on < 0) return nullptr;
  hook_set_whole_program(on);
  Py_RETURN_NONE;
}

PyObject* py_state(PyObject*, PyObject*) {
  return Py_BuildValue("{s:O,s:O,s:O}", "whole_program", hook_whole_program() ? Py_True : Py_False,
                       "hook_installed", hook_installed() ? Py_True : Py_False, "chained",
                       hook_chained() ? Py_True : Py_False);
}

// ---------------------------------------------------------------- parameters
PyObject* value_to_py(ParamId id, int64_t v) {
  if (param_info(id).kind == ParamKind::Int) return PyLong_FromLongLong(v);
  return PyUnicode_FromString(format_param(id, v).c_str());
}

PyObject* py_load_env(PyObject*, PyObject*) {
  Params p;
  std::string err = load_params_from_env(&p);
  if (!err.empty()) return PyUnicode_FromString(err.c_str());
  g_params = p;
  Py_RETURN_NONE;
}

PyObject* py_config_set(PyObject*, PyObject* args) {
  const char* name;
  PyObject* value;
  if (!PyArg_ParseTuple(args, "sO", &name, &value)) return nullptr;
  ParamId id;
  if (!find_param(name, &id)) return PyErr_Format(PyExc_TypeError, "fastpy.config(): unknown parameter '%s'", name);
  PyObject* text = (PyLong_Check(value) || PyUnicode_Check(value)) && !PyBool_Check(value) ? PyObject_Str(value) : nullptr;
  if (!text)
    return PyErr_Format(PyExc_TypeError, "fastpy.config(%s=...): expected int or str, got %s", name,
                        Py_TYPE(value)->tp_name);
  int64_t parsed;
  std::string err = parse_param(id, PyUnicode_AsUTF8(text), std::string("fastpy.config(") + name + ")", &parsed);
  Py_DECREF(text);
  if (!err.empty()) {
    PyErr_SetString(g_config_error, err.c_str());
    return nullptr;
  }
  g_params.value[static_cast<int>(id)] = parsed;
  Py_RETURN_NONE;
}

PyObject* py_config_get(PyObject*, PyObject*) {
  PyObject* d = PyDict_New();
  for (int i = 0; d && i < kNumParams; i++) {
    ParamId id = static_cast<ParamId>(i);
    PyObject* v = value_to_py(id, g_params.value[i]);
    if (!v || PyDict_SetItemString(d, param_info(id).name, v) < 0) Py_CLEAR(d);
    Py_XDECREF(v);
  }
  return d;
}

PyObject* py_params_table(PyObject*, PyObject*) {
  static const char* kKinds[] = {"int", "set", "enum"};
  PyObject* list = PyList_New(0);
  for (int i = 0; list && i < kNumParams; i++) {
    const ParamInfo& p = param_info(static_cast<ParamId>(i));
    PyObject* row = Py_BuildValue("{s:s,s:s,s:s,s:s,s:L,s:L,s:s,s:s}", "name", p.name, "env", p.env, "type",
                                  kKinds[static_cast<int>(p.kind)], "default", p.def, "min", (long long)p.min,
                                  "max", (long long)p.max, "accepted", p.accepted, "doc", p.doc);
    if (!row || PyList_Append(list, row) < 0) Py_CLEAR(list);
    Py_XDECREF(row);
  }
  return list;
}

PyObject* py_params_help(PyObject*, PyObject*) { return PyUnicode_FromString(params_help().c_str()); }

// ---------------------------------------------------------------- stats
PyObject* py_stats(PyObject*, PyObject*) {
  PyObject* d = PyDict_New();
  for (int i = 0; d && i < kNumStats; i++) {
    PyObject* v = PyLong_FromUnsignedLongLong(g_stats[i]);
    if (!v || PyDict_SetItemString(d, stat_info(static_cast<Stat>(i)).name, v) < 0) Py_CLEAR(d);
    Py_XDECREF(v);
  }
  return d;
}

// {opcode: handovers} for the opcodes the interpreter handed frames over at (names are mapped in Python).
PyObject* py_handovers(PyObject*, PyObject*) {
  PyObject* d = PyDict_New();
  if (!d) return nullptr;
  const unsigned long long* h = interp_handovers_by_opcode();
  for (int op = 0; op < 256; op++) {
    if (!h[op]) continue;
    PyObject* k = PyLong_FromLong(op);
    PyObject* v = PyLong_FromUnsignedLongLong(h[op]);
    int rc = (k && v) ? PyDict_SetItem(d, k, v) : -1;
    Py_XDECREF(k);
    Py_XDECREF(v);
    if (rc < 0) {
      Py_DECREF(d);
      return nullptr;
    }
  }
  return d;
}

// {reason: recordings aborted} for the reasons of interp/abort_reasons.def that happened.
PyObject* py_aborts(PyObject*, PyObject*) {
  PyObject* d = PyDict_New();
  const uint64_t* n = abort_counts();
  for (int i = 0; d && i < kNumAborts; i++) {
    if (!n[i]) continue;
    PyObject* v = PyLong_FromUnsignedLongLong(n[i]);
    if (!v || PyDict_SetItemString(d, abort_name(static_cast<Abort>(i)), v) < 0) Py_CLEAR(d);
    Py_XDECREF(v);
  }
  return d;
}

// {reason: meaning} for every abort reason (docs/stats.md is checked against it).
PyObject* py_abort_docs(PyObject*, PyObject*) {
  PyObject* d = PyDict_New();
  for (int i = 0; d && i < kNumAborts; i++) {
    PyObject* v = PyUnicode_FromString(abort_doc(static_cast<Abort>(i)));
    if (!v || PyDict_SetItemString(d, abort_name(static_cast<Abort>(i)), v) < 0) Py_CLEAR(d);
    Py_XDECREF(v);
  }
  return d;
}

PyObject* py_stats_reset(PyObject*, PyObject*) {
  stats_reset();
  abort_counts_reset();
  interp_handovers_reset();
  Py_RETURN_NONE;
}

PyObject* py_stats_docs(PyObject*, PyObject*) {
  PyObject* d = PyDict_New();
  for (int i = 0; d && i < kNumStats; i++) {
    const StatInfo& s = stat_info(static_cast<Stat>(i));
    PyObject* v = PyUnicode_FromString(s.doc);
    if (!v || PyDict_SetItemString(d, s.name, v) < 0) Py_CLEAR(d);
    Py_XDECREF(v);
  }
  return d;
}

// ---------------------------------------------------------------- the launcher
// Runs a script file in `globals` as `python script.py` runs it (Modules/main.c, pymain_run_file): opened
// with _Py_fopen_obj (its audit event), parsed by the file tokenizer (the same BOM, coding cookie and NUL
// byte handling), no compiler flags inherited. compile() + exec() would differ in two ways: the string
// tokenizer rejects NUL bytes that 3.11's file tokenizer passes over, and compile()'s PyAST_Check builds
// the ast module's 118 node classes on first use (~8 M instructions, 2-3 ms of every run).
PyObject* py_run_file(PyObject*, PyObject* args) {
  PyObject *path, *globals;
  if (!PyArg_ParseTuple(args, "UO!", &path, &PyDict_Type, &globals)) return nullptr;
  PyObject* encoded = PyUnicode_EncodeFSDefault(path);
  if (!encoded) return nullptr;
  FILE* fp = _Py_fopen_obj(path, "rb");
  PyObject* r = nullptr;
  if (fp) {
    PyCompilerFlags cf = _PyCompilerFlags_INIT;
    r = PyRun_FileExFlags(fp, PyBytes_AS_STRING(encoded), Py_file_input, globals, globals, 1, &cf);
  }
  Py_DECREF(encoded);
  return r;
}

// ---------------------------------------------------------------- code marks (@jit / @nojit)
PyObject* py_mark_code(PyObject*, PyObject* args) {
  PyObject* code;
  const char* mark;
  if (!PyArg_ParseTuple(args, "O!s", &PyCode_Type, &code, &mark)) return nullptr;
  std::string m(mark);
  uint32_t flag = m == "jit" ? uint32_t(kCodeJit) : m == "nojit" ? uint32_t(kCodeNoJit) : 0u;
  if (!flag) return PyErr_Format(PyExc_ValueError, "unknown mark '%s'", mark);
  CodeData* cd = code_data_get(reinterpret_cast<PyCodeObject*>(code));
  if (!cd) return nullptr;
  uint32_t old = cd->flags;
  cd->flags = (old & ~(kCodeJit | kCodeNoJit)) | flag;
  if ((old & kCodeJit) && flag != kCodeJit) hook_jit_code_removed();
  if (!(old & kCodeJit) && flag == kCodeJit) hook_jit_code_added();
  Py_RETURN_NONE;
}

PyObject* py_code_marks(PyObject*, PyObject* code) {
  if (!PyCode_Check(code)) return PyErr_Format(PyExc_TypeError, "expected a code object");
  CodeData* cd = code_data_peek(reinterpret_cast<PyCodeObject*>(code));
  uint32_t f = cd ? cd->flags : 0;
  return Py_BuildValue("{s:O,s:O,s:O}", "jit", (f & kCodeJit) ? Py_True : Py_False, "nojit",
                       (f & kCodeNoJit) ? Py_True : Py_False, "lifted", (f & kCodeLifted) ? Py_True : Py_False);
}

// The loops fastpy found in a code object (None until a frame of it reached the interpreter): a list of
// {jump, header, count, state, ...} with offsets in bytes, like dis; one per loop header (`jump` is its first
// backward jump, `last_jump` its last).
PyObject* py_code_loops(PyObject*, PyObject* code) {
  if (!PyCode_Check(code)) return PyErr_Format(PyExc_TypeError, "expected a code object");
  CodeData* cd = code_data_peek(reinterpret_cast<PyCodeObject*>(code));
  if (!cd || !cd->scanned) Py_RETURN_NONE;
  static const char* kStates[] = {"counting", "recording", "compiled", "blacklisted"};
  int n = cd->loops ? cd->loops->n : 0;
  PyObject* list = PyList_New(0);
  for (int i = 0; list && i < n; i++) {
    const LoopSlot& l = cd->loops->slots[i];
    if (l.owner != &l) continue;   // another backward jump of a loop already listed
    TraceInfo ti;
    bool traced = loop_trace_info(&l, &ti);
    PyObject* exits = PyDict_New();
    for (size_t s = 0; exits && traced && s < ti.optimized->ins.size(); s++) {
      if (!ti.exits[s]) continue;
      PyObject* k = PyLong_FromSize_t(s);
      PyObject* v = PyLong_FromUnsignedLongLong(ti.exits[s]);
      if (!k || !v || PyDict_SetItem(exits, k, v) < 0) Py_CLEAR(exits);
      Py_XDECREF(k);
      Py_XDECREF(v);
    }
    PyObject* side = exits ? PyDict_New() : nullptr;
    for (size_t k = 0; side && traced && k < ti.side.size(); k++) {
      PyObject* g = PyLong_FromLong(ti.side[k].first);
      PyObject* v = PyLong_FromUnsignedLongLong(ti.side[k].second);
      if (!g || !v || PyDict_SetItem(side, g, v) < 0) Py_CLEAR(side);
      Py_XDECREF(g);
      Py_XDECREF(v);
    }
    if (!side) Py_CLEAR(exits);
    PyObject* d = exits ? Py_BuildValue(
        "{s:i,s:i,s:i,s:I,s:s,s:i,s:s,s:O,s:K,s:N,s:s,s:n,s:N}", "jump", l.jump * 2, "last_jump", l.last_jump * 2,
        "header", l.header * 2, "count",
        (unsigned)l.count, "state", kStates[static_cast<int>(l.state)], "aborts", l.aborts, "abort_reason",
        l.aborts ? abort_name(static_cast<Abort>(l.abort_reason)) : "", "traced", traced ? Py_True : Py_False,
        "runs", (unsigned long long)(traced ? ti.runs : 0), "exits", exits, "tier", traced ? ti.tier : "",
        "code_bytes", (Py_ssize_t)(traced ? ti.code_bytes : 0), "side_traces", side) : nullptr;
    if (!d || PyList_Append(list, d) < 0) Py_CLEAR(list);
    Py_XDECREF(d);
  }
  return list;
}

// The IR of the trace attached to the loop whose backward jump is at byte offset `jump`: (recorded,
// optimized) as text with a comment per instruction where one helps (variable names, constants); None when
// the loop has no trace.
PyObject* py_loop_trace_ir(PyObject*, PyObject* args) {
  PyObject* code;
  int jump;
  if (!PyArg_ParseTuple(args, "O!i", &PyCode_Type, &code, &jump)) return nullptr;
  auto* co = reinterpret_cast<PyCodeObject*>(code);
  CodeData* cd = code_data_peek(co);
  if (!cd || !cd->loops) Py_RETURN_NONE;
  for (int i = 0; i < cd->loops->n; i++) {
    const LoopSlot& l = cd->loops->slots[i];
    TraceInfo ti;
    if (l.owner != &l || l.jump * 2 != jump || !loop_trace_info(&l, &ti)) continue;
    auto text = [&](const ir::Trace& t) {
      return ir::ir_print(t, [&](ir::IRRef r) { return trace_note(co, t, r); });
    };
    std::string rec = text(*ti.recorded), opt = text(*ti.optimized);
    return Py_BuildValue("(NN)", PyUnicode_FromStringAndSize(rec.data(), (Py_ssize_t)rec.size()),
                         PyUnicode_FromStringAndSize(opt.data(), (Py_ssize_t)opt.size()));
  }
  Py_RETURN_NONE;
}

// ---------------------------------------------------------------- testing hooks (fastpy._testing)
PyObject* runtime_error(const std::string& what) {
  PyErr_SetString(PyExc_RuntimeError, what.c_str());
  return nullptr;
}

PyObject* py_stack_info(PyObject*, PyObject*) {
  StackInfo s = hook_stack_info();
  return Py_BuildValue("{s:n,s:n,s:n}", "size", (Py_ssize_t)s.size, "margin", (Py_ssize_t)s.margin,
                       "remaining", (Py_ssize_t)s.remaining);
}

// asmjit: emit a checked add and run it.
PyObject* py_probe_asmjit(PyObject*, PyObject* args) {
  long long a, b;
  if (!PyArg_ParseTuple(args, "LL", &a, &b)) return nullptr;
  std::string err;
  static baseline::CheckedAddFn fn = baseline::emit_checked_add(&err);
  if (!fn) return runtime_error(err.empty() ? "asmjit: emission failed earlier" : err);
  int64_t out = 0;
  if (fn(a, b, &out)) Py_RETURN_NONE;   // overflow
  return PyLong_FromLongLong(out);
}

// The baseline tier's code memory: bytes of machine code held and traces compiled and not released.
PyObject* py_baseline_info(PyObject*, PyObject*) {
  const std::vector<uint64_t>& ns = baseline::compile_times_ns();
  PyObject* us = PyList_New(Py_ssize_t(ns.size()));
  if (!us) return nullptr;
  for (size_t i = 0; i < ns.size(); i++) {
    PyObject* v = PyFloat_FromDouble(double(ns[i]) / 1000.0);
    if (!v) {
      Py_DECREF(us);
      return nullptr;
    }
    PyList_SET_ITEM(us, Py_ssize_t(i), v);
  }
  return Py_BuildValue("{s:n,s:n,s:N,s:n}", "code_bytes", (Py_ssize_t)baseline::code_bytes(), "traces_live",
                       (Py_ssize_t)baseline::traces_live(), "compile_us", us, "save_all_retries",
                       (Py_ssize_t)baseline::save_all_retries());
}

// mimalloc: n objects in an arena; returns (bytes, all owned by the arena's heap).
PyObject* py_probe_mimalloc(PyObject*, PyObject* args) {
  Py_ssize_t n;
  if (!PyArg_ParseTuple(args, "n", &n)) return nullptr;
  Arena arena;
  bool owned = true;
  for (Py_ssize_t i = 0; i < n; i++) owned &= arena.owns(arena.alloc(48));
  return Py_BuildValue("(nO)", (Py_ssize_t)arena.bytes_allocated(), owned ? Py_True : Py_False);
}

PyMethodDef kMethods[] = {
    {"set_whole_program", py_set_whole_program, METH_O, "Turn whole-program mode on or off."},
    {"state", py_state, METH_NOARGS, "Hook state: whole_program, hook_installed, chained."},
    {"load_env", py_load_env, METH_NOARGS, "Load FASTPY_* variables; returns an error message or None."},
    {"config_set", py_config_set, METH_VARARGS, "Set one parameter (name, int|str)."},
    {"config_get", py_config_get, METH_NOARGS, "All parameters as a dict."},
    {"params_table", py_params_table, METH_NOARGS, "The parameter table (params.def) as a list of dicts."},
    {"params_help", py_params_help, METH_NOARGS, "The --help-params text."},
    {"stats", py_stats, METH_NOARGS, "Counters (stats.def) as a dict."},
    {"stats_reset", py_stats_reset, METH_NOARGS, "Zero every counter."},
    {"handovers", py_handovers, METH_NOARGS, "Interpreter handovers to CPython, {opcode: count}."},
    {"stats_docs", py_stats_docs, METH_NOARGS, "Counter name -> meaning."},
    {"run_file", py_run_file, METH_VARARGS, "Run a script file in a globals dict as `python script.py` does."},
    {"mark_code", py_mark_code, METH_VARARGS, "Mark a code object 'jit' or 'nojit'."},
    {"code_marks", py_code_marks, METH_O, "A code object's marks."},
    {"code_loops", py_code_loops, METH_O, "A code object's loops (None when not scanned yet)."},
    {"loop_trace_ir", py_loop_trace_ir, METH_VARARGS, "(recorded, optimized) IR text of a loop's trace, or None."},
    {"aborts", py_aborts, METH_NOARGS, "Recordings aborted, by reason."},
    {"abort_docs", py_abort_docs, METH_NOARGS, "Every abort reason and its meaning."},
    {"stack_info", py_stack_info, METH_NOARGS, "C stack size, guard margin and remaining bytes."},
    {"probe_asmjit", py_probe_asmjit, METH_VARARGS, "Run asmjit-emitted checked add (None on overflow)."},
    {"baseline_info", py_baseline_info, METH_NOARGS, "Baseline tier: code_bytes, traces_live, compile_us, save_all_retries."},
    {"probe_mimalloc", py_probe_mimalloc, METH_VARARGS, "Allocate in a mimalloc arena."},
    {nullptr, nullptr, 0, nullptr}};

PyModuleDef kModule = {PyModuleDef_HEAD_INIT, "fastpy._fastpy", "fastpy's native core.", -1, kMethods};

}  // namespace
}  // namespace fastpy

PyMODINIT_FUNC PyInit__fastpy() {
  using namespace fastpy;
  PyObject* m = PyModule_Create(&kModule);
  if (!m) return nullptr;
  g_config_error = PyErr_NewExceptionWithDoc("fastpy.ConfigError", "A FASTPY_* variable or fastpy.config() value is invalid.",
                                             PyExc_ValueError, nullptr);
  if (!g_config_error || PyModule_AddObjectRef(m, "ConfigError", g_config_error) < 0 || !code_extra_init() ||
      !interp_init()) {
    Py_DECREF(m);
    return nullptr;
  }
  std::string err = load_params_from_env(&g_params);   // defaults at least; errors surface via load_env()
  (void)err;
  if (!recorder_init()) {
    Py_DECREF(m);
    return nullptr;
  }
  return m;
}
