// Recording attribute access on instances of user classes (see recorder_impl.h).
// internals.h first: it defines Py_BUILD_CORE before <Python.h>.
#include "python/cpython311/internals.h"
#include "interp/recorder_impl.h"

namespace fastpy::rec {

bool rec_load_attr_instance(Recorder*, PyObject*, PyObject**) { return false; }
bool rec_store_attr_instance(Recorder*, PyObject*, PyObject**) { return false; }
bool attr_runtime(const ir::IRIns&, uint64_t, uint64_t, uint64_t*) { return false; }

}  // namespace fastpy::rec
