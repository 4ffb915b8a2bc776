// Text form of Trace IR: printer and parser. print -> parse -> print is byte-identical (printed with notes,
// the parse drops them: the second print is the first one's text without its notes).
//
//   snap 1 pc=8 top=6 [5=%2] inline=[30:4:22:0x7f00dead0100]
//                                   a snapshot inside an inlined call: the trace's frame resumes at its CALL
//                                   (pc 8), the callee (code 0x7f..) at pc 4 with its slots 30.. (top 22)
//   snap 0 pc=12 top=4 [0=%3 2=%5]  snapshot 0: resume at bytecode index 12 with the frame's stack top at
//                                   slot 4, slot 0 = %3, slot 2 = %5 (other slots below the top keep the
//                                   frame's values); printed right before the first instruction after it
//   snap 2 pc=9 top=5 [1=%4 3=%4@1 4=%2@f0]
//                                   object identity (SnapEntry::same): slot 3 gets the object slot 1 gets,
//                                   slot 4 the object the frame holds in slot 0 (before the restore)
//   %0 i64 = kint 5                 every instruction: %index type = op, then its ref operands, then
//   %1 i64 = add_ov %0, %2 @0       its immediate (comma separated); guards end with @snapshot
//   %2 f64 = kflt 0x1.8p+1          doubles in %a hex; NaN as nan:0x<16 hex digits of the bits>
//   %3 obj = kobj 0x7f00dead0010    pointers in hex; bools true/false; a missing operand is _
//   %4 i64 = load_i64 %3, 16        loads: base, offset;  stores: base, value, offset
//   %5 obj = sload_obj 3  # x       ir_print's note for %5 (a recorder's "which local", an optimizer's "why")
//
// Lines that are empty or start with '#' are ignored, and so is a trailing comment (a '#' after a space or
// tab, to the end of the line) on instruction and snapshot lines: notes are for people, never parsed back.
// The parser checks syntax only (a forward reference or a wrong type parses); ir_verify checks meaning.
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "tiers/ir/ir.h"

namespace fastpy::ir {

namespace {

// Appends printf-formatted text to *out.
template <typename... A>
void appendf(std::string* out, const char* fmt, A... args) {
  char buf[64];
  int n = std::snprintf(buf, sizeof buf, fmt, args...);
  out->append(buf, size_t(n) < sizeof buf ? size_t(n) : sizeof buf - 1);
}

// Appends a ref operand: %N, or _ for none.
void print_ref(std::string* out, IRRef r) {
  if (r == kNoRef) out->append("_");
  else appendf(out, "%%%d", int(r));
}

// Appends an immediate of kind k.
void print_imm(std::string* out, IRImm k, int64_t v) {
  double d = bits_f64(v);
  switch (k) {
    case IMM_int: appendf(out, "%" PRId64, v); break;
    case IMM_bool: out->append(v ? "true" : "false"); break;
    case IMM_ptr: appendf(out, "0x%" PRIx64, uint64_t(v)); break;
    case IMM_flt:
      if (std::isnan(d)) appendf(out, "nan:0x%016" PRIx64, uint64_t(v));
      else appendf(out, "%a", d);
      break;
    case IMM_none: break;
  }
}

// Appends one snapshot line.
void print_snap(std::string* out, const Trace& t, size_t s) {
  const Snapshot& sn = t.snaps[s];
  appendf(out, "snap %d pc=%d top=%d [", int(s), int(sn.pc), int(sn.top));
  for (size_t e = 0; e < sn.entries.size(); e++) {
    appendf(out, e ? " %d=" : "%d=", int(sn.entries[e].slot));
    print_ref(out, sn.entries[e].ref);
    if (sn.entries[e].box == SNAP_np) out->append(":np");
    if (sn.entries[e].box == SNAP_np32) out->append(":np32");
    if (sn.entries[e].box == SNAP_own) out->append(":own");
    if (sn.entries[e].num == NUM_i64) out->append(":i64");
    if (sn.entries[e].num == NUM_f64) out->append(":f64");
    if (sn.entries[e].same >= 0) appendf(out, sn.entries[e].same_frame ? "@f%d" : "@%d", int(sn.entries[e].same));
  }
  out->append("]");
  if (!sn.inlined.empty()) {
    out->append(" inline=[");
    for (size_t k = 0; k < sn.inlined.size(); k++) {
      const SnapFrame& fr = sn.inlined[k];
      appendf(out, k ? " %d:%d:%d:" : "%d:%d:%d:", int(fr.base), int(fr.pc), int(fr.top));
      appendf(out, "0x%" PRIx64, uint64_t(fr.code));
    }
    out->append("]");
  }
  out->append("\n");
}

// Appends "  # note" with line breaks turned into spaces (a note must not start a line of its own).
void print_note(std::string* out, const std::string& note) {
  out->append("  # ");
  for (char ch : note) out->push_back(ch == '\n' || ch == '\r' ? ' ' : ch);
}

// Appends one instruction line, with its note when there is one.
void print_ins(std::string* out, const Trace& t, IRRef r, const std::string& note) {
  const IRIns& i = t.ins[r];
  if (i.op >= IR__count) { appendf(out, "%%%d ? = ?%d\n", int(r), int(i.op)); return; }
  const IROpInfo& info = ir_info(i.op);
  appendf(out, "%%%d %s = %s", int(r), i.type < IRT__count ? kIRTypeNames[i.type] : "?", info.name);
  const char* sep = " ";
  for (int k = 0; k < info.nargs; k++, sep = ", ") {
    out->append(sep);
    print_ref(out, k == 0 ? i.a : i.b);
  }
  if (info.imm != IMM_none) {
    out->append(sep);
    print_imm(out, info.imm, i.imm);
  }
  if (i.snap != -1) appendf(out, " @%d", int(i.snap));
  if (!note.empty()) print_note(out, note);
  out->append("\n");
}

// A cursor over one line.
struct Cursor {
  std::string_view s;
  size_t p = 0;
  // Skips spaces and tabs.
  void ws() { while (p < s.size() && (s[p] == ' ' || s[p] == '\t')) p++; }
  // Consumes l (after spaces) when it comes next.
  bool lit(std::string_view l) {
    ws();
    if (s.substr(p, l.size()) != l) return false;
    p += l.size();
    return true;
  }
  // The next run of characters up to a space, comma, bracket or '='.
  std::string_view word() {
    ws();
    size_t b = p;
    while (p < s.size() && !std::strchr(" \t,[]=", s[p])) p++;
    return s.substr(b, p - b);
  }
  // True when only spaces are left.
  bool end() { ws(); return p == s.size(); }
};

// Parses a whole decimal (or, with base 16, hex) integer; false on junk or overflow.
bool to_i64(std::string_view w, int64_t* out, int base = 10) {
  std::string s(w);
  if (s.empty() || std::isspace((unsigned char)s[0])) return false;
  char* end = nullptr;
  errno = 0;
  *out = base == 16 ? int64_t(std::strtoull(s.c_str(), &end, 16)) : std::strtoll(s.c_str(), &end, 10);
  return errno == 0 && *end == '\0' && (base != 16 || s[0] != '-');
}

// Parses an int32 at least lo.
bool to_i32(std::string_view w, int32_t* out, int32_t lo = 0) {
  int64_t v;
  if (!to_i64(w, &v) || v < lo || v > INT32_MAX) return false;
  *out = int32_t(v);
  return true;
}

// Parses a ref operand %N or _.
bool parse_ref(Cursor& c, IRRef* out) {
  if (c.lit("_")) { *out = kNoRef; return true; }
  if (!c.lit("%")) return false;
  // Digits only: a snapshot entry's box (`%3:np`) follows its ref without a space.
  std::string_view w = c.word();
  size_t n = 0;
  while (n < w.size() && w[n] >= '0' && w[n] <= '9') n++;
  c.p -= w.size() - n;
  return to_i32(w.substr(0, n), out);
}

// Parses a double: %a hex, decimal, inf, nan, or nan:0x<bits>.
bool to_f64(std::string_view w, int64_t* out) {
  if (w.substr(0, 4) == "nan:") return w.size() > 6 && w.substr(4, 2) == "0x" && to_i64(w.substr(6), out, 16);
  std::string s(w);
  if (s.empty()) return false;
  char* end = nullptr;
  double d = std::strtod(s.c_str(), &end);
  *out = f64_bits(d);
  return *end == '\0';
}

// Parses an immediate of kind k.
bool parse_imm(std::string_view w, IRImm k, int64_t* out) {
  switch (k) {
    case IMM_int: return to_i64(w, out);
    case IMM_flt: return to_f64(w, out);
    case IMM_bool: *out = w == "true"; return w == "true" || w == "false";
    case IMM_ptr: return w.substr(0, 2) == "0x" && to_i64(w.substr(2), out, 16);
    case IMM_none: return false;
  }
  return false;
}

// Parses "snap N pc=P [slot=%r ...]" (after "snap") into t.
std::string parse_snap(Cursor& c, Trace* t) {
  int32_t n, pc, top;
  if (!to_i32(c.word(), &n)) return "expected a snapshot number";
  if (size_t(n) != t->snaps.size()) return "expected snap " + std::to_string(t->snaps.size());
  if (!c.lit("pc=") || !to_i32(c.word(), &pc)) return "expected pc=<bytecode index>";
  if (!c.lit("top=") || !to_i32(c.word(), &top)) return "expected top=<stack top>";
  if (!c.lit("[")) return "expected '['";
  std::vector<SnapEntry> entries;
  while (!c.lit("]")) {
    SnapEntry e;
    if (!to_i32(c.word(), &e.slot)) return "expected <slot>=%<ref> or ']'";
    if (!c.lit("=") || !parse_ref(c, &e.ref)) return "expected %<ref> after '='";
    if (c.lit(":np32")) e.box = SNAP_np32;
    else if (c.lit(":np")) e.box = SNAP_np;
    else if (c.lit(":own")) e.box = SNAP_own;
    if (c.lit(":i64")) e.num = NUM_i64;
    else if (c.lit(":f64")) e.num = NUM_f64;
    if (c.lit("@")) {
      e.same_frame = c.lit("f");
      if (!to_i32(c.word(), &e.same)) return "expected <slot> or f<slot> after '@'";
    }
    entries.push_back(e);
  }
  std::vector<SnapFrame> inlined;
  if (c.lit("inline=")) {
    if (!c.lit("[")) return "expected '[' after inline=";
    while (!c.lit("]")) {
      SnapFrame fr;
      std::string_view w = c.word();   // base:pc:top:0xcode (no spaces)
      unsigned long long code = 0;
      int n = 0;
      std::string ws(w);
      if (std::sscanf(ws.c_str(), "%d:%d:%d:0x%llx%n", &fr.base, &fr.pc, &fr.top, &code, &n) != 4 ||
          size_t(n) != ws.size())
        return "expected <base>:<pc>:<top>:0x<code> in inline=[...]";
      fr.code = int64_t(code);
      inlined.push_back(fr);
    }
  }
  if (!c.end()) return "unexpected text after the snapshot";
  t->add_snapshot(pc, top, std::move(entries));
  t->snaps.back().inlined = std::move(inlined);
  return "";
}

// Parses the operands, immediate and @snapshot of i (after its op name).
std::string parse_operands(Cursor& c, IRIns* i) {
  const IROpInfo& info = ir_info(i->op);
  for (int k = 0; k < info.nargs; k++) {
    if (k > 0 && !c.lit(",")) return "expected ',' before operand " + std::to_string(k + 1);
    if (!parse_ref(c, k == 0 ? &i->a : &i->b)) return "expected %<ref> operand";
  }
  if (info.imm != IMM_none) {
    if (info.nargs > 0 && !c.lit(",")) return "expected ',' before the immediate";
    std::string_view w = c.word();
    if (!parse_imm(w, info.imm, &i->imm)) return "bad immediate '" + std::string(w) + "'";
  }
  if (c.lit("@") && !to_i32(c.word(), &i->snap)) return "expected a snapshot number after '@'";
  if (!c.end()) return "unexpected text at column " + std::to_string(c.p + 1);
  return "";
}

// Parses "%N type = op operands" (after "%") into t.
std::string parse_ins(Cursor& c, Trace* t) {
  int32_t n;
  if (!to_i32(c.word(), &n)) return "expected an instruction number after '%'";
  if (n != t->size()) return "expected %" + std::to_string(t->size());
  IRIns i{IR_kint, IRT_void};
  std::string_view w = c.word();
  if (!ir_type_from_name(w, &i.type)) return "unknown type '" + std::string(w) + "'";
  if (!c.lit("=")) return "expected '='";
  w = c.word();
  if (!ir_op_from_name(w, &i.op)) return "unknown op '" + std::string(w) + "'";
  std::string e = parse_operands(c, &i);
  if (e.empty()) t->append(i);
  return e;
}

// The line without its trailing comment: cut at the first '#' that follows a space or tab.
std::string_view strip_comment(std::string_view line) {
  for (size_t p = 1; p < line.size(); p++)
    if (line[p] == '#' && (line[p - 1] == ' ' || line[p - 1] == '\t')) return line.substr(0, p);
  return line;
}

// Parses one line into t.
std::string parse_line(std::string_view line, Trace* t) {
  Cursor c{line};
  if (c.end() || c.lit("#")) return "";
  c.s = strip_comment(line);
  if (c.lit("%")) return parse_ins(c, t);
  if (c.word() == "snap") return parse_snap(c, t);
  return "expected '%<n>' or 'snap'";
}

}  // namespace

std::string ir_print(const Trace& t, const std::function<std::string(IRRef)>& note) {
  std::string out;
  size_t s = 0;
  for (IRRef r = 0; r < t.size(); r++) {
    for (; s < t.snaps.size() && t.snaps[s].at <= r; s++) print_snap(&out, t, s);
    print_ins(&out, t, r, note ? note(r) : std::string());
  }
  for (; s < t.snaps.size(); s++) print_snap(&out, t, s);
  return out;
}

std::string ir_parse(std::string_view text, Trace* out) {
  *out = Trace();
  int line_no = 0;
  while (!text.empty()) {
    line_no++;
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    std::string e = parse_line(line, out);
    if (!e.empty()) return "line " + std::to_string(line_no) + ": " + e;
  }
  return "";
}

}  // namespace fastpy::ir
