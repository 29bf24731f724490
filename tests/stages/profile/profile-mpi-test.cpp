// The profile stage in-process under mpirun -np 1/2/3: the store rank 0 writes must equal, bit for
// bit, a reference computed serially in this process (weight_svd and activation_pca), and resume
// must fill in exactly the missing layers.
#include <ATen/ATen.h>

#include <cstring>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "core/calibrate/moment-accumulator.h"
#include "core/checkpoint/checkpoint.h"
#include "core/checkpoint/tensor-load.h"
#include "core/compress/layer-decompose.h"
#include "core/model/llama.h"
#include "core/store/profile-store.h"
#include "core/store/store-schema.h"
#include "mpi/comm.h"
#include "support/random-llama.h"
#include "stages/profile/profile-calibration.h"
#include "stages/profile/profile-stage.h"
#include "stages/profile/profile-wire.h"
#include "support/catch.h"
#include "core/util/file-tree.h"

using namespace kvsvd;
using kvsvd_test::RandomLlamaSpec;

namespace {

// A temp directory made by rank 0, known to every rank, removed by rank 0 at the end.
struct SharedDir {
  const Comm& comm;
  std::string path;
  explicit SharedDir(const Comm& c) : comm(c) {
    if (comm.is_root()) {
      std::string tmpl = (std::filesystem::temp_directory_path() / "kvsvd-profile-XXXXXX").string();
      std::vector<char> buf(tmpl.begin(), tmpl.end());
      buf.push_back('\0');
      REQUIRE(::mkdtemp(buf.data()) != nullptr);
      path = buf.data();
    }
    comm.broadcast(path);
  }
  ~SharedDir() {
    comm.barrier();
    if (comm.is_root()) kvsvd::remove_tree(path);
  }
  std::string operator/(const std::string& name) const { return path + "/" + name; }
};

AttentionShape shape_of(const LlamaConfig& c) {
  AttentionShape s;
  s.num_heads = c.num_heads;
  s.num_kv_heads = c.num_kv_heads;
  s.head_dim = c.head_dim;
  s.hidden = c.hidden_size;
  return s;
}

template <typename T>
bool bitwise_equal(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

void check_same_profile(const LayerProfile& got, const LayerProfile& ref) {
  INFO("layer " << ref.layer);
  CHECK(got.layer == ref.layer);
  CHECK(got.n_kv == ref.n_kv);
  CHECK(got.head_dim == ref.head_dim);
  CHECK(got.key_rank == ref.key_rank);
  CHECK(got.value_rank == ref.value_rank);
  CHECK(got.hidden == ref.hidden);
  for (const auto& spec : store_schema::layer_datasets()) {
    INFO("dataset " << spec.name);
    if (spec.f32) CHECK(bitwise_equal(got.*(spec.f32), ref.*(spec.f32)));
    if (spec.i32) CHECK(bitwise_equal(got.*(spec.i32), ref.*(spec.i32)));
  }
}

// The serial reference: the same maths, one process, no MPI, no store.
std::vector<LayerProfile> reference_profiles(const ProfileOptions& o) {
  const Checkpoint ckpt = Checkpoint::open(o.model);
  const LlamaConfig& cfg = ckpt.config();
  const AttentionShape shape = shape_of(cfg);
  const CompressSpec spec = resolve_compress_spec(compress_spec_of(o), shape);
  KvMoments m;
  if (spec.method == ProfileMethod::ActivationPca) {
    LlamaModel model = LlamaModel::load(o.model, at::Device(at::kCPU), at::kFloat);
    const CalibrationSet calib = load_calibration(o, cfg);
    m = serial_window_moments(model, calib.windows, spec.key_space);
  }
  std::vector<LayerProfile> out;
  const at::Device cpu(at::kCPU);
  for (int64_t l = 0; l < cfg.num_layers; ++l) {
    LayerInputs in;
    if (spec.method == ProfileMethod::WeightSvd) {
      in.wk = load_tensor(ckpt, layer_tensor_name(l, "self_attn.k_proj.weight"), at::kDouble, cpu);
      in.wv = load_tensor(ckpt, layer_tensor_name(l, "self_attn.v_proj.weight"), at::kDouble, cpu);
    } else {
      in.key_moment = m.key[l];
      in.value_moment = m.value[l];
      in.tokens = m.tokens;
    }
    if (spec.store_fused) {
      in.wo = load_tensor(ckpt, layer_tensor_name(l, "self_attn.o_proj.weight"), at::kDouble, cpu);
    }
    out.push_back(decompose_layer(l, shape, spec, in));
  }
  return out;
}

// Runs the stage on every rank, then rank 0 compares the store with the serial reference.
void run_and_compare(const Comm& comm, const ProfileOptions& o) {
  const ProfileRunResult res = run_profile(o, comm);
  // Every layer computed exactly once over the ranks.
  std::vector<int64_t> mine = res.layers_computed;
  const auto all = comm.gather(mine);
  comm.barrier();
  if (!comm.is_root()) return;
  std::multiset<int64_t> computed;
  for (const auto& v : all) computed.insert(v.begin(), v.end());
  REQUIRE(res.rank_times.size() == static_cast<size_t>(comm.size()));
  const auto ref = reference_profiles(o);
  CHECK(computed.size() == ref.size());
  for (size_t l = 0; l < ref.size(); ++l) CHECK(computed.count(static_cast<int64_t>(l)) == 1);
  REQUIRE_FALSE(std::filesystem::exists(o.out + ".partial"));
  const ProfileStoreReader reader = ProfileStoreReader::open(o.out);
  const StoreHeader& h = reader.header();
  CHECK(h.world_size == comm.size());
  CHECK(h.num_layers == static_cast<int64_t>(ref.size()));
  CHECK_FALSE(h.model_fingerprint.empty());
  const auto pc = nlohmann::json::parse(h.profile_config);
  CHECK(pc.at("method") == o.method);
  if (o.method == "activation_pca") {
    CHECK(h.calibration_fingerprint.size() == 64);
    CHECK(pc.at("calibration").at("windows").get<int64_t>() >= 1);
  } else {
    CHECK(h.calibration_fingerprint.empty());
  }
  for (const auto& r : ref) check_same_profile(reader.read_layer(r.layer), r);
  const VerifyReport rep = reader.verify();
  CHECK(rep.ok());
}

ProfileOptions base_options(const SharedDir& dir, const std::string& method, const std::string& out) {
  ProfileOptions o;
  o.model = dir / "model";
  o.out = dir / out;
  o.method = method;
  o.device = "cpu";
  o.progress = false;
  o.calib_data = dir / "calib.json";
  o.calib_format = "ids";
  o.seq_len = 24;
  o.calib_tokens = 0;  // every window: 7 windows of 24 tokens
  return o;
}

void make_inputs(const Comm& comm, const SharedDir& dir) {
  if (comm.is_root()) {
    std::filesystem::create_directories(dir / "model");
    RandomLlamaSpec s;
    kvsvd_test::write_random_llama(dir / "model", s);
    kvsvd_test::write_random_ids(dir / "calib.json", 3, 60, s.vocab, 5);
  }
  comm.barrier();
}

}  // namespace

TEST_CASE("profile weight_svd: store equals the serial reference bit for bit", "[mpi][profile]") {
  const Comm comm;
  SharedDir dir(comm);
  make_inputs(comm, dir);
  ProfileOptions o = base_options(dir, "weight_svd", "wsvd.h5");
  o.key_rank = 4;
  o.value_ranks = "low=2,med=8,high=12";
  o.store_fused = true;
  run_and_compare(comm, o);
  if (comm.is_root()) {
    const ProfileStoreReader r = ProfileStoreReader::open(o.out);
    CHECK(r.header().key_rank == 4);
    CHECK(r.header().value_rank_names == std::vector<std::string>{"low", "med", "high"});
    CHECK(r.header().value_rank_values == std::vector<int64_t>{2, 8, 12});
    CHECK(r.read_layer(0).fused_output.size() == 4u * 64 * 12);
  }
}

TEST_CASE("profile activation_pca (post-RoPE, fixed ranks): bitwise equal to serial", "[mpi][profile]") {
  const Comm comm;
  SharedDir dir(comm);
  make_inputs(comm, dir);
  ProfileOptions o = base_options(dir, "activation_pca", "pca.h5");
  o.key_space = "post_rope";
  o.key_rank = 6;
  o.value_ranks = "low=4,high=10";
  run_and_compare(comm, o);
}

TEST_CASE("profile activation_pca (energy threshold): bitwise equal to serial", "[mpi][profile]") {
  const Comm comm;
  SharedDir dir(comm);
  make_inputs(comm, dir);
  ProfileOptions o = base_options(dir, "activation_pca", "energy.h5");
  o.energy_threshold = 0.9;
  o.min_rank_ratio = 0.25;
  o.calib_tokens = 50;  // rounded up to 3 windows of 24
  o.store_fused = true;
  run_and_compare(comm, o);
  if (comm.is_root()) {
    const ProfileStoreReader r = ProfileStoreReader::open(o.out);
    CHECK(r.header().key_rank == 0);  // adaptive
    const auto pc = nlohmann::json::parse(r.header().profile_config);
    CHECK(pc.at("calibration").at("windows") == 3);
    for (int64_t l = 0; l < r.header().num_layers; ++l) {
      const LayerProfile p = r.read_layer(l);
      for (int32_t k : p.key_head_rank) CHECK(k >= 4);  // floor ceil(0.25 * 16)
      CHECK(p.key_error.size() == 2u);
    }
  }
}

TEST_CASE("profile --resume computes only the layers missing from the .partial", "[mpi][profile]") {
  const Comm comm;
  SharedDir dir(comm);
  make_inputs(comm, dir);
  ProfileOptions full = base_options(dir, "weight_svd", "full.h5");
  full.key_rank = 4;
  run_profile(full, comm);
  ProfileOptions o = full;
  o.out = dir / "resumed.h5";
  o.resume = true;
  if (comm.is_root()) {
    // An interrupted run: the same header, layers 1 and 3 complete, never finalised.
    const ProfileStoreReader r = ProfileStoreReader::open(full.out);
    StoreHeader h = r.header();
    ProfileStoreWriter w = ProfileStoreWriter::create(o.out, h);
    w.write_layer(r.read_layer(1));
    w.write_layer(r.read_layer(3));
  }
  comm.barrier();
  const ProfileRunResult res = run_profile(o, comm);
  const auto all = comm.gather(res.layers_computed);
  if (comm.is_root()) {
    CHECK(res.layers_skipped == 2);
    std::multiset<int64_t> computed;
    for (const auto& v : all) computed.insert(v.begin(), v.end());
    CHECK(computed == std::multiset<int64_t>{0, 2, 4});
    const ProfileStoreReader a = ProfileStoreReader::open(full.out), b = ProfileStoreReader::open(o.out);
    for (int64_t l = 0; l < 5; ++l) check_same_profile(b.read_layer(l), a.read_layer(l));
  }
  // A second --resume finds the finished store and does nothing.
  const ProfileRunResult again = run_profile(o, comm);
  CHECK(again.already_complete);
  CHECK(again.layers_computed.empty());
  comm.barrier();
}

TEST_CASE("layer profiles survive the wire format", "[mpi][profile]") {
  LayerProfile p;
  p.layer = 7;
  p.n_kv = 1;
  p.head_dim = 2;
  p.key_rank = 1;
  p.value_rank = 2;
  p.key_basis = {1, 0};
  p.value_basis = {1, 0, 0, 1};
  p.key_spectrum = {3, 1};
  p.value_spectrum = {2, 0.5f};
  p.key_energy = {0.9f, 1};
  p.value_energy = {0.94f, 1};
  p.key_head_rank = {1};
  p.value_head_rank = {2};
  const std::string bytes = serialize_layer_profiles({p, p});
  const auto back = deserialize_layer_profiles(bytes, "test");
  REQUIRE(back.size() == 2);
  check_same_profile(back[1], p);
  CHECK(back[1].key_error.empty());
  REQUIRE_THROWS_AS(deserialize_layer_profiles(bytes.substr(0, bytes.size() - 3), "test"), Error);
  REQUIRE_THROWS_AS(deserialize_layer_profiles("garbage-garbage-", "test"), Error);
}
