#include "core/store/profile-store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/store/store-digest.h"
#include "core/util/error.h"
#include "core/util/sha256.h"
#include "core/util/file-sync.h"
#include "core/util/utc-time.h"

namespace kvsvd {

std::string profile_config_string(const StoreHeader& header, const char* key) {
  if (header.profile_config.empty()) return "";
  const nlohmann::json j = nlohmann::json::parse(header.profile_config, nullptr, false);
  if (!j.is_object() || !j.contains(key) || !j[key].is_string()) return "";
  return j[key].get<std::string>();
}

namespace attr = store_schema::root_attr;
namespace lattr = store_schema::layer_attr;
using store_schema::ElementType;
using store_schema::LayerDatasetSpec;
using store_schema::ShapeKind;

namespace {

// Bounds of the header dims a reader accepts (real models: head_dim <= 512, hidden <= 2^16)
// and of the element count of one layer dataset; both keep every product in int64.
constexpr int64_t kMaxStoreDim = int64_t{1} << 24;
constexpr int64_t kMaxStoreElements = int64_t{1} << 40;

bool path_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

std::string parent_dir(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// A clear error before HDF5's own: missing directory, not a directory, not writable.
void check_writable_dir(const std::string& file_path) {
  const std::string dir = parent_dir(file_path);
  struct stat st;
  KVSVD_CHECK(::stat(dir.c_str(), &st) == 0, "cannot write the profile store ", file_path,
              ": directory ", dir, " does not exist (", std::strerror(errno), ")");
  KVSVD_CHECK(S_ISDIR(st.st_mode), "cannot write the profile store ", file_path, ": ", dir,
              " is not a directory");
  KVSVD_CHECK(::access(dir.c_str(), W_OK | X_OK) == 0, "cannot write the profile store ",
              file_path, ": directory ", dir, " is not writable (", std::strerror(errno), ")");
}

void write_header(const h5::Group& root, const StoreHeader& h) {
  root.set_attr_string(attr::schema, store_schema::kName);
  root.set_attr_int(attr::schema_version, store_schema::kVersion);
  root.set_attr_string(attr::model_fingerprint, h.model_fingerprint);
  root.set_attr_string(attr::model_config, h.model_config);
  root.set_attr_string(attr::profile_config, h.profile_config);
  root.set_attr_string(attr::calibration_fingerprint, h.calibration_fingerprint);
  root.set_attr_string(attr::kvsvd_version, h.kvsvd_version);
  root.set_attr_string(attr::git_rev, h.git_rev);
  root.set_attr_int(attr::world_size, h.world_size);
  root.set_attr_string(attr::device, h.device);
  root.set_attr_string(attr::created_utc, h.created_utc);
  root.set_attr_int(attr::num_layers, h.num_layers);
  root.set_attr_int(attr::n_kv, h.n_kv);
  root.set_attr_int(attr::head_dim, h.head_dim);
  root.set_attr_int(attr::n_q, h.n_q);
  root.set_attr_int(attr::hidden, h.hidden);
  root.set_attr_int(attr::key_rank, h.key_rank);
  root.set_attr_string(attr::value_rank_names, nlohmann::json(h.value_rank_names).dump());
  root.set_attr_string(attr::value_rank_values, nlohmann::json(h.value_rank_values).dump());
}

// Schema name/version first: a reader must not guess at files of another layout.
void check_schema(const h5::Group& root) {
  const std::string& f = root.file();
  KVSVD_CHECK(root.has_attr(attr::schema), f, " is not a kvsvd profile store (no '", attr::schema,
              "' attribute on /)");
  std::string name = root.attr_string(attr::schema);
  KVSVD_CHECK(name == store_schema::kName, f, " is not a kvsvd profile store (schema '", name,
              "', expected '", store_schema::kName, "')");
  KVSVD_CHECK(root.has_attr(attr::schema_version), f, " has no '", attr::schema_version,
              "' attribute");
  int64_t version = root.attr_int(attr::schema_version);
  KVSVD_CHECK(version == store_schema::kVersion, f, " has profile-store schema version ", version,
              "; this build of kvsvd reads version ", store_schema::kVersion,
              version == 1 ? " (version 1 stores carry no content digest, so damage to them can "
                             "go unnoticed)"
                           : "",
              " (re-run `kvsvd profile` or use a matching kvsvd)");
}

nlohmann::json parse_attr_json(const h5::Group& root, const char* name) {
  std::string text = root.attr_string(name);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail(cat("attribute '", name, "' on / in ", root.file(), " is not valid JSON: ", e.what()));
  }
}

StoreHeader read_header(const h5::Group& root) {
  check_schema(root);
  StoreHeader h;
  h.schema = root.attr_string(attr::schema);
  h.schema_version = root.attr_int(attr::schema_version);
  h.model_fingerprint = root.attr_string(attr::model_fingerprint);
  h.model_config = root.attr_string(attr::model_config);
  h.profile_config = root.attr_string(attr::profile_config);
  h.calibration_fingerprint = root.attr_string(attr::calibration_fingerprint);
  h.kvsvd_version = root.attr_string(attr::kvsvd_version);
  h.git_rev = root.attr_string(attr::git_rev);
  h.world_size = root.attr_int(attr::world_size);
  h.device = root.attr_string(attr::device);
  h.created_utc = root.attr_string(attr::created_utc);
  h.num_layers = root.attr_int(attr::num_layers);
  h.n_kv = root.attr_int(attr::n_kv);
  h.head_dim = root.attr_int(attr::head_dim);
  h.n_q = root.attr_int(attr::n_q);
  h.hidden = root.attr_int(attr::hidden);
  h.key_rank = root.attr_int(attr::key_rank);
  nlohmann::json names = parse_attr_json(root, attr::value_rank_names);
  nlohmann::json values = parse_attr_json(root, attr::value_rank_values);
  try {
    h.value_rank_names = names.get<std::vector<std::string>>();
    h.value_rank_values = values.get<std::vector<int64_t>>();
  } catch (const nlohmann::json::exception& e) {
    fail(cat("attributes '", attr::value_rank_names, "'/'", attr::value_rank_values, "' in ",
             root.file(), " must be JSON arrays of strings / integers: ", e.what()));
  }
  KVSVD_CHECK(h.num_layers > 0 && h.n_kv > 0 && h.head_dim > 0 && h.n_q > 0 && h.hidden >= 0,
              root.file(), ": implausible dims num_layers=", h.num_layers, " n_kv=", h.n_kv,
              " head_dim=", h.head_dim, " n_q=", h.n_q, " hidden=", h.hidden);
  KVSVD_CHECK(h.n_q % h.n_kv == 0, root.file(), ": n_q=", h.n_q, " is not a multiple of n_kv=",
              h.n_kv);
  // The dims size every array of read_layer (and the loops over them): bound them, and the
  // largest dataset shapes they imply, before anything multiplies them.
  for (int64_t d : {h.num_layers, h.n_kv, h.head_dim, h.n_q, h.hidden, h.key_rank}) {
    KVSVD_CHECK(d <= kMaxStoreDim, root.file(), ": implausible dims num_layers=", h.num_layers,
                " n_kv=", h.n_kv, " head_dim=", h.head_dim, " n_q=", h.n_q, " hidden=", h.hidden,
                " key_rank=", h.key_rank, " (each must be <= ", kMaxStoreDim, ")");
  }
  for (const std::vector<int64_t>& shape :
       {layer_dataset_shape(ShapeKind::key_basis, h, h.head_dim, h.head_dim),
        layer_dataset_shape(ShapeKind::fused_output, h, h.head_dim, h.head_dim)}) {
    int64_t n = 1;
    for (int64_t d : shape) {
      KVSVD_CHECK(!__builtin_mul_overflow(n, d, &n) && n <= kMaxStoreElements, root.file(),
                  ": dims n_kv=", h.n_kv, " head_dim=", h.head_dim, " n_q=", h.n_q,
                  " hidden=", h.hidden, " imply datasets of more than ", kMaxStoreElements,
                  " elements");
    }
  }
  return h;
}

bool group_complete(const h5::Group& root, int64_t layer) {
  const std::string name = store_schema::layer_group_name(layer);
  if (!root.has_link(name)) return false;
  h5::Group g = root.open_group(name);
  return g.has_attr(lattr::complete) && g.attr_int(lattr::complete) == 1;
}

std::vector<int64_t> missing_in(const h5::File& file, int64_t num_layers) {
  h5::Group root = file.root();
  std::vector<int64_t> out;
  for (int64_t i = 0; i < num_layers; ++i) {
    if (!group_complete(root, i)) out.push_back(i);
  }
  return out;
}

std::string list_str(const std::vector<int64_t>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += cat(i ? ", " : "", v[i]);
  return s;
}

// JSON text compared as parsed documents (whitespace and key order do not count).
bool same_json(const std::string& a, const std::string& b) {
  try {
    return nlohmann::json::parse(a) == nlohmann::json::parse(b);
  } catch (const nlohmann::json::exception&) {
    return a == b;
  }
}

// Reads the ranks recorded on a layer group and checks them against the header.
void read_layer_ranks(const h5::Group& g, const StoreHeader& h, int64_t layer, LayerProfile& p) {
  p.layer = g.attr_int(lattr::layer);
  KVSVD_CHECK(p.layer == layer, "group ", g.path(), " in ", g.file(), " says layer ", p.layer);
  p.n_kv = h.n_kv;
  p.head_dim = h.head_dim;
  p.key_rank = g.attr_int(lattr::key_rank);
  p.value_rank = g.attr_int(lattr::value_rank);
  p.hidden = g.attr_int(lattr::hidden);
  KVSVD_CHECK(p.key_rank >= 1 && p.key_rank <= h.head_dim, "group ", g.path(), " in ", g.file(),
              ": key_rank ", p.key_rank, " outside [1, head_dim=", h.head_dim, "]");
  KVSVD_CHECK(p.value_rank >= 1 && p.value_rank <= h.head_dim, "group ", g.path(), " in ",
              g.file(), ": value_rank ", p.value_rank, " outside [1, head_dim=", h.head_dim, "]");
}

void read_dataset_into(const h5::Group& g, const LayerDatasetSpec& spec, const StoreHeader& h,
                       LayerProfile& p) {
  std::vector<int64_t> shape = layer_dataset_shape(spec.shape, h, p.key_rank, p.value_rank);
  if (spec.optional && !g.has_link(spec.name)) return;
  if (spec.type == ElementType::float32) {
    p.*(spec.f32) = g.read_floats(spec.name, shape);
  } else {
    p.*(spec.i32) = g.read_int32s(spec.name, shape);
  }
  if (spec.shape == ShapeKind::fused_output) {
    KVSVD_CHECK(p.hidden == h.hidden, "group ", g.path(), " in ", g.file(), " stores ",
                spec.name, " with hidden=", p.hidden, " but the header says ", h.hidden);
  }
}

// max over heads of max_{a,b < r_h} |(PᵀP)_{ab} − δ_{ab}| for basis [n_kv, head_dim, rank].
double orthonormality_error(const std::vector<float>& basis, int64_t n_kv, int64_t head_dim,
                            int64_t rank, const std::vector<int32_t>& head_rank) {
  double worst = 0.0;
  for (int64_t h = 0; h < n_kv; ++h) {
    int64_t r = rank;
    // Only the columns the head uses must be orthonormal (adaptive profiles may pad the rest).
    if (static_cast<int64_t>(head_rank.size()) == n_kv) {
      r = std::clamp<int64_t>(head_rank[static_cast<size_t>(h)], 0, rank);
    }
    const float* P = basis.data() + h * head_dim * rank;
    for (int64_t a = 0; a < r; ++a) {
      for (int64_t b = a; b < r; ++b) {
        double dot = 0.0;
        for (int64_t i = 0; i < head_dim; ++i) {
          dot += static_cast<double>(P[i * rank + a]) * static_cast<double>(P[i * rank + b]);
        }
        worst = std::max(worst, std::fabs(dot - (a == b ? 1.0 : 0.0)));
      }
    }
  }
  return worst;
}


// Every dataset of a complete layer group, checked against the header's dims (no digest).
LayerProfile read_layer_datasets(const h5::Group& root, const StoreHeader& h, int64_t layer) {
  const std::string name = store_schema::layer_group_name(layer);
  KVSVD_CHECK(root.has_link(name), "layer group ", store_schema::layer_group_path(layer),
              " is missing in ", root.file());
  KVSVD_CHECK(group_complete(root, layer), "layer group ", store_schema::layer_group_path(layer),
              " in ", root.file(), " is incomplete (interrupted write)");
  h5::Group g = root.open_group(name);
  LayerProfile p;
  read_layer_ranks(g, h, layer, p);
  for (const LayerDatasetSpec& spec : store_schema::layer_datasets()) {
    read_dataset_into(g, spec, h, p);
  }
  return p;
}

// The objects of layer p whose content differs from `recorded`, in schema order, one message
// each naming the object and the file; objects in `unread` (their read failed) are skipped.
std::vector<std::string> digest_mismatches(const StoreDigest& recorded, const LayerProfile& p,
                                           const std::vector<std::string>& unread,
                                           const std::string& file) {
  auto skipped = [&](const std::string& o) {
    return std::find(unread.begin(), unread.end(), o) != unread.end();
  };
  std::vector<std::string> out;
  const std::vector<DigestEntry> have = layer_digest_entries(p);
  for (const DigestEntry& e : have) {
    if (skipped(e.object)) continue;
    const std::string want = recorded.find(e.object);
    const char* what = e.object == store_schema::layer_group_path(p.layer) ? "attributes of "
                                                                           : "dataset ";
    if (want.empty()) {
      out.push_back(cat(what, e.object, " in ", file, " has no digest recorded in '",
                        attr::content_digest, "' on /: damaged store"));
    } else if (want != e.sha256) {
      out.push_back(cat(what, e.object, " in ", file, ": content differs from the digest "
                        "recorded in the header (sha256 ", e.sha256.substr(0, 16), "..., recorded ",
                        want.substr(0, 16), "...): damaged store"));
    }
  }
  const std::string prefix = store_schema::layer_group_path(p.layer) + "/";
  for (const DigestEntry& e : recorded.entries) {
    if (e.object.compare(0, prefix.size(), prefix) != 0 || skipped(e.object)) continue;
    const bool read = std::any_of(have.begin(), have.end(),
                                  [&](const DigestEntry& x) { return x.object == e.object; });
    if (!read) {
      out.push_back(cat("dataset ", e.object, " has a recorded digest but is missing from ", file,
                        ": damaged store"));
    }
  }
  return out;
}

}  // namespace

std::string header_digest(const StoreHeader& h) {
  // Byte-exact and unambiguous: each field as its name and value, every string and integer
  // length-prefixed / fixed-width little-endian (a damaged string need not be valid UTF-8).
  Sha256 sha;
  auto put_u64 = [&](uint64_t v) {
    uint8_t b[8];
    for (int i = 0; i < 8; ++i) b[i] = uint8_t(v >> (8 * i));
    sha.update(b, 8);
  };
  auto put_str = [&](const std::string& s) {
    put_u64(s.size());
    sha.update(s);
  };
  auto str = [&](const char* name, const std::string& v) {
    put_str(name);
    put_str(v);
  };
  auto num = [&](const char* name, int64_t v) {
    put_str(name);
    put_u64(uint64_t(v));
  };
  put_str("kvsvd-store-header-v1");
  str(attr::schema, h.schema);
  num(attr::schema_version, h.schema_version);
  str(attr::model_fingerprint, h.model_fingerprint);
  str(attr::model_config, h.model_config);
  str(attr::profile_config, h.profile_config);
  str(attr::calibration_fingerprint, h.calibration_fingerprint);
  str(attr::kvsvd_version, h.kvsvd_version);
  str(attr::git_rev, h.git_rev);
  num(attr::world_size, h.world_size);
  str(attr::device, h.device);
  str(attr::created_utc, h.created_utc);
  num(attr::num_layers, h.num_layers);
  num(attr::n_kv, h.n_kv);
  num(attr::head_dim, h.head_dim);
  num(attr::n_q, h.n_q);
  num(attr::hidden, h.hidden);
  num(attr::key_rank, h.key_rank);
  num(attr::value_rank_names, int64_t(h.value_rank_names.size()));
  for (const std::string& n : h.value_rank_names) put_str(n);
  num(attr::value_rank_values, int64_t(h.value_rank_values.size()));
  for (int64_t v : h.value_rank_values) put_u64(uint64_t(v));
  return sha.hex_digest();
}

std::vector<int64_t> layer_dataset_shape(ShapeKind kind, const StoreHeader& h, int64_t key_rank,
                                         int64_t value_rank) {
  switch (kind) {
    case ShapeKind::key_basis: return {h.n_kv, h.head_dim, key_rank};
    case ShapeKind::value_basis: return {h.n_kv, h.head_dim, value_rank};
    case ShapeKind::per_head_dim: return {h.n_kv, h.head_dim};
    case ShapeKind::per_head: return {h.n_kv};
    case ShapeKind::fused_output: return {h.n_q, h.hidden, value_rank};
  }
  return {};
}

void validate_layer_profile(const LayerProfile& p, const StoreHeader& h) {
  KVSVD_CHECK(p.layer >= 0 && p.layer < h.num_layers, "layer profile index ", p.layer,
              " outside [0, ", h.num_layers, ")");
  KVSVD_CHECK(p.n_kv == h.n_kv && p.head_dim == h.head_dim, "layer ", p.layer, ": n_kv=", p.n_kv,
              " head_dim=", p.head_dim, " differ from the store's n_kv=", h.n_kv,
              " head_dim=", h.head_dim);
  KVSVD_CHECK(p.key_rank >= 1 && p.key_rank <= h.head_dim, "layer ", p.layer, ": key_rank ",
              p.key_rank, " outside [1, head_dim=", h.head_dim, "]");
  KVSVD_CHECK(p.value_rank >= 1 && p.value_rank <= h.head_dim, "layer ", p.layer,
              ": value_rank ", p.value_rank, " outside [1, head_dim=", h.head_dim, "]");
  for (const LayerDatasetSpec& spec : store_schema::layer_datasets()) {
    std::vector<int64_t> shape = layer_dataset_shape(spec.shape, h, p.key_rank, p.value_rank);
    int64_t want = 1;
    for (int64_t d : shape) want *= d;
    size_t have = spec.type == ElementType::float32 ? (p.*(spec.f32)).size()
                                                     : (p.*(spec.i32)).size();
    if (spec.optional && have == 0) continue;
    KVSVD_CHECK(static_cast<int64_t>(have) == want, "layer ", p.layer, ": ", spec.name, " has ",
                have, " elements, expected ", want);
  }
  if (!p.fused_output.empty()) {
    KVSVD_CHECK(p.hidden == h.hidden, "layer ", p.layer, ": fused_output with hidden=", p.hidden,
                " but the store's hidden=", h.hidden);
  }
  for (int32_t r : p.key_head_rank) {
    KVSVD_CHECK(r >= 0 && r <= p.key_rank, "layer ", p.layer, ": key_head_rank ", r,
                " outside [0, key_rank=", p.key_rank, "]");
  }
  for (int32_t r : p.value_head_rank) {
    KVSVD_CHECK(r >= 0 && r <= p.value_rank, "layer ", p.layer, ": value_head_rank ", r,
                " outside [0, value_rank=", p.value_rank, "]");
  }
}

// ---- writer ----

std::string ProfileStoreWriter::partial_path_for(const std::string& final_path) {
  return final_path + ".partial";
}

ProfileStoreWriter::ProfileStoreWriter(h5::File file, std::string final_path, StoreHeader header,
                                       OutputLock lock)
    : lock_(std::move(lock)),
      file_(std::move(file)),
      final_path_(std::move(final_path)),
      partial_path_(partial_path_for(final_path_)),
      header_(std::move(header)) {}

ProfileStoreWriter ProfileStoreWriter::create(const std::string& final_path,
                                              const StoreHeader& header, bool overwrite) {
  KVSVD_CHECK(!final_path.empty(), "empty profile store path");
  KVSVD_CHECK(header.num_layers > 0 && header.n_kv > 0 && header.head_dim > 0 && header.n_q > 0,
              "store header for ", final_path, " has implausible dims num_layers=",
              header.num_layers, " n_kv=", header.n_kv, " head_dim=", header.head_dim,
              " n_q=", header.n_q);
  KVSVD_CHECK(header.value_rank_names.size() == header.value_rank_values.size(),
              "store header for ", final_path, ": ", header.value_rank_names.size(),
              " value rank names but ", header.value_rank_values.size(), " values");
  check_writable_dir(final_path);
  KVSVD_CHECK(overwrite || !path_exists(final_path), "profile store ", final_path,
              " already exists; refusing to overwrite it (ask for overwrite explicitly)");
  StoreHeader h = header;
  h.schema = store_schema::kName;
  h.schema_version = store_schema::kVersion;
  if (h.created_utc.empty()) h.created_utc = utc_now_iso();
  // Before anything touches the .partial: a concurrent writer's file must not be truncated.
  OutputLock lock = OutputLock::acquire(final_path, "profile store");
  // Again under the lock: the job we raced may have finished the store meanwhile.
  KVSVD_CHECK(overwrite || !path_exists(final_path), "profile store ", final_path,
              " already exists; refusing to overwrite it (ask for overwrite explicitly)");
  const std::string partial = partial_path_for(final_path);
  h5::File file = h5::File::create(partial);
  {
    h5::Group root = file.root();
    write_header(root, h);
    root.create_group(store_schema::kLayersGroup);
  }
  file.flush();
  return ProfileStoreWriter(std::move(file), final_path, std::move(h), std::move(lock));
}

ProfileStoreWriter ProfileStoreWriter::resume(const std::string& final_path,
                                              const StoreHeader& expected) {
  const std::string partial = partial_path_for(final_path);
  KVSVD_CHECK(path_exists(partial), "no interrupted profile store to resume: ", partial,
              " does not exist");
  check_writable_dir(final_path);
  OutputLock lock = OutputLock::acquire(final_path, "profile store");
  // The holder we waited out may have finished it meanwhile.
  KVSVD_CHECK(path_exists(partial), "no interrupted profile store to resume: ", partial,
              " does not exist (finished by another job?)");
  h5::File file = h5::File::open(partial, h5::FileMode::read_write, /*own_partial=*/true);
  StoreHeader h;
  {
    h5::Group root = file.root();
    h = read_header(root);
    const std::string refused = cat(": a store of another model/config is refused (", partial,
                                    ")");
    KVSVD_CHECK(h.model_fingerprint == expected.model_fingerprint,
                "model_fingerprint differs: the store has '", h.model_fingerprint,
                "', this run has '", expected.model_fingerprint, "'", refused);
    KVSVD_CHECK(same_json(h.profile_config, expected.profile_config),
                "profile_config differs: the store has ", h.profile_config, ", this run has ",
                expected.profile_config, refused);
    KVSVD_CHECK(h.calibration_fingerprint == expected.calibration_fingerprint,
                "calibration_fingerprint differs: the store has '", h.calibration_fingerprint,
                "', this run has '", expected.calibration_fingerprint, "'", refused);
    auto same_dim = [&](const char* name, int64_t a, int64_t b) {
      KVSVD_CHECK(a == b, name, " differs: the store has ", a, ", this run has ", b, refused);
    };
    same_dim(attr::num_layers, h.num_layers, expected.num_layers);
    same_dim(attr::n_kv, h.n_kv, expected.n_kv);
    same_dim(attr::head_dim, h.head_dim, expected.head_dim);
    same_dim(attr::n_q, h.n_q, expected.n_q);
    same_dim(attr::hidden, h.hidden, expected.hidden);
    same_dim(attr::key_rank, h.key_rank, expected.key_rank);
    KVSVD_CHECK(h.value_rank_names == expected.value_rank_names &&
                    h.value_rank_values == expected.value_rank_values,
                "value ranks differ from this run's", refused);
    if (!root.has_link(store_schema::kLayersGroup)) root.create_group(store_schema::kLayersGroup);
  }
  return ProfileStoreWriter(std::move(file), final_path, std::move(h), std::move(lock));
}

std::string ProfileStoreWriter::partial_damage(const std::string& final_path) {
  const std::string partial = partial_path_for(final_path);
  try {
    h5::quiet_errors();
    KVSVD_CHECK(H5Fis_hdf5(partial.c_str()) > 0, partial, " is not an HDF5 file");
    // A killed writer leaves the superblock's "open for write" mark: not damage.
    const h5::File file = h5::File::open(partial, h5::FileMode::read_only, /*own_partial=*/true);
    const StoreHeader h = read_header(file.root());
    missing_in(file, h.num_layers);  // opens every layer group and reads its `complete` flag
    return "";
  } catch (const Error& e) {
    return e.what();
  }
}

bool ProfileStoreWriter::layer_complete(int64_t layer) const {
  KVSVD_CHECK(file_.is_open(), "profile store ", final_path_, " was already finalized");
  return group_complete(file_.root(), layer);
}

std::vector<int64_t> ProfileStoreWriter::missing_layers() const {
  KVSVD_CHECK(file_.is_open(), "profile store ", final_path_, " was already finalized");
  return missing_in(file_, header_.num_layers);
}

void ProfileStoreWriter::write_layer(const LayerProfile& p) {
  KVSVD_CHECK(file_.is_open(), "profile store ", final_path_, " was already finalized");
  validate_layer_profile(p, header_);
  {
    h5::Group root = file_.root();
    const std::string name = store_schema::layer_group_name(p.layer);
    if (root.has_link(name)) {
      KVSVD_CHECK(!group_complete(root, p.layer), "layer ", p.layer, " of ", partial_path_,
                  " is already complete; refusing to rewrite it");
      root.unlink(name);  // remains of an interrupted write
    }
    h5::Group g = root.create_group(name);
    g.set_attr_int(lattr::layer, p.layer);
    g.set_attr_int(lattr::key_rank, p.key_rank);
    g.set_attr_int(lattr::value_rank, p.value_rank);
    g.set_attr_int(lattr::hidden, p.fused_output.empty() ? 0 : p.hidden);
    for (const LayerDatasetSpec& spec : store_schema::layer_datasets()) {
      std::vector<int64_t> shape = layer_dataset_shape(spec.shape, header_, p.key_rank,
                                                       p.value_rank);
      if (spec.type == ElementType::float32) {
        const std::vector<float>& data = p.*(spec.f32);
        if (spec.optional && data.empty()) continue;
        g.write_floats(spec.name, shape, data);
      } else {
        const std::vector<int32_t>& data = p.*(spec.i32);
        if (spec.optional && data.empty()) continue;
        g.write_int32s(spec.name, shape, data);
      }
    }
    // Last: a reader (or resume) trusts a group only once this is 1.
    g.set_attr_int(lattr::complete, 1);
  }
  file_.flush();
}

void ProfileStoreWriter::finalize() {
  KVSVD_CHECK(file_.is_open(), "profile store ", final_path_, " was already finalized");
  std::vector<int64_t> missing = missing_layers();
  KVSVD_CHECK(missing.empty(), "cannot finalize ", partial_path_, ": layers ", list_str(missing),
              " of ", header_.num_layers, " are not complete");
  {
    // From what the file holds (read back through the checksums), not from what was meant to
    // be written: a write that went wrong is caught here rather than certified.
    const h5::Group root = file_.root();
    const StoreHeader on_disk = read_header(root);
    StoreDigest digest;
    digest.entries.push_back({"/", header_digest(on_disk)});
    for (int64_t l = 0; l < on_disk.num_layers; ++l) {
      for (DigestEntry& e : layer_digest_entries(read_layer_datasets(root, on_disk, l))) {
        digest.entries.push_back(std::move(e));
      }
    }
    root.set_attr_string(attr::content_digest, digest.to_json());
  }
  file_.close();
  // Checked: on a full disk (delayed allocation, NFS) the data may only fail to reach the disk
  // here; renaming an unsynced file would put a truncated store under the final name.
  const int sync_err = sync_path(partial_path_);
  KVSVD_CHECK(sync_err == 0, "flushing ", partial_path_, " to disk failed: ",
              std::strerror(sync_err), " (the store was not renamed to its final name)");
  KVSVD_CHECK(std::rename(partial_path_.c_str(), final_path_.c_str()) == 0, "renaming ",
              partial_path_, " to ", final_path_, " failed: ", std::strerror(errno));
  sync_path(parent_dir(final_path_), true);  // best effort: the rename is what must succeed
  lock_.release();
}

// ---- reader ----

ProfileStoreReader::ProfileStoreReader(h5::File file) : file_(std::move(file)) {
  const h5::Group root = file_.root();
  header_ = read_header(root);
  KVSVD_CHECK(root.has_attr(attr::content_digest), "profile store ", path(), " has no '",
              attr::content_digest, "' attribute on / (unfinished or damaged store)");
  digest_ = StoreDigest::from_json(root.attr_string(attr::content_digest), path());
  const std::string want = digest_.find("/");
  KVSVD_CHECK(!want.empty(), "the content digest of ", path(), " has no entry for the header");
  KVSVD_CHECK(want == header_digest(header_), "the header attributes on / in ", path(),
              " differ from their recorded digest: damaged store");
}

ProfileStoreReader ProfileStoreReader::open(const std::string& path) {
  struct stat st;
  KVSVD_CHECK(::stat(path.c_str(), &st) == 0, "profile store ", path, " does not exist");
  KVSVD_CHECK(S_ISREG(st.st_mode), "profile store ", path, " is not a regular file");
  h5::quiet_errors();
  KVSVD_CHECK(H5Fis_hdf5(path.c_str()) > 0, path, " is not an HDF5 file (not a profile store)");
  return ProfileStoreReader(h5::File::open(path, h5::FileMode::read_only));
}

void ProfileStoreReader::check_model_dims(int64_t num_layers, int64_t n_kv, int64_t head_dim,
                                          int64_t n_q, int64_t hidden) const {
  auto same = [&](const char* name, int64_t store, int64_t model) {
    KVSVD_CHECK(store == model, "profile store ", path(), ": ", name, "=", store,
                " but the model has ", name, "=", model, " (a store of another model?)");
  };
  same(attr::num_layers, header_.num_layers, num_layers);
  same(attr::n_kv, header_.n_kv, n_kv);
  same(attr::head_dim, header_.head_dim, head_dim);
  same(attr::n_q, header_.n_q, n_q);
  if (header_.hidden > 0) same(attr::hidden, header_.hidden, hidden);
}

bool ProfileStoreReader::layer_complete(int64_t layer) const {
  return group_complete(file_.root(), layer);
}

LayerProfile ProfileStoreReader::read_layer(int64_t layer) const {
  KVSVD_CHECK(layer >= 0 && layer < header_.num_layers, "layer ", layer, " outside [0, ",
              header_.num_layers, ") in ", path());
  LayerProfile p = read_layer_datasets(file_.root(), header_, layer);
  const std::vector<std::string> bad = digest_mismatches(digest_, p, {}, path());
  KVSVD_CHECK(bad.empty(), bad.empty() ? "" : bad.front());
  return p;
}

VerifyReport ProfileStoreReader::verify() const {
  VerifyReport rep;
  rep.path = path();
  rep.fingerprint = file_fingerprint(path());
  h5::Group root = file_.root();
  for (int64_t i = 0; i < header_.num_layers; ++i) {
    LayerCheck lc;
    lc.layer = i;
    const std::string gpath = store_schema::layer_group_path(i);
    if (!root.has_link(store_schema::layer_group_name(i))) {
      rep.failures.push_back(cat("layer group ", gpath, " is missing"));
      rep.layers.push_back(lc);
      continue;
    }
    lc.complete = group_complete(root, i);
    if (!lc.complete) rep.failures.push_back(cat("layer group ", gpath, " is incomplete"));
    h5::Group g = root.open_group(store_schema::layer_group_name(i));
    LayerProfile p;
    try {
      read_layer_ranks(g, header_, i, p);
    } catch (const Error& e) {
      rep.failures.push_back(e.what());
      rep.layers.push_back(lc);
      continue;
    }
    bool key_ok = true, value_ok = true;
    std::vector<std::string> unread;
    for (const LayerDatasetSpec& spec : store_schema::layer_datasets()) {
      try {
        read_dataset_into(g, spec, header_, p);
        if (!spec.optional || g.has_link(spec.name)) ++rep.datasets_read;
      } catch (const Error& e) {
        rep.failures.push_back(e.what());
        unread.push_back(g.child_path(spec.name));
        if (spec.shape == ShapeKind::key_basis || spec.i32 == &LayerProfile::key_head_rank) {
          key_ok = false;
        }
        if (spec.shape == ShapeKind::value_basis || spec.i32 == &LayerProfile::value_head_rank) {
          value_ok = false;
        }
      }
    }
    for (std::string& m : digest_mismatches(digest_, p, unread, path())) {
      rep.failures.push_back(std::move(m));
      key_ok = value_ok = false;  // numbers that are not the recorded ones say nothing
    }
    if (key_ok) {
      lc.key_orthonormality_error = orthonormality_error(p.key_basis, p.n_kv, p.head_dim,
                                                         p.key_rank, p.key_head_rank);
    }
    if (value_ok) {
      lc.value_orthonormality_error = orthonormality_error(p.value_basis, p.n_kv, p.head_dim,
                                                           p.value_rank, p.value_head_rank);
    }
    rep.max_orthonormality_error = std::max({rep.max_orthonormality_error,
                                             lc.key_orthonormality_error,
                                             lc.value_orthonormality_error});
    rep.layers.push_back(lc);
  }
  return rep;
}

}  // namespace kvsvd
