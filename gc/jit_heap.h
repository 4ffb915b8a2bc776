// Memory for the JIT's own data, from mimalloc. Never mix with malloc/PyMem_* memory.
//  - jit_new<T>/jit_delete: long-lived objects (per-code data, trace metadata), any thread may free.
//  - Arena: a private mimalloc heap for one compilation (IR, snapshots); everything in it is released at
//    once when the arena dies. An arena must be used by the thread that created it.
#pragma once
#include <cstddef>
#include <new>
#include <utility>

struct mi_heap_s;

namespace fastpy {

void* jit_malloc(size_t size);   // zeroed; aborts on out-of-memory like operator new
void jit_free(void* p);
size_t jit_usable_size(const void* p);

template <class T, class... A>
T* jit_new(A&&... args) { return new (jit_malloc(sizeof(T))) T(std::forward<A>(args)...); }
template <class T>
void jit_delete(T* p) {
  if (!p) return;
  p->~T();
  jit_free(p);
}

class Arena {
 public:
  Arena();
  ~Arena();
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;
  void* alloc(size_t size, size_t align = alignof(std::max_align_t));
  template <class T, class... A>
  T* make(A&&... args) { return new (alloc(sizeof(T), alignof(T))) T(std::forward<A>(args)...); }
  bool owns(const void* p) const;
  size_t bytes_allocated() const { return bytes_; }

 private:
  mi_heap_s* heap_;
  size_t bytes_ = 0;
};

}  // namespace fastpy
