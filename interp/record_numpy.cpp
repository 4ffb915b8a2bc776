// Recording numpy array element access (see recorder_impl.h). Arrays are read through numpy's documented
// array struct (PyArrayObject_fields: data, nd, dimensions, strides, base, descr, flags), whose offsets are
// checked against a real array the first time numpy is seen; scalars (numpy.float64, numpy.int64) keep their
// value right after the object header, like float. numpy is never imported by fastpy: its types are taken
// from sys.modules once a program has imported it.
//
// Exactness: `a[i]` is a numpy scalar in CPython, so the trace marks such values (Recorder::kind, SnapBox
// SNAP_np): arithmetic with one gives one, and an exit boxes it as numpy.float64 / numpy.int64 again.
// numpy's scalar arithmetic differs from Python's only where the trace exits anyway (int64 overflow, division
// by zero, a float result that is not finite: numpy warns, or raises under np.errstate, and wraps or returns
// inf or nan; the interpreter then does exactly that), and its compares give numpy.bool_.
// internals.h first: it defines Py_BUILD_CORE before <Python.h>.
#include "python/cpython311/internals.h"
#include "interp/recorder_impl.h"

#include <opcode.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "runtime/restore.h"

namespace fastpy::rec {

namespace {

// numpy's array flags (numpy/ndarraytypes.h): the ones a trace relies on.
constexpr int64_t kCContiguous = 0x0001, kAligned = 0x0100, kWriteable = 0x0400;

struct Numpy {
  bool probed = false;
  bool ok = false;
  PyTypeObject* ndarray = nullptr;
  PyTypeObject* f64 = nullptr;      // numpy.float64
  PyTypeObject* i64 = nullptr;      // numpy.int64
  PyTypeObject* f32 = nullptr;      // numpy.float32
  PyTypeObject* i32 = nullptr;      // numpy.int32
  PyObject* descr_f64 = nullptr;    // the canonical dtype('float64') (native byte order)
  PyObject* descr_i64 = nullptr;
  PyObject* descr_f32 = nullptr;    // float32 and int32 arrays: loads give numpy.float32 / int32 scalars
  PyObject* descr_i32 = nullptr;    // (kind SNAP_np32; mixed with a Python number they compute in 64 bits)
  // Byte offsets in PyArrayObject_fields.
  int data = 0, nd = 0, dims = 0, descr = 0, flags = 0;
} g_np;

// Finds numpy in sys.modules and checks the layouts the trace reads against real objects; false (for
// good, once probed with numpy present) when anything differs.
bool numpy_ready() {
  if (g_np.probed) return g_np.ok;
  PyObject* mods = PySys_GetObject("modules");   // borrowed
  PyObject* np = mods ? PyDict_GetItemString(mods, "numpy") : nullptr;
  if (!np) return false;   // not imported yet: try again later
  // Still being imported (a loop of numpy's own import code got hot): its types may not all exist yet, and a
  // probe now would turn numpy support off for good. The same check as CPython's import
  // (_PyModuleSpec_IsInitializing).
  PyObject* spec = PyObject_GetAttrString(np, "__spec__");
  PyObject* initializing = spec ? PyObject_GetAttrString(spec, "_initializing") : nullptr;
  int busy = initializing ? PyObject_IsTrue(initializing) : 0;
  Py_XDECREF(initializing);
  Py_XDECREF(spec);
  PyErr_Clear();
  if (busy != 0) return false;
  g_np.probed = true;
  auto attr = [&](const char* name) { return PyObject_GetAttrString(np, name); };
  PyObject* nd = attr("ndarray");
  PyObject* f64 = attr("float64");
  PyObject* i64 = attr("int64");
  PyObject* dtype = attr("dtype");
  PyObject* zeros = attr("zeros");
  PyObject* df = (dtype && f64) ? PyObject_CallOneArg(dtype, f64) : nullptr;
  PyObject* di = (dtype && i64) ? PyObject_CallOneArg(dtype, i64) : nullptr;
  PyObject* arr = (zeros && df) ? PyObject_CallFunction(zeros, "(ii)O", 3, 4, df) : nullptr;
  PyObject* one = f64 ? PyObject_CallFunction(f64, "d", 1.5) : nullptr;
  PyObject* seven = i64 ? PyObject_CallFunction(i64, "L", 12345LL) : nullptr;
  PyObject* f32 = attr("float32");
  PyObject* i32 = attr("int32");
  PyObject* df32 = (dtype && f32) ? PyObject_CallOneArg(dtype, f32) : nullptr;
  PyObject* di32 = (dtype && i32) ? PyObject_CallOneArg(dtype, i32) : nullptr;
  PyObject* half = f32 ? PyObject_CallFunction(f32, "d", 2.5) : nullptr;
  PyObject* nine = i32 ? PyObject_CallFunction(i32, "i", -9) : nullptr;
  bool ok = nd && PyType_Check(nd) && PyType_Check(f64) && PyType_Check(i64) && df && di && df32 && di32 && arr &&
            one && seven && half && nine && PyType_Check(f32) && PyType_Check(i32);
  if (ok) {
    // PyArrayObject_fields: PyObject_HEAD, char* data, int nd, npy_intp* dimensions, npy_intp* strides,
    // PyObject* base, PyArray_Descr* descr, int flags.
    const char* base = reinterpret_cast<const char*>(arr);
    int o_data = sizeof(PyObject), o_nd = o_data + 8, o_dims = o_nd + 8, o_descr = o_dims + 24, o_flags = o_descr + 8;
    int32_t ndim, flags;
    std::memcpy(&ndim, base + o_nd, 4);
    std::memcpy(&flags, base + o_flags, 4);
    const Py_ssize_t* dims = *reinterpret_cast<Py_ssize_t* const*>(base + o_dims);
    PyObject* descr = *reinterpret_cast<PyObject* const*>(base + o_descr);
    double v;
    long long w;
    std::memcpy(&v, reinterpret_cast<const char*>(one) + sizeof(PyObject), 8);
    std::memcpy(&w, reinterpret_cast<const char*>(seven) + sizeof(PyObject), 8);
    ok = Py_TYPE(arr) == reinterpret_cast<PyTypeObject*>(nd) && ndim == 2 && dims && dims[0] == 3 &&
         dims[1] == 4 && descr == df && (flags & (kCContiguous | kAligned | kWriteable)) ==
         (kCContiguous | kAligned | kWriteable) && v == 1.5 && w == 12345 &&
         Py_TYPE(one)->tp_basicsize == static_cast<Py_ssize_t>(sizeof(PyObject) + 8);
    float hv;
    int32_t nv;
    std::memcpy(&hv, reinterpret_cast<const char*>(half) + sizeof(PyObject), 4);
    std::memcpy(&nv, reinterpret_cast<const char*>(nine) + sizeof(PyObject), 4);
    ok = ok && hv == 2.5f && nv == -9;
    if (ok) {
      g_np.ndarray = reinterpret_cast<PyTypeObject*>(Py_NewRef(nd));
      g_np.f64 = reinterpret_cast<PyTypeObject*>(Py_NewRef(f64));
      g_np.i64 = reinterpret_cast<PyTypeObject*>(Py_NewRef(i64));
      g_np.descr_f64 = Py_NewRef(df);
      g_np.descr_i64 = Py_NewRef(di);
      g_np.f32 = reinterpret_cast<PyTypeObject*>(Py_NewRef(f32));
      g_np.i32 = reinterpret_cast<PyTypeObject*>(Py_NewRef(i32));
      g_np.descr_f32 = Py_NewRef(df32);
      g_np.descr_i32 = Py_NewRef(di32);
      g_np.data = o_data;
      g_np.nd = o_nd;
      g_np.dims = o_dims;
      g_np.descr = o_descr;
      g_np.flags = o_flags;
    }
  }
  PyObject* made[] = {nd, f64, i64, dtype, zeros, df, di, arr, one, seven, f32, i32, df32, di32, half, nine};
  for (PyObject* o : made) Py_XDECREF(o);
  PyErr_Clear();
  g_np.ok = ok;
  return ok;
}

PyObject* box_numpy(ir::IRType ty, uint64_t v, ir::SnapBox box) {
  PyObject* py = ty == ir::IRT_f64 ? PyFloat_FromDouble(ir::bits_f64(static_cast<int64_t>(v)))
                                   : PyLong_FromLongLong(static_cast<long long>(v));
  if (!py) return nullptr;
  bool narrow = box == ir::SNAP_np32;   // the value is exactly a float32 / int32: the conversion is exact
  PyTypeObject* tp = ty == ir::IRT_f64 ? (narrow ? g_np.f32 : g_np.f64) : (narrow ? g_np.i32 : g_np.i64);
  PyObject* r = PyObject_CallOneArg(reinterpret_cast<PyObject*>(tp), py);
  Py_DECREF(py);
  return r;
}

// The array `arr` (live object a, an exact ndarray) guarded to have this dtype, nidx dimensions and the
// flags in `need`; the element address for the indices (IR values and live values, negative ones counting
// from the end, each guarded in range; sp: the interpreter's stack pointer at the subscript). nullptr-free:
// aborts when the live array does not qualify.
IRRef element(Recorder* r, IRRef arr, PyObject* a, const IRRef* idx, const int64_t* live_idx, int nidx,
              int64_t need, PyObject** sp) {
  const char* base = reinterpret_cast<const char*>(a);
  int32_t ndim, flags;
  std::memcpy(&ndim, base + g_np.nd, 4);
  std::memcpy(&flags, base + g_np.flags, 4);
  PyObject* descr = *reinterpret_cast<PyObject* const*>(base + g_np.descr);
  const Py_ssize_t* dims = *reinterpret_cast<Py_ssize_t* const*>(base + g_np.dims);
  bool wide = descr == g_np.descr_f64 || descr == g_np.descr_i64;
  bool narrow = descr == g_np.descr_f32 || descr == g_np.descr_i32;
  bool storing = (need & kWriteable) != 0;
  (void)storing;
  if (ndim != nidx || (nidx != 1 && nidx != 2) || (flags & need) != need || !(wide || narrow))
    fail(Abort::unsupported_type);
  for (int k = 0; k < nidx; k++) {
    int64_t i = live_idx[k];
    if (i < 0 ? i + dims[k] < 0 : i >= dims[k]) fail(Abort::would_raise);
  }
  guard(r, ir::IR_guard_type, arr, kNoRef, reinterpret_cast<int64_t>(g_np.ndarray));
  guard(r, ir::IR_guard_eqp, emit(r, ir::IR_load_ptr, arr, kNoRef, g_np.descr), r->b.kptr(descr));
  guard(r, ir::IR_guard_eqi, emit(r, ir::IR_load_i32, arr, kNoRef, g_np.nd), r->b.kint(nidx));
  IRRef fl = emit(r, ir::IR_and, emit(r, ir::IR_load_i32, arr, kNoRef, g_np.flags), r->b.kint(need));
  guard(r, ir::IR_guard_eqi, fl, r->b.kint(need));
  IRRef dimp = emit(r, ir::IR_load_cptr, arr, kNoRef, g_np.dims);   // (numpy writes dimensions, a trace never)
  IRRef linear = kNoRef;
  for (int k = 0; k < nidx; k++) {
    IRRef n = emit(r, ir::IR_load_i64, dimp, kNoRef, 8 * k);
    IRRef i = idx[k];
    if (live_idx[k] < 0) {
      guard_true(r, emit(r, ir::IR_lt, i, r->b.kint(0)));
      i = guard(r, ir::IR_add_ov, i, n);
      guard_true(r, emit(r, ir::IR_ge, i, r->b.kint(0)));
    } else if (!range_checked_index(r, sp, i, n, dims[k])) {   // 0 <= i < n, as element_addr checks it
      guard_true(r, emit(r, known_nonneg(r, i) ? ir::IR_lt : ir::IR_ult, i, n));
    }
    // C order: ((i0 * d1) + i1) elements from the start; cannot overflow for indices in range.
    linear = k == 0 ? i : guard(r, ir::IR_add_ov, guard(r, ir::IR_mul_ov, linear, n), i);
  }
  IRRef data = emit(r, ir::IR_load_ptr, arr, kNoRef, g_np.data);
  return emit(r, ir::IR_padd, data, linear, wide ? 8 : 4);
}

// The nidx index values on top of the stack (depth nidx .. 1): IR values and live values; false when any is
// not an int within 64 bits (a numpy.int64 included).
bool indices(Recorder* r, int nidx, PyObject** sp, IRRef* idx, int64_t* live_idx) {
  for (int k = 0; k < nidx; k++) {
    PyObject* o = sp[-(nidx - k)];
    if (PyBool_Check(o)) return false;
    if (small_int(o, &live_idx[k])) {
    } else if (g_np.i64 && Py_TYPE(o) == g_np.i64) {
      std::memcpy(&live_idx[k], reinterpret_cast<const char*>(o) + sizeof(PyObject), 8);
    } else {
      return false;
    }
    idx[k] = peek(r, nidx - k);
    if (type_of(r, idx[k]) != ir::IRT_i64) return false;
  }
  return true;
}

}  // namespace

bool rec_numpy_subscr(Recorder* r, int nidx, PyObject** sp) {   // [arr, idx...] -> [arr[idx]]
  PyObject* a = sp[-(nidx + 1)];
  if (nidx > 2 || !numpy_ready() || Py_TYPE(a) != g_np.ndarray) return false;
  IRRef idx[2];
  int64_t live_idx[2];
  if (!indices(r, nidx, sp, idx, live_idx)) fail(Abort::unsupported_type);
  IRRef arr = peek(r, nidx + 1);
  if (type_of(r, arr) != ir::IRT_obj) fail(Abort::unsupported_type);
  IRRef addr = element(r, arr, a, idx, live_idx, nidx, kCContiguous | kAligned, sp);
  PyObject* descr = *reinterpret_cast<PyObject* const*>(reinterpret_cast<const char*>(a) + g_np.descr);
  ir::IROp load = descr == g_np.descr_f64   ? ir::IR_load_f64
                  : descr == g_np.descr_i64 ? ir::IR_load_i64
                  : descr == g_np.descr_f32 ? ir::IR_load_f32
                                            : ir::IR_load_i32;
  bool narrow = load == ir::IR_load_f32 || load == ir::IR_load_i32;
  IRRef v = emit(r, load, addr, kNoRef, 0);
  pop(r, nidx + 1);
  push_k(r, v, narrow ? ir::SNAP_np32 : ir::SNAP_np);
  return true;
}

bool rec_numpy_store(Recorder* r, int nidx, PyObject** sp) {   // [value, arr, idx...] -> []
  PyObject* a = sp[-(nidx + 1)];
  if (nidx > 2 || !numpy_ready() || Py_TYPE(a) != g_np.ndarray) return false;
  IRRef idx[2];
  int64_t live_idx[2];
  if (!indices(r, nidx, sp, idx, live_idx)) fail(Abort::unsupported_type);
  IRRef arr = peek(r, nidx + 1), v = peek(r, nidx + 2);
  if (type_of(r, arr) != ir::IRT_obj) fail(Abort::unsupported_type);
  ir::IRType tv = type_of(r, v);
  if (tv != ir::IRT_f64 && tv != ir::IRT_i64) fail(Abort::unsupported_type);
  PyObject* descr = *reinterpret_cast<PyObject* const*>(reinterpret_cast<const char*>(a) + g_np.descr);
  bool to_float = descr == g_np.descr_f64 || descr == g_np.descr_f32;
  bool is32 = descr == g_np.descr_f32 || descr == g_np.descr_i32;
  PyObject* lv = sp[-(nidx + 2)];
  if (!to_float && tv == ir::IRT_f64) {   // numpy truncates like int(x); NaN, inf and huge values raise
    double d = PyFloat_Check(lv) ? PyFloat_AS_DOUBLE(lv) : 0.0;
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) fail(Abort::would_raise);
    if (is32) fail(Abort::unsupported_type);
  }
  if (!to_float && is32) {   // an int out of int32's range: numpy warns or raises; the trace exits first
    int64_t iv = 0;
    if (!small_int(lv, &iv) && !(g_np.i64 && Py_TYPE(lv) == g_np.i64)) fail(Abort::unsupported_type);
    if (g_np.i64 && Py_TYPE(lv) == g_np.i64) std::memcpy(&iv, reinterpret_cast<const char*>(lv) + sizeof(PyObject), 8);
    if (iv < INT32_MIN || iv > INT32_MAX) fail(Abort::would_raise);
  }
  IRRef addr = element(r, arr, a, idx, live_idx, nidx, kCContiguous | kAligned | kWriteable, sp);
  if (to_float) {
    IRRef f = tv == ir::IRT_f64 ? v : emit(r, ir::IR_i2f, v);
    if (is32) {   // beyond float32's range (or not finite) numpy may warn: the interpreter does that
      double d = PyFloat_Check(lv) ? PyFloat_AS_DOUBLE(lv) : 0.0;
      if (!(std::fabs(d) <= 3.4028234663852886e38)) fail(Abort::would_raise);
      guard_true(r, emit(r, ir::IR_fle, emit(r, ir::IR_fabs, f), r->b.kflt(3.4028234663852886e38)));
    }
    emit(r, is32 ? ir::IR_store_f32 : ir::IR_store_f64, addr, f, 0);
  } else if (is32) {
    guard_true(r, emit(r, ir::IR_ge, v, r->b.kint(INT32_MIN)));
    guard_true(r, emit(r, ir::IR_le, v, r->b.kint(INT32_MAX)));
    emit(r, ir::IR_store_i32, addr, v, 0);
  } else {
    emit(r, ir::IR_store_i64, addr, tv == ir::IRT_i64 ? v : guard(r, ir::IR_f2i, v), 0);
  }
  pop(r, nidx + 2);
  return true;
}

bool rec_numpy_len(Recorder* r, IRRef arr, PyObject* a, IRRef* out) {
  if (!numpy_ready() || Py_TYPE(a) != g_np.ndarray || type_of(r, arr) != ir::IRT_obj) return false;
  int32_t ndim;
  std::memcpy(&ndim, reinterpret_cast<const char*>(a) + g_np.nd, 4);
  if (ndim < 1) return false;   // len() of a 0-d array raises
  guard(r, ir::IR_guard_type, arr, kNoRef, reinterpret_cast<int64_t>(g_np.ndarray));
  guard(r, ir::IR_guard_eqi, emit(r, ir::IR_load_i32, arr, kNoRef, g_np.nd), r->b.kint(ndim));
  *out = emit(r, ir::IR_load_i64, emit(r, ir::IR_load_cptr, arr, kNoRef, g_np.dims), kNoRef, 0);
  return true;
}

IRRef numpy_sload(Recorder* r, int k, PyObject* o, uint8_t* kind) {
  if (!numpy_ready()) return kNoRef;
  PyTypeObject* t = Py_TYPE(o);
  ir::IROp op = t == g_np.f64 ? ir::IR_sload_npf64 : t == g_np.i64 ? ir::IR_sload_npi64
              : t == g_np.f32 ? ir::IR_sload_npf32 : t == g_np.i32 ? ir::IR_sload_npi32 : ir::IR__count;
  if (op == ir::IR__count) return kNoRef;
  *kind = op == ir::IR_sload_npf32 || op == ir::IR_sload_npi32 ? ir::SNAP_np32 : ir::SNAP_np;
  return guard(r, op, kNoRef, kNoRef, k);
}

bool numpy_runtime(const ir::IRIns& i, uint64_t a, uint64_t, uint64_t* out) {
  auto* o = reinterpret_cast<PyObject*>(static_cast<uintptr_t>(a));
  switch (i.op) {
    case ir::IR_sload_npf64:
    case ir::IR_sload_npi64:
      if (!o || Py_TYPE(o) != (i.op == ir::IR_sload_npf64 ? g_np.f64 : g_np.i64)) return false;
      std::memcpy(out, reinterpret_cast<const char*>(o) + sizeof(PyObject), 8);
      return true;
    case ir::IR_sload_npf32: {
      if (!o || Py_TYPE(o) != g_np.f32) return false;
      float w;
      std::memcpy(&w, reinterpret_cast<const char*>(o) + sizeof(PyObject), 4);
      *out = static_cast<uint64_t>(ir::f64_bits(double(w)));
      return true;
    }
    case ir::IR_sload_npi32: {
      if (!o || Py_TYPE(o) != g_np.i32) return false;
      int32_t w;
      std::memcpy(&w, reinterpret_cast<const char*>(o) + sizeof(PyObject), 4);
      *out = static_cast<uint64_t>(int64_t(w));
      return true;
    }
    default:
      return false;
  }
}

void numpy_init() { g_box_numpy = &box_numpy; }

// A numpy scalar's float arithmetic reports what IEEE flags it raised (numpy.seterr: a RuntimeWarning by
// default, FloatingPointError under 'raise'): a result that is not finite (overflow, inf - inf, 0 * inf)
// exits before the op, so that the interpreter does it, as numpy does. Operands that are not finite
// already, or a result that is not: not recorded (the guard would fail at once).
void np_float_finite(Recorder* r, PyObject* lo, PyObject* ro, int nb, IRRef res) {
  auto dbl = [](PyObject* o) {
    double d = PyFloat_AsDouble(o);
    if (d == -1.0 && PyErr_Occurred()) {
      PyErr_Clear();
      return std::numeric_limits<double>::quiet_NaN();
    }
    return d;
  };
  double x = dbl(lo), y = dbl(ro);
  double v = nb == NB_ADD ? x + y : nb == NB_SUBTRACT ? x - y : nb == NB_MULTIPLY ? x * y : x / y;
  if (!std::isfinite(x) || !std::isfinite(y) || !std::isfinite(v)) fail(Abort::would_raise);
  IRRef inf = r->b.kflt(std::numeric_limits<double>::infinity());
  guard_true(r, emit(r, ir::IR_flt, emit(r, ir::IR_fabs, res), inf));
}

}  // namespace fastpy::rec
