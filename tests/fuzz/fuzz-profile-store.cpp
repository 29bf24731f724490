// Fuzz target: an HDF5 profile store, taken the way the stages take one: require_sound_store
// (every read in a forked child, so that a crash or hang of libhdf5 becomes kvsvd::Error), and
// only then ProfileStoreReader in this process. Accepted layers must hold arrays of exactly the
// sizes the header implies; verify() must finish and find nothing. HDF5 itself is not
// instrumented. libFuzzer's coverage comes from this process only, so the child's reads do not
// guide the mutations (see results/fuzz/).
#include <cstdint>
#include <string>

#include "core/store/isolated-check.h"
#include "core/store/profile-store.h"
#include "tests/fuzz/fuzz-input.h"

using namespace kvsvd;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = (fuzz::scratch_dir() / "store.h5").string();
  fuzz::write_file(path, data, size);
  fuzz::expect_ok_or_error([&] {
    // Below libFuzzer's -timeout=20, so that a hang is the child's, reported by name.
    require_sound_store(path, 10);
    const ProfileStoreReader r = ProfileStoreReader::open(path);
    const StoreHeader& h = r.header();
    KVSVD_FUZZ_ASSERT(h.num_layers > 0 && h.n_kv > 0 && h.head_dim > 0 && h.n_q > 0);
    // A corrupt header may claim millions of layers; a few show whether layers are checked.
    const int64_t layers = h.num_layers < 8 ? h.num_layers : 8;
    for (int64_t l = 0; l < layers; ++l) {
      fuzz::expect_ok_or_error([&] {
        const LayerProfile p = r.read_layer(l);
        const size_t per_head_dim = size_t(h.n_kv * h.head_dim);
        KVSVD_FUZZ_ASSERT(p.key_basis.size() == per_head_dim * size_t(p.key_rank));
        KVSVD_FUZZ_ASSERT(p.value_basis.size() == per_head_dim * size_t(p.value_rank));
        KVSVD_FUZZ_ASSERT(p.key_spectrum.size() == per_head_dim);
        KVSVD_FUZZ_ASSERT(p.key_head_rank.size() == size_t(h.n_kv));
      });
    }
    // The child found every checksum and digest sound: so must this process.
    if (h.num_layers <= 8) KVSVD_FUZZ_ASSERT(r.verify().checksums_ok());
  });
  return 0;
}
