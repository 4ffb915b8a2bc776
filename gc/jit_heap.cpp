#include "gc/jit_heap.h"

#include <mimalloc.h>

#include <cstdio>
#include <cstdlib>

namespace fastpy {
namespace {
[[noreturn]] void out_of_memory(size_t n) {
  std::fprintf(stderr, "fastpy: out of memory allocating %zu bytes of JIT data\n", n);
  std::abort();
}
}  // namespace

void* jit_malloc(size_t size) {
  void* p = mi_zalloc(size);
  if (!p) out_of_memory(size);
  return p;
}

void jit_free(void* p) { mi_free(p); }

size_t jit_usable_size(const void* p) { return mi_usable_size(p); }

Arena::Arena() : heap_(mi_heap_new()) {
  if (!heap_) out_of_memory(0);
}

Arena::~Arena() { mi_heap_destroy(heap_); }

void* Arena::alloc(size_t size, size_t align) {
  void* p = mi_heap_malloc_aligned(heap_, size, align);
  if (!p) out_of_memory(size);
  bytes_ += size;
  return p;
}

bool Arena::owns(const void* p) const { return mi_heap_check_owned(heap_, p); }

}  // namespace fastpy
