// The fastpy interpreter (see eval.h). Semantics follow CPython 3.11's Python/ceval.c instruction by
// instruction; where CPython relies on a helper it does not export, the helper is re-written here with the
// same messages, or the frame is handed over to CPython's evaluator *before* the instruction (which then
// runs it from scratch: only done where nothing observable has happened yet).
//
// Frame discipline (DESIGN.md §3): the frame is linked as the thread's current frame while it runs here;
// at the start of every instruction prev_instr points at it and stacktop is exact, and operands stay on the
// value stack (owned) until the call-outs that use them have returned, so every call-out and every raise
// sees an exact frame. Errors unwind through the code's exception table here, like CPython's.
// internals.h first: it defines Py_BUILD_CORE before <Python.h>.
#include "python/cpython311/internals.h"
#include "interp/eval.h"

#include <opcode.h>

#include <cstring>

#include "gc/code_data.h"
#include "gc/jit_heap.h"
#include "interp/ceval_helpers.h"
#include "interp/loops.h"
#include "interp/recorder.h"
#include "runtime/params.h"
#include "runtime/stats.h"

// Every base opcode interp_run implements (a TARGET() each); any other hands the frame over.
#define FASTPY_INTERP_OPS(X) \
  X(NOP) X(RESUME) X(MAKE_CELL) X(COPY_FREE_VARS) X(LOAD_FAST) X(LOAD_CLOSURE) X(LOAD_CONST) X(STORE_FAST) \
  X(DELETE_FAST) X(LOAD_DEREF) X(STORE_DEREF) X(DELETE_DEREF) X(LOAD_CLASSDEREF) X(LOAD_GLOBAL) \
  X(STORE_GLOBAL) X(DELETE_GLOBAL) X(LOAD_NAME) X(STORE_NAME) X(DELETE_NAME) X(POP_TOP) X(PUSH_NULL) \
  X(COPY) X(SWAP) X(UNARY_POSITIVE) X(UNARY_NEGATIVE) X(UNARY_INVERT) X(UNARY_NOT) X(BINARY_OP) \
  X(COMPARE_OP) X(IS_OP) X(CONTAINS_OP) X(BINARY_SUBSCR) X(STORE_SUBSCR) X(DELETE_SUBSCR) X(BUILD_SLICE) \
  X(LOAD_ATTR) X(LOAD_METHOD) X(STORE_ATTR) X(DELETE_ATTR) X(JUMP_FORWARD) X(POP_JUMP_FORWARD_IF_FALSE) \
  X(POP_JUMP_FORWARD_IF_TRUE) X(POP_JUMP_FORWARD_IF_NONE) X(POP_JUMP_FORWARD_IF_NOT_NONE) \
  X(JUMP_IF_FALSE_OR_POP) X(JUMP_IF_TRUE_OR_POP) X(JUMP_BACKWARD) X(POP_JUMP_BACKWARD_IF_FALSE) \
  X(POP_JUMP_BACKWARD_IF_TRUE) X(POP_JUMP_BACKWARD_IF_NONE) X(POP_JUMP_BACKWARD_IF_NOT_NONE) X(GET_ITER) \
  X(FOR_ITER) X(KW_NAMES) X(PRECALL) X(CALL) X(CALL_FUNCTION_EX) X(MAKE_FUNCTION) X(RETURN_VALUE) \
  X(BUILD_TUPLE) X(BUILD_LIST) X(BUILD_SET) X(BUILD_MAP) X(BUILD_CONST_KEY_MAP) X(BUILD_STRING) \
  X(LIST_APPEND) X(SET_ADD) X(MAP_ADD) X(LIST_EXTEND) X(SET_UPDATE) X(DICT_UPDATE) X(DICT_MERGE) \
  X(LIST_TO_TUPLE) X(UNPACK_SEQUENCE) X(UNPACK_EX) X(FORMAT_VALUE) X(LOAD_ASSERTION_ERROR) \
  X(RAISE_VARARGS) X(PUSH_EXC_INFO) X(POP_EXCEPT) X(CHECK_EXC_MATCH) X(RERAISE) X(BEFORE_WITH) \
  X(WITH_EXCEPT_START) X(IMPORT_NAME) X(IMPORT_STAR) X(IMPORT_FROM) X(SETUP_ANNOTATIONS) X(LOAD_BUILD_CLASS) X(GET_LEN) \
  X(MATCH_KEYS) X(MATCH_CLASS) X(MATCH_MAPPING) X(MATCH_SEQUENCE)

namespace fastpy {
namespace {

using namespace ceval;

unsigned long long g_handovers[256];

// Inline CACHE code units after each base instruction, as constants (interp_init checks them against
// CPython's own table, _PyOpcode_Caches).
constexpr int cache_entries(int op) {
  switch (op) {
    case LOAD_GLOBAL: return INLINE_CACHE_ENTRIES_LOAD_GLOBAL;
    case BINARY_OP: return INLINE_CACHE_ENTRIES_BINARY_OP;
    case UNPACK_SEQUENCE: return INLINE_CACHE_ENTRIES_UNPACK_SEQUENCE;
    case COMPARE_OP: return INLINE_CACHE_ENTRIES_COMPARE_OP;
    case BINARY_SUBSCR: return INLINE_CACHE_ENTRIES_BINARY_SUBSCR;
    case LOAD_ATTR: return INLINE_CACHE_ENTRIES_LOAD_ATTR;
    case STORE_ATTR: return INLINE_CACHE_ENTRIES_STORE_ATTR;
    case LOAD_METHOD: return INLINE_CACHE_ENTRIES_LOAD_METHOD;
    case CALL: return INLINE_CACHE_ENTRIES_CALL;
    case PRECALL: return INLINE_CACHE_ENTRIES_PRECALL;
    case STORE_SUBSCR: return INLINE_CACHE_ENTRIES_STORE_SUBSCR;
    default: return 0;
  }
}

// ---------------------------------------------------------------- fast paths (results identical to the slots)
inline bool is_medium_int(PyObject* o) {
  return PyLong_CheckExact(o) && static_cast<size_t>(Py_SIZE(o)) + 1U < 3U;
}
inline long long medium_value(PyObject* o) {
  return static_cast<long long>(Py_SIZE(o)) * reinterpret_cast<PyLongObject*>(o)->ob_digit[0];
}

// list[i] and tuple[i] for an exact list/tuple and a medium int in range (negative counts from the end):
// the item (borrowed); nullptr = take the generic path, which also raises the IndexError.
inline PyObject* subscr_fast(PyObject* container, PyObject* sub) {
  if (!is_medium_int(sub)) return nullptr;
  Py_ssize_t i = static_cast<Py_ssize_t>(medium_value(sub));
  if (PyList_CheckExact(container)) {
    Py_ssize_t n = PyList_GET_SIZE(container);
    if (i < 0) i += n;
    return static_cast<size_t>(i) < static_cast<size_t>(n) ? PyList_GET_ITEM(container, i) : nullptr;
  }
  if (PyTuple_CheckExact(container)) {
    Py_ssize_t n = PyTuple_GET_SIZE(container);
    if (i < 0) i += n;
    return static_cast<size_t>(i) < static_cast<size_t>(n) ? PyTuple_GET_ITEM(container, i) : nullptr;
  }
  return nullptr;
}

// The item slot `list[i] = v` writes for an exact list and an in-range medium int; nullptr = generic path.
inline PyObject** store_subscr_slot(PyObject* container, PyObject* sub) {
  if (!PyList_CheckExact(container) || !is_medium_int(sub)) return nullptr;
  Py_ssize_t i = static_cast<Py_ssize_t>(medium_value(sub));
  Py_ssize_t n = PyList_GET_SIZE(container);
  if (i < 0) i += n;
  return static_cast<size_t>(i) < static_cast<size_t>(n) ? &reinterpret_cast<PyListObject*>(container)->ob_item[i]
                                                         : nullptr;
}

// A builtin C function taking one argument (METH_O) or positional arguments (METH_FASTCALL), called
// directly as CPython's specialized PRECALL_NO_KW_BUILTIN_O/_FAST does, with the same recursion check and
// result check as the generic vectorcall path. nullptr without an error set = not such a call.
inline PyObject* call_builtin_fast(PyThreadState* ts, PyObject* fn, PyObject** args, int nargs) {
  if (!PyCFunction_CheckExact(fn)) return nullptr;
  int flags = PyCFunction_GET_FLAGS(fn);
  if (flags != METH_O && flags != METH_FASTCALL) return nullptr;
  if (flags == METH_O && nargs != 1) return nullptr;
  if (Py_EnterRecursiveCall(" while calling a Python object")) return nullptr;
  PyObject* self = PyCFunction_GET_SELF(fn);
  PyCFunction cfunc = PyCFunction_GET_FUNCTION(fn);
  PyObject* res = flags == METH_O ? cfunc(self, args[0])
                                  : reinterpret_cast<_PyCFunctionFast>(reinterpret_cast<void (*)()>(cfunc))(
                                        self, args, nargs);
  Py_LeaveRecursiveCall();
  return _Py_CheckFunctionResult(ts, fn, res, nullptr);
}

// `module.name` for an exact module whose type has no attribute of that name (so no descriptor can take
// precedence): the value in the module's dict, borrowed; nullptr = take the generic path (which also
// calls a module-level __getattr__).
inline PyObject* module_attr_fast(PyObject* obj, PyObject* name) {
  if (!PyModule_CheckExact(obj) || _PyType_Lookup(&PyModule_Type, name)) return nullptr;
  PyObject* v = PyDict_GetItemWithError(PyModule_GetDict(obj), name);
  if (!v && PyErr_Occurred()) PyErr_Clear();   // the generic path repeats the lookup and raises
  return v;
}

// BINARY_OP on two exact floats or two small ints; nullptr (no error) = take the generic path.
__attribute__((always_inline)) inline PyObject* binary_fast(int oparg, PyObject* a, PyObject* b) {
  static_assert(NB_INPLACE_ADD - NB_ADD == NB_INPLACE_MULTIPLY - NB_MULTIPLY &&
                    NB_INPLACE_ADD - NB_ADD == NB_INPLACE_SUBTRACT - NB_SUBTRACT &&
                    NB_INPLACE_ADD - NB_ADD == NB_INPLACE_TRUE_DIVIDE - NB_TRUE_DIVIDE,
                "in-place variants follow the plain ones at a fixed distance");
  // Conditional branches, not a jump table: each BINARY_OP site then predicts its own operation.
  int k = oparg >= NB_INPLACE_ADD ? oparg - (NB_INPLACE_ADD - NB_ADD) : oparg;
  if (PyFloat_CheckExact(a) && PyFloat_CheckExact(b)) {
    double x = PyFloat_AS_DOUBLE(a), y = PyFloat_AS_DOUBLE(b);
    if (k == NB_ADD) return PyFloat_FromDouble(x + y);
    if (k == NB_MULTIPLY) return PyFloat_FromDouble(x * y);
    if (k == NB_SUBTRACT) return PyFloat_FromDouble(x - y);
    if (k == NB_TRUE_DIVIDE && y != 0.0) return PyFloat_FromDouble(x / y);
    return nullptr;
  }
  if (is_medium_int(a) && is_medium_int(b)) {
    long long x = medium_value(a), y = medium_value(b);   // |x|, |y| < 2**30: no overflow below
    if (k == NB_ADD) return PyLong_FromLongLong(x + y);
    if (k == NB_SUBTRACT) return PyLong_FromLongLong(x - y);
    if (k == NB_MULTIPLY) return PyLong_FromLongLong(x * y);
  }
  return nullptr;
}

PyObject* power(PyObject* a, PyObject* b) { return PyNumber_Power(a, b, Py_None); }
PyObject* inplace_power(PyObject* a, PyObject* b) { return PyNumber_InPlacePower(a, b, Py_None); }

using BinaryFn = PyObject* (*)(PyObject*, PyObject*);
// Indexed by BINARY_OP's oparg (NB_* in opcode.h), like ceval.c's binary_ops[].
const BinaryFn kBinaryOps[] = {
    PyNumber_Add, PyNumber_And, PyNumber_FloorDivide, PyNumber_Lshift, PyNumber_MatrixMultiply,
    PyNumber_Multiply, PyNumber_Remainder, PyNumber_Or, power, PyNumber_Rshift, PyNumber_Subtract,
    PyNumber_TrueDivide, PyNumber_Xor, PyNumber_InPlaceAdd, PyNumber_InPlaceAnd,
    PyNumber_InPlaceFloorDivide, PyNumber_InPlaceLshift, PyNumber_InPlaceMatrixMultiply,
    PyNumber_InPlaceMultiply, PyNumber_InPlaceRemainder, PyNumber_InPlaceOr, inplace_power,
    PyNumber_InPlaceRshift, PyNumber_InPlaceSubtract, PyNumber_InPlaceTrueDivide, PyNumber_InPlaceXor,
};
static_assert(NB_ADD == 0 && NB_SUBTRACT == 10 && NB_INPLACE_ADD == 13 && NB_INPLACE_XOR == 25,
              "kBinaryOps follows opcode.h's NB_* order");

// COMPARE_OP on two exact floats or two small ints: Py_True/Py_False (borrowed), nullptr = generic.
__attribute__((always_inline)) inline PyObject* compare_fast(int op, PyObject* a, PyObject* b) {
  bool r;
  if (PyFloat_CheckExact(a) && PyFloat_CheckExact(b)) {
    double x = PyFloat_AS_DOUBLE(a), y = PyFloat_AS_DOUBLE(b);
    switch (op) {
      case Py_LT: r = x < y; break;
      case Py_LE: r = x <= y; break;
      case Py_EQ: r = x == y; break;
      case Py_NE: r = x != y; break;
      case Py_GT: r = x > y; break;
      default: r = x >= y; break;
    }
  } else if (is_medium_int(a) && is_medium_int(b)) {
    long long x = medium_value(a), y = medium_value(b);
    switch (op) {
      case Py_LT: r = x < y; break;
      case Py_LE: r = x <= y; break;
      case Py_EQ: r = x == y; break;
      case Py_NE: r = x != y; break;
      case Py_GT: r = x > y; break;
      default: r = x >= y; break;
    }
  } else {
    return nullptr;
  }
  return r ? Py_True : Py_False;
}

// Truth value for the conditional jumps: 1, 0, or -1 with an exception set. Does not consume `v`.
inline int truth(PyObject* v) {
  if (v == Py_True) return 1;
  if (v == Py_False || v == Py_None) return 0;
  return PyObject_IsTrue(v);
}

}  // namespace

namespace {
// The dispatch table DISPATCH() jumps through: the instructions' labels, or while a loop is being recorded,
// the recorder's step for every opcode (which then jumps to the instruction through g_run_labels). Swapping
// the table costs nothing when no recording runs. Filled on the first interp_run (labels are local to it).
void* g_labels[256];
void* g_run_labels[256];
void* g_record_label;
}  // namespace

void interp_set_record_dispatch(bool on) {
  for (int raw = 0; raw < DO_TRACING; raw++) g_labels[raw] = on ? g_record_label : g_run_labels[raw];
}

bool interp_init() {
  g_loops_free = &loops_free;
  static const struct {
    PyObject** slot;
    const char* text;
  } kInterned[] = {{&s_name, "name"},           {&s_enter, "__enter__"},         {&s_exit, "__exit__"},
                   {&s_import, "__import__"},   {&s_build_class, "__build_class__"}, {&s_dunder_name, "__name__"},
                   {&s_dunder_spec, "__spec__"}, {&s_initializing, "_initializing"},
                   {&s_dunder_all, "__all__"},  {&s_dunder_dict, "__dict__"},
                   {&s_get, "get"},              {&s_match_args, "__match_args__"},
                   {&s_annotations, "__annotations__"}};
  for (const auto& s : kInterned) {
    if (!*s.slot && !(*s.slot = PyUnicode_InternFromString(s.text))) return false;
  }
  for (int op = 0; op < 256; op++) {
    if (fastpy_opcode_deopt[op] == op && fastpy_opcode_caches[op] != cache_entries(op)) {
      PyErr_Format(PyExc_ImportError, "fastpy: opcode %d has %d inline cache entries in this CPython, %d in the "
                   "headers fastpy was built with", op, fastpy_opcode_caches[op], cache_entries(op));
      return false;
    }
  }
  return true;
}

void interp_prepare(PyCodeObject* co, CodeData* cd) {
  if (cd->scanned) return;
  cd->loops = loops_build(co);
  if (Py_ssize_t n = PyTuple_GET_SIZE(co->co_names)) {
    cd->globals_cache = static_cast<GlobalSlot*>(jit_malloc(sizeof(GlobalSlot) * n));
  }
  cd->scanned = true;
}

const unsigned long long* interp_handovers_by_opcode() { return g_handovers; }
void interp_handovers_reset() { std::memset(g_handovers, 0, sizeof g_handovers); }

PyObject* interp_run(PyThreadState* ts, _PyInterpreterFrame* f, CodeData* cd) {
  if (!py::enter_recursive_frame(ts)) return nullptr;   // not linked yet: like CPython's start_frame
  py::link_frame(ts, f);

  PyCodeObject* const co = f->f_code;
  py::CodeUnit* const first = py::code_units(co);
  PyObject** const locals = f->localsplus;
  PyObject** const stackbase = locals + co->co_nlocalsplus;
  PyObject* const consts = co->co_consts;
  PyObject* const names = co->co_names;
  _PyCFrame* const cframe = ts->cframe;   // shared with our caller: settrace() from a callee shows here
  LoopTable* const loops = cd->loops;
  GlobalSlot* const globals_cache = cd->globals_cache;
  const uint32_t hot_loop = static_cast<uint32_t>(g_params.get(ParamId::hot_loop));

  py::CodeUnit* next = f->prev_instr + 1;
  PyObject** sp = locals + f->stacktop;
  PyObject* kwnames = nullptr;   // set by KW_NAMES for the next CALL
  py::CodeUnit* start = next;    // first code unit of the current instruction (its EXTENDED_ARGs included)
  py::CodeUnit* here = next;     // the instruction itself
  py::CodeUnit* target = nullptr;
  int op = 0, oparg = 0;
  int unwind_index = 0;          // where the exception table is searched (CPython: INSTR_OFFSET() - 1)
  PyObject* retval;

#define TOP() (sp[-1])
#define SECOND() (sp[-2])
#define THIRD() (sp[-3])
#define PEEK(n) (sp[-(n)])
#define PUSH(v) (*sp++ = (v))
#define POP() (*--sp)
#define GETLOCAL(i) (locals[i])
#define SETLOCAL(i, v)         \
  do {                         \
    PyObject* old_ = locals[i]; \
    locals[i] = (v);           \
    Py_XDECREF(old_);          \
  } while (0)
#define NAME(i) PyTuple_GET_ITEM(names, i)
// Instruction dispatch is threaded (GCC's computed goto, as in CPython's own evaluator): every instruction
// ends with its own copy of DISPATCH(), so the CPU predicts each indirect jump from its own history instead
// of one shared switch. `labels` maps every raw opcode (specialized ones included) to its base handler.
// Like CPython, the thread's use_tracing (0, or 255 while sys.settrace/setprofile is active) is or'ed into
// the opcode, so the check costs no branch: label 255 hands the frame over.
#define DISPATCH()                                                                            \
  do {                                                                                        \
    start = here = next;                                                                      \
    py::CodeUnit word_ = *here;                                                               \
    int raw_ = _Py_OPCODE(word_) | cframe->use_tracing; /* 255 while tracing: a handover */   \
    oparg = _Py_OPARG(word_);                                                                 \
    op = fastpy_opcode_deopt[raw_];                                                           \
    f->prev_instr = here;                                                                     \
    f->stacktop = static_cast<int>(sp - locals);                                              \
    goto* g_labels[raw_];                                                                     \
  } while (0)
// Each instruction skips its own inline caches with a constant: computing `next` from table loads would put
// three dependent loads on the critical path from one instruction to the next.
#define TARGET(name) \
  L_##name:          \
  next = here + 1 + cache_entries(name);
#define JUMP_TO(p) \
  do {             \
    next = (p);    \
    DISPATCH();    \
  } while (0)

  if (__builtin_expect(g_labels[0] == nullptr, 0)) {
    static void* by_base[256];   // static: 2 KiB on the C stack of every interpreted call would cost depth
    for (void*& l : by_base) l = &&L_unsupported;
#define FASTPY_SET_LABEL(name) by_base[name] = &&L_##name;
    FASTPY_INTERP_OPS(FASTPY_SET_LABEL)
#undef FASTPY_SET_LABEL
    by_base[EXTENDED_ARG] = &&L_EXTENDED_ARG;
    for (int raw = 0; raw < 255; raw++) g_run_labels[raw] = by_base[fastpy_opcode_deopt[raw]];
    static_assert(DO_TRACING == 255, "use_tracing is or'ed into the opcode");
    g_run_labels[DO_TRACING] = &&tracing_switched_on;
    g_record_label = &&record_step;
    std::memcpy(g_labels, g_run_labels, sizeof g_labels);
    if (g_recorder) interp_set_record_dispatch(true);
  }

  DISPATCH();

record_step:   // a loop is being recorded: show the recorder this instruction before it runs
  if (op != EXTENDED_ARG && g_recorder) rec_instruction(f, start, here, op, oparg, sp, loops);
  goto* g_run_labels[_Py_OPCODE(*here)];

tracing_switched_on:   // sys.settrace/setprofile turned on while this frame ran: CPython takes it from here
  op = fastpy_opcode_deopt[_Py_OPCODE(*here)];
  stat_inc(Stat::handover_tracing);
  goto handover;

L_EXTENDED_ARG: {   // widens the next instruction's oparg; `start` stays at the first EXTENDED_ARG
  py::CodeUnit word = *++here;
  int raw = _Py_OPCODE(word);
  oparg = (oparg << 8) | _Py_OPARG(word);
  op = fastpy_opcode_deopt[raw];
  f->prev_instr = here;
  goto* g_labels[raw];
}

  {   // the instructions; DISPATCH() jumps straight to the next one (computed goto)
    TARGET(NOP)
      DISPATCH();

    TARGET(RESUME)
      if (oparg < 2 && py::eval_breaker_set(ts)) {
        int r = handle_pending(ts);
        if (r < 0) goto error;
        if (r > 0) {
          stat_inc(Stat::handover_async_exc);
          goto handover;
        }
      }
      DISPATCH();

    TARGET(MAKE_CELL) {
      PyObject* cell = PyCell_New(GETLOCAL(oparg));
      if (!cell) goto error;
      SETLOCAL(oparg, cell);
      DISPATCH();
    }
    TARGET(COPY_FREE_VARS) {
      PyObject* closure = reinterpret_cast<PyFunctionObject*>(f->f_func)->func_closure;
      int offset = co->co_nlocals + co->co_nplaincellvars;
      for (int i = 0; i < oparg; ++i) {
        PyObject* o = PyTuple_GET_ITEM(closure, i);
        Py_INCREF(o);
        locals[offset + i] = o;
      }
      DISPATCH();
    }

    // ---------------------------------------------------------------- locals, constants, names
    TARGET(LOAD_FAST)
    TARGET(LOAD_CLOSURE) {
      PyObject* v = GETLOCAL(oparg);
      if (!v) {
        unbound_local(co, oparg);
        goto error;
      }
      Py_INCREF(v);
      PUSH(v);
      DISPATCH();
    }
    TARGET(LOAD_CONST) {
      PyObject* v = PyTuple_GET_ITEM(consts, oparg);
      Py_INCREF(v);
      PUSH(v);
      DISPATCH();
    }
    TARGET(STORE_FAST) {
      PyObject* v = POP();
      SETLOCAL(oparg, v);
      DISPATCH();
    }
    TARGET(DELETE_FAST) {
      if (!GETLOCAL(oparg)) {
        unbound_local(co, oparg);
        goto error;
      }
      SETLOCAL(oparg, nullptr);
      DISPATCH();
    }
    TARGET(LOAD_DEREF) {
      PyObject* v = PyCell_GET(GETLOCAL(oparg));
      if (!v) {
        unbound_deref(co, oparg);
        goto error;
      }
      Py_INCREF(v);
      PUSH(v);
      DISPATCH();
    }
    TARGET(STORE_DEREF) {
      PyObject* v = POP();
      PyObject* cell = GETLOCAL(oparg);
      PyObject* old = PyCell_GET(cell);
      PyCell_SET(cell, v);
      Py_XDECREF(old);
      DISPATCH();
    }
    TARGET(DELETE_DEREF) {
      PyObject* cell = GETLOCAL(oparg);
      PyObject* old = PyCell_GET(cell);
      if (!old) {
        unbound_deref(co, oparg);
        goto error;
      }
      PyCell_SET(cell, nullptr);
      Py_DECREF(old);
      DISPATCH();
    }
    TARGET(LOAD_CLASSDEREF) {
      PyObject* name = PyTuple_GET_ITEM(co->co_localsplusnames, oparg);
      PyObject* ns = f->f_locals;
      PyObject* v;
      if (lookup_mapping(ns, name, &v) < 0) goto error;
      if (!v) {
        v = PyCell_GET(GETLOCAL(oparg));
        if (!v) {
          unbound_deref(co, oparg);
          goto error;
        }
        Py_INCREF(v);
      }
      PUSH(v);
      DISPATCH();
    }
    TARGET(LOAD_GLOBAL) {
      PyObject* name = NAME(oparg >> 1);
      PyObject* v;
      if (PyDict_CheckExact(f->f_globals) && PyDict_CheckExact(f->f_builtins)) {
        // Cached per name while neither dict changed: a dict's version tag (PEP 509) is globally unique
        // and changes with every mutation, so a match also proves the borrowed value is still alive.
        uint64_t gver = reinterpret_cast<PyDictObject*>(f->f_globals)->ma_version_tag;
        uint64_t bver = reinterpret_cast<PyDictObject*>(f->f_builtins)->ma_version_tag;
        GlobalSlot* slot = globals_cache ? &globals_cache[oparg >> 1] : nullptr;
        if (slot && slot->globals_version == gver && slot->builtins_version == bver) {
          v = static_cast<PyObject*>(slot->value);
        } else {
          v = PyDict_GetItemWithError(f->f_globals, name);
          if (!v) {
            if (PyErr_Occurred()) goto error;
            v = PyDict_GetItemWithError(f->f_builtins, name);
            if (!v) {
              if (!PyErr_Occurred()) raise_with_name(PyExc_NameError, kNameErrorMsg, name);
              goto error;
            }
          }
          // Only if the lookup itself (a key's __eq__) changed nothing.
          if (slot && reinterpret_cast<PyDictObject*>(f->f_globals)->ma_version_tag == gver &&
              reinterpret_cast<PyDictObject*>(f->f_builtins)->ma_version_tag == bver) {
            *slot = {gver, bver, v};
          }
        }
        Py_INCREF(v);
      } else {
        v = PyObject_GetItem(f->f_globals, name);
        if (!v) {
          if (!PyErr_ExceptionMatches(PyExc_KeyError)) goto error;
          PyErr_Clear();
          v = PyObject_GetItem(f->f_builtins, name);
          if (!v) {
            if (PyErr_ExceptionMatches(PyExc_KeyError)) raise_with_name(PyExc_NameError, kNameErrorMsg, name);
            goto error;
          }
        }
      }
      if (oparg & 1) PUSH(nullptr);
      PUSH(v);
      DISPATCH();
    }
    TARGET(STORE_GLOBAL) {
      int err = PyDict_SetItem(f->f_globals, NAME(oparg), TOP());
      if (err) goto error;
      Py_DECREF(POP());
      DISPATCH();
    }
    TARGET(DELETE_GLOBAL) {
      if (PyDict_DelItem(f->f_globals, NAME(oparg)) != 0) {
        if (PyErr_ExceptionMatches(PyExc_KeyError)) {
          PyErr_Clear();
          raise_with_name(PyExc_NameError, kNameErrorMsg, NAME(oparg));
        }
        goto error;
      }
      DISPATCH();
    }
    TARGET(LOAD_NAME) {
      PyObject* name = NAME(oparg);
      PyObject* ns = f->f_locals;
      PyObject* v;
      if (!ns) {
        PyErr_Format(PyExc_SystemError, "no locals when loading %R", name);
        goto error;
      }
      if (lookup_mapping(ns, name, &v) < 0) goto error;
      if (!v) {
        v = PyDict_GetItemWithError(f->f_globals, name);
        if (v) {
          Py_INCREF(v);
        } else if (PyErr_Occurred()) {
          goto error;
        } else if (PyDict_CheckExact(f->f_builtins)) {
          v = PyDict_GetItemWithError(f->f_builtins, name);
          if (!v) {
            if (!PyErr_Occurred()) raise_with_name(PyExc_NameError, kNameErrorMsg, name);
            goto error;
          }
          Py_INCREF(v);
        } else {
          v = PyObject_GetItem(f->f_builtins, name);
          if (!v) {
            if (PyErr_ExceptionMatches(PyExc_KeyError)) raise_with_name(PyExc_NameError, kNameErrorMsg, name);
            goto error;
          }
        }
      }
      PUSH(v);
      DISPATCH();
    }
    TARGET(STORE_NAME) {
      PyObject* name = NAME(oparg);
      PyObject* ns = f->f_locals;
      if (!ns) {
        PyErr_Format(PyExc_SystemError, "no locals found when storing %R", name);
        goto error;
      }
      int err = PyDict_CheckExact(ns) ? PyDict_SetItem(ns, name, TOP()) : PyObject_SetItem(ns, name, TOP());
      if (err) goto error;
      Py_DECREF(POP());
      DISPATCH();
    }
    TARGET(DELETE_NAME) {
      PyObject* name = NAME(oparg);
      PyObject* ns = f->f_locals;
      if (!ns) {
        PyErr_Format(PyExc_SystemError, "no locals when deleting %R", name);
        goto error;
      }
      if (PyObject_DelItem(ns, name) != 0) {
        raise_with_name(PyExc_NameError, kNameErrorMsg, name);   // replaces the KeyError, as CPython does
        goto error;
      }
      DISPATCH();
    }

    // ---------------------------------------------------------------- stack
    TARGET(POP_TOP)
      Py_DECREF(POP());
      DISPATCH();
    TARGET(PUSH_NULL)
      PUSH(nullptr);
      DISPATCH();
    TARGET(COPY) {
      PyObject* v = PEEK(oparg);
      Py_INCREF(v);
      PUSH(v);
      DISPATCH();
    }
    TARGET(SWAP) {
      PyObject* t = TOP();
      TOP() = PEEK(oparg);
      PEEK(oparg) = t;
      DISPATCH();
    }

    // ---------------------------------------------------------------- operators
    TARGET(UNARY_POSITIVE)
    TARGET(UNARY_NEGATIVE)
    TARGET(UNARY_INVERT) {
      PyObject* v = TOP();
      PyObject* res = op == UNARY_POSITIVE ? PyNumber_Positive(v)
                      : op == UNARY_NEGATIVE ? PyNumber_Negative(v) : PyNumber_Invert(v);
      if (!res) goto error;
      Py_DECREF(v);
      TOP() = res;
      DISPATCH();
    }
    TARGET(UNARY_NOT) {
      int t = PyObject_IsTrue(TOP());
      if (t < 0) goto error;
      Py_DECREF(TOP());
      TOP() = Py_NewRef(t ? Py_False : Py_True);
      DISPATCH();
    }
    TARGET(BINARY_OP) {
      PyObject* rhs = TOP();
      PyObject* lhs = SECOND();
      PyObject* res = binary_fast(oparg, lhs, rhs);
      if (!res) {
        if (PyErr_Occurred()) goto error;   // MemoryError from the fast path
        if (static_cast<unsigned>(oparg) >= sizeof(kBinaryOps) / sizeof(kBinaryOps[0])) goto handover_unsupported;
        res = kBinaryOps[oparg](lhs, rhs);
        if (!res) goto error;
      }
      sp -= 2;
      Py_DECREF(lhs);
      Py_DECREF(rhs);
      PUSH(res);
      DISPATCH();
    }
    TARGET(COMPARE_OP) {
      PyObject* right = TOP();
      PyObject* left = SECOND();
      PyObject* res = compare_fast(oparg, left, right);
      if (res) {
        // Two exact floats or small ints followed by a conditional forward jump (`if a < b:`, `while`
        // conditions): take the jump here, as CPython's COMPARE_OP_*_JUMP does. Nothing runs in between
        // (freeing an int or float runs no code), so no one can observe the skipped push and pop.
        int jump_op = fastpy_opcode_deopt[_Py_OPCODE(*next)];
        if (jump_op == POP_JUMP_FORWARD_IF_FALSE || jump_op == POP_JUMP_FORWARD_IF_TRUE) {
          sp -= 2;
          Py_DECREF(left);
          Py_DECREF(right);
          here = next;
          f->prev_instr = here;
          bool taken = (res == Py_True) == (jump_op == POP_JUMP_FORWARD_IF_TRUE);
          JUMP_TO(here + 1 + (taken ? _Py_OPARG(*here) : 0));
        }
        Py_INCREF(res);
      } else {
        res = PyObject_RichCompare(left, right, oparg);
        if (!res) goto error;
      }
      sp -= 2;
      Py_DECREF(left);
      Py_DECREF(right);
      PUSH(res);
      DISPATCH();
    }
    TARGET(IS_OP) {
      PyObject* right = POP();
      PyObject* left = TOP();
      TOP() = Py_NewRef((Py_Is(left, right) ^ oparg) ? Py_True : Py_False);
      Py_DECREF(left);
      Py_DECREF(right);
      DISPATCH();
    }
    TARGET(CONTAINS_OP) {
      int r = PySequence_Contains(TOP(), SECOND());
      if (r < 0) goto error;
      PyObject* right = POP();
      PyObject* left = POP();
      Py_DECREF(left);
      Py_DECREF(right);
      PUSH(Py_NewRef((r ^ oparg) ? Py_True : Py_False));
      DISPATCH();
    }
    TARGET(BINARY_SUBSCR) {
      PyObject* res = subscr_fast(SECOND(), TOP());
      if (res) {
        Py_INCREF(res);
      } else {
        res = PyObject_GetItem(SECOND(), TOP());
        if (!res) goto error;
      }
      Py_DECREF(POP());
      Py_DECREF(TOP());
      TOP() = res;
      DISPATCH();
    }
    TARGET(STORE_SUBSCR) {   // container[sub] = v with [v, container, sub] on the stack
      PyObject** slot = store_subscr_slot(SECOND(), TOP());
      if (slot) {   // the list takes the value's reference; then old item, index, list are released
        PyObject* old = *slot;
        PyObject* sub = POP();
        PyObject* list = POP();
        *slot = POP();
        Py_DECREF(old);
        Py_DECREF(sub);
        Py_DECREF(list);
        DISPATCH();
      }
      if (PyObject_SetItem(SECOND(), TOP(), THIRD()) != 0) goto error;
      Py_DECREF(POP());
      Py_DECREF(POP());
      Py_DECREF(POP());
      DISPATCH();
    }
    TARGET(DELETE_SUBSCR) {
      if (PyObject_DelItem(SECOND(), TOP()) != 0) goto error;
      Py_DECREF(POP());
      Py_DECREF(POP());
      DISPATCH();
    }
    TARGET(BUILD_SLICE) {
      PyObject* step = oparg == 3 ? TOP() : nullptr;
      PyObject* stop = oparg == 3 ? SECOND() : TOP();
      PyObject* startv = oparg == 3 ? THIRD() : SECOND();
      PyObject* slice = PySlice_New(startv, stop, step);
      if (!slice) goto error;
      for (int i = 0; i < oparg; i++) Py_DECREF(POP());
      PUSH(slice);
      DISPATCH();
    }

    // ---------------------------------------------------------------- attributes
    TARGET(LOAD_ATTR) {
      PyObject* res = module_attr_fast(TOP(), NAME(oparg));
      if (res) {
        Py_INCREF(res);
      } else {
        res = PyObject_GetAttr(TOP(), NAME(oparg));
        if (!res) goto error;
      }
      Py_DECREF(TOP());
      TOP() = res;
      DISPATCH();
    }
    TARGET(LOAD_METHOD) {
      PyObject* obj = TOP();
      PyObject* meth = module_attr_fast(obj, NAME(oparg));
      int found = 0;
      if (meth) Py_INCREF(meth);
      else found = _PyObject_GetMethod(obj, NAME(oparg), &meth);
      if (!meth) goto error;
      if (found) {   // meth | self
        TOP() = meth;
        PUSH(obj);
      } else {       // NULL | attribute
        TOP() = nullptr;
        Py_DECREF(obj);
        PUSH(meth);
      }
      DISPATCH();
    }
    TARGET(STORE_ATTR) {   // owner.name = v with [v, owner] on the stack
      if (PyObject_SetAttr(TOP(), NAME(oparg), SECOND()) != 0) goto error;
      Py_DECREF(POP());
      Py_DECREF(POP());
      DISPATCH();
    }
    TARGET(DELETE_ATTR) {
      if (PyObject_DelAttr(TOP(), NAME(oparg)) != 0) goto error;
      Py_DECREF(POP());
      DISPATCH();
    }

    // ---------------------------------------------------------------- jumps and loops
    TARGET(JUMP_FORWARD)
      JUMP_TO(here + 1 + oparg);
    TARGET(POP_JUMP_FORWARD_IF_FALSE)
    TARGET(POP_JUMP_FORWARD_IF_TRUE) {
      int t = truth(TOP());
      if (t < 0) goto error;
      Py_DECREF(POP());
      if (t == (op == POP_JUMP_FORWARD_IF_TRUE)) JUMP_TO(here + 1 + oparg);
      DISPATCH();
    }
    TARGET(POP_JUMP_FORWARD_IF_NONE)
    TARGET(POP_JUMP_FORWARD_IF_NOT_NONE) {
      PyObject* v = POP();
      bool none = Py_IsNone(v);
      Py_DECREF(v);
      if (none == (op == POP_JUMP_FORWARD_IF_NONE)) JUMP_TO(here + 1 + oparg);
      DISPATCH();
    }
    TARGET(JUMP_IF_FALSE_OR_POP)
    TARGET(JUMP_IF_TRUE_OR_POP) {
      int t = truth(TOP());
      if (t < 0) goto error;
      if (t == (op == JUMP_IF_TRUE_OR_POP)) JUMP_TO(here + 1 + oparg);
      Py_DECREF(POP());
      DISPATCH();
    }
    TARGET(JUMP_BACKWARD)
      target = here + 1 - oparg;
      goto back_edge;
    TARGET(POP_JUMP_BACKWARD_IF_FALSE)
    TARGET(POP_JUMP_BACKWARD_IF_TRUE) {
      int t = truth(TOP());
      if (t < 0) goto error;
      Py_DECREF(POP());
      if (t != (op == POP_JUMP_BACKWARD_IF_TRUE)) DISPATCH();
      target = here + 1 - oparg;
      goto back_edge;
    }
    TARGET(POP_JUMP_BACKWARD_IF_NONE)
    TARGET(POP_JUMP_BACKWARD_IF_NOT_NONE) {
      PyObject* v = POP();
      bool none = Py_IsNone(v);
      Py_DECREF(v);
      if (none != (op == POP_JUMP_BACKWARD_IF_NONE)) DISPATCH();
      target = here + 1 - oparg;
      goto back_edge;
    }
    TARGET(GET_ITER) {
      PyObject* it = PyObject_GetIter(TOP());
      if (!it) goto error;
      Py_DECREF(TOP());
      TOP() = it;
      DISPATCH();
    }
    TARGET(FOR_ITER) {
      PyObject* it = TOP();
      PyObject* v = (*Py_TYPE(it)->tp_iternext)(it);
      if (v) {
        PUSH(v);
        DISPATCH();
      }
      if (PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_StopIteration)) goto error;
        PyErr_Clear();   // (a tracer would see it: tracing hands over before we get here)
      }
      sp--;
      Py_DECREF(it);
      JUMP_TO(here + 1 + oparg);
    }

    // ---------------------------------------------------------------- calls
    TARGET(KW_NAMES)
      kwnames = PyTuple_GET_ITEM(consts, oparg);
      DISPATCH();
    TARGET(PRECALL) {
      bool is_meth = PEEK(oparg + 2) != nullptr;
      PyObject* fn = PEEK(oparg + is_meth + 1);
      if (!is_meth && Py_TYPE(fn) == &PyMethod_Type) {   // bound method: call im_func with im_self first
        PEEK(oparg + 1) = Py_NewRef(PyMethod_GET_SELF(fn));
        PEEK(oparg + 2) = Py_NewRef(PyMethod_GET_FUNCTION(fn));
        Py_DECREF(fn);
      }
      DISPATCH();
    }
    TARGET(CALL) {
      bool is_meth = PEEK(oparg + 2) != nullptr;
      int total = oparg + is_meth;
      PyObject** args = sp - total;
      PyObject* fn = args[-1];
      Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
      PyObject* res = kwnames ? nullptr : call_builtin_fast(ts, fn, args, total);
      if (!res && !PyErr_Occurred()) {
        res = PyObject_Vectorcall(fn, args, (total - nkw) | PY_VECTORCALL_ARGUMENTS_OFFSET, kwnames);
      }
      kwnames = nullptr;
      if (!res) goto error;
      for (int i = 0; i < total; i++) Py_DECREF(args[i]);
      Py_DECREF(fn);
      sp -= total + 2 - is_meth;
      PUSH(res);
      DISPATCH();
    }
    TARGET(CALL_FUNCTION_EX) {
      PyObject* kwargs = (oparg & 1) ? TOP() : nullptr;
      PyObject* callargs = (oparg & 1) ? SECOND() : TOP();
      PyObject* fn = PEEK((oparg & 1) + 2);
      if (kwargs && !PyDict_CheckExact(kwargs)) {
        PyObject* d = PyDict_New();
        if (!d) goto error;
        if (_PyDict_MergeEx(d, kwargs, 2) < 0) {
          Py_DECREF(d);
          kwargs_error(fn, kwargs);
          goto error;
        }
        Py_SETREF(TOP(), d);
        kwargs = d;
      }
      if (!PyTuple_CheckExact(callargs)) {
        if (Py_TYPE(callargs)->tp_iter == nullptr && !PySequence_Check(callargs)) {
          PyErr_Clear();
          if (PyObject* fs = _PyObject_FunctionStr(fn)) {
            PyErr_Format(PyExc_TypeError, "%U argument after * must be an iterable, not %.200s", fs,
                         Py_TYPE(callargs)->tp_name);
            Py_DECREF(fs);
          }
          goto error;
        }
        PyObject* t = PySequence_Tuple(callargs);
        if (!t) goto error;
        Py_SETREF(PEEK((oparg & 1) + 1), t);
        callargs = t;
      }
      PyObject* res = PyObject_Call(fn, callargs, kwargs);
      if (!res) goto error;
      if (kwargs) Py_DECREF(POP());
      Py_DECREF(POP());   // callargs
      Py_DECREF(POP());   // fn
      sp[-1] = res;       // replaces the NULL below the function
      DISPATCH();
    }
    TARGET(MAKE_FUNCTION) {
      PyObject* codeobj = TOP();
      auto* fn = reinterpret_cast<PyFunctionObject*>(PyFunction_New(codeobj, f->f_globals));
      if (!fn) goto error;
      Py_DECREF(POP());
      if (oparg & 0x08) fn->func_closure = POP();
      if (oparg & 0x04) fn->func_annotations = POP();
      if (oparg & 0x02) fn->func_kwdefaults = POP();
      if (oparg & 0x01) fn->func_defaults = POP();
      PUSH(reinterpret_cast<PyObject*>(fn));
      DISPATCH();
    }
    TARGET(RETURN_VALUE)
      retval = POP();
      f->stacktop = static_cast<int>(sp - locals);
      py::leave_recursive_frame(ts);
      py::unlink_frame(ts, f);
      return retval;

    // ---------------------------------------------------------------- building containers
    TARGET(BUILD_TUPLE) {
      PyObject* t = PyTuple_New(oparg);
      if (!t) goto error;
      while (--oparg >= 0) PyTuple_SET_ITEM(t, oparg, POP());
      PUSH(t);
      DISPATCH();
    }
    TARGET(BUILD_LIST) {
      PyObject* l = PyList_New(oparg);
      if (!l) goto error;
      while (--oparg >= 0) PyList_SET_ITEM(l, oparg, POP());
      PUSH(l);
      DISPATCH();
    }
    TARGET(BUILD_SET) {
      PyObject* s = PySet_New(nullptr);
      if (!s) goto error;
      int err = 0;
      for (int i = oparg; i > 0; i--) {
        PyObject* item = PEEK(i);
        if (err == 0) err = PySet_Add(s, item);
        Py_DECREF(item);
      }
      sp -= oparg;
      if (err) {
        Py_DECREF(s);
        goto error;
      }
      PUSH(s);
      DISPATCH();
    }
    TARGET(BUILD_MAP) {
      PyObject* m = PyDict_New();
      if (!m) goto error;
      for (int i = 0; i < oparg; i++) {
        if (PyDict_SetItem(m, PEEK(2 * (oparg - i)), PEEK(2 * (oparg - i) - 1)) != 0) {
          Py_DECREF(m);
          goto error;
        }
      }
      for (int i = 0; i < 2 * oparg; i++) Py_DECREF(POP());
      PUSH(m);
      DISPATCH();
    }
    TARGET(BUILD_CONST_KEY_MAP) {
      PyObject* keys = TOP();
      if (!PyTuple_CheckExact(keys) || PyTuple_GET_SIZE(keys) != oparg) {
        PyErr_SetString(PyExc_SystemError, "bad BUILD_CONST_KEY_MAP keys argument");
        goto error;
      }
      PyObject* m = PyDict_New();
      if (!m) goto error;
      for (int i = 0; i < oparg; i++) {
        if (PyDict_SetItem(m, PyTuple_GET_ITEM(keys, i), PEEK(oparg + 1 - i)) != 0) {
          Py_DECREF(m);
          goto error;
        }
      }
      for (int i = 0; i <= oparg; i++) Py_DECREF(POP());
      PUSH(m);
      DISPATCH();
    }
    TARGET(BUILD_STRING) {
      PyObject* empty = PyUnicode_New(0, 0);
      PyObject* s = empty ? _PyUnicode_JoinArray(empty, sp - oparg, oparg) : nullptr;
      Py_XDECREF(empty);
      if (!s) goto error;
      for (int i = 0; i < oparg; i++) Py_DECREF(POP());
      PUSH(s);
      DISPATCH();
    }
    TARGET(LIST_APPEND) {
      if (PyList_Append(PEEK(oparg + 1), TOP()) < 0) goto error;
      Py_DECREF(POP());
      DISPATCH();
    }
    TARGET(SET_ADD) {
      if (PySet_Add(PEEK(oparg + 1), TOP()) != 0) goto error;
      Py_DECREF(POP());
      DISPATCH();
    }
    TARGET(MAP_ADD) {   // [map, ..., key, value]
      if (PyDict_SetItem(PEEK(oparg + 2), SECOND(), TOP()) != 0) goto error;
      Py_DECREF(POP());
      Py_DECREF(POP());
      DISPATCH();
    }
    TARGET(LIST_EXTEND) {
      PyObject* iterable = TOP();
      PyObject* none = _PyList_Extend(reinterpret_cast<PyListObject*>(PEEK(oparg + 1)), iterable);
      if (!none) {
        if (PyErr_ExceptionMatches(PyExc_TypeError) && Py_TYPE(iterable)->tp_iter == nullptr &&
            !PySequence_Check(iterable)) {
          PyErr_Clear();
          PyErr_Format(PyExc_TypeError, "Value after * must be an iterable, not %.200s", Py_TYPE(iterable)->tp_name);
        }
        goto error;
      }
      Py_DECREF(none);
      Py_DECREF(POP());
      DISPATCH();
    }
    TARGET(SET_UPDATE) {
      if (_PySet_Update(PEEK(oparg + 1), TOP()) < 0) goto error;
      Py_DECREF(POP());
      DISPATCH();
    }
    TARGET(DICT_UPDATE) {
      PyObject* update = TOP();
      if (PyDict_Update(PEEK(oparg + 1), update) < 0) {
        if (PyErr_ExceptionMatches(PyExc_AttributeError)) {
          PyErr_Clear();
          PyErr_Format(PyExc_TypeError, "'%.200s' object is not a mapping", Py_TYPE(update)->tp_name);
        }
        goto error;
      }
      Py_DECREF(POP());
      DISPATCH();
    }
    TARGET(DICT_MERGE) {
      PyObject* update = TOP();
      if (_PyDict_MergeEx(PEEK(oparg + 1), update, 2) < 0) {
        kwargs_error(PEEK(oparg + 3), update);
        goto error;
      }
      Py_DECREF(POP());
      DISPATCH();
    }
    TARGET(LIST_TO_TUPLE) {
      PyObject* t = PyList_AsTuple(TOP());
      if (!t) goto error;
      Py_DECREF(TOP());
      TOP() = t;
      DISPATCH();
    }
    TARGET(UNPACK_SEQUENCE) {
      PyObject* seq = TOP();
      if (PyTuple_CheckExact(seq) && PyTuple_GET_SIZE(seq) == oparg) {
        sp--;
        for (int i = oparg; --i >= 0;) PUSH(Py_NewRef(PyTuple_GET_ITEM(seq, i)));
      } else if (PyList_CheckExact(seq) && PyList_GET_SIZE(seq) == oparg) {
        sp--;
        for (int i = oparg; --i >= 0;) PUSH(Py_NewRef(PyList_GET_ITEM(seq, i)));
      } else {
        // Items land in [sp-1, sp-1+oparg), over seq's slot: put seq back if unpacking fails.
        if (!unpack_iterable(seq, oparg, -1, sp - 1 + oparg)) {
          TOP() = seq;
          goto error;
        }
        sp += oparg - 1;
      }
      Py_DECREF(seq);
      DISPATCH();
    }
    TARGET(UNPACK_EX) {
      int total = 1 + (oparg & 0xFF) + (oparg >> 8);
      PyObject* seq = TOP();
      if (!unpack_iterable(seq, oparg & 0xFF, oparg >> 8, sp - 1 + total)) {
        TOP() = seq;
        goto error;
      }
      sp += total - 1;
      Py_DECREF(seq);
      DISPATCH();
    }
    TARGET(FORMAT_VALUE) {
      bool have_spec = (oparg & FVS_MASK) == FVS_HAVE_SPEC;
      PyObject* spec = have_spec ? TOP() : nullptr;
      PyObject* value = have_spec ? SECOND() : TOP();
      PyObject* converted = nullptr;
      switch (oparg & FVC_MASK) {
        case FVC_NONE: break;
        case FVC_STR: converted = PyObject_Str(value); break;
        case FVC_REPR: converted = PyObject_Repr(value); break;
        case FVC_ASCII: converted = PyObject_ASCII(value); break;
        default: goto handover_unsupported;
      }
      if ((oparg & FVC_MASK) != FVC_NONE) {
        if (!converted) goto error;
        value = converted;
      }
      PyObject* res;
      if (PyUnicode_CheckExact(value) && !spec) {
        res = Py_NewRef(value);
      } else {
        res = PyObject_Format(value, spec);
      }
      Py_XDECREF(converted);
      if (!res) goto error;
      if (spec) Py_DECREF(POP());
      Py_DECREF(TOP());
      TOP() = res;
      DISPATCH();
    }

    // ---------------------------------------------------------------- exceptions and with
    TARGET(LOAD_ASSERTION_ERROR)
      PUSH(Py_NewRef(PyExc_AssertionError));
      DISPATCH();
    TARGET(RAISE_VARARGS) {
      PyObject *cause = nullptr, *exc = nullptr;
      if (oparg > 2) goto handover_unsupported;
      if (oparg == 2) cause = POP();
      if (oparg >= 1) exc = POP();
      f->stacktop = static_cast<int>(sp - locals);   // do_raise may run code (exception constructors)
      if (do_raise(ts, exc, cause)) goto exception_unwind;
      goto error;
    }
    TARGET(PUSH_EXC_INFO) {
      PyObject* value = TOP();
      _PyErr_StackItem* info = ts->exc_info;
      TOP() = info->exc_value ? info->exc_value : Py_NewRef(Py_None);
      PUSH(Py_NewRef(value));
      info->exc_value = value;
      DISPATCH();
    }
    TARGET(POP_EXCEPT) {
      _PyErr_StackItem* info = ts->exc_info;
      PyObject* old = info->exc_value;
      info->exc_value = POP();
      Py_XDECREF(old);
      DISPATCH();
    }
    TARGET(CHECK_EXC_MATCH) {
      PyObject* right = TOP();
      if (!except_type_valid(right)) goto error;
      int r = PyErr_GivenExceptionMatches(SECOND(), right);
      Py_DECREF(right);
      TOP() = Py_NewRef(r ? Py_True : Py_False);
      DISPATCH();
    }
    TARGET(RERAISE) {
      if (oparg) {
        PyObject* lasti = PEEK(oparg + 1);
        if (!PyLong_Check(lasti)) {
          PyErr_SetString(PyExc_SystemError, "lasti is not an int");
          goto error;
        }
        // Only what tracebacks see moves back; the handler search still starts at this RERAISE.
        f->prev_instr = first + PyLong_AsLong(lasti);
      }
      PyObject* val = POP();
      PyErr_Restore(Py_NewRef(PyExceptionInstance_Class(val)), val, PyException_GetTraceback(val));
      goto exception_unwind;
    }
    TARGET(BEFORE_WITH) {
      PyObject* mgr = TOP();
      PyObject* enter = _PyObject_LookupSpecial(mgr, s_enter);
      if (!enter) {
        if (!PyErr_Occurred()) {
          PyErr_Format(PyExc_TypeError, "'%.200s' object does not support the context manager protocol",
                       Py_TYPE(mgr)->tp_name);
        }
        goto error;
      }
      PyObject* exit = _PyObject_LookupSpecial(mgr, s_exit);
      if (!exit) {
        if (!PyErr_Occurred()) {
          PyErr_Format(PyExc_TypeError,
                       "'%.200s' object does not support the context manager protocol (missed __exit__ method)",
                       Py_TYPE(mgr)->tp_name);
        }
        Py_DECREF(enter);
        goto error;
      }
      TOP() = exit;
      Py_DECREF(mgr);
      PyObject* res = PyObject_CallNoArgs(enter);
      Py_DECREF(enter);
      if (!res) goto error;
      PUSH(res);
      DISPATCH();
    }
    TARGET(WITH_EXCEPT_START) {   // [exit, lasti, prev exc, exc] -> call exit(type(exc), exc, tb)
      PyObject* val = TOP();
      PyObject* exc = PyExceptionInstance_Class(val);
      PyObject* tb = PyException_GetTraceback(val);
      Py_XDECREF(tb);
      PyObject* stack[4] = {nullptr, exc, val, tb};
      PyObject* res = PyObject_Vectorcall(PEEK(4), stack + 1, 3 | PY_VECTORCALL_ARGUMENTS_OFFSET, nullptr);
      if (!res) goto error;
      PUSH(res);
      DISPATCH();
    }

    // ---------------------------------------------------------------- imports, classes, match
    TARGET(IMPORT_NAME) {
      PyObject* res = import_name(ts, f, NAME(oparg), TOP(), SECOND());
      if (!res) goto error;
      Py_DECREF(POP());
      Py_DECREF(TOP());
      TOP() = res;
      DISPATCH();
    }
    TARGET(IMPORT_STAR) {
      // Only at module level (the compiler forbids it elsewhere), where the names go straight into the
      // f_locals mapping; code with fast locals would need them synced both ways: CPython does that.
      if (co->co_nlocalsplus != 0) goto handover_unsupported;
      if (!f->f_locals) {
        PyErr_SetString(PyExc_SystemError, "no locals found during 'import *'");
        goto error;
      }
      if (import_all_from(f->f_locals, TOP()) != 0) goto error;
      Py_DECREF(POP());
      DISPATCH();
    }
    TARGET(IMPORT_FROM) {
      PyObject* x = import_from(TOP(), NAME(oparg));
      if (!x) goto error;
      PUSH(x);
      DISPATCH();
    }
    TARGET(SETUP_ANNOTATIONS) {   // module and class bodies with annotations: ensure __annotations__
      PyObject* ns = f->f_locals;
      if (!ns) {
        PyErr_SetString(PyExc_SystemError, "no locals found when setting up annotations");
        goto error;
      }
      PyObject* ann;
      int r = lookup_mapping(ns, s_annotations, &ann);
      if (r < 0) goto error;
      if (r > 0) {
        Py_DECREF(ann);
        DISPATCH();
      }
      ann = PyDict_New();
      if (!ann) goto error;
      int err = PyDict_CheckExact(ns) ? PyDict_SetItem(ns, s_annotations, ann) : PyObject_SetItem(ns, s_annotations, ann);
      Py_DECREF(ann);
      if (err != 0) goto error;
      DISPATCH();
    }
    TARGET(LOAD_BUILD_CLASS) {
      PyObject* bc;
      if (PyDict_CheckExact(f->f_builtins)) {
        bc = PyDict_GetItemWithError(f->f_builtins, s_build_class);
        if (!bc) {
          if (!PyErr_Occurred()) PyErr_SetString(PyExc_NameError, "__build_class__ not found");
          goto error;
        }
        Py_INCREF(bc);
      } else {
        bc = PyObject_GetItem(f->f_builtins, s_build_class);
        if (!bc) {
          if (PyErr_ExceptionMatches(PyExc_KeyError)) PyErr_SetString(PyExc_NameError, "__build_class__ not found");
          goto error;
        }
      }
      PUSH(bc);
      DISPATCH();
    }
    TARGET(GET_LEN) {
      Py_ssize_t n = PyObject_Length(TOP());
      if (n < 0) goto error;
      PyObject* o = PyLong_FromSsize_t(n);
      if (!o) goto error;
      PUSH(o);
      DISPATCH();
    }
    TARGET(MATCH_KEYS) {
      PyObject* values = match_keys(SECOND(), TOP());
      if (!values) goto error;
      PUSH(values);
      DISPATCH();
    }
    TARGET(MATCH_CLASS) {
      PyObject* attrs = match_class(THIRD(), SECOND(), oparg, TOP());
      if (!attrs && PyErr_Occurred()) goto error;
      Py_DECREF(POP());
      Py_DECREF(POP());
      Py_SETREF(TOP(), attrs ? attrs : Py_NewRef(Py_None));
      DISPATCH();
    }
    TARGET(MATCH_MAPPING)
      {
        PyObject* res = (Py_TYPE(TOP())->tp_flags & Py_TPFLAGS_MAPPING) ? Py_True : Py_False;
        PUSH(Py_NewRef(res));
      }
      DISPATCH();
    TARGET(MATCH_SEQUENCE)
      {
        PyObject* res = (Py_TYPE(TOP())->tp_flags & Py_TPFLAGS_SEQUENCE) ? Py_True : Py_False;
        PUSH(Py_NewRef(res));
      }
      DISPATCH();

    L_unsupported:
      goto handover_unsupported;
  }

back_edge: {
  // A loop closes here: poll the eval breaker like CPython's backward jumps, count the loop toward
  // FASTPY_HOT_LOOP, and enter its compiled code if a tier attached some.
  if (py::eval_breaker_set(ts)) {
    int r = handle_pending(ts);
    if (r < 0) {
      unwind_index = static_cast<int>(target - first) - 1;   // CPython has already jumped when it raises
      goto error_at;
    }
    if (r > 0) {   // CPython raises the async exception at the next back-edge; resume it at the header
      stat_inc(Stat::handover_async_exc);
      start = target;
      op = py::opcode_of(*target);
      goto handover;
    }
  }
  LoopSlot* loop = loops ? loops_find(loops, static_cast<int>(here - first)) : nullptr;
  if (g_recorder) {   // the recording closes at its loop's header (recorder.h says what else it does)
    f->stacktop = static_cast<int>(sp - locals);
    rec_back_edge(f, target, loop, loops);
  }
  if (loop) {
    // (Not a loop with a compiled loop inside it: that trace runs here, and CPython's evaluator would lose it.)
    if (loop->state == LoopState::kBlacklisted && loop->aborts && !encloses_compiled(loops, loop)) {
      // The recorder gave up on this loop: CPython's evaluator runs the rest of the frame faster than we do.
      // (Counted apart from the handovers at instructions the interpreter lacks.)
      stat_inc(Stat::handover_blacklisted);
      start = target;
      goto handover_frame;
    }
    if (loop->state == LoopState::kCounting && ++loop->count >= hot_loop) {
      f->prev_instr = target - 1;
      f->stacktop = static_cast<int>(sp - locals);
      stat_inc(Stat::loops_hot);
      hot_loop_handler()(ts, f, loop);
    }
    // (Not while a recording goes on through this loop's header: the recording follows the interpreter.)
    if (loop->state == LoopState::kCompiled && loop->entry && !(g_recorder && rec_records(f))) {
      f->prev_instr = target - 1;
      f->stacktop = static_cast<int>(sp - locals);
      stat_inc(Stat::trace_entries);
      int resume = loop->entry(ts, f, loop);
      sp = locals + f->stacktop;
      if (resume < 0) {
        here = f->prev_instr;
        goto error;
      }
      JUMP_TO(first + resume);
    }
  }
  JUMP_TO(target);
}

  // ---------------------------------------------------------------- leaving for CPython's evaluator
handover_unsupported:
  stat_inc(Stat::handover_unsupported);
handover:
  // Before the instruction at `start`: CPython runs it (and the rest of the frame) from there.
  g_handovers[op]++;
  stat_inc(Stat::frames_handed_over);
handover_frame:
  if (g_recorder) rec_frame_leaves(f, Abort::handover);
  f->prev_instr = start - 1;
  f->stacktop = static_cast<int>(sp - locals);
  py::leave_recursive_frame(ts);
  py::unlink_frame(ts, f);
  return py::eval_default(ts, f, 0);

  // ---------------------------------------------------------------- exceptions
error:
  unwind_index = static_cast<int>(here - first);
error_at:
  if (!PyErr_Occurred()) PyErr_SetString(PyExc_SystemError, "error return without exception set");
  if (g_recorder) rec_frame_leaves(f, Abort::exception);
  if (cframe->use_tracing) {
    // A tracer wants the exception event: CPython's evaluator records the traceback entry, calls the
    // tracer and unwinds (throwflag = resume with the error at prev_instr).
    stat_inc(Stat::handover_tracing);
    g_handovers[op]++;
    stat_inc(Stat::frames_handed_over);
    f->stacktop = static_cast<int>(sp - locals);
    py::leave_recursive_frame(ts);
    py::unlink_frame(ts, f);
    return py::eval_default(ts, f, 1);
  }
  if (here >= first + co->_co_firsttraceable) {
    PyFrameObject* fo = PyEval_GetFrame();   // ours: the frame is linked
    if (fo) PyTraceBack_Here(fo);
    else if (!PyErr_Occurred()) PyErr_NoMemory();
  }
  goto unwind;

exception_unwind:
  unwind_index = static_cast<int>(here - first);
unwind: {
  int level, handler, lasti;
  if (!find_handler(co, unwind_index, &level, &handler, &lasti)) {
    while (sp > stackbase) Py_XDECREF(POP());
    f->stacktop = static_cast<int>(sp - locals);
    py::leave_recursive_frame(ts);
    py::unlink_frame(ts, f);
    return nullptr;
  }
  PyObject** new_top = stackbase + level;
  while (sp > new_top) Py_XDECREF(POP());
  if (lasti) {
    PyObject* l = PyLong_FromLong(static_cast<long>(f->prev_instr - first));
    if (!l) goto exception_unwind;
    PUSH(l);
  }
  PyObject *exc, *val, *tb;
  PyErr_Fetch(&exc, &val, &tb);
  PyErr_NormalizeException(&exc, &val, &tb);
  PyException_SetTraceback(val, tb ? tb : Py_None);
  Py_XDECREF(tb);
  Py_XDECREF(exc);
  PUSH(val);
  stat_inc(Stat::interp_exceptions_caught);
  JUMP_TO(first + handler);
}

#undef TOP
#undef SECOND
#undef THIRD
#undef PEEK
#undef PUSH
#undef POP
#undef GETLOCAL
#undef SETLOCAL
#undef NAME
#undef JUMP_TO
#undef DISPATCH
#undef TARGET
}

}  // namespace fastpy
