// The GDB remote-protocol engine against a fake target, and the i386 target description.
#include "monitor/gdb_stub.h"

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <random>
#include <tuple>
#include <string>
#include <vector>

#include "interp/flags.h"
#include "interp/paging.h"
#include "monitor/cpu_debug_target.h"
#include "monitor/i386_target_xml.h"
#include "tests/interp/cpu_harness.h"

namespace softcpu {
namespace {

// ---- a fake target ---------------------------------------------------------------------------

struct FakeTarget : GdbTarget {
  static constexpr uint32_t MEM_BASE = 0x1000, MEM_SIZE = 0x2000;  // mapped: [0x1000, 0x3000)

  std::vector<std::vector<uint8_t>> regs;
  std::vector<uint8_t> mem = std::vector<uint8_t>(MEM_SIZE);
  struct Bp {
    GdbBreakKind kind;
    uint32_t addr, len;
    bool operator<(const Bp& o) const {
      return std::tie(kind, addr, len) < std::tie(o.kind, o.addr, o.len);
    }
  };
  std::map<Bp, int> bps;
  std::vector<std::string> log;  // run-control calls in order
  bool refuse_writes_to_cs = true;
  bool breakpoint_room = true;

  FakeTarget() {
    for (const GdbRegisterInfo& r : description().registers)
      regs.emplace_back(r.bits / 8, uint8_t(0));
  }
  void set_reg32(unsigned r, uint32_t v) { std::memcpy(regs[r].data(), &v, 4); }
  uint32_t reg32(unsigned r) const {
    uint32_t v;
    std::memcpy(&v, regs[r].data(), 4);
    return v;
  }

  const GdbTargetDescription& description() const override { return i386_target_description(); }
  bool read_register(unsigned r, uint8_t* out) override {
    if (r >= regs.size()) return false;
    std::memcpy(out, regs[r].data(), regs[r].size());
    return true;
  }
  bool write_register(unsigned r, const uint8_t* in, int* err) override {
    if (r == GDB_CS && refuse_writes_to_cs && std::memcmp(in, regs[r].data(), 4) != 0) {
      *err = 0x01;
      return false;
    }
    std::memcpy(regs[r].data(), in, regs[r].size());
    return true;
  }
  size_t read_memory(uint32_t addr, uint8_t* out, size_t len) override {
    size_t n = 0;
    for (; n < len; ++n) {
      uint32_t a = addr + uint32_t(n);
      if (a < MEM_BASE || a >= MEM_BASE + MEM_SIZE) break;
      out[n] = mem[a - MEM_BASE];
    }
    return n;
  }
  size_t write_memory(uint32_t addr, const uint8_t* in, size_t len) override {
    size_t n = 0;
    for (; n < len; ++n) {
      uint32_t a = addr + uint32_t(n);
      if (a < MEM_BASE || a >= MEM_BASE + MEM_SIZE) break;
      mem[a - MEM_BASE] = in[n];
    }
    return n;
  }
  bool insert_breakpoint(GdbBreakKind k, uint32_t addr, uint32_t len) override {
    if (!breakpoint_room) return false;
    ++bps[{k, addr, len}];
    return true;
  }
  bool remove_breakpoint(GdbBreakKind k, uint32_t addr, uint32_t len) override {
    auto it = bps.find({k, addr, len});
    if (it == bps.end()) return false;
    bps.erase(it);
    return true;
  }
  void remove_all_breakpoints() override {
    bps.clear();
    log.push_back("clear");
  }
  void resume(bool step) override { log.push_back(step ? "step" : "continue"); }
  void halt() override { log.push_back("halt"); }
  void detach() override { log.push_back("detach"); }
  void kill() override { log.push_back("kill"); }
  std::string info_registers() override { return "EAX=00000000 (fake)\n"; }
  std::string info_tlb() override { return "no tlb"; }
  void system_reset() override { log.push_back("reset"); }
};

// ---- a client's side of the wire, written from the protocol description --------------------

std::string checksum_hex(const std::string& payload) {
  unsigned sum = 0;
  for (unsigned char c : payload) sum += c;
  char buf[3];
  std::snprintf(buf, sizeof buf, "%02x", sum & 0xFF);
  return buf;
}

std::string frame(const std::string& payload) {
  return "$" + payload + "#" + checksum_hex(payload);
}

std::string to_hex(const std::string& s) {
  std::string out;
  char buf[3];
  for (unsigned char c : s) {
    std::snprintf(buf, sizeof buf, "%02x", c);
    out += buf;
  }
  return out;
}

std::string from_hex(const std::string& h) {
  std::string out;
  for (size_t i = 0; i + 1 < h.size(); i += 2) out += char(std::stoi(h.substr(i, 2), nullptr, 16));
  return out;
}

struct Harness {
  FakeTarget target;
  std::string wire;  // everything the stub sent, not yet consumed
  bool closed = false;
  GdbStub stub{target, [this](std::string_view b) { wire.append(b); }};

  Harness() {
    stub.set_close_handler([this] { closed = true; });
    stub.on_connect();
    target.log.clear();
  }

  // Send a packet; expect the '+' ack (in ack mode) and return the payload of the reply, or
  // "<none>" if nothing came. Checks the reply's checksum.
  std::string request(const std::string& payload, bool expect_ack = true) {
    stub.feed(frame(payload));
    if (expect_ack) {
      EXPECT_FALSE(wire.empty()) << payload;
      if (wire.empty()) return "<none>";
      EXPECT_EQ(wire[0], '+') << payload;
      wire.erase(0, 1);
    }
    return next_packet();
  }

  std::string next_packet() {
    if (wire.empty()) return "<none>";
    EXPECT_EQ(wire[0], '$') << wire;
    size_t hash = wire.find('#');
    EXPECT_NE(hash, std::string::npos);
    if (wire[0] != '$' || hash == std::string::npos || hash + 3 > wire.size()) {
      wire.clear();
      return "<bad>";
    }
    std::string payload = wire.substr(1, hash - 1);
    EXPECT_EQ(wire.substr(hash + 1, 2), checksum_hex(payload)) << payload;
    wire.erase(0, hash + 3);
    return payload;
  }
};

// ---- framing and acknowledgement ------------------------------------------------------------

TEST(GdbStub, AcksAndChecksumsMatchTheProtocol) {
  Harness h;
  h.stub.feed("$qC#b4");  // 'q' 0x71 + 'C' 0x43 = 0xb4
  EXPECT_EQ(h.wire, "+$QC1#c5");  // 'Q' 0x51 + 'C' 0x43 + '1' 0x31 = 0xc5
}

TEST(GdbStub, BadChecksumIsNakedAndRetransmissionWorks) {
  Harness h;
  h.stub.feed("$qC#00");
  EXPECT_EQ(h.wire, "-");
  h.wire.clear();
  EXPECT_EQ(h.request("qC"), "QC1");
  h.stub.feed("$qC#zz");  // not even hex
  EXPECT_EQ(h.wire, "-");
}

TEST(GdbStub, PacketsSplitAcrossFeedsAndNoiseBetweenThem) {
  Harness h;
  const std::string bytes = "garbage+" + frame("qC") + "\r\n" + frame("qAttached");
  for (char c : bytes) h.stub.feed(std::string(1, c));
  EXPECT_EQ(h.wire.substr(0, 1), "+");
  h.wire.erase(0, 1);
  EXPECT_EQ(h.next_packet(), "QC1");
  EXPECT_EQ(h.wire.substr(0, 1), "+");
  h.wire.erase(0, 1);
  EXPECT_EQ(h.next_packet(), "1");
}

TEST(GdbStub, NakFromClientRetransmitsLastPacket) {
  Harness h;
  EXPECT_EQ(h.request("qC"), "QC1");
  h.stub.feed("-");
  EXPECT_EQ(h.next_packet(), "QC1");
  h.stub.feed("+");
  EXPECT_TRUE(h.wire.empty());
}

TEST(GdbStub, NoAckModeStopsAcks) {
  Harness h;
  EXPECT_EQ(h.request("QStartNoAckMode"), "OK");  // acknowledged in the old mode
  EXPECT_TRUE(h.stub.no_ack_mode());
  EXPECT_EQ(h.request("qC", false), "QC1");
  EXPECT_TRUE(h.wire.empty());
  h.stub.feed("$qC#00");  // bad checksum: dropped silently
  h.stub.feed("-");       // no retransmission either
  EXPECT_TRUE(h.wire.empty());
  // A new connection starts in ack mode again.
  h.stub.on_disconnect();
  h.stub.on_connect();
  EXPECT_EQ(h.request("qC"), "QC1");
}

TEST(GdbStub, RestartMarkerAndDisconnectMidPacket) {
  Harness h;
  h.stub.feed("$m10");
  h.stub.feed(frame("qC"));  // '$' inside a packet starts over
  EXPECT_EQ(h.wire.substr(0, 1), "+");
  h.wire.erase(0, 1);
  EXPECT_EQ(h.next_packet(), "QC1");
  h.stub.feed("$m1000,4#");  // the client vanishes between '#' and the checksum
  h.stub.on_disconnect();
  EXPECT_EQ(h.target.log, (std::vector<std::string>{"clear", "detach"}));
  h.stub.on_connect();
  EXPECT_EQ(h.request("qC"), "QC1");
}

TEST(GdbStub, OverlongPacketIsRejectedWithoutCrashing) {
  Harness h;
  std::string big(GdbStub::MAX_PACKET + 100, 'A');
  EXPECT_EQ(h.request(big), "E16");
  EXPECT_EQ(h.request("qC"), "QC1");
}

TEST(GdbStub, RandomInputNeverCrashes) {
  Harness h;
  std::mt19937 rng(1234);
  const std::string alphabet = "$#}*+-\x03mMXgGpPZzqQvcsDH0123456789abcdef,:;=";
  for (int round = 0; round < 2000; ++round) {
    std::string chunk;
    int n = int(rng() % 64);
    for (int k = 0; k < n; ++k)
      chunk += (rng() % 4) ? alphabet[rng() % alphabet.size()] : char(rng() & 0xFF);
    if (rng() % 3 == 0) chunk = frame(chunk);  // well-framed garbage reaches the parsers
    h.stub.feed(chunk);
    if (h.target.log.size() > 100) h.target.log.clear();
    h.wire.clear();
  }
  h.stub.on_disconnect();
  h.stub.on_connect();
  h.wire.clear();
  EXPECT_EQ(h.request("qC"), "QC1");
}

// ---- queries --------------------------------------------------------------------------------

TEST(GdbStub, SupportedFeatures) {
  Harness h;
  std::string r = h.request("qSupported:multiprocess+;swbreak+;hwbreak+;xmlRegisters=i386");
  EXPECT_NE(r.find("PacketSize=4000"), std::string::npos) << r;
  for (const char* f : {"qXfer:features:read+", "QStartNoAckMode+", "vContSupported+",
                        "swbreak+", "hwbreak+"})
    EXPECT_NE(r.find(f), std::string::npos) << f;
}

TEST(GdbStub, ThreadQueriesAndUnknownPackets) {
  Harness h;
  EXPECT_EQ(h.request("qAttached"), "1");
  EXPECT_EQ(h.request("qAttached:1"), "1");
  EXPECT_EQ(h.request("qfThreadInfo"), "m1");
  EXPECT_EQ(h.request("qsThreadInfo"), "l");
  EXPECT_EQ(h.request("Hg0"), "OK");
  EXPECT_EQ(h.request("Hc-1"), "OK");
  EXPECT_EQ(h.request("T1"), "OK");
  EXPECT_EQ(h.request("T2"), "E01");
  EXPECT_EQ(h.request("vMustReplyEmpty"), "");
  EXPECT_EQ(h.request("qTStatus"), "");
  EXPECT_EQ(h.request("!"), "");
  EXPECT_EQ(h.request("vCont?"), "vCont;c;C;s;S");
  EXPECT_EQ(h.request("?"), "T05thread:1;");
}

TEST(GdbStub, TargetXmlIsServedInChunks) {
  Harness h;
  std::string whole;
  uint32_t off = 0;
  for (int guard = 0; guard < 1000; ++guard) {
    char q[96];
    std::snprintf(q, sizeof q, "qXfer:features:read:target.xml:%x,10", off);
    std::string r = h.request(q);
    ASSERT_FALSE(r.empty());
    ASSERT_TRUE(r[0] == 'm' || r[0] == 'l') << r;
    if (r[0] == 'm') {
      EXPECT_EQ(r.size(), 1u + 16);  // full 16-byte chunks until the last
    }
    whole += r.substr(1);
    off += uint32_t(r.size() - 1);
    if (r[0] == 'l') break;
  }
  std::string expected;
  ASSERT_TRUE(i386_target_description().document("target.xml", expected));
  EXPECT_EQ(whole, expected);
  // No architecture element: it would override gdb's `set architecture i8086` in real mode.
  EXPECT_EQ(whole.find("<architecture>"), std::string::npos);
  EXPECT_NE(whole.find("href=\"i386-32bit-core.xml\""), std::string::npos);
  // Past the end: an empty last chunk. Unknown annex: E00.
  EXPECT_EQ(h.request("qXfer:features:read:target.xml:ffff,10"), "l");
  EXPECT_EQ(h.request("qXfer:features:read:nope.xml:0,10"), "E00");
  EXPECT_EQ(h.request("qXfer:features:read:target.xml:zz,10"), "E16");
}

TEST(GdbStub, IncludedFeatureDocumentHasGdbsCoreRegisters) {
  Harness h;
  std::string r = h.request("qXfer:features:read:i386-32bit-core.xml:0,3000");
  ASSERT_EQ(r[0], 'l');
  EXPECT_NE(r.find("<feature name=\"org.gnu.gdb.i386.core\">"), std::string::npos);
  EXPECT_NE(r.find("<reg name=\"eip\" bitsize=\"32\" type=\"code_ptr\"/>"), std::string::npos);
  EXPECT_NE(r.find("<reg name=\"st0\" bitsize=\"80\" type=\"i387_ext\"/>"), std::string::npos);
  // eax must be the first register of the document: gdb numbers them in order.
  EXPECT_LT(r.find("name=\"eax\""), r.find("name=\"ecx\""));
  r = h.request("qXfer:features:read:softcpu-i386-system.xml:0,3000");
  EXPECT_NE(r.find("org.softcpu.i386.system"), std::string::npos);
  EXPECT_NE(r.find("name=\"cr3\""), std::string::npos);
  EXPECT_NE(r.find("name=\"cs_base\""), std::string::npos);
}

TEST(GdbStub, XferEscapesBinaryDataInReplies) {
  // A description whose document contains the characters that must be escaped.
  struct OddTarget : FakeTarget {
    GdbTargetDescription d;
    OddTarget() {
      d.architecture = "i386#$}*";
      d.pc_register = 0;
    }
    const GdbTargetDescription& description() const override { return d; }
  } target;
  std::string wire;
  GdbStub stub(target, [&](std::string_view b) { wire.append(b); });
  stub.on_connect();
  stub.feed(frame("qXfer:features:read:target.xml:0,400"));
  size_t at = wire.find("i386");
  ASSERT_NE(at, std::string::npos);
  // '#' ^ 0x20 = 0x03, '$' ^ 0x20 = 0x04, '}' ^ 0x20 = ']', '*' ^ 0x20 = '\n'.
  EXPECT_EQ(wire.substr(at, 12), std::string("i386}\x03}\x04}]}\n", 12));
}

// ---- registers ------------------------------------------------------------------------------

TEST(I386TargetDescription, RegisterLayoutIsGdbsI386Layout) {
  const GdbTargetDescription& d = i386_target_description();
  ASSERT_EQ(d.registers.size(), size_t(GDB_REG_COUNT));
  const char* gdb_order[] = {"eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi",
                             "eip", "eflags", "cs", "ss", "ds", "es", "fs", "gs",
                             "st0", "st1", "st2", "st3", "st4", "st5", "st6", "st7",
                             "fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg", "fooff", "fop"};
  for (unsigned r = 0; r < 32; ++r) {
    EXPECT_STREQ(d.registers[r].name, gdb_order[r]) << r;
    EXPECT_EQ(d.registers[r].bits, (r >= 16 && r < 24) ? 80u : 32u) << r;
    EXPECT_EQ(d.registers[r].feature, 0u);
  }
  EXPECT_STREQ(d.registers[GDB_CR0].name, "cr0");
  EXPECT_STREQ(d.registers[GDB_GS_BASE].name, "gs_base");
  EXPECT_EQ(d.pc_register, unsigned(GDB_EIP));
}

TEST(GdbStub, ReadAllRegistersInLayoutOrder) {
  Harness h;
  h.target.set_reg32(GDB_EAX, 0x12345678);
  h.target.set_reg32(GDB_EIP, 0x7c00);
  h.target.regs[GDB_ST0][9] = 0x40;
  std::string r = h.request("g");
  // 16 + 8 + 16 registers of 4 bytes and 8 of 10 bytes, two hex digits a byte.
  ASSERT_EQ(r.size(), size_t((40 * 4 + 8 * 10) * 2));
  EXPECT_EQ(r.substr(0, 8), "78563412");
  EXPECT_EQ(r.substr(8 * 8, 8), "007c0000");
  EXPECT_EQ(r.substr(16 * 8 + 18, 2), "40");  // st0's sign/exponent high byte
}

TEST(GdbStub, WriteAllRegisters) {
  Harness h;
  std::string g = h.request("g");
  g.replace(4 * 8, 8, "efbeadde");  // esp
  EXPECT_EQ(h.request("G" + g), "OK");
  EXPECT_EQ(h.target.reg32(GDB_ESP), 0xdeadbeefu);
  // Changing a register the target refuses reports its error, the others still change.
  g.replace(10 * 8, 8, "08000000");
  g.replace(0, 8, "01000000");
  EXPECT_EQ(h.request("G" + g), "E01");
  EXPECT_EQ(h.target.reg32(GDB_EAX), 1u);
  EXPECT_EQ(h.request("G" + g.substr(0, 7)), "E16");  // odd hex
  EXPECT_EQ(h.request("Gzz"), "E16");
}

TEST(GdbStub, SingleRegisterReadWrite) {
  Harness h;
  EXPECT_EQ(h.request("P8=00100000"), "OK");
  EXPECT_EQ(h.target.reg32(GDB_EIP), 0x1000u);
  EXPECT_EQ(h.request("p8"), "00100000");
  EXPECT_EQ(h.request("P10=0000000000000000ff7f"), "OK");  // st0 (register 0x10)
  EXPECT_EQ(h.target.regs[GDB_ST0][9], 0x7f);
  EXPECT_EQ(h.request("p10"), "0000000000000000ff7f");
  EXPECT_EQ(h.request("P10=00"), "E16");      // wrong size
  EXPECT_EQ(h.request("p999"), "E16");        // no such register
  EXPECT_EQ(h.request("pxyz"), "E16");
  EXPECT_EQ(h.request("P8"), "E16");
  EXPECT_EQ(h.request("Pa=08000000"), "E01");  // cs: the target refuses
}

// ---- memory ---------------------------------------------------------------------------------

TEST(GdbStub, ReadAndWriteMemory) {
  Harness h;
  h.target.mem[0] = 0xAB;
  h.target.mem[1] = 0xCD;
  EXPECT_EQ(h.request("m1000,2"), "abcd");
  EXPECT_EQ(h.request("M1002,3:010203"), "OK");
  EXPECT_EQ(h.target.mem[2], 1);
  EXPECT_EQ(h.target.mem[4], 3);
  EXPECT_EQ(h.request("m1002,3"), "010203");
  EXPECT_EQ(h.request("m0,4"), "E14");              // unmapped
  EXPECT_EQ(h.request("m2ffe,4").size(), 4u);       // stops at the end of the mapping
  EXPECT_EQ(h.request("M0,1:00"), "E14");
  EXPECT_EQ(h.request("M1000,2:0g00"), "E16");       // bad hex
  EXPECT_EQ(h.request("M1000,2:00"), "E16");         // length mismatch
  EXPECT_EQ(h.request("m1000"), "E16");
  EXPECT_EQ(h.request("m100000000,1"), "E16");       // more than 32 bits
  EXPECT_EQ(h.request("mffffffff,10"), "E14");       // wraps: clipped, then unmapped
  EXPECT_EQ(h.request("m1000,0"), "");
}

TEST(GdbStub, BinaryWriteUnescapes) {
  Harness h;
  EXPECT_EQ(h.request("X1000,0:"), "OK");  // gdb's probe
  // Bytes 7d 23 24 2a 00 sent escaped as }] }\x03 }\x04 }\x0a and a raw NUL.
  std::string payload = std::string("X1000,5:") + "}]" + "}\x03" + "}\x04" + "}\x0a" +
                        std::string(1, '\0');
  EXPECT_EQ(h.request(payload), "OK");
  EXPECT_EQ(h.request("m1000,5"), "7d23242a00");
  EXPECT_EQ(h.request("X1000,1:}"), "E16");  // dangling escape
  EXPECT_EQ(h.request("X1000,2:a"), "E16");  // short data
}

// ---- breakpoints and run control ------------------------------------------------------------

TEST(GdbStub, BreakpointsAndWatchpointsReachTheTarget) {
  Harness h;
  EXPECT_EQ(h.request("Z0,7c00,1"), "OK");
  EXPECT_EQ(h.request("Z1,7c10,1"), "OK");
  EXPECT_EQ(h.request("Z2,1000,4"), "OK");
  EXPECT_EQ(h.request("Z3,1004,2"), "OK");
  EXPECT_EQ(h.request("Z4,1008,1"), "OK");
  EXPECT_EQ(h.target.bps.size(), 5u);
  EXPECT_EQ(h.target.bps.count({GdbBreakKind::WATCH_READ, 0x1004, 2}), 1u);
  EXPECT_EQ(h.target.bps.count({GdbBreakKind::HARDWARE, 0x7c10, 1}), 1u);
  EXPECT_EQ(h.request("z2,1000,4"), "OK");
  EXPECT_EQ(h.request("z2,1000,4"), "E16");  // already gone
  EXPECT_EQ(h.request("Z0,7c00,1;X1,ff"), "OK");  // a condition (evaluated by gdb)
  EXPECT_EQ(h.request("Z9,0,1"), "");       // unknown type: unsupported
  EXPECT_EQ(h.request("Z2,1000,0"), "E16");  // zero-length watchpoint
  EXPECT_EQ(h.request("Z0,xyz,1"), "E16");
  h.target.breakpoint_room = false;
  EXPECT_EQ(h.request("Z0,7d00,1"), "E1c");
}

TEST(GdbStub, ContinueWaitsForTheStopAndReportsBreakpointKind) {
  Harness h;
  EXPECT_EQ(h.request("Z0,7c00,1"), "OK");
  EXPECT_EQ(h.request("Z1,7c10,1"), "OK");
  EXPECT_EQ(h.request("c"), "<none>");  // no reply until the guest stops
  EXPECT_EQ(h.target.log, std::vector<std::string>{"continue"});
  EXPECT_TRUE(h.stub.waiting_for_stop());
  h.stub.report_stop(GdbStopEvent::breakpoint(0x7c00));
  EXPECT_EQ(h.next_packet(), "T05thread:1;swbreak:;");
  h.stub.report_stop(GdbStopEvent::breakpoint(0x7c00));  // nobody waits: ignored
  EXPECT_TRUE(h.wire.empty());
  EXPECT_EQ(h.request("c"), "<none>");
  h.stub.report_stop(GdbStopEvent::breakpoint(0x7c10));
  EXPECT_EQ(h.next_packet(), "T05thread:1;hwbreak:;");
  EXPECT_EQ(h.request("?"), "T05thread:1;hwbreak:;");
}

TEST(GdbStub, WatchpointStopReplies) {
  Harness h;
  struct Case {
    GdbBreakKind kind;
    const char* reply;
  } cases[] = {{GdbBreakKind::WATCH_WRITE, "T05thread:1;watch:1234abcd;"},
               {GdbBreakKind::WATCH_READ, "T05thread:1;rwatch:1234abcd;"},
               {GdbBreakKind::WATCH_ACCESS, "T05thread:1;awatch:1234abcd;"}};
  for (const Case& c : cases) {
    EXPECT_EQ(h.request("c"), "<none>");
    h.stub.report_stop(GdbStopEvent::watchpoint(c.kind, 0x1234abcd));
    EXPECT_EQ(h.next_packet(), c.reply);
  }
}

TEST(GdbStub, StepAndResumeAtAddress) {
  Harness h;
  EXPECT_EQ(h.request("s"), "<none>");
  h.stub.report_stop(GdbStopEvent::step());
  EXPECT_EQ(h.next_packet(), "T05thread:1;");
  EXPECT_EQ(h.request("s7c00"), "<none>");
  EXPECT_EQ(h.target.reg32(GDB_EIP), 0x7c00u);
  h.stub.report_stop(GdbStopEvent::step());
  EXPECT_EQ(h.next_packet(), "T05thread:1;");
  EXPECT_EQ(h.request("c8000"), "<none>");
  EXPECT_EQ(h.target.reg32(GDB_EIP), 0x8000u);
  h.stub.report_stop(GdbStopEvent::sig(5));
  EXPECT_EQ(h.next_packet(), "T05thread:1;");
  EXPECT_EQ(h.request("C0f;9000"), "<none>");  // the signal is dropped, the address is used
  EXPECT_EQ(h.target.reg32(GDB_EIP), 0x9000u);
  h.stub.report_stop(GdbStopEvent::step());
  h.next_packet();
  EXPECT_EQ(h.request("cxyz"), "E16");
  EXPECT_EQ(h.target.log, (std::vector<std::string>{"step", "step", "continue", "continue"}));
}

TEST(GdbStub, VContActions) {
  Harness h;
  EXPECT_EQ(h.request("vCont;s:1;c"), "<none>");
  h.stub.report_stop(GdbStopEvent::step());
  EXPECT_EQ(h.next_packet(), "T05thread:1;");
  EXPECT_EQ(h.request("vCont;c"), "<none>");
  h.stub.report_stop(GdbStopEvent::step());
  h.next_packet();
  EXPECT_EQ(h.request("vCont;s:2;c:-1"), "<none>");  // thread 2 does not exist: c applies
  h.stub.report_stop(GdbStopEvent::step());
  h.next_packet();
  EXPECT_EQ(h.request("vCont;S05:p1.1"), "<none>");
  h.stub.report_stop(GdbStopEvent::step());
  h.next_packet();
  EXPECT_EQ(h.target.log, (std::vector<std::string>{"step", "continue", "continue", "step"}));
  EXPECT_EQ(h.request("vCont;r1000,2000"), "E16");
  EXPECT_EQ(h.request("vCont;"), "E16");
}

TEST(GdbStub, CtrlCStopsARunningGuest) {
  Harness h;
  const uint8_t ctrl_c = 0x03;
  h.stub.feed(&ctrl_c, 1);  // not running: nothing is owed, nothing is sent
  EXPECT_TRUE(h.wire.empty());
  EXPECT_EQ(h.request("c"), "<none>");
  h.stub.feed(&ctrl_c, 1);
  EXPECT_EQ(h.next_packet(), "T02thread:1;");
  EXPECT_EQ(h.target.log, (std::vector<std::string>{"continue", "halt"}));
  EXPECT_FALSE(h.stub.waiting_for_stop());
  EXPECT_EQ(h.request("?"), "T02thread:1;");
  // 0x03 inside a packet is data, not an interrupt.
  EXPECT_EQ(h.request(std::string("X1000,1:\x03")), "OK");
  EXPECT_EQ(h.target.mem[0], 3);
}

TEST(GdbStub, ConnectHaltsAndDetachResumes) {
  FakeTarget target;
  std::string wire;
  bool closed = false;
  GdbStub stub(target, [&](std::string_view b) { wire.append(b); });
  stub.set_close_handler([&] { closed = true; });
  stub.on_connect();
  EXPECT_EQ(target.log, (std::vector<std::string>{"clear", "halt"}));
  target.log.clear();
  stub.feed(frame("Z0,1,1"));
  EXPECT_EQ(target.bps.size(), 1u);
  wire.clear();
  stub.feed(frame("D"));
  EXPECT_EQ(wire, "+" + frame("OK"));
  EXPECT_TRUE(closed);
  EXPECT_TRUE(target.bps.empty());
  EXPECT_EQ(target.log, (std::vector<std::string>{"clear", "detach"}));
  stub.on_disconnect();  // the transport's own notice afterwards changes nothing
  EXPECT_EQ(target.log.size(), 2u);
  EXPECT_FALSE(stub.connected());
}

TEST(GdbStub, KillEndsTheMachineWithoutReply) {
  Harness h;
  EXPECT_EQ(h.request("k"), "<none>");
  EXPECT_EQ(h.target.log, std::vector<std::string>{"kill"});
  EXPECT_TRUE(h.closed);
}

// ---- monitor commands -----------------------------------------------------------------------

// Collect the O packets of a qRcmd reply and the final status.
std::string monitor(Harness& h, const std::string& cmd, std::string* status) {
  std::string out;
  std::string p = h.request("qRcmd," + to_hex(cmd));
  while (!p.empty() && p[0] == 'O' && p != "OK") {
    out += from_hex(p.substr(1));
    p = h.next_packet();
  }
  *status = p;
  return out;
}

TEST(GdbStub, MonitorCommands) {
  Harness h;
  h.stub.set_stats_provider([] { return std::string("instructions 42\n"); });
  std::string status;
  EXPECT_EQ(monitor(h, "stats", &status), "instructions 42\n");
  EXPECT_EQ(status, "OK");
  EXPECT_EQ(monitor(h, "info registers", &status), "EAX=00000000 (fake)\n");
  EXPECT_EQ(monitor(h, "info tlb", &status), "no tlb\n");
  EXPECT_NE(monitor(h, "help", &status).find("system_reset"), std::string::npos);
  EXPECT_NE(monitor(h, "frobnicate", &status).find("unknown monitor command 'frobnicate'"),
            std::string::npos);
  EXPECT_EQ(status, "OK");
  monitor(h, " system_reset ", &status);
  EXPECT_EQ(h.target.log, std::vector<std::string>{"reset"});
  EXPECT_EQ(h.request("qRcmd,7"), "E16");  // odd hex
}

TEST(GdbStub, LongMonitorOutputIsSplitIntoPackets) {
  Harness h;
  std::string big;
  for (int k = 0; k < 300; ++k) big += "line " + std::to_string(k) + " of the stats output\n";
  h.stub.set_stats_provider([&] { return big; });
  h.stub.feed(frame("qRcmd," + to_hex("stats")));
  h.wire.erase(0, 1);  // ack
  std::string out;
  int packets = 0;
  for (std::string p = h.next_packet(); p != "OK" && p != "<none>"; p = h.next_packet()) {
    ASSERT_EQ(p[0], 'O');
    EXPECT_LE(p.size(), GdbStub::MAX_PACKET);
    out += from_hex(p.substr(1));
    ++packets;
  }
  EXPECT_EQ(out, big);
  EXPECT_GT(packets, 1);
}


// ---- CpuDebugTarget over a real CPU ---------------------------------------------------------

uint32_t read32(CpuDebugTarget& t, unsigned r) {
  uint8_t b[4];
  EXPECT_TRUE(t.read_register(r, b));
  return uint32_t(b[0]) | uint32_t(b[1]) << 8 | uint32_t(b[2]) << 16 | uint32_t(b[3]) << 24;
}
bool write32(CpuDebugTarget& t, unsigned r, uint32_t v, int* err) {
  const uint8_t b[4] = {uint8_t(v), uint8_t(v >> 8), uint8_t(v >> 16), uint8_t(v >> 24)};
  return t.write_register(r, b, err);
}

TEST(CpuDebugTarget, RealModePcIsLinearAndSegmentsLoadBases) {
  test::CpuHarness h(false);  // CS = 0x1000, EIP = 0
  CpuDebugTarget t(h.cpu, {}, true);
  EXPECT_EQ(t.run_state(), CpuDebugTarget::RunState::STOPPED);
  h.cpu.eip = 0x10;
  EXPECT_EQ(read32(t, GDB_EIP), 0x10010u);  // CS.base 0x10000 + IP
  EXPECT_EQ(read32(t, GDB_CS), 0x1000u);
  EXPECT_EQ(read32(t, GDB_CS_BASE), 0x10000u);
  int err = 0;
  ASSERT_TRUE(write32(t, GDB_EIP, 0x10020, &err));
  EXPECT_EQ(h.cpu.eip, 0x20u);
  ASSERT_TRUE(write32(t, GDB_DS, 0x2345, &err));
  EXPECT_EQ(h.cpu.seg[DS].selector, 0x2345);
  EXPECT_EQ(h.cpu.seg[DS].base, 0x23450u);
  EXPECT_FALSE(write32(t, GDB_CR0, 1, &err));  // system registers are read-only
  EXPECT_EQ(err, 0x01);
  EXPECT_TRUE(write32(t, GDB_CR0, h.cpu.cr0, &err));  // ... but `G` may write them back
  // The instruction at the reported PC is the one that runs: mov ax, 0x1234 at 1000:0020.
  h.put(0x10020, {0xB8, 0x34, 0x12, 0xF4});
  ASSERT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.cpu.regs[EAX] & 0xFFFF, 0x1234u);
}

TEST(CpuDebugTarget, EflagsAreMaterialized) {
  test::CpuHarness h(true);
  CpuDebugTarget t(h.cpu, {}, false);
  EXPECT_EQ(t.run_state(), CpuDebugTarget::RunState::FREE);
  set_lazy(h.cpu, LZ_SUB, 4, 5, 5, 0);  // cmp 5, 5: ZF and PF set, CF clear
  uint32_t f = read32(t, GDB_EFLAGS);
  EXPECT_TRUE(f & ZF);
  EXPECT_TRUE(f & PF);
  EXPECT_FALSE(f & CF);
  EXPECT_TRUE(f & 2u);
  int err = 0;
  ASSERT_TRUE(write32(t, GDB_EFLAGS, CF | OF, &err));
  EXPECT_TRUE(condition(h.cpu, 0x2));   // JB: CF
  EXPECT_TRUE(condition(h.cpu, 0x0));   // JO: OF
  EXPECT_FALSE(condition(h.cpu, 0x4));  // JE: ZF clear now
}

TEST(CpuDebugTarget, ProtectedModeSegmentWrites) {
  test::CpuHarness h(true);
  CpuDebugTarget t(h.cpu, {}, false);
  h.cpu.eip = 0x1234;
  EXPECT_EQ(read32(t, GDB_EIP), 0x1234u);  // flat protected mode: EIP as is
  int err = 0;
  EXPECT_TRUE(write32(t, GDB_CS, 0x08, &err));   // unchanged: accepted
  EXPECT_FALSE(write32(t, GDB_CS, 0x10, &err));  // a new CS is refused
  EXPECT_EQ(h.cpu.seg[CS].selector, 0x08);
  EXPECT_FALSE(write32(t, GDB_DS, 0x50, &err));  // beyond the GDT limit: #GP -> error
  EXPECT_EQ(err, 0x16);
  EXPECT_EQ(h.cpu.seg[DS].selector, 0x10);
  h.set_gdt_entry(3, test::make_desc(0x5000, 0xFFFF, 0x93, 0x4));
  ASSERT_TRUE(write32(t, GDB_ES, 0x18, &err));
  EXPECT_EQ(h.cpu.seg[ES].base, 0x5000u);
  EXPECT_EQ(read32(t, GDB_ES_BASE), 0x5000u);
}

TEST(CpuDebugTarget, FpuStackRegistersAreRelativeToTop) {
  test::CpuHarness h(true);
  CpuDebugTarget t(h.cpu, {}, false);
  h.cpu.fpu.sw = 3 << 11;  // TOP = 3: ST(0) is R3, ST(5) is R0
  h.cpu.fpu.st[3] = {0x8000000000000000ull, 0x3FFF, {}};  // 1.0
  h.cpu.fpu.st[0].se = 0xC000;
  uint8_t b[10];
  ASSERT_TRUE(t.read_register(GDB_ST0, b));
  EXPECT_EQ(b[7], 0x80);
  EXPECT_EQ(b[8], 0xFF);
  EXPECT_EQ(b[9], 0x3F);
  ASSERT_TRUE(t.read_register(GDB_ST0 + 5, b));
  EXPECT_EQ(b[9], 0xC0);
  EXPECT_EQ(read32(t, GDB_FSTAT), 3u << 11);
}

TEST(CpuDebugTarget, MemoryThroughPageTablesWithoutSideEffects) {
  test::CpuHarness h(true);
  CpuDebugTarget t(h.cpu, {}, false);
  // Page directory at 0x100000, one page table at 0x101000: linear 0x400000 -> 0x200000.
  h.wr32(0x100000 + 1 * 4, 0x101000 | PTE_P | PTE_RW);
  h.wr32(0x101000, 0x200000 | PTE_P | PTE_RW);
  h.put(0x200000, {0xDE, 0xAD, 0xBE, 0xEF});
  h.cpu.cr3 = 0x100000;
  h.cpu.cr0 |= CR0_PG;
  uint8_t b[32] = {};
  ASSERT_EQ(t.read_memory(0x400000, b, 4), 4u);
  EXPECT_EQ(b[0], 0xDE);
  EXPECT_EQ(b[3], 0xEF);
  EXPECT_EQ(t.read_memory(0x800000, b, 4), 0u);    // no page table
  EXPECT_EQ(t.read_memory(0x400FF0, b, 32), 16u);  // the next page is not present
  EXPECT_FALSE(h.rd32(0x100004) & PTE_A);          // no accessed bits set by the debugger
  EXPECT_FALSE(h.rd32(0x101000) & PTE_A);
  const uint8_t w[2] = {0x11, 0x22};
  ASSERT_EQ(t.write_memory(0x400002, w, 2), 2u);
  EXPECT_EQ(h.rd8(0x200003), 0x22);
  uint32_t phys = 0;
  ASSERT_TRUE(t.debug_translate(0x400123, phys));
  EXPECT_EQ(phys, 0x200123u);
  // A 4 MiB page with CR4.PSE.
  h.wr32(0x100000 + 2 * 4, 0x00C00000 | PTE_P | PTE_PS);
  h.cpu.cr4 |= CR4_PSE;
  ASSERT_TRUE(t.debug_translate(0x812345, phys));
  EXPECT_EQ(phys, 0xC12345u);
}

TEST(CpuDebugTarget, MemoryWritesInvalidateDecodedCode) {
  test::CpuHarness h(true);
  CpuDebugTarget t(h.cpu, {}, false);
  h.code({0xB8, 0x01, 0x00, 0x00, 0x00});  // mov eax, 1
  RUN_OK(h);
  EXPECT_EQ(h.cpu.regs[EAX], 1u);
  const uint8_t two = 2;
  ASSERT_EQ(t.write_memory(test::CpuHarness::CODE_ADDR + 1, &two, 1), 1u);
  h.cpu.eip = test::CpuHarness::CODE_ADDR;
  h.cpu.halted = 0;
  RUN_OK(h);
  EXPECT_EQ(h.cpu.regs[EAX], 2u);  // the cached block was dropped
}

TEST(CpuDebugTarget, RunControlAndHooks) {
  test::CpuHarness h(true);
  int kills = 0, resets = 0;
  CpuDebugTarget t(h.cpu, {[&] { ++kills; }, [&] { ++resets; }, nullptr}, false);
  t.halt();
  EXPECT_EQ(t.run_state(), CpuDebugTarget::RunState::STOPPED);
  t.resume(true);
  EXPECT_EQ(t.run_state(), CpuDebugTarget::RunState::STEPPING);
  t.resume(false);
  EXPECT_EQ(t.run_state(), CpuDebugTarget::RunState::RUNNING);
  t.detach();
  EXPECT_EQ(t.run_state(), CpuDebugTarget::RunState::FREE);
  t.system_reset();
  t.kill();
  EXPECT_EQ(resets, 1);
  EXPECT_EQ(kills, 1);
  EXPECT_NE(t.info_registers().find("CR0="), std::string::npos);
  EXPECT_NE(t.info_tlb().find("valid entries"), std::string::npos);
}

TEST(CpuDebugTarget, BreakpointsGoToTheDebuggerList) {
  test::CpuHarness h(true);
  CpuDebugTarget t(h.cpu, {}, false);
  EXPECT_TRUE(t.insert_breakpoint(GdbBreakKind::SOFTWARE, 0x10005, 1));
  EXPECT_TRUE(t.remove_breakpoint(GdbBreakKind::SOFTWARE, 0x10005, 1));
  EXPECT_FALSE(t.remove_breakpoint(GdbBreakKind::SOFTWARE, 0x10005, 1));
  EXPECT_TRUE(t.insert_breakpoint(GdbBreakKind::WATCH_WRITE, 0x20000, 4));
  EXPECT_TRUE(t.remove_breakpoint(GdbBreakKind::WATCH_WRITE, 0x20000, 4));
  EXPECT_FALSE(t.remove_breakpoint(GdbBreakKind::WATCH_WRITE, 0x20000, 4));
}

TEST(CpuDebugTarget, StopEventsFromInterpreterHits) {
  GdbStopEvent e = stop_event_from_hit({HIT_BREAKPOINT, WATCH_WRITE, 0x7c00});
  EXPECT_EQ(e.kind, GdbStopEvent::BREAKPOINT);
  EXPECT_EQ(e.address, 0x7c00u);
  e = stop_event_from_hit({HIT_WATCHPOINT, WATCH_READ, 0x1234});
  EXPECT_EQ(e.kind, GdbStopEvent::WATCHPOINT);
  EXPECT_EQ(e.watch, GdbBreakKind::WATCH_READ);
  EXPECT_EQ(e.address, 0x1234u);
  e = stop_event_from_hit({HIT_WATCHPOINT, WATCH_ACCESS, 0x1234});
  EXPECT_EQ(e.watch, GdbBreakKind::WATCH_ACCESS);
}

}  // namespace
}  // namespace softcpu
