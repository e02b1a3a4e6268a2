// An ATA hard disk (ATA/ATAPI-6, T13 1410D) as seen by an IDE channel: its size, geometry, the
// settings commands change (multiple count, CHS translation, transfer mode, write cache) and
// its IDENTIFY DEVICE data. The command protocol itself lives in IdeChannel.
#pragma once
#include <cstdint>
#include <string>

#include "hostio/block_backend.h"

namespace softcpu {

class StateReader;
class StateWriter;

struct AtaGeometry {
  uint32_t cylinders = 0, heads = 0, sectors = 0;  // sectors per track
  uint64_t capacity() const { return uint64_t{cylinders} * heads * sectors; }
};

class AtaDisk {
 public:
  static constexpr unsigned MAX_MULTIPLE = 16;  // sectors per READ/WRITE MULTIPLE block
  static constexpr const char* MODEL = "SOFTCPU HARDDISK";
  static constexpr const char* FIRMWARE = "0.1";

  // The backend must outlive the disk. The serial number (up to 20 characters) lets a guest
  // tell disks apart.
  explicit AtaDisk(BlockBackend& backend, std::string serial = "SOFTCPU-0001");

  BlockBackend& backend() { return backend_; }
  uint64_t sectors() const { return sectors_; }  // image size / 512 (a partial sector is ignored)
  // The translation reported at power-on: 16 heads and 63 sectors per track while the
  // cylinder count fits 16383 (ATA-6 6.2.1 and Annex B), else 16383/16/63.
  const AtaGeometry& default_geometry() const { return default_geometry_; }

  // Settings changed by commands; restore_defaults() is the power-on state.
  AtaGeometry current;      // INITIALIZE DEVICE PARAMETERS
  unsigned multiple = 0;    // SET MULTIPLE MODE; 0 = READ/WRITE MULTIPLE abort
  bool write_cache = true;  // SET FEATURES 02h/82h
  int mwdma_mode = -1;      // SET FEATURES 03h: the selected multiword DMA mode, or -1
  int udma_mode = -1;       // ... the selected Ultra DMA mode, or -1
  void restore_defaults();
  // Current CHS translation after INITIALIZE DEVICE PARAMETERS (cylinders capped at 65535).
  bool set_translation(unsigned heads, unsigned sectors_per_track);

  // IDENTIFY DEVICE (ATA-6 8.15) for drive `unit` (0 master, 1 slave); DMA modes are
  // advertised only when `dma` is true. Word 255 carries the checksum.
  void identify(uint16_t words[256], bool dma, unsigned unit) const;

  // Snapshots (monitor/snapshot.h): all of its state, mid-activity included. Load into one
  // built and wired the same way: it carries on where the saved one was.
  void save_state(StateWriter& w) const;
  void load_state(StateReader& r);
 private:
  template <typename A>
  void visit_state(A& a);
  BlockBackend& backend_;
  std::string serial_;
  uint64_t sectors_;
  AtaGeometry default_geometry_;
};

}  // namespace softcpu
