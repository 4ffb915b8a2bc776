// internals.h first: it defines Py_BUILD_CORE before <Python.h>.
#include "python/cpython311/internals.h"
#include "interp/loops.h"

#include <opcode.h>

#include "gc/jit_heap.h"
#include "runtime/stats.h"

namespace fastpy {
namespace {

// Every instruction that jumps backwards and polls the eval breaker in CPython closes a loop.
// (JUMP_BACKWARD_NO_INTERRUPT only appears in generator/await code, which never runs here.)
bool is_back_edge(int op) {
  switch (op) {
    case JUMP_BACKWARD:
    case POP_JUMP_BACKWARD_IF_FALSE:
    case POP_JUMP_BACKWARD_IF_TRUE:
    case POP_JUMP_BACKWARD_IF_NONE:
    case POP_JUMP_BACKWARD_IF_NOT_NONE:
      return true;
    default:
      return false;
  }
}

void default_hot_loop(PyThreadState*, _PyInterpreterFrame*, LoopSlot* loop) {
  loop->state = LoopState::kBlacklisted;
  stat_inc(Stat::loops_no_recorder);
}

HotLoopHandler g_hot_loop = &default_hot_loop;

// Calls fn(index, base opcode, full oparg) for each instruction of the live bytecode.
template <class Fn>
void for_each_instruction(PyCodeObject* co, Fn fn) {
  py::CodeUnit* code = py::code_units(co);
  int n = py::code_size(co);
  int oparg = 0;
  for (int i = 0; i < n; i++) {
    int op = py::opcode_of(code[i]);
    oparg = (oparg << 8) | py::oparg_of(code[i]);
    if (op == EXTENDED_ARG) continue;
    fn(i, op, oparg);
    oparg = 0;
    i += py::cache_units(op);
  }
}

}  // namespace

LoopTable* loops_build(PyCodeObject* co) {
  int n = 0;
  for_each_instruction(co, [&](int, int op, int) { n += is_back_edge(op); });
  if (n == 0) return nullptr;
  auto* t = static_cast<LoopTable*>(jit_malloc(sizeof(LoopTable) + (n - 1) * sizeof(LoopSlot)));
  if (!t) return nullptr;
  t->n = 0;
  for_each_instruction(co, [&](int i, int op, int oparg) {
    if (!is_back_edge(op)) return;
    LoopSlot* s = new (&t->slots[t->n++]) LoopSlot();
    s->jump = i;
    s->header = i + 1 - oparg;
    s->last_jump = i;
    s->owner = s;
  });
  for (int a = 0; a < t->n; a++) {   // slots are sorted by jump: the first with a header owns it
    LoopSlot& s = t->slots[a];
    for (int b = 0; b < a; b++) {
      if (t->slots[b].header == s.header) {
        s.owner = &t->slots[b];
        break;
      }
    }
    s.owner->last_jump = s.jump > s.owner->last_jump ? s.jump : s.owner->last_jump;
  }
  stat_inc(Stat::loops_found, n);
  return t;
}

void loops_free(LoopTable* t) {
  if (!t) return;
  for (int i = 0; i < t->n; i++) {
    LoopSlot& s = t->slots[i];
    if (s.trace_free && s.trace) s.trace_free(s.trace);
  }
  jit_free(t);
}

void set_hot_loop_handler(HotLoopHandler h) { g_hot_loop = h ? h : &default_hot_loop; }
HotLoopHandler hot_loop_handler() { return g_hot_loop; }

}  // namespace fastpy
