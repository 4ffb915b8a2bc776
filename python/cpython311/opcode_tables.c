/* CPython 3.11's opcode tables (_PyOpcode_Deopt, _PyOpcode_Caches) are not exported by the interpreter;
 * pycore_opcode.h defines them when NEED_OPCODE_TABLES is set, which only C can include. This file gives
 * fastpy its own copies under fastpy names (the static library is linked with --exclude-libs, so nothing
 * here is visible outside _fastpy). */
#define Py_BUILD_CORE 1
#include <Python.h>
#if PY_VERSION_HEX < 0x030B0000 || PY_VERSION_HEX >= 0x030C0000
#error "fastpy: opcode tables verified only for CPython 3.11"
#endif
/* The tables are defined under fastpy's names (arrays, not pointers: one load less per instruction). */
#define _PyOpcode_Deopt fastpy_opcode_deopt    /* specialized opcode -> base opcode */
#define _PyOpcode_Caches fastpy_opcode_caches  /* base opcode -> inline CACHE units */
#define NEED_OPCODE_TABLES
#include <internal/pycore_opcode.h>
