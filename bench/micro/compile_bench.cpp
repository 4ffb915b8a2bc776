// Compile latency of the baseline tier (tiers/baseline/codegen.h): every optimized trace of the golden tests
// (tests/golden/*.ir, addresses replaced by dummies: the code is compiled, never run) compiled to x86-64 and
// released. One benchmark per trace, and BM_AllGoldenTraces, which compiles each of them and reports the
// median and maximum microseconds per trace as counters.
//   build/bench/micro/fastpy_compile_bench --benchmark_repetitions=10 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <dirent.h>
#include <fstream>
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

const bool registered = [] {
  for (const Case& c : cases())
    benchmark::RegisterBenchmark(("BM_Trace/" + c.name).c_str(), BM_Trace, &c)->Unit(benchmark::kMicrosecond);
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
