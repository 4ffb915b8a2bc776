// THE restore routine: every tier's side exits end here (DESIGN.md section 4). A failed guard names a snapshot;
// this writes the interpreter state it describes into the frame so the fastpy interpreter continues exactly
// where the trace left off.
#pragma once
#include <Python.h>

#include <cstdint>

#include "tiers/ir/ir.h"

struct _PyInterpreterFrame;

namespace fastpy {

// Restores snapshot `snap` of trace t into frame f. values[e] is the 64-bit value (IR representation: i64,
// f64 bits, bool 0/1, obj address) that snapshot entry e had when the trace exited. The frame holds the state
// of the trace's entry (the trace never writes it); this boxes unboxed values into new objects, takes new
// references for objects, replaces the listed locals and stack slots (releasing what they held, after every
// new value is in place), sets the stack top and prev_instr. Returns the bytecode index (code units) the
// interpreter continues at, or -1 with MemoryError set (prev_instr then at the resume instruction, every
// slot holding a valid reference).
int restore_frame(_PyInterpreterFrame* f, const ir::Trace& t, int snap, const uint64_t* values);

// The Python object for an IR value of type ty (new reference; nullptr with an error set on failure; ptr
// values are never in snapshots).
PyObject* box_value(ir::IRType ty, uint64_t v);

}  // namespace fastpy
