// Python-semantics arithmetic for Trace IR, in one place: the reference executor computes with these and the
// fold engine folds with them, so a folded constant and an executed value cannot disagree. Every backend's
// lowering must match them bit for bit (ir_exec tests compare). Pure C++17, no Python headers.
//
// The float rules are CPython 3.11's (Objects/floatobject.c float_rem and _float_div_mod, Python/bltinmodule.c
// min/max, Modules/mathmodule.c math_1), not C's: they differ on signs of zero results, on NaN and on
// results that C rounds differently.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>

namespace fastpy::ir {

// True when Python's a // b and a % b can be computed in int64: b != 0 and not INT64_MIN, -1 (those exit).
inline bool py_divmod_ok(int64_t a, int64_t b) {
  return b != 0 && !(a == std::numeric_limits<int64_t>::min() && b == -1);
}

// Python a // b (rounds toward -inf). The caller checks py_divmod_ok first (C's / traps otherwise).
inline int64_t py_floordiv(int64_t a, int64_t b) {
  int64_t q = a / b;                                   // C truncates toward 0
  if (a % b != 0 && ((a < 0) != (b < 0))) q -= 1;     // inexact with mixed signs: one below
  return q;
}

// Python a % b (the result has the sign of b, or is 0). The caller checks py_divmod_ok first.
inline int64_t py_mod(int64_t a, int64_t b) {
  int64_t r = a % b;                                   // C's remainder has the sign of a
  if (r != 0 && ((r < 0) != (b < 0))) r += b;
  return r;
}

// Python a % b for doubles, b != 0: CPython's float_rem (b == 0 gives NaN here; Python raises, and the
// recorder guards b != 0 before emitting fmod).
inline double py_fmod(double a, double b) {
  double mod = std::fmod(a, b);
  if (mod) {
    if ((b < 0) != (mod < 0)) mod += b;                // the sign of the divisor
  } else {
    mod = std::copysign(0.0, b);                       // a zero remainder is +-0.0 like b, on every libm
  }
  return mod;
}

// Python a // b for doubles, b != 0: the floordiv half of CPython's _float_div_mod (b == 0 gives NaN here).
inline double py_ffloordiv(double a, double b) {
  double mod = std::fmod(a, b);
  double div = (a - mod) / b;                          // very close to an integer, not always one
  if (mod) {
    if ((b < 0) != (mod < 0)) div -= 1.0;              // the remainder moved to the divisor's sign
  }
  double floordiv;
  if (div) {
    floordiv = std::floor(div);
    if (div - floordiv > 0.5) floordiv += 1.0;         // snap to the nearest integer
  } else {
    floordiv = std::copysign(0.0, a / b);              // zero with the sign of the true quotient
  }
  return floordiv;
}

// a + b and a * b with CPython's NaN rule in a hot loop (BINARY_OP_ADD_FLOAT / _MULTIPLY_FLOAT compute
// left + right, and x86 returns the first operand's NaN, quieted, when both are NaN). Plain C++ `a + b` may be
// compiled as b + a (it commutes), which would pick b's NaN: the executor and the fold engine use these.
inline double py_nan_first(double a, double b, double r) {
  if (!std::isnan(a) || !std::isnan(b)) return r;
  uint64_t u;
  __builtin_memcpy(&u, &a, 8);
  u |= uint64_t(1) << 51;   // quiet
  __builtin_memcpy(&a, &u, 8);
  return a;
}
inline double py_fadd(double a, double b) { return py_nan_first(a, b, a + b); }
inline double py_fmul(double a, double b) { return py_nan_first(a, b, a * b); }

// Python min(a, b): b < a ? b : a (a NaN first operand stays; C fmin would drop it).
inline double py_fmin(double a, double b) { return b < a ? b : a; }
// Python max(a, b): b > a ? b : a.
inline double py_fmax(double a, double b) { return b > a ? b : a; }
// Python min(a, b) on ints: b < a ? b : a.
inline int64_t py_imin(int64_t a, int64_t b) { return b < a ? b : a; }
// Python max(a, b) on ints: b > a ? b : a.
inline int64_t py_imax(int64_t a, int64_t b) { return b > a ? b : a; }

// True when r = f(x) is no error under CPython's math_1 rule: NaN from a non-NaN x is a domain error,
// an infinity from a finite x a range error (callf1 exits on both).
inline bool math1_ok(double x, double r) {
  if (std::isnan(r) && !std::isnan(x)) return false;
  if (std::isinf(r) && std::isfinite(x)) return false;
  return true;
}

// True when trunc(a) fits int64: -2**63 <= a < 2**63 (NaN: false). f2i exits otherwise.
inline bool py_f2i_ok(double a) { return a >= -0x1p63 && a < 0x1p63; }
// trunc(a) as int64; the caller checks py_f2i_ok first (the conversion is undefined otherwise).
inline int64_t py_f2i(double a) { return int64_t(a); }

}  // namespace fastpy::ir
