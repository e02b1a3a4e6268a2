// Byte streams for machine snapshots (monitor/snapshot.h): a device writes its state into a
// StateWriter and reads it back from a StateReader, usually through one template that visits
// its fields with either (`a(x, y, z)`), so save and load cannot list different fields.
// Trivially copyable values go as their bytes (the layout is this build's: the snapshot format
// version covers it); strings, vectors and deques as a 32-bit count and their elements.
// A reader never reads past its end: it throws StateError instead.
#pragma once
#include <cstdint>
#include <cstring>
#include <deque>
#include <string>
#include <type_traits>
#include <vector>

namespace softcpu {

struct StateError {
  std::string message;
};

class StateWriter {
 public:
  void raw(const void* data, size_t len) {
    const auto* p = static_cast<const uint8_t*>(data);
    bytes_.insert(bytes_.end(), p, p + len);
  }
  template <typename... T>
  void operator()(const T&... values) {
    (put(values), ...);
  }
  std::vector<uint8_t>& bytes() { return bytes_; }
  static constexpr bool LOADING = false;

 private:
  template <typename T>
  void put(const T& v) {
    if constexpr (std::is_trivially_copyable_v<T>) {
      raw(&v, sizeof v);
    } else {
      put(uint32_t(v.size()));
      for (const auto& e : v) put(e);
    }
  }
  std::vector<uint8_t> bytes_;
};

class StateReader {
 public:
  StateReader(const uint8_t* data, size_t len) : p_(data), end_(data + len) {}
  explicit StateReader(const std::vector<uint8_t>& v) : StateReader(v.data(), v.size()) {}

  void raw(void* out, size_t len) {
    if (size_t(end_ - p_) < len) throw StateError{"state data ends early"};
    std::memcpy(out, p_, len);
    p_ += len;
  }
  void skip(size_t len) {
    if (size_t(end_ - p_) < len) throw StateError{"state data ends early"};
    p_ += len;
  }
  template <typename... T>
  void operator()(T&... values) {
    (get(values), ...);
  }
  size_t remaining() const { return size_t(end_ - p_); }
  // A section must be used up exactly: extra bytes mean it was written by different code.
  void expect_end(const char* what) const {
    if (p_ != end_)
      throw StateError{std::string("state of ") + what + " has " + std::to_string(remaining()) +
                       " unexpected bytes"};
  }
  static constexpr bool LOADING = true;

 private:
  template <typename T>
  void get(T& v) {
    if constexpr (std::is_trivially_copyable_v<T>) {
      raw(&v, sizeof v);
    } else {
      uint32_t n = 0;
      get(n);
      // Every element takes at least one byte: a count larger than what is left is damage.
      if (n > remaining()) throw StateError{"state data has a bad element count"};
      v.clear();
      if constexpr (std::is_same_v<T, std::string>) {
        v.resize(n);
        raw(v.data(), n);
      } else {
        for (uint32_t i = 0; i < n; ++i) {
          typename T::value_type e{};
          get(e);
          v.push_back(std::move(e));
        }
      }
    }
  }
  const uint8_t* p_;
  const uint8_t* end_;
};

}  // namespace softcpu
