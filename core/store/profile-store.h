// The HDF5 profile store: a crash-safe writer (.partial file, resumable, atomic rename) and a
// distrustful reader (schema version, shapes, Fletcher32 checksums, orthonormality).
#pragma once
#include "core/util/file-fingerprint.h"  // the store fingerprint is file_fingerprint(path)
#include "core/util/output-lock.h"
#include "core/util/version.h"
#include <cstdint>
#include <string>
#include <vector>

#include "core/compress/layer-profile.h"
#include "core/store/h5.h"
#include "core/store/store-digest.h"
#include "core/store/store-schema.h"

namespace kvsvd {

// The root attributes (names in store-schema.h). JSON members are kept as text so that the store
// stays independent of the config structs; resume compares them as parsed JSON.
struct StoreHeader {
  std::string schema = store_schema::kName;         // filled by the writer, checked by the reader
  int64_t schema_version = store_schema::kVersion;  //
  std::string model_fingerprint;                    // identifies the checkpoint (weights+config)
  std::string model_config;                         // JSON object
  std::string profile_config;                       // JSON object (method, ranks, calibration...)
  std::string calibration_fingerprint;              // "" when the profile used no calibration
  std::string kvsvd_version = KVSVD_VERSION;
  std::string git_rev = KVSVD_GIT_REV;
  int64_t world_size = 1;   // MPI ranks of the run that created the store (provenance only)
  std::string device;       // e.g. "cpu", "cuda"
  std::string created_utc;  // "YYYY-MM-DDTHH:MM:SSZ"; create() fills it in when empty
  int64_t num_layers = 0;
  int64_t n_kv = 0;
  int64_t head_dim = 0;
  int64_t n_q = 0;
  int64_t hidden = 0;
  int64_t key_rank = 0;                       // nominal key rank of the profile
  std::vector<std::string> value_rank_names;  // stored as a JSON array of strings
  std::vector<int64_t> value_rank_values;     // stored as a JSON array of ints
};

// SHA-256 (hex) of the header's fields, each as its name and value, strings length-prefixed and
// integers 8-byte little-endian, in the order of StoreHeader: the content digest's entry for "/".
std::string header_digest(const StoreHeader& header);

// A string member of the header's profile_config JSON ("method", "key_space", ...); "" when the
// JSON or the member is absent or not a string (stores written before the member existed).
std::string profile_config_string(const StoreHeader& header, const char* key);

// Expected shape of one layer dataset (see store_schema::ShapeKind) for a layer whose bases have
// `key_rank` / `value_rank` columns.
std::vector<int64_t> layer_dataset_shape(store_schema::ShapeKind kind, const StoreHeader& header,
                                         int64_t key_rank, int64_t value_rank);

// Checks a LayerProfile against the header before it is written: index range, dims, ranks, and
// every array's length (optional arrays may be empty). Errors name the layer and the field.
void validate_layer_profile(const LayerProfile& p, const StoreHeader& header);

// Writes a store. Only one process (MPI rank 0) writes; the class itself knows nothing of MPI.
// All writes go to "<final>.partial"; finalize() renames it to the final name with rename(2),
// so a file at the final name is always complete. Move-only.
//
// Concurrency: create() and resume() first take an exclusive OutputLock on "<final>.lock" and
// hold it until finalize() or destruction, so a second job writing the same store is refused
// (the error names the store and the holder's pid/host) instead of truncating the first one's
// .partial. A lock left by a killed job does not block (flock dies with its holder).
// Disk full: every HDF5 write, flush and close is checked and the .partial is fsynced (checked)
// before the rename, so ENOSPC/EIO end the run with an error naming the .partial and the final
// name never appears.
class ProfileStoreWriter {
 public:
  static std::string partial_path_for(const std::string& final_path);  // final + ".partial"

  // Starts a new store at `final_path` + ".partial" (truncating a stale .partial). Refuses when
  // `final_path` already exists unless `overwrite` (the old store then stays in place until
  // finalize() replaces it). Errors name the path when its directory is missing or unwritable.
  static ProfileStoreWriter create(const std::string& final_path, const StoreHeader& header,
                                   bool overwrite = false);
  // Reopens an interrupted "<final>.partial". Refuses (naming the attribute that differs) a
  // store of another model/config: model_fingerprint, profile_config (compared as JSON) and the
  // dims must equal `expected`'s. The header kept is the one in the file (original created_utc).
  static ProfileStoreWriter resume(const std::string& final_path, const StoreHeader& expected);
  // Why "<final>.partial" cannot be resumed at all ("" when it opens and its header and layer
  // groups read): HDF5 may leave a file whose write failed (disk full) or was cut off (a kill
  // during a flush) with metadata that no longer reads. The caller then starts over instead of
  // failing on every requeue. Refusals of another model/config are resume()'s, not this.
  static std::string partial_damage(const std::string& final_path);

  ProfileStoreWriter(ProfileStoreWriter&&) = default;
  ProfileStoreWriter& operator=(ProfileStoreWriter&&) = default;
  // Without finalize() only the .partial remains (closed, resumable).
  ~ProfileStoreWriter() = default;

  const StoreHeader& header() const { return header_; }
  const std::string& final_path() const { return final_path_; }
  const std::string& partial_path() const { return partial_path_; }

  bool layer_complete(int64_t layer) const;
  std::vector<int64_t> missing_layers() const;  // incomplete or absent, ascending
  // Validates, replaces an incomplete group of the same layer, writes every dataset, then the
  // `complete` attribute, then flushes the file (H5Fflush). Rewriting a complete layer is refused.
  void write_layer(const LayerProfile& p);
  // Requires every layer complete (the error lists the missing ones), closes the file, fsyncs it
  // and renames the .partial to the final name. The writer is unusable afterwards.
  void finalize();

 private:
  ProfileStoreWriter(h5::File file, std::string final_path, StoreHeader header, OutputLock lock);
  OutputLock lock_;  // declared first: released after the file is closed
  h5::File file_;
  std::string final_path_;
  std::string partial_path_;
  StoreHeader header_;
};

// Result of ProfileStoreReader::verify().
struct LayerCheck {
  int64_t layer = 0;
  bool complete = false;
  // max over heads of max |PᵀP − I| over the columns the head uses (its *_head_rank), in double.
  double key_orthonormality_error = 0.0;
  double value_orthonormality_error = 0.0;
};

struct VerifyReport {
  std::string path;
  std::string fingerprint;  // "sha256:<hex>" of the file bytes
  int64_t datasets_read = 0;
  // One line per problem: a dataset whose read failed (Fletcher32 mismatch, bad shape; the line
  // names the dataset path and carries HDF5's message) or an incomplete/missing layer.
  std::vector<std::string> failures;
  std::vector<LayerCheck> layers;
  double max_orthonormality_error = 0.0;

  bool checksums_ok() const { return failures.empty(); }
  bool ok(double orthonormality_tolerance = 1e-4) const {
    return checksums_ok() && max_orthonormality_error <= orthonormality_tolerance;
  }
};

// Reads a store. open() checks the schema name and version (the error names the file and the
// version found) and the header against its recorded digest; read_layer() checks every
// dataset's shape against the header and its bytes against the recorded digest (the error names
// the first object that differs), so no number reaches a caller unchecked.
class ProfileStoreReader {
 public:
  static ProfileStoreReader open(const std::string& path);
  ProfileStoreReader(ProfileStoreReader&&) = default;
  ProfileStoreReader& operator=(ProfileStoreReader&&) = default;

  const std::string& path() const { return file_.path(); }
  const StoreHeader& header() const { return header_; }
  bool layer_complete(int64_t layer) const;
  // The header's dims against the model's (LlamaConfig: num_layers, num_kv_heads, head_dim,
  // num_heads, hidden_size), so that a store of another model is refused before any dataset is
  // read; read_layer() then checks every dataset's shape against these dims. `hidden` is only
  // compared when the store holds fused outputs (header hidden > 0). Errors name the attribute.
  void check_model_dims(int64_t num_layers, int64_t n_kv, int64_t head_dim, int64_t n_q,
                        int64_t hidden) const;
  // Errors name the file and the dataset path (missing, wrong shape/type, checksum failure).
  LayerProfile read_layer(int64_t layer) const;
  // Reads every dataset of every layer, collecting failures instead of stopping at the first.
  VerifyReport verify() const;

 private:
  explicit ProfileStoreReader(h5::File file);
  h5::File file_;
  StoreHeader header_;
  StoreDigest digest_;  // recorded at finalize(); every read is compared with it
};

}  // namespace kvsvd
