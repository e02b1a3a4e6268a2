#include "vdevices/bus_master_dma.h"

#include "hostio/state_stream.h"

#include <algorithm>

namespace softcpu {

bool PrdWalker::load_region(const GuestMemory& mem) {
  if (last_) return false;  // the EOT entry is used up
  uint8_t entry[8];
  mem.read(next_entry_, entry, 8);
  next_entry_ += 8;
  uint32_t addr = entry[0] | entry[1] << 8 | entry[2] << 16 | uint32_t{entry[3]} << 24;
  uint32_t count = entry[4] | entry[5] << 8;
  region_addr_ = addr & ~1u;  // bit 0 is reserved (buffers are word aligned)
  region_left_ = count ? (count & ~1u) : 0x10000;
  last_ = (entry[7] & 0x80) != 0;
  return true;
}

template <bool TO_MEMORY>
uint32_t PrdWalker::copy(const GuestMemory& mem, uint8_t* data, uint32_t len) {
  uint32_t done = 0;
  while (done < len) {
    if (region_left_ == 0 && !load_region(mem)) break;
    uint32_t n = std::min(region_left_, len - done);
    if constexpr (TO_MEMORY)
      mem.write(region_addr_, data + done, n);
    else
      mem.read(region_addr_, data + done, n);
    region_addr_ += n;
    region_left_ -= n;
    done += n;
  }
  return done;
}

uint32_t PrdWalker::to_memory(const GuestMemory& mem, const uint8_t* data, uint32_t len) {
  return copy<true>(mem, const_cast<uint8_t*>(data), len);
}

uint32_t PrdWalker::from_memory(const GuestMemory& mem, uint8_t* data, uint32_t len) {
  return copy<false>(mem, data, len);
}

uint32_t BusMasterDma::io_read(uint16_t port, unsigned size) {
  uint32_t value = 0;
  for (unsigned i = 0; i < size; ++i) {
    unsigned offset = (port + i) & 0xF;
    value |= uint32_t{channels_[offset >> 3]->bus_master_read(offset & 7)} << (8 * i);
  }
  return value;
}

void BusMasterDma::io_write(uint16_t port, unsigned size, uint32_t value) {
  for (unsigned i = 0; i < size; ++i) {
    unsigned offset = (port + i) & 0xF;
    channels_[offset >> 3]->bus_master_write(offset & 7, static_cast<uint8_t>(value >> (8 * i)));
  }
}

// ---- snapshots -------------------------------------------------------------------------------

template <typename A>
void PrdWalker::visit_state(A& a) {
  a(next_entry_, region_addr_, region_left_, last_);
}

void PrdWalker::save_state(StateWriter& w) const { const_cast<PrdWalker*>(this)->visit_state(w); }

void PrdWalker::load_state(StateReader& r) {
  visit_state(r);
}

}  // namespace softcpu
