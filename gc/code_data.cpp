#include "gc/code_data.h"

#include "gc/jit_heap.h"
#include "runtime/stats.h"

namespace fastpy {

void (*g_loops_free)(LoopTable*) = nullptr;

CodeData* code_data_new() {
  stat_inc(Stat::code_marked);
  return jit_new<CodeData>();
}

void code_data_free(void* data) {
  if (!data) return;
  stat_inc(Stat::code_freed);
  auto* cd = static_cast<CodeData*>(data);
  if (g_loops_free) g_loops_free(cd->loops);
  else jit_free(cd->loops);
  jit_free(cd->globals_cache);
  jit_delete(cd);
}

}  // namespace fastpy
