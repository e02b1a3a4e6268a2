#include "monitor/i386_target_xml.h"

namespace softcpu {

// ---- generic document generation -----------------------------------------------------------

namespace {

std::string feature_document(const GdbTargetDescription& d, unsigned f) {
  std::string s = "<?xml version=\"1.0\"?>\n<!DOCTYPE feature SYSTEM \"gdb-target.dtd\">\n";
  s += "<feature name=\"";
  s += d.features[f].name;
  s += "\">\n";
  s += d.features[f].extra;
  // Registers are numbered in order across the features, so no regnum attribute is needed.
  for (const GdbRegisterInfo& r : d.registers) {
    if (r.feature != f) continue;
    s += "  <reg name=\"";
    s += r.name;
    s += "\" bitsize=\"" + std::to_string(r.bits) + "\" type=\"";
    s += r.type;
    s += "\"";
    if (r.group) {
      s += " group=\"";
      s += r.group;
      s += "\"";
    }
    s += "/>\n";
  }
  s += "</feature>\n";
  return s;
}

}  // namespace

bool GdbTargetDescription::document(std::string_view annex, std::string& out) const {
  if (annex == "target.xml") {
    out = "<?xml version=\"1.0\"?>\n<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n<target>\n";
    if (architecture && *architecture) {
      out += "  <architecture>";
      out += architecture;
      out += "</architecture>\n";
    }
    for (const GdbFeature& f : features) {
      out += "  <xi:include href=\"";
      out += f.annex;
      out += "\"/>\n";
    }
    out += "</target>\n";
    return true;
  }
  for (unsigned f = 0; f < features.size(); ++f) {
    if (annex == features[f].annex) {
      out = feature_document(*this, f);
      return true;
    }
  }
  return false;
}

// ---- i386 ----------------------------------------------------------------------------------

namespace {

// EFLAGS bits as gdb's i386 core feature names them (SDM vol.1 3.4.3).
constexpr const char* kEflagsType =
    "  <flags id=\"i386_eflags\" size=\"4\">\n"
    "    <field name=\"CF\" start=\"0\" end=\"0\"/>\n"
    "    <field name=\"\" start=\"1\" end=\"1\"/>\n"
    "    <field name=\"PF\" start=\"2\" end=\"2\"/>\n"
    "    <field name=\"AF\" start=\"4\" end=\"4\"/>\n"
    "    <field name=\"ZF\" start=\"6\" end=\"6\"/>\n"
    "    <field name=\"SF\" start=\"7\" end=\"7\"/>\n"
    "    <field name=\"TF\" start=\"8\" end=\"8\"/>\n"
    "    <field name=\"IF\" start=\"9\" end=\"9\"/>\n"
    "    <field name=\"DF\" start=\"10\" end=\"10\"/>\n"
    "    <field name=\"OF\" start=\"11\" end=\"11\"/>\n"
    "    <field name=\"NT\" start=\"14\" end=\"14\"/>\n"
    "    <field name=\"RF\" start=\"16\" end=\"16\"/>\n"
    "    <field name=\"VM\" start=\"17\" end=\"17\"/>\n"
    "    <field name=\"AC\" start=\"18\" end=\"18\"/>\n"
    "    <field name=\"VIF\" start=\"19\" end=\"19\"/>\n"
    "    <field name=\"VIP\" start=\"20\" end=\"20\"/>\n"
    "    <field name=\"ID\" start=\"21\" end=\"21\"/>\n"
    "  </flags>\n";

GdbTargetDescription make_i386() {
  GdbTargetDescription d;
  // No <architecture> element: gdb then keeps the architecture the user chose, so `set
  // architecture i8086` disassembles real-mode code as 16-bit (naming i386 here would override
  // it). The i386 core feature alone tells gdb what the target is.
  d.architecture = "";
  d.pc_register = GDB_EIP;
  d.features = {
      {"org.gnu.gdb.i386.core", "i386-32bit-core.xml", kEflagsType},
      {"org.softcpu.i386.system", "softcpu-i386-system.xml", ""},
  };
  auto core = [&d](const char* name, unsigned bits, const char* type, const char* group) {
    d.registers.push_back({name, bits, type, group, 0});
  };
  for (const char* n : {"eax", "ecx", "edx", "ebx"}) core(n, 32, "int32", nullptr);
  core("esp", 32, "data_ptr", nullptr);
  core("ebp", 32, "data_ptr", nullptr);
  core("esi", 32, "int32", nullptr);
  core("edi", 32, "int32", nullptr);
  core("eip", 32, "code_ptr", nullptr);
  core("eflags", 32, "i386_eflags", nullptr);
  for (const char* n : {"cs", "ss", "ds", "es", "fs", "gs"}) core(n, 32, "int32", nullptr);
  for (const char* n : {"st0", "st1", "st2", "st3", "st4", "st5", "st6", "st7"})
    core(n, 80, "i387_ext", nullptr);
  for (const char* n : {"fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg", "fooff", "fop"})
    core(n, 32, "int", "float");
  for (const char* n : {"cr0", "cr2", "cr3", "cr4", "cs_base", "ss_base", "ds_base", "es_base",
                        "fs_base", "gs_base", "gdtr_base", "gdtr_limit", "idtr_base",
                        "idtr_limit", "ldtr", "tr"})
    d.registers.push_back({n, 32, "uint32", "system", 1});
  return d;
}

}  // namespace

const GdbTargetDescription& i386_target_description() {
  static const GdbTargetDescription d = make_i386();
  return d;
}

}  // namespace softcpu
