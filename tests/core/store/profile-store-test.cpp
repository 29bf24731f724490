// Profile store: round trip, .partial/atomic rename, resume, checksums, schema version, paths.
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "core/store/h5.h"
#include "core/store/profile-store.h"
#include "core/util/error.h"
#include "support/catch.h"

using namespace kvsvd;

namespace {

// A fresh directory per test, removed (with its files) at the end.
struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/kvsvd-store-test-XXXXXX";
    char* p = mkdtemp(tmpl);
    REQUIRE(p != nullptr);
    path = p;
  }
  ~TempDir() { std::system(("rm -rf '" + path + "'").c_str()); }
  std::string file(const std::string& name) const { return path + "/" + name; }
};

bool exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}

StoreHeader make_header(int64_t layers = 3) {
  StoreHeader h;
  h.model_fingerprint = "sha256:model-abc";
  h.model_config = R"({"hidden_size": 48, "num_hidden_layers": 3})";
  h.profile_config = R"({"method": "weight_svd", "key_rank": 6})";
  h.calibration_fingerprint = "";
  h.world_size = 2;
  h.device = "cpu";
  h.num_layers = layers;
  h.n_kv = 2;
  h.head_dim = 8;
  h.n_q = 4;
  h.hidden = 12;
  h.key_rank = 6;
  h.value_rank_names = {"high", "low"};
  h.value_rank_values = {7, 3};
  return h;
}

// Orthonormal columns by Gram-Schmidt in double: [n_kv, head_dim, rank] row-major.
std::vector<float> random_basis(std::mt19937& rng, int64_t n_kv, int64_t d, int64_t r) {
  std::normal_distribution<double> nd;
  std::vector<float> out(static_cast<size_t>(n_kv * d * r));
  for (int64_t h = 0; h < n_kv; ++h) {
    std::vector<std::vector<double>> cols;
    for (int64_t c = 0; c < r; ++c) {
      std::vector<double> v(static_cast<size_t>(d));
      for (auto& x : v) x = nd(rng);
      for (int pass = 0; pass < 2; ++pass) {
        for (const auto& u : cols) {
          double dot = 0;
          for (int64_t i = 0; i < d; ++i) dot += u[i] * v[i];
          for (int64_t i = 0; i < d; ++i) v[i] -= dot * u[i];
        }
      }
      double n = 0;
      for (double x : v) n += x * x;
      for (auto& x : v) x /= std::sqrt(n);
      cols.push_back(v);
    }
    for (int64_t i = 0; i < d; ++i)
      for (int64_t c = 0; c < r; ++c)
        out[static_cast<size_t>((h * d + i) * r + c)] = static_cast<float>(cols[c][i]);
  }
  return out;
}

std::vector<float> random_floats(std::mt19937& rng, size_t n) {
  std::uniform_real_distribution<float> u(-3.0f, 3.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

LayerProfile random_layer(const StoreHeader& h, int64_t layer, bool optional, uint32_t seed) {
  std::mt19937 rng(seed);
  LayerProfile p;
  p.layer = layer;
  p.n_kv = h.n_kv;
  p.head_dim = h.head_dim;
  p.key_rank = 6;
  p.value_rank = 7;
  const size_t nh = static_cast<size_t>(h.n_kv), nhd = static_cast<size_t>(h.n_kv * h.head_dim);
  p.key_basis = random_basis(rng, h.n_kv, h.head_dim, p.key_rank);
  p.value_basis = random_basis(rng, h.n_kv, h.head_dim, p.value_rank);
  p.key_spectrum = random_floats(rng, nhd);
  p.value_spectrum = random_floats(rng, nhd);
  p.key_energy = random_floats(rng, nhd);
  p.value_energy = random_floats(rng, nhd);
  p.key_head_rank = {6, 5};
  p.value_head_rank = {7, 4};
  if (optional) {
    p.key_error = random_floats(rng, nh);
    p.value_error = random_floats(rng, nh);
    p.hidden = h.hidden;
    p.fused_output = random_floats(rng, static_cast<size_t>(h.n_q * h.hidden * p.value_rank));
  }
  return p;
}

bool bitwise_equal(const std::vector<float>& a, const std::vector<float>& b) {
  // memcmp on the null data() of empty vectors is undefined behaviour (UBSan reports it).
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

void require_same(const LayerProfile& a, const LayerProfile& b) {
  CHECK(a.layer == b.layer);
  CHECK(a.n_kv == b.n_kv);
  CHECK(a.head_dim == b.head_dim);
  CHECK(a.key_rank == b.key_rank);
  CHECK(a.value_rank == b.value_rank);
  CHECK(bitwise_equal(a.key_basis, b.key_basis));
  CHECK(bitwise_equal(a.value_basis, b.value_basis));
  CHECK(bitwise_equal(a.key_spectrum, b.key_spectrum));
  CHECK(bitwise_equal(a.value_spectrum, b.value_spectrum));
  CHECK(bitwise_equal(a.key_energy, b.key_energy));
  CHECK(bitwise_equal(a.value_energy, b.value_energy));
  CHECK(a.key_head_rank == b.key_head_rank);
  CHECK(a.value_head_rank == b.value_head_rank);
  CHECK(bitwise_equal(a.key_error, b.key_error));
  CHECK(bitwise_equal(a.value_error, b.value_error));
  CHECK(bitwise_equal(a.fused_output, b.fused_output));
  CHECK(a.hidden == b.hidden);
}

std::string write_full_store(const TempDir& dir, const std::string& name,
                             std::vector<LayerProfile>* layers = nullptr) {
  StoreHeader h = make_header();
  const std::string path = dir.file(name);
  ProfileStoreWriter w = ProfileStoreWriter::create(path, h);
  for (int64_t i = 0; i < h.num_layers; ++i) {
    LayerProfile p = random_layer(h, i, i != 1, 100 + static_cast<uint32_t>(i));
    w.write_layer(p);
    if (layers) layers->push_back(p);
  }
  w.finalize();
  return path;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

void flip_bytes(const std::string& path, uint64_t offset, size_t n) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  REQUIRE(f.good());
  std::vector<char> buf(n);
  f.seekg(static_cast<std::streamoff>(offset));
  f.read(buf.data(), static_cast<std::streamsize>(n));
  REQUIRE(f.gcount() == static_cast<std::streamsize>(n));
  for (auto& c : buf) c = static_cast<char>(~c);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(buf.data(), static_cast<std::streamsize>(n));
  REQUIRE(f.good());
}

}  // namespace

TEST_CASE("profile store: write/read round trip is bitwise exact", "[store]") {
  TempDir dir;
  std::vector<LayerProfile> layers;
  const std::string path = write_full_store(dir, "rt.h5", &layers);
  ProfileStoreReader r = ProfileStoreReader::open(path);
  const StoreHeader& h = r.header();
  StoreHeader want = make_header();
  CHECK(h.schema == "kvsvd-profile-store");
  CHECK(h.schema_version == 2);
  CHECK(h.model_fingerprint == want.model_fingerprint);
  CHECK(h.model_config == want.model_config);
  CHECK(h.profile_config == want.profile_config);
  CHECK(h.num_layers == 3);
  CHECK(h.n_q == 4);
  CHECK(h.hidden == 12);
  CHECK(h.world_size == 2);
  CHECK(h.value_rank_names == want.value_rank_names);
  CHECK(h.value_rank_values == want.value_rank_values);
  CHECK(h.created_utc.size() == 20);
  CHECK(h.created_utc.back() == 'Z');
  for (int64_t i = 0; i < 3; ++i) {
    INFO("layer " << i);
    CHECK(r.layer_complete(i));
    require_same(r.read_layer(i), layers[static_cast<size_t>(i)]);
  }
  // Layer 1 was written without the optional arrays: they come back empty, not zero-filled.
  CHECK(r.read_layer(1).fused_output.empty());
  CHECK(r.read_layer(1).key_error.empty());

  // Every dataset carries a Fletcher32 checksum.
  h5::File f = h5::File::open(path, h5::FileMode::read_only);
  h5::Group g = f.root().open_group("layers/0");
  for (const auto& spec : store_schema::layer_datasets()) {
    INFO(spec.name);
    CHECK(g.open_dataset(spec.name).has_fletcher32());
  }

  VerifyReport rep = r.verify();
  CHECK(rep.checksums_ok());
  CHECK(rep.ok());
  CHECK(rep.datasets_read == 11 + 8 + 11);
  CHECK(rep.max_orthonormality_error < 1e-5);
  CHECK(rep.fingerprint.size() == 64);  // SHA-256 hex of the whole file
  CHECK(rep.fingerprint == file_fingerprint(path));
}

TEST_CASE("profile store: the final name appears only at finalize", "[store]") {
  TempDir dir;
  StoreHeader h = make_header();
  const std::string path = dir.file("p.h5");
  const std::string partial = path + ".partial";
  {
    ProfileStoreWriter w = ProfileStoreWriter::create(path, h);
    CHECK(w.partial_path() == partial);
    CHECK(exists(partial));
    CHECK_FALSE(exists(path));
    w.write_layer(random_layer(h, 0, true, 1));
    w.write_layer(random_layer(h, 2, true, 3));
    CHECK_FALSE(exists(path));
    CHECK(w.missing_layers() == std::vector<int64_t>{1});
    std::string err = error_of([&] { w.finalize(); });
    CHECK(err.find("layers 1 of 3 are not complete") != std::string::npos);
    CHECK_FALSE(exists(path));
  }
  // Destroyed without finalize: only the .partial remains.
  CHECK(exists(partial));
  CHECK_FALSE(exists(path));
  {
    ProfileStoreWriter w = ProfileStoreWriter::resume(path, h);
    w.write_layer(random_layer(h, 1, false, 2));
    w.finalize();
  }
  CHECK(exists(path));
  CHECK_FALSE(exists(partial));
  // A reader can open the finished store, and a second create() is refused without overwrite.
  CHECK(ProfileStoreReader::open(path).header().num_layers == 3);
  std::string err = error_of([&] { ProfileStoreWriter::create(path, h); });
  CHECK(err.find(path) != std::string::npos);
  CHECK(err.find("already exists") != std::string::npos);
  {
    ProfileStoreWriter w = ProfileStoreWriter::create(path, h, /*overwrite=*/true);
    // The old store stays readable under the final name until the new one is renamed over it.
    CHECK(ProfileStoreReader::open(path).layer_complete(0));
  }
}

TEST_CASE("profile store: resume keeps complete layers and refuses another model/config",
          "[store]") {
  TempDir dir;
  StoreHeader h = make_header();
  const std::string path = dir.file("resume.h5");
  LayerProfile l0 = random_layer(h, 0, true, 10);
  {
    ProfileStoreWriter w = ProfileStoreWriter::create(path, h);
    w.write_layer(l0);
    w.write_layer(random_layer(h, 1, true, 11));
  }
  // Simulate a crash in the middle of layer 1: its `complete` flag never got written.
  {
    h5::File f = h5::File::open(path + ".partial", h5::FileMode::read_write);
    f.root().open_group("layers/1").set_attr_int("complete", 0);
  }
  SECTION("same model and config") {
    StoreHeader again = h;
    again.profile_config = R"({ "key_rank": 6,   "method": "weight_svd" })";  // same JSON
    again.created_utc = "2000-01-01T00:00:00Z";
    ProfileStoreWriter w = ProfileStoreWriter::resume(path, again);
    CHECK(w.layer_complete(0));
    CHECK_FALSE(w.layer_complete(1));
    CHECK_FALSE(w.layer_complete(2));
    CHECK(w.missing_layers() == std::vector<int64_t>{1, 2});
    CHECK(w.header().created_utc != again.created_utc);  // the file's own header is kept
    CHECK(error_of([&] { w.write_layer(random_layer(h, 0, true, 99)); })
              .find("already complete") != std::string::npos);
    LayerProfile l1 = random_layer(h, 1, false, 12);
    w.write_layer(l1);  // replaces the incomplete group
    w.write_layer(random_layer(h, 2, true, 13));
    w.finalize();
    ProfileStoreReader r = ProfileStoreReader::open(path);
    require_same(r.read_layer(0), l0);
    require_same(r.read_layer(1), l1);
    CHECK(r.verify().ok());
  }
  SECTION("another model fingerprint") {
    StoreHeader other = h;
    other.model_fingerprint = "sha256:other-model";
    std::string err = error_of([&] { ProfileStoreWriter::resume(path, other); });
    CHECK(err.find("model_fingerprint differs") != std::string::npos);
    CHECK(err.find("a store of another model/config is refused") != std::string::npos);
  }
  SECTION("another profile config") {
    StoreHeader other = h;
    other.profile_config = R"({"method": "activation_pca", "key_rank": 6})";
    std::string err = error_of([&] { ProfileStoreWriter::resume(path, other); });
    CHECK(err.find("profile_config differs") != std::string::npos);
    CHECK(err.find("a store of another model/config is refused") != std::string::npos);
  }
  SECTION("nothing to resume") {
    std::string err = error_of([&] { ProfileStoreWriter::resume(dir.file("none.h5"), h); });
    CHECK(err.find(dir.file("none.h5.partial")) != std::string::npos);
  }
}

TEST_CASE("profile store: corrupted dataset bytes fail read and verify, naming the dataset",
          "[store]") {
  TempDir dir;
  const std::string path = write_full_store(dir, "corrupt.h5");
  std::vector<h5::StorageExtent> ext;
  {
    h5::File f = h5::File::open(path, h5::FileMode::read_only);
    ext = f.root().open_group("layers/2").open_dataset("value_basis").storage_extents();
  }
  REQUIRE(ext.size() == 1);
  REQUIRE(ext[0].size == 2 * 8 * 7 * 4 + 4);  // floats + the 4-byte Fletcher32 checksum
  flip_bytes(path, ext[0].address + 20, 3);

  ProfileStoreReader r = ProfileStoreReader::open(path);
  CHECK_NOTHROW(r.read_layer(0));
  std::string err = error_of([&] { r.read_layer(2); });
  INFO(err);
  CHECK(err.find("/layers/2/value_basis") != std::string::npos);
  CHECK(err.find(path) != std::string::npos);

  VerifyReport rep = r.verify();
  CHECK_FALSE(rep.checksums_ok());
  CHECK_FALSE(rep.ok());
  REQUIRE(rep.failures.size() == 1);
  CHECK(rep.failures[0].find("/layers/2/value_basis") != std::string::npos);
  CHECK(rep.fingerprint != "");
}

TEST_CASE("profile store: non-orthonormal bases are reported by verify", "[store]") {
  TempDir dir;
  StoreHeader h = make_header(1);
  const std::string path = dir.file("ortho.h5");
  ProfileStoreWriter w = ProfileStoreWriter::create(path, h);
  LayerProfile p = random_layer(h, 0, false, 5);
  p.key_basis[3] += 0.01f;  // head 0, row 0, column 3
  w.write_layer(p);
  w.finalize();
  VerifyReport rep = ProfileStoreReader::open(path).verify();
  CHECK(rep.checksums_ok());
  CHECK(rep.layers.at(0).key_orthonormality_error > 1e-4);
  CHECK(rep.layers.at(0).value_orthonormality_error < 1e-5);
  CHECK_FALSE(rep.ok());
}

TEST_CASE("profile store: another schema version or a foreign file is refused", "[store]") {
  TempDir dir;
  const std::string path = write_full_store(dir, "v.h5");
  {
    h5::File f = h5::File::open(path, h5::FileMode::read_write);
    f.root().set_attr_int("schema_version", 3);
  }
  std::string err = error_of([&] { ProfileStoreReader::open(path); });
  CHECK(err.find(path) != std::string::npos);
  CHECK(err.find("schema version 3") != std::string::npos);

  const std::string other = dir.file("other.h5");
  { h5::File f = h5::File::create(other); }
  err = error_of([&] { ProfileStoreReader::open(other); });
  CHECK(err.find("not a kvsvd profile store") != std::string::npos);

  const std::string text = dir.file("text.h5");
  std::ofstream(text) << "hello";
  err = error_of([&] { ProfileStoreReader::open(text); });
  CHECK(err.find("not an HDF5 file") != std::string::npos);
  err = error_of([&] { ProfileStoreReader::open(dir.file("missing.h5")); });
  CHECK(err.find("does not exist") != std::string::npos);
}

TEST_CASE("profile store: read_layer checks shapes against the header", "[store]") {
  TempDir dir;
  const std::string path = write_full_store(dir, "shape.h5");
  {
    h5::File f = h5::File::open(path, h5::FileMode::read_write);
    h5::Group g = f.root().open_group("layers/0");
    g.unlink("key_spectrum");
    g.write_floats("key_spectrum", {2, 7}, std::vector<float>(14, 1.0f));
  }
  ProfileStoreReader r = ProfileStoreReader::open(path);
  std::string err = error_of([&] { r.read_layer(0); });
  CHECK(err.find("/layers/0/key_spectrum") != std::string::npos);
  CHECK(err.find("[2, 7]") != std::string::npos);
  CHECK(err.find("[2, 8]") != std::string::npos);
}

TEST_CASE("profile store: an unusable directory is named in the error", "[store]") {
  TempDir dir;
  StoreHeader h = make_header();
  std::string missing = dir.file("no-such-dir/x.h5");
  std::string err = error_of([&] { ProfileStoreWriter::create(missing, h); });
  CHECK(err.find(missing) != std::string::npos);
  CHECK(err.find("does not exist") != std::string::npos);

  const std::string plain = dir.file("plain");
  std::ofstream(plain) << "x";
  err = error_of([&] { ProfileStoreWriter::create(plain + "/x.h5", h); });
  CHECK(err.find(plain + "/x.h5") != std::string::npos);

  if (::geteuid() != 0) {  // root ignores permission bits
    const std::string ro = dir.file("ro");
    REQUIRE(::mkdir(ro.c_str(), 0555) == 0);
    err = error_of([&] { ProfileStoreWriter::create(ro + "/x.h5", h); });
    CHECK(err.find("not writable") != std::string::npos);
    ::chmod(ro.c_str(), 0755);
  }
}

TEST_CASE("profile store: write_layer validates the profile", "[store]") {
  TempDir dir;
  StoreHeader h = make_header();
  ProfileStoreWriter w = ProfileStoreWriter::create(dir.file("val.h5"), h);
  LayerProfile p = random_layer(h, 0, true, 7);
  p.key_basis.pop_back();
  CHECK(error_of([&] { w.write_layer(p); }).find("key_basis") != std::string::npos);
  p = random_layer(h, 5, true, 7);
  CHECK(error_of([&] { w.write_layer(p); }).find("outside [0, 3)") != std::string::npos);
  p = random_layer(h, 0, true, 7);
  p.value_head_rank[0] = 9;
  CHECK(error_of([&] { w.write_layer(p); }).find("value_head_rank") != std::string::npos);
}

TEST_CASE("h5 wrappers: attributes round trip and errors name file and path", "[store][h5]") {
  TempDir dir;
  const std::string path = dir.file("attrs.h5");
  {
    h5::File f = h5::File::create(path);
    h5::Group root = f.root();
    root.set_attr_string("s", "h\xc3\xa9llo");
    root.set_attr_int("i", -42);
    root.set_attr_double("d", 0.1);
    root.set_attr_ints("iv", {1, 2, 3});
    root.set_attr_doubles("dv", {});
    root.set_attr_int("i", 43);  // replaces
    h5::Group g = root.create_group("a");
    g.write_int32s("x", {2, 3}, {1, 2, 3, 4, 5, 6});
  }
  h5::File f = h5::File::open(path, h5::FileMode::read_only);
  h5::Group root = f.root();
  CHECK(root.attr_string("s") == "h\xc3\xa9llo");
  CHECK(root.attr_int("i") == 43);
  CHECK(root.attr_double("d") == 0.1);
  CHECK(root.attr_ints("iv") == std::vector<int64_t>{1, 2, 3});
  CHECK(root.attr_doubles("dv").empty());
  CHECK(root.has_link("a/x"));
  CHECK_FALSE(root.has_link("b/x"));
  CHECK(root.open_group("a").read_int32s("x", {2, 3}) == std::vector<int32_t>{1, 2, 3, 4, 5, 6});
  std::string err = error_of([&] { root.attr_int("s"); });
  CHECK(err.find("'s'") != std::string::npos);
  CHECK(err.find(path) != std::string::npos);
  err = error_of([&] { root.open_group("a").read_floats("x", {2, 3}); });
  CHECK(err.find("/a/x") != std::string::npos);
  err = error_of([&] { root.attr_string("nope"); });
  CHECK(err.find("missing attribute 'nope'") != std::string::npos);
  err = error_of([&] { h5::File::open(dir.file("nope.h5"), h5::FileMode::read_only); });
  CHECK(err.find(dir.file("nope.h5")) != std::string::npos);
}
