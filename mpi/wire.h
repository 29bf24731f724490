// The one byte format ranks exchange structured data in (gathered or broadcast as a string):
// scalars as their host bytes, arrays as a uint64 element count then the elements. Both ends
// are the same binary on the same kind of host, so no byte order or versioning is needed.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace kvsvd {

class WireWriter {
 public:
  template <typename T>
  void put(const T& v) {
    static_assert(std::is_trivially_copyable<T>::value, "wire values must be trivially copyable");
    out_.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  template <typename T>
  void put_array(const std::vector<T>& v) {
    static_assert(std::is_trivially_copyable<T>::value, "wire values must be trivially copyable");
    put<uint64_t>(v.size());
    out_.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
  }
  const std::string& bytes() const { return out_; }

 private:
  std::string out_;
};

// Reads what a WireWriter wrote, in the same order. Truncated or inconsistent input is an
// error naming `source` (e.g. "rank 2 message") and the offset.
class WireReader {
 public:
  WireReader(const std::string& bytes, std::string source)
      : in_(bytes), source_(std::move(source)) {}
  template <typename T>
  T get() {
    static_assert(std::is_trivially_copyable<T>::value, "wire values must be trivially copyable");
    check_left(sizeof(T), 1);
    T v;
    std::memcpy(&v, in_.data() + pos_, sizeof v);
    pos_ += sizeof v;
    return v;
  }
  template <typename T>
  std::vector<T> get_array() {
    static_assert(std::is_trivially_copyable<T>::value, "wire values must be trivially copyable");
    const uint64_t n = get<uint64_t>();
    check_left(sizeof(T), n);
    std::vector<T> v(static_cast<size_t>(n));
    if (n) std::memcpy(v.data(), in_.data() + pos_, static_cast<size_t>(n) * sizeof(T));
    pos_ += static_cast<size_t>(n) * sizeof(T);
    return v;
  }
  bool done() const { return pos_ == in_.size(); }
  // Throws unless every byte was read.
  void expect_done() const;

 private:
  void check_left(size_t elem_size, uint64_t count) const;  // throws when fewer bytes are left
  const std::string& in_;
  std::string source_;
  size_t pos_ = 0;
};

}  // namespace kvsvd
