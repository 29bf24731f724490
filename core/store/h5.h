// RAII wrappers over the HDF5 C API (1.10): handles that close themselves, typed attributes,
// checksummed (Fletcher32) float/int32 datasets with shape checks, and errors naming file + path.
#pragma once
#include <hdf5.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace kvsvd {
namespace h5 {

// Turns off HDF5's automatic printing of its error stack (we raise kvsvd::Error instead).
// Idempotent; every wrapper calls it before its first HDF5 call.
void quiet_errors();
// The current HDF5 error stack as one line ("H5Dread: ...; H5Z: Fletcher32 checksum ..."),
// innermost first; empty when the stack is empty.
std::string error_stack_message();

// Throws kvsvd::Error "<what> (<path> in <file>) failed: HDF5: <innermost error frames>".
[[noreturn]] void raise(const std::string& what, const std::string& file, const std::string& path);

// Returns `value` when non-negative, otherwise raises naming the call, file and object path.
template <typename T>
T check(T value, const char* what, const std::string& file, const std::string& path) {
  if (value < 0) raise(what, file, path);
  return value;
}

}  // namespace h5
}  // namespace kvsvd

// KVSVD_H5_CHECK(call, file, path): the call's result, or kvsvd::Error naming the call text,
// the file and the object path, with HDF5's own error stack appended.
#define KVSVD_H5_CHECK(call, file, path) ::kvsvd::h5::check((call), #call, (file), (path))

namespace kvsvd {
namespace h5 {

// One owned hid_t with the close function matching its kind (H5Fclose, H5Gclose, ...).
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  ~Handle() { reset(); }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  Handle(Handle&& o) noexcept : id_(std::exchange(o.id_, H5I_INVALID_HID)), closer_(o.closer_) {}
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = std::exchange(o.id_, H5I_INVALID_HID);
      closer_ = o.closer_;
    }
    return *this;
  }
  hid_t id() const { return id_; }
  bool valid() const { return id_ >= 0; }
  // Closes now; a close failure is ignored here (destructors must not throw), use close().
  void reset();
  // Closes now and raises on failure (H5Fclose is where buffered writes can fail).
  void close(const std::string& file, const std::string& path);

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer closer_ = nullptr;
};

class Dataspace {
 public:
  explicit Dataspace(Handle h) : h_(std::move(h)) {}
  static Dataspace simple(const std::vector<int64_t>& shape);
  static Dataspace scalar();
  hid_t id() const { return h_.id(); }
  std::vector<int64_t> shape() const;  // [] for a scalar dataspace
  int64_t num_elements() const;

 private:
  Handle h_;
};

// A property list (dataset creation, file access, ...).
class PropList {
 public:
  explicit PropList(hid_t cls);
  hid_t id() const { return h_.id(); }

 private:
  Handle h_;
};

// File, group or dataset: something that has a path in a file and can carry attributes.
class Object {
 public:
  Object() = default;
  Object(Handle h, std::string file, std::string path)
      : h_(std::move(h)), file_(std::move(file)), path_(std::move(path)) {}
  hid_t id() const { return h_.id(); }
  bool valid() const { return h_.valid(); }
  const std::string& file() const { return file_; }
  const std::string& path() const { return path_; }  // "/" for the file's root group

  bool has_attr(const std::string& name) const;
  // Setters replace an existing attribute of the same name. Strings are variable-length UTF-8
  // (h5py reads them as str), integers are int64, reals are float64.
  void set_attr_string(const std::string& name, const std::string& value) const;
  void set_attr_int(const std::string& name, int64_t value) const;
  void set_attr_double(const std::string& name, double value) const;
  void set_attr_ints(const std::string& name, const std::vector<int64_t>& values) const;
  void set_attr_doubles(const std::string& name, const std::vector<double>& values) const;
  // Getters: a missing attribute or a wrong type class is an error naming file, path and name.
  // Strings may be stored fixed- or variable-length; integers of any width convert to int64.
  std::string attr_string(const std::string& name) const;
  int64_t attr_int(const std::string& name) const;
  double attr_double(const std::string& name) const;
  std::vector<int64_t> attr_ints(const std::string& name) const;
  std::vector<double> attr_doubles(const std::string& name) const;

 protected:
  Handle h_;
  std::string file_;
  std::string path_;
};

class Dataset;

// A group (or the root group through File::root()).
class Group : public Object {
 public:
  using Object::Object;
  // Child names are relative ("key_basis", "layers/3"); paths in errors are absolute.
  bool has_link(const std::string& name) const;
  Group open_group(const std::string& name) const;
  Group create_group(const std::string& name) const;
  void unlink(const std::string& name) const;  // H5Ldelete (space is not reclaimed)
  std::string child_path(const std::string& name) const;

  // Writes a new chunked, Fletcher32-checksummed dataset of the given shape (row-major data,
  // data.size() must equal the product of shape). Chunks cover the whole dataset unless that
  // exceeds ~4 MiB, in which case leading dimensions are halved until it fits.
  Dataset write_floats(const std::string& name, const std::vector<int64_t>& shape,
                       const std::vector<float>& data) const;
  Dataset write_int32s(const std::string& name, const std::vector<int64_t>& shape,
                       const std::vector<int32_t>& data) const;
  Dataset open_dataset(const std::string& name) const;
  // Reads a dataset whose shape must equal `expected_shape` and whose stored type must be a
  // float (resp. integer) class; a mismatch or a failed read (e.g. Fletcher32 checksum) is an
  // error naming the file and the dataset path.
  std::vector<float> read_floats(const std::string& name,
                                 const std::vector<int64_t>& expected_shape) const;
  std::vector<int32_t> read_int32s(const std::string& name,
                                   const std::vector<int64_t>& expected_shape) const;
};

// Where a dataset's bytes lie in the file: one entry per allocated chunk (or one for
// contiguous storage). Used by tests that corrupt files on purpose and by diagnostics.
struct StorageExtent {
  uint64_t address = 0;  // byte offset in the file
  uint64_t size = 0;     // bytes stored (after filters)
};

class Dataset : public Object {
 public:
  using Object::Object;
  Dataspace space() const;
  std::vector<int64_t> shape() const { return space().shape(); }
  H5T_class_t type_class() const;
  bool has_fletcher32() const;
  std::vector<StorageExtent> storage_extents() const;
  // Whole-dataset reads into native float / int32 (HDF5 converts from the stored type).
  std::vector<float> read_all_floats() const;
  std::vector<int32_t> read_all_int32s() const;
};

enum class FileMode { read_only, read_write };

class File {
 public:
  File() = default;
  // Creates (truncating any existing file at `path`) a file; errors name the path.
  static File create(const std::string& path);
  // `own_partial`: the file is a .partial that this process may take over (it holds the
  // store's OutputLock, so no writer is live): the "open for write" mark that the 1.10 format
  // keeps in the superblock, left set by a writer that was killed, does not refuse the open.
  static File open(const std::string& path, FileMode mode, bool own_partial = false);
  const std::string& path() const { return path_; }
  hid_t id() const { return h_.id(); }
  bool is_open() const { return h_.valid(); }
  // The root group "/" (carries the root attributes).
  Group root() const;
  void flush() const;  // H5Fflush(global): what was written survives a crash of this process
  void close();        // raises on failure; the destructor closes silently

 private:
  File(Handle h, std::string path) : h_(std::move(h)), path_(std::move(path)) {}
  Handle h_;
  std::string path_;
};

}  // namespace h5
}  // namespace kvsvd
