// The baseline tier's exits, against the reference executor or fake frames: exit blocks shared between
// snapshots, the completion restore into the frame, exits that call their linked side traces, and a
// link that loops back (tests/cpp/baseline_harness.h: the harness and the fakes).
#include "tests/cpp/baseline_harness.h"

namespace fastpy {
namespace {

using namespace bltest;

// Exit blocks shared (Gen::share_exit_blocks): a snapshot whose stores begin another's uses that one's
// block, only where the other's further values are defined at each of its exits. Snapshot 0 goes to 1's
// block, 3 to 2's; 1 may not go to 2's (%10 is computed after 1's guard). Every guard's exit gives the
// executor's values, and two blocks are left of four.
TEST(BaselineCodegen, ExitBlocksSharedWhereTheStoresArePrefixes) {
  const std::string text =
      "%0 ptr = kptr @MEM\n%1 i64 = load_i64 %0, 0\n%2 i64 = load_i64 %0, 8\n%3 i64 = load_i64 %0, 16\n"
      "%4 i64 = load_i64 %0, 24\n%5 i64 = load_i64 %0, 32\n%6 i64 = load_i64 %0, 40\n%7 i64 = kint 0\n"
      "snap 0 pc=1 top=9 [0=%1]\nsnap 1 pc=2 top=9 [0=%1 1=%2]\n"
      "%8 void = guard_eqi %3, %7 @0\n%9 void = guard_eqi %4, %7 @1\n%10 i64 = add %1, %2\n"
      "snap 2 pc=3 top=9 [0=%1 1=%2 2=%10]\nsnap 3 pc=4 top=9 [0=%1 1=%2]\n"
      "%11 void = guard_eqi %5, %7 @2\n%12 void = guard_eqi %6, %7 @3\n";
  for (int exit = 0; exit < 5; exit++) {   // the guard that fails (4: none, the trace completes)
    std::vector<uint64_t> mem = {7, uint64_t(-3), 0, 0, 0, 0};
    if (exit < 4) mem[size_t(2 + exit)] = 1;
    EXPECT_EQ(differential(text, mem), "") << "exit " << exit;
  }
  std::vector<uint64_t> mem = {7, 8, 0, 0, 0, 0};
  std::string t = text;
  for (size_t at; (at = t.find("@MEM")) != std::string::npos;) t.replace(at, 4, P(mem.data()));
  Trace tr;
  ASSERT_EQ(ir_parse(t, &tr), "");
  baseline::CompileOptions o;
  o.asm_text = true;
  baseline::CompiledTrace c;
  ASSERT_EQ(baseline::compile_trace(tr, o, &c), "");
  baseline::release_trace(&c);
  size_t blocks = 0;
  for (size_t at = 0; (at = c.asm_text.find("exit to snapshot", at)) != std::string::npos; at++) blocks++;
  EXPECT_EQ(blocks, 2u) << c.asm_text;
  EXPECT_NE(c.asm_text.find("exit to snapshot 1"), std::string::npos) << c.asm_text;
  EXPECT_NE(c.asm_text.find("exit to snapshot 2"), std::string::npos) << c.asm_text;
}

// The completion restore (CompileOptions::frame_nlocals): a trace without loop writes its completion snapshot
// into a fake frame itself. One run where every kind of entry is written (a float and an int into the frame's
// own objects, a small int replaced by its cached object, a bool, an object, the stack's owned iterator, a
// stack slot the top drops), then one run per condition that must send it to the restore routine instead
// (kCompleted): the frame and every object exactly as before, the snapshot's values in out.
// The completion restore's fake CPython: objects {refcnt, type, word 2, word 3}, the small ints, the flags and
// counters it updates, and the options that name them.
namespace fake {
struct Obj { uint64_t w[4]; };
Obj smalls[262];
bool pending;
uint64_t restores, in_place, compiled;
const uint16_t code[16] = {};

void obj(Obj& o, uint64_t rc, const void* type, uint64_t w2, uint64_t w3) {
  o.w[0] = rc, o.w[1] = uint64_t(uintptr_t(type)), o.w[2] = w2, o.w[3] = w3;
}

// Small ints, True/False and the counters as a fresh run finds them.
void reset() {
  for (Obj& o : smalls) obj(o, 1000, g_long_type, 0, 0);
  g_true[0] = g_false[0] = 100;
  g_deallocs = 0;
  pending = false;
  restores = in_place = compiled = 0;
}

// Compiles text (its last snapshot at its end) for a frame of nlocals locals and runs it on frame + 2
// (frame[0] prev_instr, frame[1] the stack top); out (if given) gets what it wrote there. Its result.
// entry_top: CompileOptions::frame_entry_top (-1: the restore reads the stack top).
int32_t run_restore(const std::string& text, int32_t nlocals, uint64_t* frame, std::vector<uint64_t>* out,
                    int32_t entry_top = -1) {
  Trace t;
  EXPECT_EQ(ir_parse(text, &t), "") << text;
  EXPECT_EQ(ir_verify(t), "") << text;
  baseline::CompileOptions o;
  o.layout.float_type = g_float_type, o.layout.float_value = 16;
  o.layout.long_type = g_long_type, o.layout.long_size = 16, o.layout.long_digit = 24;
  o.layout.true_obj = g_true, o.layout.false_obj = g_false, o.layout.dealloc = &fake_dealloc;
  o.layout.frame_prev_instr = -16, o.layout.frame_stacktop = -8;
  o.layout.small_ints = smalls, o.layout.small_int_size = 32, o.layout.small_int_count = 262;
  o.layout.resume_pending = &pending;
  o.layout.stat_restores = &restores, o.layout.stat_in_place = &in_place, o.layout.stat_compiled = &compiled;
  o.frame_nlocals = nlocals;
  o.frame_code = code;
  o.frame_entry_top = entry_top;
  baseline::CompiledTrace c;
  EXPECT_EQ(baseline::compile_trace(t, o, &c), "");
  std::vector<uint64_t> buf(c.out_words + 1, 0xdead);
  int32_t rc = c.fn(frame + 2, buf.data(), nullptr);
  baseline::release_trace(&c);
  if (out) *out = buf;
  return rc;
}
}  // namespace fake

TEST(BaselineCodegen, CompletionRestoreIntoTheFrame) {
  using namespace fake;
  struct World {
    Obj F, N, M, A, B, I1, I2, J;
    uint64_t frame[2 + 8];   // prev_instr, stacktop, then the slots (localsplus)
    uint64_t mem[8];
  };
  auto base = [&](World& W) {
    obj(W.F, 1, g_float_type, B(1.0), 0);
    obj(W.N, 1, g_long_type, 1, 5000);   // a one-digit int (size 1, digit 5000)
    obj(W.M, 1, g_long_type, 1, 77);
    obj(W.A, 2, g_other_type, 0, 0);
    obj(W.B, 1, g_other_type, 0, 0);
    obj(W.I1, 1, g_other_type, 0, 0);
    obj(W.I2, 1, g_other_type, 0, 0);
    obj(W.J, 1, g_other_type, 0, 0);
    reset();
    uint64_t* sl = W.frame + 2;
    W.frame[0] = 0;
    W.frame[1] = 7;   // the old stack top: slots 5 and 6 hold iterators
    sl[0] = uint64_t(uintptr_t(&W.F)), sl[1] = uint64_t(uintptr_t(&W.N)), sl[2] = uint64_t(uintptr_t(&W.M));
    sl[3] = uint64_t(uintptr_t(g_true)), sl[4] = uint64_t(uintptr_t(&W.A));
    sl[5] = uint64_t(uintptr_t(&W.I1)), sl[6] = uint64_t(uintptr_t(&W.I2)), sl[7] = 0;
    // The trace's values: a float, two ints, a bool, two objects.
    W.mem[0] = B(2.5), W.mem[1] = 6000, W.mem[2] = 7, W.mem[3] = 0;
    W.mem[4] = uint64_t(uintptr_t(&W.B)), W.mem[5] = uint64_t(uintptr_t(&W.J));
  };
  // Each case twice: the stack top read by the restore, and known to it (frame_entry_top: the frame's 7).
  int32_t entry_top = -1;
  auto run = [&](World& W, std::vector<uint64_t>* out_values) {
    std::string s = "%0 ptr = kptr " + P(W.mem) + "\n%1 f64 = load_f64 %0, 0\n%2 i64 = load_i64 %0, 8\n"
                    "%3 i64 = load_i64 %0, 16\n%4 i64 = load_i64 %0, 24\n%5 i64 = kint 0\n%6 bool = ne %4, %5\n"
                    "%7 obj = load_obj %0, 32\n%8 obj = load_obj %0, 40\n"
                    "snap 0 pc=9 top=6 [0=%1 1=%2 2=%3 3=%6 4=%7 5=%8:own]\n";
    return run_restore(s, 5, W.frame, out_values, entry_top);
  };
  for (int32_t mode : {-1, 7}) {
  entry_top = mode;
  SCOPED_TRACE("frame_entry_top " + std::to_string(mode));
  {
    World W;
    base(W);
    std::vector<uint64_t> out;
    ASSERT_EQ(run(W, &out), baseline::kRestored);
    const uint64_t* sl = W.frame + 2;
    EXPECT_EQ(D(W.F.w[2]), 2.5);
    EXPECT_EQ(W.F.w[0], 1u);
    EXPECT_EQ(W.N.w[3], 6000u);   // in place: size 1, the digit
    EXPECT_EQ(sl[0], uint64_t(uintptr_t(&W.F)));
    EXPECT_EQ(sl[1], uint64_t(uintptr_t(&W.N)));
    EXPECT_EQ(sl[2], uint64_t(uintptr_t(&smalls[7 + 5])));   // 7: the cached object, referenced
    EXPECT_EQ(smalls[12].w[0], 1001u);
    EXPECT_EQ(W.M.w[0], 999u);    // the old int released: its last reference
    EXPECT_EQ(sl[3], uint64_t(uintptr_t(g_false)));
    EXPECT_EQ(g_false[0], 101u);
    EXPECT_EQ(g_true[0], 99u);
    EXPECT_EQ(sl[4], uint64_t(uintptr_t(&W.B)));
    EXPECT_EQ(W.B.w[0], 2u);
    EXPECT_EQ(W.A.w[0], 1u);
    EXPECT_EQ(sl[5], uint64_t(uintptr_t(&W.J)));   // owned: handed over as is
    EXPECT_EQ(W.J.w[0], 1u);
    EXPECT_EQ(W.I1.w[0], 999u);   // the old iterator of slot 5, and slot 6 that the new top drops
    EXPECT_EQ(W.I2.w[0], 999u);
    EXPECT_EQ(g_deallocs, 3);
    EXPECT_EQ(W.frame[1] & 0xffffffffu, 6u);
    EXPECT_EQ(W.frame[0], uint64_t(uintptr_t(code + 8)));   // prev_instr: pc - 1
    EXPECT_EQ(restores, 1u);
    EXPECT_EQ(compiled, 1u);
    EXPECT_EQ(in_place, 2u);
    EXPECT_EQ(out[0], 0xdeadu);   // nothing through out
  }
  {
    World W;   // the frame's stack top at 5: slot 5 held nothing (the owned iterator goes in), none dropped
    base(W);
    W.frame[1] = 5, W.frame[2 + 5] = 0, W.frame[2 + 6] = 0;
    if (mode >= 0) entry_top = 5;
    ASSERT_EQ(run(W, nullptr), baseline::kRestored);
    entry_top = mode;
    EXPECT_EQ(W.frame[2 + 5], uint64_t(uintptr_t(&W.J)));
    EXPECT_EQ(W.I1.w[0], 1u);
    EXPECT_EQ(W.I2.w[0], 1u);
    EXPECT_EQ(g_deallocs, 1);   // the old int only
    EXPECT_EQ(W.frame[1] & 0xffffffffu, 6u);
  }
  {
    World W;   // a negative int written into a negative one
    base(W);
    W.N.w[2] = uint64_t(-1);
    W.mem[1] = uint64_t(-6000);
    ASSERT_EQ(run(W, nullptr), baseline::kRestored);
    EXPECT_EQ(W.N.w[3], 6000u);
    EXPECT_EQ(W.N.w[2], uint64_t(-1));
  }
  for (int64_t v : {(int64_t(1) << 30) - 1, -((int64_t(1) << 30) - 1)}) {
    World W;   // the largest one-digit values of either sign: still in place
    base(W);
    if (v < 0) W.N.w[2] = uint64_t(-1);
    W.mem[1] = uint64_t(v);
    ASSERT_EQ(run(W, nullptr), baseline::kRestored) << v;
    EXPECT_EQ(W.N.w[3], uint64_t((int64_t(1) << 30) - 1)) << v;
    EXPECT_EQ(W.frame[3], uint64_t(uintptr_t(&W.N))) << v;
    EXPECT_EQ(in_place, 2u) << v;
  }
  for (int empty = 0; empty < 2; empty++) {
    World W;   // a small int replaces whatever its slot held, with no check: an object of another type, nothing
    base(W);
    if (empty) W.frame[4] = 0;
    else W.M.w[1] = uint64_t(uintptr_t(g_other_type));
    ASSERT_EQ(run(W, nullptr), baseline::kRestored) << empty;
    EXPECT_EQ(W.frame[4], uint64_t(uintptr_t(&smalls[7 + 5]))) << empty;
    EXPECT_EQ(smalls[12].w[0], 1001u) << empty;
    EXPECT_EQ(W.M.w[0], empty ? 1u : 999u) << empty;   // released (its last reference) when it was there
    EXPECT_EQ(g_deallocs, empty ? 2 : 3) << empty;
    EXPECT_EQ(compiled, 1u) << empty;
  }
  const std::pair<const char*, std::function<void(World&)>> refused[] = {
      {"float shared", [](World& W) { W.F.w[0] = 2; }},
      {"float slot of another type", [&](World& W) { W.F.w[1] = uint64_t(uintptr_t(g_other_type)); }},
      {"float slot empty", [](World& W) { W.frame[2] = 0; }},
      {"int shared", [](World& W) { W.N.w[0] = 2; }},
      {"int changes sign", [](World& W) { W.mem[1] = uint64_t(-6000); }},
      {"negative int changes sign", [](World& W) { W.N.w[2] = uint64_t(-1); }},
      {"int to two digits", [](World& W) { W.mem[1] = uint64_t(1) << 30; }},
      {"negative int to two digits", [](World& W) { W.N.w[2] = uint64_t(-1), W.mem[1] = uint64_t(-(int64_t(1) << 30)); }},
      {"int over two digits", [](World& W) { W.N.w[2] = 2; }},
      {"int slot of another type", [&](World& W) { W.N.w[1] = uint64_t(uintptr_t(g_float_type)); }},
      {"int slot empty", [](World& W) { W.frame[3] = 0; }},
      {"inlined frames wait", [](World&) { pending = true; }},
      // (frame_entry_top only: read, a top of 8 drops slot 7 as well, which holds nothing)
      {"the frame's stack top is not the one the trace runs with", [](World& W) { W.frame[1] = 8; }},
      // The object entry's new value is the float slot's own object: referenced first, it is no longer the
      // frame's alone, so it is not written.
      {"object moves from a float slot", [](World& W) { W.mem[4] = uint64_t(uintptr_t(&W.F)); }},
  };
  for (const auto& [what, change] : refused) {
    if (mode < 0 && std::string(what).rfind("the frame's stack top", 0) == 0) continue;
    World W;
    base(W);
    change(W);
    World before = W;
    Obj smalls_before[262];
    std::memcpy(smalls_before, smalls, sizeof smalls);
    uint64_t t0 = g_true[0], f0 = g_false[0];
    std::vector<uint64_t> out;
    EXPECT_EQ(run(W, &out), baseline::kCompleted) << what;
    EXPECT_EQ(std::memcmp(&W, &before, sizeof W), 0) << what;   // frame, objects, inputs untouched
    EXPECT_EQ(std::memcmp(smalls, smalls_before, sizeof smalls), 0) << what;
    EXPECT_EQ(g_true[0], t0) << what;
    EXPECT_EQ(g_false[0], f0) << what;
    EXPECT_EQ(g_deallocs, 0) << what;
    EXPECT_EQ(restores + compiled + in_place, 0u) << what;
    ASSERT_GE(out.size(), 6u);
    EXPECT_EQ(out[0], W.mem[0]) << what;   // the snapshot's values, for the restore routine
    EXPECT_EQ(out[1], W.mem[1]) << what;
    EXPECT_EQ(out[3], 0u) << what;
    EXPECT_EQ(out[4], W.mem[4]) << what;
    EXPECT_EQ(out[5], W.mem[5]) << what;
  }
  }
}

// The completion restore of slots that share an object (SnapEntry::same): slot 1 gets the float slot 0 gets
// (its frame object, written in place), slot 2 the int the frame holds in slot 3 (read before slot 3 gets a
// small int). The float may be written in place where slot 1, which gets it too, holds it already (`b = a` in a
// loop); refused (kCompleted, everything as it was, the link's reference given back) where anything else
// holds it as well.
TEST(BaselineCodegen, CompletionRestoreSharesObjects) {
  using namespace fake;
  struct World {
    Obj F, X, Y, N;
    uint64_t frame[2 + 4];
    uint64_t mem[2];
  };
  auto base = [](World& W) {
    obj(W.F, 1, g_float_type, B(1.0), 0);
    obj(W.X, 1, g_float_type, B(9.0), 0);
    obj(W.Y, 1, g_other_type, 0, 0);
    obj(W.N, 1, g_long_type, 1, 5000);
    reset();
    W.frame[0] = 0;
    W.frame[1] = 4;
    uint64_t* sl = W.frame + 2;
    sl[0] = uint64_t(uintptr_t(&W.F)), sl[1] = uint64_t(uintptr_t(&W.X));
    sl[2] = uint64_t(uintptr_t(&W.Y)), sl[3] = uint64_t(uintptr_t(&W.N));
    W.mem[0] = B(2.5), W.mem[1] = 5000;
  };
  auto text = [](World& W) {
    return "%0 ptr = kptr " + P(W.mem) + "\n%1 f64 = load_f64 %0, 0\n%2 i64 = load_i64 %0, 8\n%3 i64 = kint 7\n"
           "snap 0 pc=9 top=4 [0=%1 1=%1@0 2=%2@f3 3=%3]\n";
  };
  {
    World W;
    base(W);
    ASSERT_EQ(run_restore(text(W), 4, W.frame, nullptr), baseline::kRestored);
    const uint64_t* sl = W.frame + 2;
    EXPECT_EQ(sl[0], uint64_t(uintptr_t(&W.F)));
    EXPECT_EQ(sl[1], uint64_t(uintptr_t(&W.F)));
    EXPECT_EQ(D(W.F.w[2]), 2.5);
    EXPECT_EQ(W.F.w[0], 2u);
    EXPECT_EQ(sl[2], uint64_t(uintptr_t(&W.N)));
    EXPECT_EQ(W.N.w[0], 1u);   // slot 2's now; slot 3 let it go
    EXPECT_EQ(W.N.w[3], 5000u);
    EXPECT_EQ(sl[3], uint64_t(uintptr_t(&smalls[7 + 5])));
    EXPECT_EQ(W.X.w[0], 999u);
    EXPECT_EQ(W.Y.w[0], 999u);
    EXPECT_EQ(g_deallocs, 2);
    EXPECT_EQ(in_place, 1u);
    EXPECT_EQ(restores, 1u);
  }
  {
    World W;
    base(W);
    W.F.w[0] = 2;
    W.frame[3] = uint64_t(uintptr_t(&W.F));
    ASSERT_EQ(run_restore(text(W), 4, W.frame, nullptr), baseline::kRestored);
    EXPECT_EQ(W.frame[2], uint64_t(uintptr_t(&W.F)));
    EXPECT_EQ(W.frame[3], uint64_t(uintptr_t(&W.F)));
    EXPECT_EQ(D(W.F.w[2]), 2.5);
    EXPECT_EQ(W.F.w[0], 2u);
    EXPECT_EQ(W.X.w[0], 1u);   // (not in the frame)
    EXPECT_EQ(g_deallocs, 1);  // Y
    EXPECT_EQ(in_place, 1u);
  }
  for (int held_by_slot_1 = 0; held_by_slot_1 < 2; held_by_slot_1++) {
    World W;
    base(W);
    W.F.w[0] = 2 + held_by_slot_1;
    if (held_by_slot_1) W.frame[3] = uint64_t(uintptr_t(&W.F));
    World before = W;
    std::vector<uint64_t> out;
    EXPECT_EQ(run_restore(text(W), 4, W.frame, &out), baseline::kCompleted) << held_by_slot_1;
    EXPECT_EQ(std::memcmp(&W, &before, sizeof W), 0) << held_by_slot_1;
    EXPECT_EQ(g_deallocs, 0);
    EXPECT_EQ(restores + in_place, 0u);
    ASSERT_GE(out.size(), 4u);
    EXPECT_EQ(out[1], W.mem[0]);   // every entry's value, for the restore routine
    EXPECT_EQ(out[2], 5000u);
  }
}

// Links (LinkOptions): an exit whose cell names a side trace calls it with the buffer its trace did not
// write and returns its result; the exit cell names the trace whose result it is and its exit values; a
// side trace's entry checks refuse a frame whose namespace is another dict or at another version (its
// parent then returns its own exit), else take references to its held objects.
TEST(BaselineCodegen, ExitsCallTheirLinkedSideTraces) {
  static uint64_t mem[1], cell[2];
  static uint64_t dict[2], other_dict[2], expect[1], held_obj[1];
  static uint64_t frame[4];   // frame[0] = globals (byte offset -16 from slots), slots from frame + 2
  const uint64_t* slots = frame + 2;
  // The counts the machine code keeps (LinkOptions::exits, entry_counts, ...): the parent's exits, streak
  // and last exit, the side trace's exits and runs, the links taken.
  static uint64_t pexits[8], sexits[8], links_taken[2], side_runs[2];
  static int64_t pstreak, sstreak;
  static int32_t plast;
  auto compile = [&](const std::string& s, baseline::CompileOptions o, void** cells, uint64_t id) {
    Trace* t = new Trace;   // (kept: the code points into its instructions)
    EXPECT_EQ(ir_parse(s, t), "") << s;
    EXPECT_EQ(ir_verify(*t), "") << s;
    o.link.cells = cells;
    o.link.exit_cell = cell;
    o.link.id = id;
    o.layout.frame_globals = -16;
    o.layout.dict_version = 8;
    baseline::CompiledTrace c;
    EXPECT_EQ(baseline::compile_trace(*t, o, &c), "") << s;
    return std::make_pair(c, t);
  };
  // The loop's trace: exits at %4 (x >= 10) with [x], else completes with [7].
  std::string parent_s = "%0 ptr = kptr " + P(mem) + "\n%1 i64 = load_i64 %0, 0\n%2 i64 = kint 10\n"
                         "snap 0 pc=5 top=9 [0=%1]\n%3 bool = lt %1, %2\n%4 void = guard_true %3 @0\n"
                         "%5 i64 = kint 7\nsnap 1 pc=6 top=9 [0=%5]\n";
  // A side trace: from [x], exits at %3 (x >= 1000) with [x], else completes with [x, 5].
  std::string side_s = "snap 0 pc=1 top=9 []\n%0 i64 = pload_i64 0\n%1 i64 = kint 1000\n"
                       "snap 1 pc=1 top=9 [0=%0]\n%2 bool = lt %0, %1\n%3 void = guard_true %2 @1\n"
                       "%4 i64 = kint 5\nsnap 2 pc=2 top=9 [0=%0 1=%4]\n";
  // Its side trace: from [x], completes with [x, 9].
  std::string side2_s = "%0 i64 = pload_i64 0\n%1 i64 = kint 9\nsnap 0 pc=3 top=9 [0=%0 1=%1]\n";
  static void* pcells[8];
  static void* scells[8];
  static void* s2cells[8];
  baseline::CompileOptions as_side;   // side traces: their links pass on their parent values' buffer
  as_side.link.side = true;
  baseline::CompileOptions checked = as_side;   // the side trace's entry checks and held object
  checked.link.ns[0] = dict;
  checked.link.expect[0] = expect;
  static void* hold[1] = {held_obj};
  checked.link.hold = hold;
  checked.link.nhold = 1;
  checked.link.exits = sexits;
  checked.link.streak = &sstreak;
  checked.link.entry_counts[0] = &side_runs[0];
  checked.link.entry_counts[1] = &side_runs[1];
  checked.link.link_counts[0] = &links_taken[0];
  checked.link.link_counts[1] = &links_taken[1];
  baseline::CompileOptions root;
  root.link.exits = pexits;
  root.link.streak = &pstreak;
  root.link.last_exit = &plast;
  root.link.link_counts[0] = &links_taken[0];
  root.link.link_counts[1] = &links_taken[1];
  auto [pc, pt] = compile(parent_s, root, pcells, 1);
  auto [sc, st] = compile(side_s, checked, scells, 2);
  auto [s2c, s2t] = compile(side2_s, as_side, s2cells, 3);
  std::vector<uint64_t> out(2 * baseline::kLinkWords, 0);
  uint64_t* other = out.data() + baseline::kLinkWords;
  frame[0] = uint64_t(uintptr_t(dict));
  dict[1] = 42, expect[0] = 42, held_obj[0] = 1;
  auto run = [&](uint64_t x) {
    mem[0] = x;
    cell[0] = cell[1] = 0;
    return pc.fn(slots, out.data(), nullptr);
  };
  // No link: the parent's own exit and completion.
  EXPECT_EQ(run(20), 4);
  EXPECT_EQ(cell[0], 1u);
  EXPECT_EQ(cell[1], uint64_t(uintptr_t(out.data())));
  EXPECT_EQ(out[0], 20u);
  EXPECT_EQ(run(3), baseline::kCompleted);
  EXPECT_EQ(cell[0], 1u);
  EXPECT_EQ(out[0], 7u);
  // The counters: the parent's exits at guard 4, the links taken, the side trace's runs.
  auto counted = [&](uint64_t exits, uint64_t links, uint64_t runs) {
    EXPECT_EQ(pexits[4], exits);
    EXPECT_EQ(links_taken[0], links);
    EXPECT_EQ(side_runs[0], runs);
  };
  // The parent's own exit 4 (no link taken, or refused): its values, nothing more held.
  auto own_exit = [&](int64_t x) {
    EXPECT_EQ(run(x), 4);
    EXPECT_EQ(cell[0], 1u);
    EXPECT_EQ(held_obj[0], 4u);
  };
  // Linked: exit 4 runs the side trace in the other half of the buffer.
  pcells[4] = reinterpret_cast<void*>(sc.fn);
  EXPECT_EQ(links_taken[0] + side_runs[0] + pexits[4], 0u);   // (no link taken yet)
  pstreak = 5, plast = 3;
  EXPECT_EQ(run(20), baseline::kCompleted);
  EXPECT_EQ(pexits[4], 1u);
  EXPECT_EQ(pstreak, 0);
  EXPECT_EQ(plast, -1);
  EXPECT_EQ(links_taken[0], 1u);
  EXPECT_EQ(links_taken[1], 1u);
  EXPECT_EQ(side_runs[0], 1u);
  EXPECT_EQ(side_runs[1], 1u);
  EXPECT_EQ(cell[0], 2u);
  EXPECT_EQ(cell[1], uint64_t(uintptr_t(other)));
  EXPECT_EQ(other[0], 20u);
  EXPECT_EQ(other[1], 5u);
  EXPECT_EQ(held_obj[0], 2u);   // the entry took its reference
  EXPECT_EQ(run(3), baseline::kCompleted);   // (the guard held: no link)
  EXPECT_EQ(cell[0], 1u);
  EXPECT_EQ(held_obj[0], 2u);
  // The side trace's own exit: its result, named by it.
  EXPECT_EQ(run(2000), 3);
  EXPECT_EQ(cell[0], 2u);
  EXPECT_EQ(other[0], 2000u);
  EXPECT_EQ(held_obj[0], 3u);
  EXPECT_EQ(pexits[4], 2u);
  EXPECT_EQ(side_runs[0], 2u);
  EXPECT_EQ(sexits[3], 0u);   // (its own exit, returned: the caller counts it)
  // ... linked in turn: the third runs in the buffer the first wrote (its parent's parent values).
  scells[3] = reinterpret_cast<void*>(s2c.fn);
  EXPECT_EQ(run(2000), baseline::kCompleted);
  EXPECT_EQ(cell[0], 3u);
  EXPECT_EQ(cell[1], uint64_t(uintptr_t(out.data())));
  EXPECT_EQ(out[0], 2000u);
  EXPECT_EQ(out[1], 9u);
  EXPECT_EQ(held_obj[0], 4u);
  EXPECT_EQ(sexits[3], 1u);
  counted(3, 4, 3);
  // Refused: another version, another dict; the parent returns its own exit, nothing held.
  dict[1] = 43;
  own_exit(20);
  EXPECT_EQ(out[0], 20u);
  dict[1] = 42;
  other_dict[1] = 42;
  frame[0] = uint64_t(uintptr_t(other_dict));
  own_exit(20);
  // ... and a refused link counts nothing (its exit is the parent's own, which the caller counts).
  counted(3, 4, 3);
  // Called directly (a C++ caller) with the checks failing: kRefused, the cell untouched.
  cell[0] = 77;
  EXPECT_EQ(sc.fn(slots, other, out.data()), baseline::kRefused);
  EXPECT_EQ(cell[0], 77u);
  frame[0] = uint64_t(uintptr_t(dict));
  // The cell cleared again: the parent's own exit.
  pcells[4] = nullptr;
  own_exit(20);
  for (baseline::CompiledTrace* c : {&pc, &sc, &s2c}) baseline::release_trace(c);
  delete pt;
  delete st;
  delete s2t;
}

// Loops closed in machine code (LinkOptions::loop_trace): when the side trace an exit links to returns
// kLoopBack, the loop's trace starts again from its beginning and counts the run -- while *loop_trace is still
// its id and *trace_frees what it was at that start; otherwise it returns kRestored for the C++ caller. The
// side trace here is a C function with the TraceFn signature that says kLoopBack `g_backs` times.
int g_backs = 0;
bool g_free_at_back = false;   // the "side trace" releases a trace (as a call out of it could)
uint64_t g_frees = 0;
int32_t fake_side(const uint64_t*, uint64_t*, const uint64_t*) {
  if (g_backs <= 0) return baseline::kCompleted;
  g_backs--;
  if (g_free_at_back) g_frees++;
  return baseline::kLoopBack;
}

TEST(BaselineCodegen, LoopBackFromALinkRunsTheTraceAgain) {
  static uint64_t mem[2];   // mem[0]: x, compared with 10; mem[1]: starts of the trace (it adds 1 first)
  static uint64_t cell[2], pexits[16], runs[3];
  static void* loop_trace;
  static void* cells[16];   // (per instruction: the guard is %8)
  std::string s = "%0 ptr = kptr " + P(mem) + "\n%1 i64 = load_i64 %0, 8\n%2 i64 = kint 1\n%3 i64 = add %1, %2\n"
                  "%4 void = store_i64 %0, %3, 8\n%5 i64 = load_i64 %0, 0\n%6 i64 = kint 10\n"
                  "snap 0 pc=5 top=9 [0=%5]\n%7 bool = lt %5, %6\n%8 void = guard_true %7 @0\n"
                  "snap 1 pc=6 top=9 [0=%6]\n";
  Trace t;
  ASSERT_EQ(ir_parse(s, &t), "");
  ASSERT_EQ(ir_verify(t), "");
  const uint64_t id = 0x1234;
  baseline::CompileOptions o;
  o.link.cells = cells;
  o.link.exit_cell = cell;
  o.link.id = id;
  o.link.exits = pexits;
  o.link.loop_trace = &loop_trace;
  o.link.trace_frees = &g_frees;
  for (int k = 0; k < 3; k++) o.link.run_counts[k] = &runs[k];
  baseline::CompiledTrace c;
  ASSERT_EQ(baseline::compile_trace(t, o, &c), "");
  std::vector<uint64_t> out(2 * baseline::kLinkWords, 0);
  uint64_t slots[1] = {0};
  auto run = [&](int backs, bool free_at_back, void* owner) {
    mem[0] = 20, mem[1] = 0;
    g_backs = backs, g_free_at_back = free_at_back, loop_trace = owner;
    runs[0] = runs[1] = runs[2] = 0;
    pexits[8] = 0;
    return c.fn(slots, out.data(), nullptr);
  };
  // Not linked: the guard's exit.
  EXPECT_EQ(run(3, false, reinterpret_cast<void*>(id)), 8);
  EXPECT_EQ(mem[1], 1u);
  cells[8] = reinterpret_cast<void*>(&fake_side);
  // Three loop-backs, then the side trace's own result: four starts, three counted runs.
  EXPECT_EQ(run(3, false, reinterpret_cast<void*>(id)), baseline::kCompleted);
  EXPECT_EQ(mem[1], 4u);
  EXPECT_EQ(runs[0], 3u);
  EXPECT_EQ(runs[1], 3u);
  EXPECT_EQ(runs[2], 3u);
  EXPECT_EQ(pexits[8], 4u);   // every link taken counted
  // A trace released meanwhile: the caller gets kRestored at the first loop-back and decides.
  EXPECT_EQ(run(3, true, reinterpret_cast<void*>(id)), baseline::kRestored);
  EXPECT_EQ(mem[1], 1u);
  EXPECT_EQ(runs[0], 0u);
  // The loop has another trace now: likewise.
  EXPECT_EQ(run(3, false, reinterpret_cast<void*>(id + 1)), baseline::kRestored);
  EXPECT_EQ(mem[1], 1u);
  EXPECT_EQ(runs[2], 0u);
  cells[8] = nullptr;
  baseline::release_trace(&c);
}

TEST(BaselineExits, NothingLeaks) { EXPECT_EQ(baseline::traces_live(), 0u); }

}  // namespace
}  // namespace fastpy
