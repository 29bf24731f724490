// What a profile store says is not trusted: header dims are bounded and compared with the
// model's before any dataset is read, and no dataset read allocates more than the file holds.
#include <hdf5.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/store/h5.h"
#include "core/store/profile-store.h"
#include "core/util/error.h"
#include "support/catch.h"

using namespace kvsvd;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/kvsvd-store-distrust-XXXXXX";
    char* p = mkdtemp(tmpl);
    REQUIRE(p != nullptr);
    path = p;
  }
  ~TempDir() { std::system(("rm -rf '" + path + "'").c_str()); }
};

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

StoreHeader header(int64_t n_kv, int64_t head_dim, int64_t n_q, int64_t hidden) {
  StoreHeader h;
  h.model_fingerprint = "sha256:m";
  h.model_config = "{}";
  h.profile_config = "{}";
  h.device = "cpu";
  h.num_layers = 1;
  h.n_kv = n_kv;
  h.head_dim = head_dim;
  h.n_q = n_q;
  h.hidden = hidden;
  h.key_rank = 1;
  return h;
}

// A store holding only the header (the .partial a writer leaves behind) and the header's
// content digest (which the reader checks before anything else); returns its path.
std::string header_only_store(const TempDir& dir, const StoreHeader& h) {
  const std::string final_path = dir.path + "/s.h5";
  { ProfileStoreWriter::create(final_path, h); }
  const std::string path = ProfileStoreWriter::partial_path_for(final_path);
  h5::File f = h5::File::open(path, h5::FileMode::read_write);
  StoreHeader written = h;
  written.created_utc = f.root().attr_string(store_schema::root_attr::created_utc);
  StoreDigest digest;
  digest.entries.push_back({"/", header_digest(written)});
  f.root().set_attr_string(store_schema::root_attr::content_digest, digest.to_json());
  return path;
}

}  // namespace

TEST_CASE("distrust: implausible store header dims are refused at open", "[store][distrust]") {
  TempDir dir;
  SECTION("a dim beyond 2^24") {
    const std::string path = header_only_store(dir, header(int64_t(1) << 40, 8, int64_t(1) << 40, 8));
    const std::string msg = error_of([&] { ProfileStoreReader::open(path); });
    CHECK(contains(msg, path));
    CHECK(contains(msg, "implausible dims"));
  }
  SECTION("dims that each fit but whose dataset shapes would exceed 2^40 elements") {
    const std::string path = header_only_store(dir, header(int64_t(1) << 20, int64_t(1) << 20,
                                                            int64_t(1) << 20, 16));
    const std::string msg = error_of([&] { ProfileStoreReader::open(path); });
    CHECK(contains(msg, path));
    CHECK(contains(msg, "imply datasets"));
  }
}

TEST_CASE("distrust: store dims are checked against the model before any read",
          "[store][distrust]") {
  TempDir dir;
  const std::string path = header_only_store(dir, header(2, 8, 4, 12));
  const ProfileStoreReader r = ProfileStoreReader::open(path);
  CHECK(error_of([&] { r.check_model_dims(1, 2, 8, 4, 12); }).empty());
  std::string msg = error_of([&] { r.check_model_dims(1, 4, 8, 4, 12); });
  CHECK(contains(msg, path));
  CHECK(contains(msg, "n_kv=2"));
  CHECK(contains(msg, "n_kv=4"));
  CHECK(contains(error_of([&] { r.check_model_dims(2, 2, 8, 4, 12); }), "num_layers"));
  CHECK(contains(error_of([&] { r.check_model_dims(1, 2, 16, 4, 12); }), "head_dim"));
  CHECK(contains(error_of([&] { r.check_model_dims(1, 2, 8, 8, 12); }), "n_q"));
  CHECK(contains(error_of([&] { r.check_model_dims(1, 2, 8, 4, 64); }), "hidden"));
}

TEST_CASE("distrust: a dataset larger than the whole file is refused before allocation",
          "[store][distrust]") {
  TempDir dir;
  // Dims within the header bounds; key_basis [256, 4096, 4096] of float32 is 16 GiB, declared
  // as a chunked dataset with no chunk written, so the file itself stays a few KB.
  StoreHeader h = header(256, 4096, 256, 0);
  h.key_rank = 4096;
  const std::string path = header_only_store(dir, h);
  {
    h5::File f = h5::File::open(path, h5::FileMode::read_write);
    h5::Group g = f.root().create_group(store_schema::layer_group_name(0));
    g.set_attr_int(store_schema::layer_attr::layer, 0);
    g.set_attr_int(store_schema::layer_attr::key_rank, 4096);
    g.set_attr_int(store_schema::layer_attr::value_rank, 1);
    g.set_attr_int(store_schema::layer_attr::hidden, 0);
    const hsize_t dims[3] = {256, 4096, 4096}, chunk[3] = {1, 1, 4096};
    hid_t space = H5Screate_simple(3, dims, nullptr);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    REQUIRE(H5Pset_chunk(dcpl, 3, chunk) >= 0);
    hid_t ds = H5Dcreate2(g.id(), "key_basis", H5T_IEEE_F32LE, space, H5P_DEFAULT, dcpl,
                          H5P_DEFAULT);
    REQUIRE(ds >= 0);
    H5Dclose(ds);
    H5Pclose(dcpl);
    H5Sclose(space);
    g.set_attr_int(store_schema::layer_attr::complete, 1);
  }
  const ProfileStoreReader r = ProfileStoreReader::open(path);
  const std::string msg = error_of([&] { r.read_layer(0); });
  CHECK(contains(msg, "/layers/0/key_basis"));
  CHECK(contains(msg, "more than the whole file"));
  // verify() collects the same refusal instead of stopping.
  const VerifyReport rep = r.verify();
  REQUIRE(!rep.failures.empty());
  bool named = false;
  for (const std::string& f : rep.failures) named = named || contains(f, "more than the whole file");
  CHECK(named);
}
