/* CPython 3.11's opcode tables (_PyOpcode_Deopt, _PyOpcode_Caches) are not exported by the interpreter;
 * pycore_opcode.h defines them when NEED_OPCODE_TABLES is set, which only C can include. This file gives
 * fastpy its own copies under fastpy names (the static library is linked with --exclude-libs, so nothing
 * here is visible outside _fastpy). */
#define Py_BUILD_CORE 1
#include <Python.h>
#if PY_VERSION_HEX < 0x030B0000 || PY_VERSION_HEX >= 0x030C0000
#error "fastpy: opcode tables verified only for CPython 3.11"
#endif
#define NEED_OPCODE_TABLES
#include <internal/pycore_opcode.h>

const uint8_t* const fastpy_opcode_deopt = _PyOpcode_Deopt;    /* specialized opcode -> base opcode */
const uint8_t* const fastpy_opcode_caches = _PyOpcode_Caches;  /* base opcode -> inline CACHE units */
