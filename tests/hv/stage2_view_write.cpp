// Must NOT compile (tests/hv/CMakeLists.txt checks it at configure time and as the ctest
// hv.stage2_view_write_fails): code given a read-only Stage2View, as the CPUs, the devices
// and the secondary hypervisor are, tries to change the mapping. Each STAGE2_WRITE_CASE is
// compiled on its own; every one must fail. Case 0 is the control that must compile.
#include "monitor/hv/stage2.h"
#include "interp/memory.h"

using namespace softcpu;
using namespace softcpu::hv;

void attempt(const Stage2View& view, PhysicalMemory& mem) {
  (void)view.lookup(0);  // reading is allowed
  (void)mem;
#if STAGE2_WRITE_CASE == 1
  view.map(0, 0, S2_RW);  // the view has no mutator
#elif STAGE2_WRITE_CASE == 2
  Stage2Table& t = view.table();  // nor a way to the table
  (void)t;
#elif STAGE2_WRITE_CASE == 3
  Stage2Table* t = nullptr;
  t->map(0, 0, S2_RW);  // the table's mutators are the primary's alone
#elif STAGE2_WRITE_CASE == 4
  mem.map_ram_page(Stage2Key(), 0, nullptr, true);  // only the primary makes a Stage2Key
#elif STAGE2_WRITE_CASE == 5
  mem.map_ram_page({}, 0, nullptr, true);
#endif
}
int main() {}
