// SHA-256 against the FIPS 180-4 / NIST example vectors, and the model/file fingerprints.
#include "core/checkpoint/fingerprint.h"

#include "core/util/sha256.h"
#include "support/safetensors-writer.h"
#include "support/catch.h"

using namespace kvsvd;
using namespace kvsvd_test;

TEST_CASE("SHA-256 standard test vectors", "[sha256]") {
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(sha256_hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopq"
                   "klmnopqrlmnopqrsmnopqrstnopqrstu") ==
        "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
  // One million 'a', fed in uneven pieces so that block boundaries fall mid-update.
  Sha256 h;
  const std::string chunk(997, 'a');
  size_t left = 1000000;
  while (left > 0) {
    const size_t n = std::min(left, chunk.size());
    h.update(chunk.data(), n);
    left -= n;
  }
  CHECK(h.hex_digest() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  // Lengths around the padding boundary (55, 56, 64 bytes) agree between one-shot and split.
  for (size_t len : {55u, 56u, 63u, 64u, 65u, 119u, 120u}) {
    const std::string s(len, 'x');
    Sha256 split;
    split.update(s.data(), len / 3);
    split.update(s.data() + len / 3, len - len / 3);
    CHECK(split.hex_digest() == sha256_hex(s));
  }
  CHECK(bytes_fingerprint("abc", 3) == sha256_hex("abc"));
}

TEST_CASE("file fingerprints hash the whole content", "[fingerprint]") {
  TempDir dir;
  std::string content(3 * 1024 * 1024 + 17, '\0');
  for (size_t i = 0; i < content.size(); ++i) content[i] = char((i * 131) >> 3);
  write_file(dir / "data.bin", content);
  CHECK(file_fingerprint(dir / "data.bin") == bytes_fingerprint(content.data(), content.size()));
  content[content.size() / 2] ^= 1;
  write_file(dir / "data.bin", content);
  CHECK(file_fingerprint(dir / "data.bin") == bytes_fingerprint(content.data(), content.size()));
  const std::string msg = error_of([&] { file_fingerprint(dir / "missing.bin"); });
  CHECK(contains(msg, dir / "missing.bin"));
  CHECK(contains(error_of([&] { file_fingerprint(dir.path); }), dir.path));
}

namespace {

const size_t kBigFloats = 300 * 1024;  // 1.2 MB: sampled, not fully hashed

// config.json + model.safetensors with one small and one large tensor.
void write_model(const TempDir& dir, const std::vector<float>& small, const std::vector<float>& big,
                 double rope_theta = 10000.0) {
  nlohmann::json cfg = llama_config_json();
  cfg["rope_theta"] = rope_theta;
  write_file(dir / "config.json", cfg.dump());
  SafetensorsBuilder b;
  b.add("small", "F32", {int64_t(small.size())}, raw_bytes(small));
  b.add("big", "F32", {int64_t(big.size())}, raw_bytes(big));
  b.write(dir / "model.safetensors");
}

std::string fp(const TempDir& dir, const std::vector<std::string>& names = {"small", "big"}) {
  return model_fingerprint(Checkpoint::open(dir.path), names);
}

}  // namespace

TEST_CASE("model fingerprints follow config, metadata and sampled content", "[fingerprint]") {
  TempDir dir;
  std::vector<float> small(100), big(kBigFloats);
  for (size_t i = 0; i < small.size(); ++i) small[i] = float(i);
  for (size_t i = 0; i < big.size(); ++i) big[i] = float(i % 1000) * 0.5f;
  write_model(dir, small, big);
  const std::string base = fp(dir);
  CHECK(base.size() == 64);
  CHECK(fp(dir) == base);                              // deterministic across opens
  CHECK(fp(dir, {"big", "small", "big"}) == base);     // order and duplicates do not matter
  CHECK(fp(dir, {"small"}) != base);                   // the set of tensors does

  SECTION("config change") {
    write_model(dir, small, big, 20000.0);
    CHECK(fp(dir) != base);
  }
  SECTION("any byte of a small tensor") {
    small[57] += 1.0f;
    write_model(dir, small, big);
    CHECK(fp(dir) != base);
  }
  SECTION("first and last bytes and a strided block of a large tensor") {
    for (size_t idx : {size_t(0), kBigFloats - 1, size_t(16 * 1024)}) {
      INFO(idx);
      std::vector<float> changed = big;
      changed[idx] += 1.0f;
      write_model(dir, small, changed);
      CHECK(fp(dir) != base);
    }
  }
  SECTION("a byte between the sampled blocks is (by design) not seen") {
    // Block k starts at 64 KiB + k * (len - 132 KiB) / 63; the byte just before block 1 is unsampled.
    const uint64_t len = kBigFloats * 4;
    const uint64_t block1 = 64 * 1024 + (len - 128 * 1024 - 4096) / 63;
    std::vector<float> changed = big;
    changed[(block1 - 8) / 4] += 1.0f;
    write_model(dir, small, changed);
    CHECK(fp(dir) == base);
  }
  SECTION("unknown tensor") {
    const std::string msg = error_of([&] { fp(dir, {"small", "nope"}); });
    CHECK(contains(msg, "nope"));
    CHECK(contains(msg, dir.path));
  }
}
