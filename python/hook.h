// The PEP 523 frame-evaluation hook: decides, per frame, which executor runs it.
#pragma once
#include <Python.h>

#include <cstddef>

namespace fastpy {

// Whole-program mode (fastpy.enable()) or opt-in mode (only @fastpy.jit code). The hook is installed while
// either is wanted, and removed otherwise, so plain programs pay nothing.
void hook_set_whole_program(bool on);
bool hook_whole_program();
void hook_jit_code_added();     // a code object was marked @jit
void hook_jit_code_removed();   // a marked code object died
bool hook_installed();
// The eval-frame function that was installed before ours (nullptr: CPython's default).
bool hook_chained();

// C-stack guard: fastpy's frames cost C stack per Python call level (CPython 3.11 stops inlining
// Python-to-Python calls while a hook is set), so the hook raises RecursionError before the stack runs out.
struct StackInfo {
  size_t size;        // this thread's stack size
  size_t margin;      // RecursionError when less than this is left
  size_t remaining;   // left at the caller
};
StackInfo hook_stack_info();

}  // namespace fastpy
