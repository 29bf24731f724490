// Pins the fingerprints that stores and run folders record, so that a change of the SHA-256
// implementation (or of the hashing scheme) cannot silently change them. The expected values are
// external: `sha256sum` for files, Python's hashlib for the others, and
// scripts/model-fingerprint.py (hashlib) for the model fingerprint; the hand-written SHA-256
// these tests first ran against gave the same values.
#include <string>

#include "core/checkpoint/checkpoint.h"
#include "core/checkpoint/fingerprint.h"
#include "core/util/file-fingerprint.h"
#include "core/util/sha256.h"
#include "support/catch.h"

using namespace kvsvd;

namespace {
const std::string kModel = std::string(KVSVD_SOURCE_DIR) + "/assets/models/sotu-llama-tiny";
}

TEST_CASE("model fingerprint of the bundled model is pinned", "[fingerprint][pin]") {
  const Checkpoint ckpt = Checkpoint::open(kModel);
  // scripts/model-fingerprint.py assets/models/sotu-llama-tiny (also the value the GPU box
  // recorded in results/gpu/gpu-test-2026-11-23-run2/e2e-fault-profile.log).
  CHECK(model_fingerprint(ckpt, ckpt.tensor_names()) ==
        "a535d675c6de10223de6ba5849010c9ccae6c3dd3f97ed1bff181da4146fa95a");
}

TEST_CASE("file fingerprints equal sha256sum", "[fingerprint][pin]") {
  // sha256sum assets/models/sotu-llama-tiny/{config.json,tokenizer.json}; the tokenizer is
  // 565,628 bytes, so it also crosses file_fingerprint's read-buffer boundary.
  CHECK(file_fingerprint(kModel + "/config.json") ==
        "87a0826316747744999eee5a9d5b18ff417634e2ec1b8fe3bc72f428a057e5f0");
  CHECK(file_fingerprint(kModel + "/tokenizer.json") ==
        "52a02af3eb69d69f201ee2a16101871acf7f8491637d2a572a01a5f1ab0d1881");
}

TEST_CASE("byte fingerprints and incremental hashing equal hashlib", "[fingerprint][pin]") {
  std::string s;
  for (int i = 0; i < 1000; ++i) s += "kvsvd";
  // python3 -c "import hashlib;print(hashlib.sha256(b'kvsvd'*1000).hexdigest())"
  const std::string want = "b391166141a10f2df03be294cbbd1374eabaaf7cd91f0eeb22865b769013ac49";
  CHECK(bytes_fingerprint(s.data(), s.size()) == want);
  CHECK(sha256_hex(s) == want);
  Sha256 h;  // pieces of 1, 2, 3, ... bytes: every split position of a 64-byte block occurs
  size_t at = 0;
  for (size_t n = 1; at < s.size(); ++n) {
    const size_t take = std::min(n, s.size() - at);
    h.update(s.data() + at, take);
    at += take;
  }
  CHECK(h.hex_digest() == want);
}
