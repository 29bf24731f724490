#include "core/util/sha256.h"

#include <openssl/evp.h>

#include "core/util/error.h"

namespace kvsvd {

struct Sha256::Ctx {
  EVP_MD_CTX* md = nullptr;
  ~Ctx() { EVP_MD_CTX_free(md); }
};

Sha256::Sha256() : ctx_(std::make_unique<Ctx>()) {
  ctx_->md = EVP_MD_CTX_new();
  KVSVD_CHECK(ctx_->md != nullptr, "libcrypto: EVP_MD_CTX_new failed (out of memory?)");
  KVSVD_CHECK(EVP_DigestInit_ex(ctx_->md, EVP_sha256(), nullptr) == 1,
              "libcrypto: EVP_DigestInit_ex(SHA-256) failed");
}

Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

void Sha256::update(const void* data, size_t len) {
  KVSVD_ASSERT(!finished_, "Sha256::update after digest()");
  if (len == 0) return;
  KVSVD_CHECK(EVP_DigestUpdate(ctx_->md, data, len) == 1, "libcrypto: EVP_DigestUpdate failed");
}

std::array<uint8_t, 32> Sha256::digest() {
  KVSVD_ASSERT(!finished_, "Sha256::digest called twice");
  finished_ = true;
  std::array<uint8_t, 32> out{};
  unsigned int n = 0;
  KVSVD_CHECK(EVP_DigestFinal_ex(ctx_->md, out.data(), &n) == 1 && n == out.size(),
              "libcrypto: EVP_DigestFinal_ex failed");
  return out;
}

std::string Sha256::hex_digest() {
  const std::array<uint8_t, 32> d = digest();
  return to_hex(d.data(), d.size());
}

std::string to_hex(const uint8_t* bytes, size_t len) {
  static const char* digits = "0123456789abcdef";
  std::string s(len * 2, '0');
  for (size_t i = 0; i < len; ++i) {
    s[2 * i] = digits[bytes[i] >> 4];
    s[2 * i + 1] = digits[bytes[i] & 15];
  }
  return s;
}

std::string sha256_hex(const void* data, size_t len) {
  Sha256 h;
  h.update(data, len);
  return h.hex_digest();
}

std::string sha256_hex(const std::string& s) { return sha256_hex(s.data(), s.size()); }

}  // namespace kvsvd
