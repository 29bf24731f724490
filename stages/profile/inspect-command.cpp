// `kvsvd inspect STORE [--verify]`: prints what a profile store holds and, with --verify, whether
// its checksums and bases are sound (non-zero exit when not).
#include "stages/profile/inspect-command.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "core/store/isolated-check.h"
#include "core/store/profile-store.h"
#include "core/util/cli-run.h"
#include "core/util/error.h"

namespace kvsvd {

namespace {

// The tolerance on max |PᵀP − I| above which --verify fails (float32 bases from an SVD are
// orthonormal to ~1e-6).
constexpr double kOrthonormalityTolerance = 1e-4;

struct InspectOptions {
  std::string store;
  bool verify = false;
};

// Mean over heads of the retained energy at each head's rank: energy is [n_kv, head_dim] with
// column r-1 holding the energy kept at rank r. Heads with rank 0 count as 0 retained.
double mean_energy_at(const std::vector<float>& energy, const std::vector<int32_t>& rank,
                      int64_t n_kv, int64_t head_dim) {
  double sum = 0.0;
  for (int64_t h = 0; h < n_kv; ++h) {
    int32_t r = rank[static_cast<size_t>(h)];
    if (r >= 1 && r <= head_dim) sum += energy[static_cast<size_t>(h * head_dim + r - 1)];
  }
  return n_kv > 0 ? sum / static_cast<double>(n_kv) : 0.0;
}

std::string mean_or_dash(const std::vector<float>& v) {
  if (v.empty()) return "-";
  double s = 0.0;
  for (float x : v) s += x;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", s / static_cast<double>(v.size()));
  return buf;
}

// "r" when every head uses the same rank, else "min-max".
std::string rank_span(const std::vector<int32_t>& r) {
  if (r.empty()) return "-";
  int32_t lo = r[0], hi = r[0];
  for (int32_t x : r) {
    lo = std::min(lo, x);
    hi = std::max(hi, x);
  }
  return lo == hi ? std::to_string(lo) : cat(lo, "-", hi);
}

void print_header(const ProfileStoreReader& reader) {
  const StoreHeader& h = reader.header();
  std::printf("store:        %s\n", reader.path().c_str());
  std::printf("schema:       %s version %lld\n", h.schema.c_str(),
              static_cast<long long>(h.schema_version));
  std::printf("model:        %s\n", h.model_fingerprint.c_str());
  std::printf("dims:         layers=%lld n_q=%lld n_kv=%lld head_dim=%lld hidden=%lld\n",
              static_cast<long long>(h.num_layers), static_cast<long long>(h.n_q),
              static_cast<long long>(h.n_kv), static_cast<long long>(h.head_dim),
              static_cast<long long>(h.hidden));
  std::printf("key rank:     %lld\n", static_cast<long long>(h.key_rank));
  std::string vr;
  for (size_t i = 0; i < h.value_rank_names.size() && i < h.value_rank_values.size(); ++i) {
    vr += cat(i ? " " : "", h.value_rank_names[i], "=", h.value_rank_values[i]);
  }
  std::printf("value ranks:  %s\n", vr.empty() ? "-" : vr.c_str());
  std::printf("calibration:  %s\n",
              h.calibration_fingerprint.empty() ? "none" : h.calibration_fingerprint.c_str());
  std::printf("profile:      %s\n", h.profile_config.c_str());
  std::printf("created:      %s by kvsvd %s (%s), %lld rank(s) on %s\n", h.created_utc.c_str(),
              h.kvsvd_version.c_str(), h.git_rev.c_str(), static_cast<long long>(h.world_size),
              h.device.c_str());
}

// Returns the number of layers that could not be read (printed as a row naming the error).
int print_layers(const ProfileStoreReader& reader) {
  int unreadable = 0;
  std::vector<std::string> per_head_k, per_head_v, per_head_lines;
  int64_t coefficients = 0;
  bool differ = false;
  const StoreHeader& h = reader.header();
  std::printf("\n%5s  %8s  %10s  %8s  %8s  %9s  %9s  %5s\n", "layer", "key_rank", "value_rank",
              "key_E", "value_E", "key_err", "value_err", "fused");
  for (int64_t i = 0; i < h.num_layers; ++i) {
    if (!reader.layer_complete(i)) {
      std::printf("%5lld  (incomplete)\n", static_cast<long long>(i));
      continue;
    }
    LayerProfile p;
    try {
      p = reader.read_layer(i);
    } catch (const Error& e) {
      std::printf("%5lld  unreadable: %s\n", static_cast<long long>(i), e.what());
      ++unreadable;
      continue;
    }
    std::printf("%5lld  %8s  %10s  %8.4f  %8.4f  %9s  %9s  %5s\n", static_cast<long long>(i),
                rank_span(p.key_head_rank).c_str(), rank_span(p.value_head_rank).c_str(),
                mean_energy_at(p.key_energy, p.key_head_rank, p.n_kv, p.head_dim),
                mean_energy_at(p.value_energy, p.value_head_rank, p.n_kv, p.head_dim),
                mean_or_dash(p.key_error).c_str(), mean_or_dash(p.value_error).c_str(),
                p.fused_output.empty() ? "no" : "yes");
    // The allocation itself when heads differ (rank budgets, energy thresholds).
    std::string k, v;
    for (size_t h = 0; h < p.key_head_rank.size(); ++h) k += cat(h ? "," : "", p.key_head_rank[h]);
    for (size_t h = 0; h < p.value_head_rank.size(); ++h)
      v += cat(h ? "," : "", p.value_head_rank[h]);
    coefficients += std::accumulate(p.key_head_rank.begin(), p.key_head_rank.end(), int64_t(0)) +
                    std::accumulate(p.value_head_rank.begin(), p.value_head_rank.end(), int64_t(0));
    differ = differ || rank_span(p.key_head_rank).find('-') != std::string::npos ||
             rank_span(p.value_head_rank).find('-') != std::string::npos ||
             (i > 0 && (k != per_head_k.back() || v != per_head_v.back()));
    per_head_k.push_back(k);
    per_head_v.push_back(v);
    per_head_lines.push_back(cat("  layer ", i, ": keys ", k, "  values ", v, "\n"));
  }
  if (differ) {
    std::printf("\nper-head ranks (KV head 0,1,...), %lld coefficients per token:\n",
                static_cast<long long>(coefficients));
    for (const auto& line : per_head_lines) std::printf("%s", line.c_str());
  }
  return unreadable;
}

// Returns true when the store passes.
bool print_verify(const VerifyReport& rep) {
  std::printf("\nverify:\n");
  std::printf("  fingerprint:     %s\n", rep.fingerprint.c_str());
  std::printf("  datasets read:   %lld\n", static_cast<long long>(rep.datasets_read));
  std::printf("  checksums:       %s (Fletcher32 and content digest of every dataset)\n",
              rep.checksums_ok() ? "ok" : "FAILED");
  for (const std::string& f : rep.failures) std::printf("    %s\n", f.c_str());
  std::printf("  orthonormality:  max |P^T P - I| = %.3g (tolerance %.0e) %s\n",
              rep.max_orthonormality_error, kOrthonormalityTolerance,
              rep.max_orthonormality_error <= kOrthonormalityTolerance ? "ok" : "FAILED");
  for (const LayerCheck& lc : rep.layers) {
    if (lc.key_orthonormality_error > kOrthonormalityTolerance ||
        lc.value_orthonormality_error > kOrthonormalityTolerance) {
      std::printf("    layer %lld: key %.3g, value %.3g\n", static_cast<long long>(lc.layer),
                  lc.key_orthonormality_error, lc.value_orthonormality_error);
    }
  }
  std::fflush(stdout);  // the verdict goes to stderr: keep the report ahead of it
  return rep.ok(kOrthonormalityTolerance);
}

}  // namespace

void register_inspect_command(CLI::App& app) {
  auto opts = std::make_shared<InspectOptions>();
  CLI::App* cmd = app.add_subcommand("inspect", "Show the schema, provenance and per-layer "
                                                "ranks/energies of a profile store");
  cmd->add_option("store", opts->store, "Profile store (.h5)")->required();
  cmd->add_flag("--verify", opts->verify,
                "Read every dataset in a separate process (Fletcher32 checksums, the content "
                "digest recorded in the header) and check that the bases are orthonormal; exit "
                "non-zero on failure, also when the HDF5 library crashes on the file");
  cmd->callback([opts] {
    int rc = run_command("inspect", [&] {
      // First, in a child process: a file that crashes libhdf5 is refused before this process
      // reads it (the reads below are the ones the child survived).
      VerifyReport rep;
      if (opts->verify) rep = verify_store_isolated(opts->store);
      ProfileStoreReader reader = ProfileStoreReader::open(opts->store);
      print_header(reader);
      const int unreadable = print_layers(reader);
      std::fflush(stdout);
      if (opts->verify) {
        KVSVD_CHECK(print_verify(rep), "profile store ", opts->store, " failed verification");
      }
      KVSVD_CHECK(unreadable == 0, unreadable, " layer(s) of ", opts->store,
                  " could not be read (run with --verify for details)");
    });
    std::fflush(stdout);
    if (rc != 0) std::exit(rc);
  });
}

}  // namespace kvsvd
