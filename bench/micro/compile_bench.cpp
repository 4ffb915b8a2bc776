// Compile latency of the baseline tier (tiers/baseline/codegen.h): compile_trace + release_trace per trace.
//   BM_SmallFloatLoop   the optimized trace of tests/golden/float_arith.ir (41 instructions: a counted float
//                       loop), its addresses pointing at a static buffer
//   BM_LargeFloatChain  a generated ~200-instruction loop: chains of float ops with compares, guards and
//                       snapshots, phis carried around the back-edge
//   BM_SideTrace        a side trace of fannkuch's (23 instructions) with the options real side traces get:
//                       the completion restore, links, the loop closed in machine code
//   BM_Trace/<name>     every optimized trace of the golden tests (tests/golden/*.ir, addresses replaced by
//                       dummies), and BM_AllGoldenTraces: all of them, median and max us per trace as counters
// The code is compiled, never run (a dummy runtime hook that returns false; no Python). Run:
//   build/bench/micro/fastpy_compile_bench --benchmark_repetitions=10
// (add --benchmark_report_aggregates_only=true for just mean/median/stddev/cv/min; time is per compile)
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <dirent.h>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "tiers/baseline/codegen.h"
#include "tiers/ir/ir.h"

namespace {

using namespace fastpy;

bool dummy_runtime(const ir::IRIns&, uint64_t, uint64_t, uint64_t*) { return false; }

baseline::CompileOptions options() {
  static const uint64_t obj[4] = {};
  baseline::CompileOptions o;
  o.runtime = &dummy_runtime;
  o.layout = {obj, 16, obj, 16, 24, obj, obj, nullptr};
  return o;
}

struct Case {
  std::string name;
  ir::Trace trace;
};

// The optimized section of a golden file as a parsable trace.
bool load(const std::string& path, ir::Trace* out) {
  std::ifstream in(path);
  std::stringstream all;
  all << in.rdbuf();
  std::string text = all.str();
  size_t at = text.find("--- optimized\n");
  if (at == std::string::npos) return false;
  text = text.substr(at + 14);
  std::string body;
  std::istringstream lines(text);
  static const std::regex addr("0x\\?"), tpver("(guard_tpversion %[0-9]+, )\\?"), dictver("kint \\?");
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("stats:", 0) == 0 || line.rfind("loop header", 0) == 0) break;
    size_t hash = line.find("  #");
    if (hash != std::string::npos) line = line.substr(0, hash);
    line = std::regex_replace(line, addr, "0x1000");
    line = std::regex_replace(line, tpver, "$011");
    line = std::regex_replace(line, dictver, "kint 7");
    body += line + "\n";
  }
  return ir::ir_parse(body, out).empty() && ir::ir_verify(*out).empty();
}

std::vector<Case>& cases() {
  static std::vector<Case> all = [] {
    std::vector<Case> v;
    DIR* d = opendir(FASTPY_GOLDEN_DIR);
    for (dirent* e; d && (e = readdir(d));) {
      std::string f = e->d_name;
      if (f.size() < 4 || f.substr(f.size() - 3) != ".ir") continue;
      Case c{f.substr(0, f.size() - 3), {}};
      if (load(std::string(FASTPY_GOLDEN_DIR) + "/" + f, &c.trace)) v.push_back(std::move(c));
    }
    if (d) closedir(d);
    std::sort(v.begin(), v.end(), [](const Case& a, const Case& b) { return a.name < b.name; });
    return v;
  }();
  return all;
}

void compile_once(const ir::Trace& t, benchmark::State& state) {
  baseline::CompiledTrace c;
  std::string err = baseline::compile_trace(t, options(), &c);
  if (!err.empty()) state.SkipWithError(err.c_str());
  baseline::release_trace(&c);
}

void BM_Trace(benchmark::State& state, const Case* c) {
  for (auto _ : state) compile_once(c->trace, state);
  state.counters["ir_instructions"] = double(c->trace.size());
}

void BM_AllGoldenTraces(benchmark::State& state) {
  std::vector<double> us;
  for (auto _ : state) {
    us.clear();
    for (const Case& c : cases()) {
      auto t0 = std::chrono::steady_clock::now();
      compile_once(c.trace, state);
      us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
    }
  }
  std::sort(us.begin(), us.end());
  state.counters["traces"] = double(us.size());
  state.counters["median_us"] = us.empty() ? 0 : us[us.size() / 2];
  state.counters["max_us"] = us.empty() ? 0 : us.back();
}
BENCHMARK(BM_AllGoldenTraces)->Unit(benchmark::kMillisecond);

// ---- hand-picked traces: a small float loop and a large generated one

// Valid static memory for the traces' addresses (type words, the eval breaker): never dereferenced here.
uint64_t g_static[64];

std::string hex(const void* p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(reinterpret_cast<uintptr_t>(p)));
  return buf;
}

// tests/golden/float_arith.ir, optimized section (comments dropped, 0x? replaced by static addresses).
std::string small_float_loop_text() {
  std::string ty = hex(&g_static[0]), brk = hex(&g_static[8]);
  return "%0 obj = sload_obj 4\n"
         "snap 0 pc=18 top=5 []\n"
         "%1 void = guard_nonnull %0 @0\n"
         "%2 void = guard_type %0, " + ty + " @0\n"
         "%3 i64 = load_i64 %0, 16\n"
         "%4 i64 = load_i64 %0, 40\n"
         "%5 bool = lt %3, %4\n"
         "%6 void = guard_true %5 @0\n"
         "%7 i64 = load_i64 %0, 24\n"
         "%8 i64 = load_i64 %0, 32\n"
         "%9 i64 = mul_ov %3, %8 @0\n"
         "%10 i64 = add_ov %7, %9 @0\n"
         "%11 i64 = kint 1\n"
         "%12 i64 = add_ov %3, %11 @0\n"
         "%13 void = store_i64 %0, %12, 16\n"
         "snap 1 pc=20 top=5 [3=%10]\n"
         "%14 f64 = sload_f64 2 @1\n"
         "%15 f64 = kflt 0x1p-1\n"
         "%16 f64 = fmul %14, %15\n"
         "snap 2 pc=24 top=6 [3=%10 5=%16]\n"
         "%17 f64 = sload_f64 1 @2\n"
         "%18 f64 = fadd %16, %17\n"
         "%19 f64 = kflt 0x1.4p+0\n"
         "%20 f64 = kflt 0x0p+0\n"
         "%21 bool = fne %17, %20\n"
         "snap 3 pc=29 top=8 [3=%10 5=%18 6=%19 7=%17]\n"
         "%22 void = guard_true %21 @3\n"
         "%23 f64 = fdiv %19, %17\n"
         "%24 f64 = fsub %18, %23\n"
         "snap 4 pc=18 top=5 [2=%24 3=%10]\n"
         "%25 void = poll " + brk + " @4\n"
         "%26 void = loop\n"
         "%27 i64 = phi %10, %34\n"
         "%28 f64 = phi %24, %39\n"
         "snap 5 pc=18 top=5 [2=%28 3=%27]\n"
         "%29 void = guard_nonnull %0 @5\n"
         "%30 i64 = load_i64 %0, 16\n"
         "%31 bool = lt %30, %4\n"
         "%32 void = guard_true %31 @5\n"
         "%33 i64 = mul_ov %30, %8 @5\n"
         "%34 i64 = add_ov %7, %33 @5\n"
         "%35 i64 = add_ov %30, %11 @5\n"
         "%36 void = store_i64 %0, %35, 16\n"
         "%37 f64 = fmul %28, %15\n"
         "%38 f64 = fadd %37, %17\n"
         "snap 6 pc=29 top=8 [2=%28 3=%34 5=%38 6=%19 7=%17]\n"
         "%39 f64 = fsub %38, %23\n"
         "snap 7 pc=18 top=5 [2=%39 3=%34]\n"
         "%40 void = poll " + brk + " @7\n";
}

// A generated loop of about 200 instructions: 8 float and 2 int accumulators as phis; each of `groups` groups
// does fmul/fadd/fsub on the accumulators, a compare and a guard with a snapshot of every live accumulator,
// an overflow-checked add, a store; a poll at the back-edge.
std::string large_float_chain_text(int groups) {
  std::string s;
  int n = 0, snaps = 0;
  auto ins = [&](const std::string& type, const std::string& rhs) {
    s += "%" + std::to_string(n) + " " + type + " = " + rhs + "\n";
    return n++;
  };
  auto r = [](int k) { return "%" + std::to_string(k); };
  const int kF = 8;
  int base = ins("ptr", "kptr " + hex(&g_static[16]));
  int lim = ins("f64", "kflt 0x1p+60");
  int one = ins("i64", "kint 1");
  int half = ins("f64", "kflt 0x1p-1");
  std::vector<int> finit, iinit;
  for (int k = 0; k < kF; k++) finit.push_back(ins("f64", "load_f64 " + r(base) + ", " + std::to_string(8 * k)));
  for (int k = 0; k < 2; k++) iinit.push_back(ins("i64", "load_i64 " + r(base) + ", " + std::to_string(64 + 8 * k)));
  ins("void", "loop");
  std::vector<int> fphi, iphi;
  int first_phi = n;
  for (int k = 0; k < kF; k++) fphi.push_back(ins("f64", "phi " + r(finit[k]) + ", @F" + std::to_string(k)));
  for (int k = 0; k < 2; k++) iphi.push_back(ins("i64", "phi " + r(iinit[k]) + ", @I" + std::to_string(k)));
  (void)first_phi;
  std::vector<int> f = fphi, iv = iphi;
  auto snap = [&]() {
    s += "snap " + std::to_string(snaps) + " pc=" + std::to_string(10 + snaps) + " top=16 [";
    for (int k = 0; k < kF; k++) s += (k ? " " : "") + std::to_string(k) + "=" + r(f[k]);
    for (int k = 0; k < 2; k++) s += " " + std::to_string(kF + k) + "=" + r(iv[k]);
    s += "]\n";
    return snaps++;
  };
  for (int g = 0; g < groups; g++) {
    int a = g % kF, b = (g + 3) % kF, c = (g + 5) % kF;
    int m = ins("f64", "fmul " + r(f[a]) + ", " + r(half));
    int p = ins("f64", "fadd " + r(m) + ", " + r(f[b]));
    int q = ins("f64", "fsub " + r(p) + ", " + r(f[c]));
    f[a] = q;
    int sn = snap();
    int cmp = ins("bool", "flt " + r(q) + ", " + r(lim));
    ins("void", "guard_true " + r(cmp) + " @" + std::to_string(sn));
    int ia = ins("i64", "add_ov " + r(iv[g % 2]) + ", " + r(one) + " @" + std::to_string(sn));
    iv[g % 2] = ia;
    ins("void", "store_f64 " + r(base) + ", " + r(q) + ", " + std::to_string(80 + 8 * (g % 8)));
  }
  int sn = snap();
  ins("void", "poll " + hex(&g_static[60]) + " @" + std::to_string(sn));
  for (int k = 0; k < kF; k++) {
    std::string tag = "@F" + std::to_string(k);
    s.replace(s.find(tag), tag.size(), r(f[k]));
  }
  for (int k = 0; k < 2; k++) {
    std::string tag = "@I" + std::to_string(k);
    s.replace(s.find(tag), tag.size(), r(iv[k]));
  }
  return s;
}

const ir::Trace& parsed(const std::string& text) {
  static std::vector<std::unique_ptr<ir::Trace>> keep;
  keep.push_back(std::make_unique<ir::Trace>());
  std::string e = ir::ir_parse(text, keep.back().get());
  if (e.empty()) e = ir::ir_verify(*keep.back());
  if (!e.empty()) {
    std::fprintf(stderr, "compile_bench: bad trace: %s\n%s", e.c_str(), text.c_str());
    std::abort();
  }
  return *keep.back();
}

void BM_SmallFloatLoop(benchmark::State& state) {
  static const ir::Trace& t = parsed(small_float_loop_text());
  for (auto _ : state) compile_once(t, state);
  state.counters["ir_instructions"] = double(t.size());
}
BENCHMARK(BM_SmallFloatLoop)->Unit(benchmark::kMicrosecond)
    ->ComputeStatistics("min", [](const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); });

void BM_LargeFloatChain(benchmark::State& state) {
  static const ir::Trace& t = parsed(large_float_chain_text(24));
  for (auto _ : state) compile_once(t, state);
  state.counters["ir_instructions"] = double(t.size());
}
BENCHMARK(BM_LargeFloatChain)->Unit(benchmark::kMicrosecond)
    ->ComputeStatistics("min", [](const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); });

// fannkuch's side trace from the swap loop's exit (flips += 1; k = perm[0]; i, j = 0, k), as FASTPY_LOG=ir
// prints it, compiled with the options the baseline tier gives a side trace (interp/baseline_tier.cpp): the
// completion restore into the frame (four int slots), links, entry bookkeeping, the loop closed in machine
// code. The golden traces above are loop traces compiled without these, and side traces are most of what
// real programs compile (bench/compile_latency.py times those).
std::string side_trace_text() {
  std::string list = hex(&g_static[0]), brk = hex(&g_static[8]);
  return "%0 i64 = pload_i64 0\n%1 i64 = pload_i64 1\n%2 bool = pload_bool 2\n"
         "snap 0 pc=139 top=14 [10=%0 11=%1 13=%2]\n%3 void = guard_false %2 @0\n"
         "snap 1 pc=140 top=13 [10=%0 11=%1]\n%4 i64 = sload_i64 8 @1\n%5 i64 = kint 1\n"
         "snap 2 pc=142 top=15 [10=%0 11=%1 13=%4 14=%5]\n%6 i64 = add_ov %4, %5 @2\n%7 obj = sload_obj 7\n"
         "snap 3 pc=145 top=13 [8=%6 10=%0 11=%1]\n%8 void = guard_nonnull %7 @3\n%9 i64 = kint 0\n"
         "snap 4 pc=147 top=15 [8=%6 10=%0 11=%1 13=%7 14=%9]\n%10 void = guard_type %7, " + list + " @4\n"
         "%11 i64 = load_i64 %7, 16\n%12 bool = lt %9, %11\n%13 void = guard_true %12 @4\n"
         "%14 ptr = load_ptr %7, 24\n%15 ptr = padd %14, %9, 8\n%16 obj = load_obj %15, 0\n"
         "%17 i64 = unbox_i64 %16 @4\n%18 bool = ne %17, %9\n"
         "snap 5 pc=154 top=14 [8=%6 9=%17 10=%0 11=%1 13=%17]\n%19 void = guard_true %18 @5\n"
         "%20 bool = lt %9, %17\nsnap 6 pc=100 top=14 [8=%6 9=%17 10=%9 11=%17 13=%20]\n"
         "%21 void = guard_true %20 @6\nsnap 7 pc=101 top=13 [8=%6 9=%17 10=%9 11=%17]\n"
         "%22 void = poll " + brk + " @7\nsnap 8 pc=101 top=13 [8=%6 9=%17 10=%9 11=%17]\n";
}

void BM_SideTrace(benchmark::State& state) {
  static const ir::Trace& t = parsed(side_trace_text());
  static uint64_t w[64];
  static void* cells[64];
  static const uint16_t code[256] = {};
  static bool pending = false;
  baseline::CompileOptions o = options();
  baseline::PyLayout& L = o.layout;
  L.float_type = &w[0], L.long_type = &w[1], L.true_obj = &w[2], L.false_obj = &w[3];
  L.float_value = 16, L.long_size = 16, L.long_digit = 24;
  L.dealloc = [](void*) {};
  L.unbox_long = [](void*, int64_t*) { return false; };   // (as the tier fills it: the unbox slow path's call)
  L.frame_stacktop = -8, L.frame_prev_instr = -16, L.frame_globals = -48, L.frame_builtins = -40;
  L.dict_version = 24;
  L.small_ints = &w[8], L.small_int_size = 32, L.small_int_count = 262;
  L.resume_pending = &pending;
  L.stat_restores = &w[4], L.stat_in_place = &w[5], L.stat_compiled = &w[6];
  o.frame_nlocals = 13;
  o.frame_entry_top = 13;   // (the loop's header: no value stack)
  o.frame_code = code;
  baseline::LinkOptions& l = o.link;
  l.cells = cells, l.exit_cell = &w[10], l.id = 7, l.side = true;
  l.entry_counts[0] = &w[12], l.entry_counts[1] = &w[13];
  l.exits = &w[16], l.streak = reinterpret_cast<int64_t*>(&w[14]), l.last_exit = reinterpret_cast<int32_t*>(&w[15]);
  l.link_counts[0] = &w[11];
  l.loop_back = true;
  for (auto _ : state) {
    baseline::CompiledTrace c;
    std::string err = baseline::compile_trace(t, o, &c);
    if (!err.empty()) state.SkipWithError(err.c_str());
    state.counters["code_bytes"] = double(c.code_size);
    baseline::release_trace(&c);
  }
  state.counters["ir_instructions"] = double(t.size());
}
BENCHMARK(BM_SideTrace)->Unit(benchmark::kMicrosecond)
    ->ComputeStatistics("min", [](const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); });

const bool registered = [] {
  for (const Case& c : cases())
    benchmark::RegisterBenchmark(("BM_Trace/" + c.name).c_str(), BM_Trace, &c)->Unit(benchmark::kMicrosecond);
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
