// `kvsvd profile` with a rank budget, in-process under mpirun -np 1/2/3: the per-head ranks it
// stores never cost more than the budget, and a budget below the smallest allocation is an error.
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <numeric>
#include <string>

#include <nlohmann/json.hpp>

#include "core/store/profile-store.h"
#include "core/util/error.h"
#include "core/util/file-tree.h"
#include "mpi/comm.h"
#include "support/random-llama.h"
#include "stages/profile/profile-stage.h"
#include "support/catch.h"

using namespace kvsvd;

namespace {

std::string shared_dir(const Comm& comm) {
  std::string path;
  if (comm.is_root()) {
    path = (std::filesystem::temp_directory_path() /
            ("kvsvd-budget-" + std::to_string(::getpid())))
               .string();
    std::filesystem::create_directories(path + "/model");
    kvsvd_test::RandomLlamaSpec s;
    kvsvd_test::write_random_llama(path + "/model", s);
    kvsvd_test::write_random_ids(path + "/calib.json", 3, 60, s.vocab, 5);
  }
  comm.broadcast(path);
  comm.barrier();
  return path;
}

ProfileOptions budget_options(const std::string& dir, const std::string& out) {
  ProfileOptions o;
  o.model = dir + "/model";
  o.out = dir + "/" + out;
  o.method = "activation_pca";
  o.device = "cpu";
  o.progress = false;
  o.calib_data = dir + "/calib.json";
  o.calib_format = "ids";
  o.seq_len = 24;
  o.store_fused = true;
  o.budget_windows = 2;
  return o;
}

}  // namespace

TEST_CASE("profile with a rank budget never exceeds it", "[mpi][profile][budget]") {
  const Comm comm;
  const std::string dir = shared_dir(comm);
  for (const int64_t bits : {16, 4}) {
    ProfileOptions o = budget_options(dir, "budget-" + std::to_string(bits) + ".h5");
    o.target_ratio = 3.0;
    o.budget_bits = bits;
    const ProfileRunResult res = run_profile(o, comm);
    CHECK_FALSE(res.interrupted);
    if (!comm.is_root()) continue;
    const ProfileStoreReader r = ProfileStoreReader::open(o.out);
    const StoreHeader& h = r.header();
    CHECK(h.key_rank == 0);  // per-head
    const auto pc = nlohmann::json::parse(h.profile_config);
    CHECK(pc.at("budget").at("bits").get<int64_t>() == bits);
    // fp16 full cache / 3, in bytes per token.
    const int64_t budget = (2 * 2 * h.num_layers * h.n_kv * h.head_dim) / 3;
    int64_t bytes = 0;
    bool differ = false;
    for (int64_t l = 0; l < h.num_layers; ++l) {
      const LayerProfile p = r.read_layer(l);
      for (int64_t hh = 0; hh < h.n_kv; ++hh)
        for (int32_t rank : {p.key_head_rank[hh], p.value_head_rank[hh]}) {
          CHECK(rank >= 1);
          CHECK(rank <= h.head_dim);
          differ = differ || rank != r.read_layer(0).key_head_rank[0];
          // The cache's own storage: 16-bit values, or 4-bit codes packed two per byte plus an
          // fp16 scale and zero point per group of 32.
          bytes += bits == 16 ? 2 * rank : (rank + 1) / 2 + 4 * ((rank + 31) / 32);
        }
      CHECK(p.key_rank >= *std::max_element(p.key_head_rank.begin(), p.key_head_rank.end()));
      CHECK(p.value_rank >= *std::max_element(p.value_head_rank.begin(), p.value_head_rank.end()));
    }
    INFO("bits " << bits << ": allocated " << bytes << " of " << budget << " bytes per token");
    CHECK(bytes <= budget);
    CHECK(bytes > budget / 2);  // the budget is spent, not ignored
    CHECK(differ);              // heads got different ranks
    CHECK(r.verify().ok());
  }
  comm.barrier();
  if (comm.is_root()) kvsvd::remove_tree(dir);
}

TEST_CASE("a budget below the smallest allocation is refused on every rank",
          "[mpi][profile][budget]") {
  const Comm comm;
  const std::string dir = shared_dir(comm);
  ProfileOptions o = budget_options(dir, "tiny.h5");
  o.kv_budget_bytes = 3;
  std::string msg;
  try {
    run_profile(o, comm);
  } catch (const Error& e) {
    msg = e.what();
  }
  if (comm.is_root()) {
    INFO(msg);
    CHECK(msg.find("--kv-budget-bytes") != std::string::npos);
  }
  comm.barrier();
  if (comm.is_root()) kvsvd::remove_tree(dir);
}
