// SHA-256 of fingerprints and store digests, computed by OpenSSL's libcrypto (EVP interface).
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace kvsvd {

// Incremental hasher: update() any number of times, then digest() once. Errors of libcrypto
// (which do not happen for SHA-256 short of memory exhaustion) raise kvsvd::Error.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;
  void update(const void* data, size_t len);
  void update(const std::string& s) { update(s.data(), s.size()); }
  // Finalises the message; the hasher must not be updated afterwards.
  std::array<uint8_t, 32> digest();
  std::string hex_digest();  // 64 lower-case hex characters

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
  bool finished_ = false;
};

std::string sha256_hex(const void* data, size_t len);
std::string sha256_hex(const std::string& s);
std::string to_hex(const uint8_t* bytes, size_t len);

}  // namespace kvsvd
