// THE restore routine: every tier's side exits end here (DESIGN.md section 4). A failed guard names a snapshot;
// this writes the interpreter state it describes into the frame so the fastpy interpreter continues exactly
// where the trace left off.
#pragma once
#include <Python.h>

#include <cstdint>
#include <vector>

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

// How each snapshot of a trace is restored on the common path, built once per trace: its entries grouped by
// what they are (objects, owned objects, bools, floats, ints, slots sharing another's object: one byte
// each), so that a restore reads neither the trace's instructions nor its boxing rules and runs one
// branch-free loop per group.
// restore_frame's fast path takes such a snapshot (the trace's own frame, no inlined call waiting, at most
// 32 entries, none a numpy scalar) with the same results as the general path (a failure falls back to it).
struct RestoreKinds {
  struct Snap {
    uint32_t first = 0;   // its entries' place in `order`
    uint8_t end[6] = {};  // end (in order, from first) of the objects, owned objects, bools, floats, ints,
                          // and the slots that share another's object (SnapEntry::same)
    bool fast = false;    // the fast path takes it
  };
  std::vector<Snap> snaps;
  std::vector<uint8_t> order;   // entry indices, grouped
  bool built = false;
};
void restore_kinds_build(const ir::Trace& t, RestoreKinds* out);
int restore_frame(_PyInterpreterFrame* f, const ir::Trace& t, int snap, const uint64_t* values,
                  const RestoreKinds& kinds);

// Inlined calls (Snapshot::inlined): the trace's own frame is restored to the CALL that entered the first
// one, which the interpreter then re-executes with the same arguments; each callee frame waits here, boxed,
// until the hook sees CPython create it again, and resume_apply() puts its locals, stack and resume point
// in (outermost first). The snapshot's objects are owned here until then.
extern bool g_resume_pending;
// Set by the hook (python/hook.cpp): puts the hook back if a lifted frame took it out, so that the CALL
// re-executed after a side exit reaches it. Called whenever frames are left waiting.
extern void (*g_resume_needs_hook)();
// Called by the hook for every new frame while g_resume_pending: applies the next waiting frame when f is
// its code's fresh frame (drops them all if it is not: the CALL went somewhere else).
void resume_apply(_PyInterpreterFrame* f);

// Boxes a numpy scalar (SnapBox SNAP_np) of IR type ty; registered by the recorder once numpy's types are
// known (nullptr: no numpy scalar was ever traced). New reference, or nullptr with an error set.
extern PyObject* (*g_box_numpy)(ir::IRType ty, uint64_t v, ir::SnapBox box);

// The Python object for an IR value of type ty (new reference; nullptr with an error set on failure; ptr
// values are never in snapshots).
PyObject* box_value(ir::IRType ty, uint64_t v);

}  // namespace fastpy
