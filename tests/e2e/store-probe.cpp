// kvsvd-store-probe: where a store's objects lie in the file, asked through the HDF5 API (never
// by parsing h5dump/h5ls output), and what a reader takes from it; for the fault tests.
//   kvsvd-store-probe extents FILE DATASET   one "ADDRESS SIZE" line per allocated chunk
//   kvsvd-store-probe header FILE OBJECT     "ADDRESS SIZE" of the object's header (first chunk)
//   kvsvd-store-probe content FILE           "OBJECT SHA256" of the header and every layer
//                                            object, computed from the values read (checked)
#include <hdf5.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "core/store/h5.h"
#include "core/store/profile-store.h"
#include "core/util/error.h"

using namespace kvsvd;

namespace {

int usage() {
  std::fprintf(stderr, "usage: kvsvd-store-probe extents FILE DATASET | header FILE OBJECT | "
                       "content FILE\n");
  return 2;
}

std::string parent_of(const std::string& p) {
  const size_t slash = p.find_last_of('/');
  return slash == 0 ? "/" : p.substr(0, slash);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return usage();
  const std::string cmd = argv[1], file = argv[2];
  try {
    if (cmd == "extents" && argc == 4) {
      const std::string ds = argv[3];
      const h5::File f = h5::File::open(file, h5::FileMode::read_only);
      const std::string parent = parent_of(ds);
      const h5::Group g = parent == "/" ? f.root() : f.root().open_group(parent.substr(1));
      for (const h5::StorageExtent& e : g.open_dataset(ds.substr(ds.find_last_of('/') + 1))
                                            .storage_extents()) {
        std::printf("%llu %llu\n", (unsigned long long)e.address, (unsigned long long)e.size);
      }
      return 0;
    }
    if (cmd == "header" && argc == 4) {
      const h5::File f = h5::File::open(file, h5::FileMode::read_only);
      H5O_info_t oi{};
      KVSVD_H5_CHECK(H5Oget_info_by_name2(f.id(), argv[3], &oi, H5O_INFO_BASIC | H5O_INFO_HDR,
                                          H5P_DEFAULT),
                     file, argv[3]);
      std::printf("%llu %llu\n", (unsigned long long)oi.addr,
                  (unsigned long long)oi.hdr.space.total);
      return 0;
    }
    if (cmd == "content" && argc == 3) {
      const ProfileStoreReader r = ProfileStoreReader::open(file);
      std::printf("/ %s\n", header_digest(r.header()).c_str());
      for (int64_t l = 0; l < r.header().num_layers; ++l) {
        for (const DigestEntry& e : layer_digest_entries(r.read_layer(l))) {
          std::printf("%s %s\n", e.object.c_str(), e.sha256.c_str());
        }
      }
      return 0;
    }
  } catch (const Error& e) {
    std::fprintf(stderr, "kvsvd-store-probe: %s\n", e.what());
    return 1;
  }
  return usage();
}
