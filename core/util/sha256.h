// SHA-256 (FIPS 180-4), written here so that fingerprints need no crypto library.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace kvsvd {

// Incremental hasher: update() any number of times, then digest() once.
class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t len);
  void update(const std::string& s) { update(s.data(), s.size()); }
  // Finalises (pads) the message; the hasher must not be updated afterwards.
  std::array<uint8_t, 32> digest();
  std::string hex_digest();  // 64 lower-case hex characters

 private:
  void compress(const uint8_t* block);
  std::array<uint32_t, 8> h_;
  std::array<uint8_t, 64> buf_;
  size_t buf_len_ = 0;
  uint64_t total_len_ = 0;  // bytes fed so far
  bool finished_ = false;
};

std::string sha256_hex(const void* data, size_t len);
std::string sha256_hex(const std::string& s);
std::string to_hex(const uint8_t* bytes, size_t len);

}  // namespace kvsvd
