// Every byte of a small, real store inverted in turn (XOR 0xFF), each copy checked the way the
// stages check a store (verify_store_isolated: every read in a separate process). Each flip must
// be refused with an error naming the file, or be shown to sit in bytes that no reader uses: the
// check passes AND everything a reader takes from the file (header, every layer's attributes and
// datasets) equals the intact store's. By default every 13th byte (~25 s); KVSVD_CORRUPTION_STRIDE=1
// flips every byte (~5 min on 2 cores).
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/store/isolated-check.h"
#include "core/store/profile-store.h"
#include "core/store/store-digest.h"
#include "core/util/error.h"
#include "small-store.h"
#include "support/catch.h"
#include "support/temp-dir.h"

using namespace kvsvd;
using namespace kvsvd::test;

namespace {

// What a reader takes from the store, as digests computed from the values read (independent of
// the digest recorded in the file).
std::vector<std::string> content_of(const std::string& path, double* orthonormality) {
  const ProfileStoreReader r = ProfileStoreReader::open(path);
  std::vector<std::string> out = {header_digest(r.header())};
  for (int64_t l = 0; l < r.header().num_layers; ++l) {
    for (const DigestEntry& e : layer_digest_entries(r.read_layer(l))) {
      out.push_back(e.object + " " + e.sha256);
    }
  }
  *orthonormality = r.verify().max_orthonormality_error;
  return out;
}

std::string ranges(const std::vector<uint64_t>& at) {
  std::string s;
  for (size_t i = 0; i < at.size();) {
    size_t j = i;
    while (j + 1 < at.size() && at[j + 1] == at[j] + 1) ++j;
    s += (s.empty() ? "" : ", ") + std::to_string(at[i]);
    if (j > i) s += "-" + std::to_string(at[j]);
    i = j + 1;
  }
  return s.empty() ? "none" : s;
}

}  // namespace

TEST_CASE("corruption: every flipped byte of a store is refused by name or provably unused",
          "[store][corruption]") {
  TempDir dir;
  const std::string good = write_small_store((dir.path / "good.h5").string());
  const std::vector<char> bytes = read_bytes(good);
  double ortho_good = 0;
  const std::vector<std::string> want = content_of(good, &ortho_good);
  const std::string bad = (dir.path / "bad.h5").string();
  uint64_t stride = 13;  // a prime: every byte position modulo 2, 4 and 8 is hit
  if (const char* s = std::getenv("KVSVD_CORRUPTION_STRIDE")) stride = std::max(1, std::atoi(s));

  uint64_t flipped = 0, refused_open = 0, refused_read = 0, crashed = 0, timed_out = 0;
  std::vector<uint64_t> unused;
  for (uint64_t at = 0; at < bytes.size(); at += stride) {
    ++flipped;
    write_flipped(bytes, bad, at, 1);
    INFO("byte " << at << " of " << bytes.size());
    try {
      const VerifyReport rep = verify_store_isolated(bad, 20);
      if (!rep.failures.empty()) {
        ++refused_read;
        CHECK(rep.failures.front().find(bad) != std::string::npos);
        continue;
      }
      // Accepted by every check: then nothing a reader uses may differ from the intact store.
      double ortho = -1;
      const std::vector<std::string> got = content_of(bad, &ortho);
      CHECK(got == want);
      CHECK(ortho == ortho_good);
      unused.push_back(at);
    } catch (const Error& e) {
      const std::string msg = e.what();
      CHECK(msg.find(bad) != std::string::npos);
      if (msg.find("crashed the HDF5 reader") != std::string::npos) ++crashed;
      else if (msg.find("did not finish") != std::string::npos) ++timed_out;
      else ++refused_open;
    }
  }
  std::printf("corruption: %llu of %zu bytes flipped (stride %llu): %llu refused when opened, "
              "%llu refused naming a layer object, %llu crashed the checking process (named), "
              "%llu hung it (named), %llu accepted with identical content (unused bytes: %s)\n",
              (unsigned long long)flipped, bytes.size(), (unsigned long long)stride,
              (unsigned long long)refused_open, (unsigned long long)refused_read,
              (unsigned long long)crashed, (unsigned long long)timed_out,
              (unsigned long long)unused.size(), ranges(unused).c_str());
  CHECK(flipped == refused_open + refused_read + crashed + timed_out + unused.size());
}
