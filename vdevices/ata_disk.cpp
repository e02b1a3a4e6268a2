#include "vdevices/ata_disk.h"

#include "hostio/state_stream.h"

#include <algorithm>
#include <cstring>

namespace softcpu {

namespace {

// ATA strings hold two characters per word, the first in the high byte, padded with spaces.
void put_string(uint16_t* words, unsigned num_words, const std::string& text) {
  for (unsigned i = 0; i < num_words; ++i) {
    auto at = [&](size_t k) -> uint8_t { return k < text.size() ? text[k] : ' '; };
    words[i] = static_cast<uint16_t>(at(2 * i) << 8 | at(2 * i + 1));
  }
}

}  // namespace

AtaDisk::AtaDisk(BlockBackend& backend, std::string serial)
    : backend_(backend), serial_(std::move(serial)), sectors_(backend.size() / 512) {
  constexpr uint64_t kMaxChs = 16383ull * 16 * 63;
  default_geometry_.heads = 16;
  default_geometry_.sectors = 63;
  default_geometry_.cylinders =
      static_cast<uint32_t>(std::max<uint64_t>(1, std::min(sectors_, kMaxChs) / (16 * 63)));
  restore_defaults();
}

void AtaDisk::restore_defaults() {
  current = default_geometry_;
  multiple = MAX_MULTIPLE;
  write_cache = true;
  mwdma_mode = -1;
  udma_mode = -1;
}

bool AtaDisk::set_translation(unsigned heads, unsigned sectors_per_track) {
  if (heads == 0 || heads > 16 || sectors_per_track == 0 || sectors_per_track > 255) return false;
  uint64_t cylinders = std::min<uint64_t>(sectors_ / (heads * sectors_per_track), 65535);
  if (cylinders == 0) return false;
  current = {static_cast<uint32_t>(cylinders), heads, sectors_per_track};
  return true;
}

void AtaDisk::identify(uint16_t w[256], bool dma, unsigned unit) const {
  std::memset(w, 0, 512);
  w[0] = 0x0040;  // fixed device, ATA
  w[1] = static_cast<uint16_t>(default_geometry_.cylinders);
  w[3] = static_cast<uint16_t>(default_geometry_.heads);
  w[6] = static_cast<uint16_t>(default_geometry_.sectors);
  put_string(&w[10], 10, serial_);
  put_string(&w[23], 4, FIRMWARE);
  put_string(&w[27], 20, MODEL);
  w[47] = 0x8000 | MAX_MULTIPLE;
  // Capabilities: IORDY supported (11) and may be disabled (10), LBA (9), DMA (8).
  w[49] = 0x0E00 | (dma ? 0x0100 : 0);
  w[50] = 0x4000;
  w[51] = 0x0200;  // obsolete PIO timing mode 2
  w[53] = 0x0007;  // words 54-58, 64-70 and 88 are valid
  w[54] = static_cast<uint16_t>(current.cylinders);
  w[55] = static_cast<uint16_t>(current.heads);
  w[56] = static_cast<uint16_t>(current.sectors);
  uint32_t chs_capacity = static_cast<uint32_t>(current.capacity());
  w[57] = static_cast<uint16_t>(chs_capacity);
  w[58] = static_cast<uint16_t>(chs_capacity >> 16);
  w[59] = multiple ? static_cast<uint16_t>(0x0100 | multiple) : 0;
  uint32_t lba28 = static_cast<uint32_t>(std::min<uint64_t>(sectors_, 0x0FFFFFFF));
  w[60] = static_cast<uint16_t>(lba28);
  w[61] = static_cast<uint16_t>(lba28 >> 16);
  if (dma) w[63] = static_cast<uint16_t>(0x0007 | (mwdma_mode >= 0 ? 0x0100 << mwdma_mode : 0));
  w[64] = 0x0003;  // PIO modes 3 and 4
  w[65] = w[66] = w[67] = w[68] = 120;  // cycle times in ns
  w[80] = 0x007E;  // ATA-1 .. ATA-6
  w[82] = 0x0028;  // supported: write cache (5), power management (3)
  w[83] = 0x7400;  // FLUSH CACHE EXT (13), FLUSH CACHE (12), 48-bit addresses (10)
  w[84] = 0x4000;
  w[85] = static_cast<uint16_t>(0x0008 | (write_cache ? 0x0020 : 0));  // enabled
  w[86] = 0x3400;
  w[87] = 0x4000;
  if (dma) w[88] = static_cast<uint16_t>(0x003F | (udma_mode >= 0 ? 0x0100 << udma_mode : 0));
  // Hardware reset result: device number by jumper, diagnostics passed, 80-wire cable.
  w[93] = unit == 0 ? 0x600B : 0x6300;
  for (unsigned i = 0; i < 4; ++i) w[100 + i] = static_cast<uint16_t>(sectors_ >> (16 * i));
  // Integrity word (8.15.61): signature A5h, then a checksum making all 512 bytes sum to 0.
  w[255] = 0x00A5;
  uint8_t sum = 0;
  for (unsigned i = 0; i < 256; ++i) sum = static_cast<uint8_t>(sum + (w[i] & 0xFF) + (w[i] >> 8));
  w[255] = static_cast<uint16_t>(w[255] | static_cast<uint8_t>(-sum) << 8);
}

// ---- snapshots -------------------------------------------------------------------------------

template <typename A>
void AtaDisk::visit_state(A& a) {
  a(current, multiple, write_cache, mwdma_mode, udma_mode);
}

void AtaDisk::save_state(StateWriter& w) const { const_cast<AtaDisk*>(this)->visit_state(w); }

void AtaDisk::load_state(StateReader& r) {
  visit_state(r);
}

}  // namespace softcpu
