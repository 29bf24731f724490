#include "core/store/h5.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <mutex>

#include "core/util/error.h"

namespace kvsvd {
namespace h5 {

namespace {

// Chunks are capped so that one corrupt chunk spoils little and reads need little scratch.
constexpr int64_t kMaxChunkBytes = int64_t{4} << 20;

herr_t collect_frame(unsigned n, const H5E_error2_t* err, void* client) {
  auto* out = static_cast<std::vector<std::string>*>(client);
  std::string frame = err->func_name ? err->func_name : "?";
  if (err->desc && *err->desc) frame += cat(": ", err->desc);
  out->push_back(frame);
  (void)n;
  return 0;
}

std::vector<hsize_t> to_hsize(const std::vector<int64_t>& shape, const std::string& what) {
  std::vector<hsize_t> dims;
  dims.reserve(shape.size());
  for (int64_t d : shape) {
    KVSVD_CHECK(d >= 0, "negative dimension ", d, " in the shape of ", what);
    dims.push_back(static_cast<hsize_t>(d));
  }
  return dims;
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += cat(i ? ", " : "", shape[i]);
  return s + "]";
}

int64_t product(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Handle make_handle(hid_t id, Handle::Closer closer) { return Handle(id, closer); }

// Elements of a dataspace, from its dims with an overflow check (HDF5's own npoints is a signed
// product that a corrupt file can wrap), bounded by what the file can hold: a store keeps
// nothing compressed, so a read of more bytes than the file has means a corrupt (or hostile)
// header, and no buffer is allocated for it.
size_t checked_elements(const Dataspace& space, size_t elem_size, const std::string& file,
                        const std::string& where) {
  uint64_t n = static_cast<uint64_t>(space.num_elements());  // 0 for a null, 1 for a scalar space
  const std::vector<int64_t> dims = space.shape();
  if (!dims.empty()) {
    n = 1;
    for (int64_t d : dims) {
      KVSVD_CHECK(d >= 0 && !__builtin_mul_overflow(n, static_cast<uint64_t>(d), &n), where,
                  " in ", file, ": shape ", shape_str(dims), " overflows the element count");
    }
  }
  uint64_t bytes = 0;
  KVSVD_CHECK(!__builtin_mul_overflow(n, static_cast<uint64_t>(elem_size), &bytes), where, " in ",
              file, ": ", n, " elements of ", elem_size, " bytes overflow the byte count");
  struct stat st {};
  KVSVD_CHECK(::stat(file.c_str(), &st) == 0, "cannot stat ", file, " to bound ", where);
  KVSVD_CHECK(bytes <= static_cast<uint64_t>(st.st_size), where, " in ", file, " declares ", n,
              " elements (", bytes, " bytes), more than the whole file (", st.st_size,
              " bytes): corrupt store");
  return static_cast<size_t>(n);
}

// Attribute write shared by every typed setter: replaces an existing attribute.
void write_attr(const Object& obj, const std::string& name, hid_t file_type, hid_t mem_type,
                const Dataspace& space, const void* buf) {
  quiet_errors();
  const std::string where = cat(obj.path(), " attribute '", name, "'");
  if (obj.has_attr(name)) {
    KVSVD_H5_CHECK(H5Adelete(obj.id(), name.c_str()), obj.file(), where);
  }
  Handle attr(KVSVD_H5_CHECK(H5Acreate2(obj.id(), name.c_str(), file_type, space.id(),
                                        H5P_DEFAULT, H5P_DEFAULT),
                             obj.file(), where),
              H5Aclose);
  if (space.num_elements() > 0) {
    KVSVD_H5_CHECK(H5Awrite(attr.id(), mem_type, buf), obj.file(), where);
  }
}

Handle open_attr(const Object& obj, const std::string& name) {
  quiet_errors();
  const std::string where = cat(obj.path(), " attribute '", name, "'");
  KVSVD_CHECK(obj.has_attr(name), "missing attribute '", name, "' on ", obj.path(), " in ",
              obj.file());
  return Handle(KVSVD_H5_CHECK(H5Aopen(obj.id(), name.c_str(), H5P_DEFAULT), obj.file(), where),
                H5Aclose);
}

// Reads a numeric attribute of the given type class as `mem_type` elements.
template <typename T>
std::vector<T> read_numeric_attr(const Object& obj, const std::string& name, H5T_class_t want,
                                 hid_t mem_type, const char* type_name) {
  const std::string where = cat(obj.path(), " attribute '", name, "'");
  Handle attr = open_attr(obj, name);
  Handle type(KVSVD_H5_CHECK(H5Aget_type(attr.id()), obj.file(), where), H5Tclose);
  H5T_class_t cls = H5Tget_class(type.id());
  KVSVD_CHECK(cls == want, "attribute '", name, "' on ", obj.path(), " in ", obj.file(),
              " is not of ", type_name, " type");
  Dataspace space(Handle(KVSVD_H5_CHECK(H5Aget_space(attr.id()), obj.file(), where), H5Sclose));
  std::vector<T> out(checked_elements(space, sizeof(T), obj.file(), where));
  if (!out.empty()) {
    KVSVD_H5_CHECK(H5Aread(attr.id(), mem_type, out.data()), obj.file(), where);
  }
  return out;
}

std::vector<int64_t> chunk_shape(const std::vector<int64_t>& shape, size_t elem_size) {
  std::vector<int64_t> chunk;
  for (int64_t d : shape) chunk.push_back(std::max<int64_t>(d, 1));
  const int64_t cap = std::max<int64_t>(1, kMaxChunkBytes / static_cast<int64_t>(elem_size));
  while (product(chunk) > cap) {
    auto it = std::find_if(chunk.begin(), chunk.end(), [](int64_t c) { return c > 1; });
    if (it == chunk.end()) break;
    *it = (*it + 1) / 2;
  }
  return chunk;
}

Dataset write_dataset(const Group& g, const std::string& name, const std::vector<int64_t>& shape,
                      hid_t file_type, hid_t mem_type, size_t elem_size, const void* data,
                      size_t n) {
  quiet_errors();
  const std::string path = g.child_path(name);
  KVSVD_CHECK(static_cast<int64_t>(n) == product(shape), "dataset ", path, " in ", g.file(),
              ": ", n, " elements given for shape ", shape_str(shape));
  KVSVD_CHECK(!shape.empty(), "dataset ", path, " in ", g.file(), ": a scalar shape is not "
              "supported (use an attribute)");
  std::vector<hsize_t> dims = to_hsize(shape, path);
  // A zero-length dimension needs an unlimited maximum: a chunk of 1 may not exceed a max of 0.
  std::vector<hsize_t> maxdims = dims;
  for (auto& m : maxdims) {
    if (m == 0) m = H5S_UNLIMITED;
  }
  Dataspace space(Handle(KVSVD_H5_CHECK(H5Screate_simple(static_cast<int>(dims.size()),
                                                         dims.data(), maxdims.data()),
                                        g.file(), path),
                         H5Sclose));
  PropList dcpl(H5P_DATASET_CREATE);
  std::vector<hsize_t> chunk = to_hsize(chunk_shape(shape, elem_size), path);
  KVSVD_H5_CHECK(H5Pset_chunk(dcpl.id(), static_cast<int>(chunk.size()), chunk.data()), g.file(),
                 path);
  // Every dataset carries a checksum per chunk, verified by HDF5 on every read.
  KVSVD_H5_CHECK(H5Pset_fletcher32(dcpl.id()), g.file(), path);
  Dataset ds(Handle(KVSVD_H5_CHECK(H5Dcreate2(g.id(), name.c_str(), file_type, space.id(),
                                              H5P_DEFAULT, dcpl.id(), H5P_DEFAULT),
                                   g.file(), path),
                    H5Dclose),
             g.file(), path);
  if (n > 0) {
    if (H5Dwrite(ds.id(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) {
      raise("writing dataset", g.file(), path);
    }
  }
  return ds;
}

// The 1.10 file format (superblock v3, object header v2, v2 B-trees, fractal heaps, fixed and
// extensible chunk indexes) stores a checksum in every metadata block, verified on each read;
// the 1.8-compatible default leaves object headers, v1 B-trees and local heaps unchecked. Both
// bounds at 1.10 so that any HDF5 >= 1.10 reads the file, also when a newer library writes it.
void set_checksummed_format(const PropList& fapl, const std::string& path) {
  KVSVD_H5_CHECK(H5Pset_libver_bounds(fapl.id(), H5F_LIBVER_V110, H5F_LIBVER_V110), path, "/");
}

void check_read_shape(const Dataset& ds, const std::vector<int64_t>& expected) {
  std::vector<int64_t> got = ds.shape();
  KVSVD_CHECK(got == expected, "dataset ", ds.path(), " in ", ds.file(), " has shape ",
              shape_str(got), ", expected ", shape_str(expected));
}

}  // namespace

void quiet_errors() {
  static std::once_flag once;
  std::call_once(once, [] { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); });
}

std::string error_stack_message() {
  // Copy (and clear) the default stack first: any API call made while walking it would clear it.
  hid_t stack = H5Eget_current_stack();
  if (stack < 0) return "";
  std::vector<std::string> frames;
  H5Ewalk2(stack, H5E_WALK_UPWARD, collect_frame, &frames);
  H5Eclose_stack(stack);
  std::string out;
  // The innermost frames say what went wrong (e.g. the Fletcher32 mismatch); the outer ones
  // only repeat "can't read data" on the way up.
  const size_t keep = std::min<size_t>(frames.size(), 3);
  for (size_t i = 0; i < keep; ++i) out += (i ? "; " : "") + frames[i];
  return out;
}

void raise(const std::string& what, const std::string& file, const std::string& path) {
  std::string stack = error_stack_message();
  fail(cat(what, " (", path, " in ", file, ") failed", stack.empty() ? "" : ": HDF5: ", stack));
}

// ---- Handle ----

void Handle::reset() {
  if (id_ >= 0 && closer_) closer_(id_);
  id_ = H5I_INVALID_HID;
}

void Handle::close(const std::string& file, const std::string& path) {
  if (id_ < 0) return;
  hid_t id = std::exchange(id_, H5I_INVALID_HID);
  if (closer_ && closer_(id) < 0) raise("closing", file, path);
}

// ---- Dataspace / PropList ----

Dataspace Dataspace::simple(const std::vector<int64_t>& shape) {
  quiet_errors();
  if (shape.size() == 1 && shape[0] == 0) {
    // An empty vector attribute: a null dataspace holds no elements and h5py reads it as empty.
    return Dataspace(make_handle(KVSVD_H5_CHECK(H5Screate(H5S_NULL), "", "dataspace"), H5Sclose));
  }
  std::vector<hsize_t> dims = to_hsize(shape, "a dataspace");
  return Dataspace(make_handle(
      KVSVD_H5_CHECK(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), "",
                     "dataspace"),
      H5Sclose));
}

Dataspace Dataspace::scalar() {
  quiet_errors();
  return Dataspace(make_handle(KVSVD_H5_CHECK(H5Screate(H5S_SCALAR), "", "dataspace"), H5Sclose));
}

std::vector<int64_t> Dataspace::shape() const {
  int nd = KVSVD_H5_CHECK(H5Sget_simple_extent_ndims(id()), "", "dataspace");
  std::vector<hsize_t> dims(static_cast<size_t>(nd));
  if (nd > 0) KVSVD_H5_CHECK(H5Sget_simple_extent_dims(id(), dims.data(), nullptr), "", "dataspace");
  return std::vector<int64_t>(dims.begin(), dims.end());
}

int64_t Dataspace::num_elements() const {
  return KVSVD_H5_CHECK(H5Sget_simple_extent_npoints(id()), "", "dataspace");
}

PropList::PropList(hid_t cls) {
  quiet_errors();
  h_ = Handle(KVSVD_H5_CHECK(H5Pcreate(cls), "", "property list"), H5Pclose);
}

// ---- Object: attributes ----

bool Object::has_attr(const std::string& name) const {
  quiet_errors();
  return KVSVD_H5_CHECK(H5Aexists(id(), name.c_str()), file_,
                        cat(path_, " attribute '", name, "'")) > 0;
}

void Object::set_attr_string(const std::string& name, const std::string& value) const {
  Handle type(KVSVD_H5_CHECK(H5Tcopy(H5T_C_S1), file_, path_), H5Tclose);
  KVSVD_H5_CHECK(H5Tset_size(type.id(), H5T_VARIABLE), file_, path_);
  KVSVD_H5_CHECK(H5Tset_cset(type.id(), H5T_CSET_UTF8), file_, path_);
  const char* ptr = value.c_str();
  write_attr(*this, name, type.id(), type.id(), Dataspace::scalar(), &ptr);
}

void Object::set_attr_int(const std::string& name, int64_t value) const {
  write_attr(*this, name, H5T_STD_I64LE, H5T_NATIVE_INT64, Dataspace::scalar(), &value);
}

void Object::set_attr_double(const std::string& name, double value) const {
  write_attr(*this, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, Dataspace::scalar(), &value);
}

void Object::set_attr_ints(const std::string& name, const std::vector<int64_t>& values) const {
  write_attr(*this, name, H5T_STD_I64LE, H5T_NATIVE_INT64,
             Dataspace::simple({static_cast<int64_t>(values.size())}), values.data());
}

void Object::set_attr_doubles(const std::string& name, const std::vector<double>& values) const {
  write_attr(*this, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE,
             Dataspace::simple({static_cast<int64_t>(values.size())}), values.data());
}

std::string Object::attr_string(const std::string& name) const {
  const std::string where = cat(path_, " attribute '", name, "'");
  Handle attr = open_attr(*this, name);
  Handle type(KVSVD_H5_CHECK(H5Aget_type(attr.id()), file_, where), H5Tclose);
  KVSVD_CHECK(H5Tget_class(type.id()) == H5T_STRING, "attribute '", name, "' on ", path_, " in ",
              file_, " is not a string");
  Dataspace space(Handle(KVSVD_H5_CHECK(H5Aget_space(attr.id()), file_, where), H5Sclose));
  KVSVD_CHECK(space.num_elements() == 1, "attribute '", name, "' on ", path_, " in ", file_,
              " holds ", space.num_elements(), " strings, expected one");
  if (KVSVD_H5_CHECK(H5Tis_variable_str(type.id()), file_, where) > 0) {
    Handle mem(KVSVD_H5_CHECK(H5Tcopy(H5T_C_S1), file_, where), H5Tclose);
    KVSVD_H5_CHECK(H5Tset_size(mem.id(), H5T_VARIABLE), file_, where);
    KVSVD_H5_CHECK(H5Tset_cset(mem.id(), H5Tget_cset(type.id())), file_, where);
    char* ptr = nullptr;
    KVSVD_H5_CHECK(H5Aread(attr.id(), mem.id(), &ptr), file_, where);
    std::string out = ptr ? std::string(ptr) : std::string();
    if (ptr) H5free_memory(ptr);
    return out;
  }
  size_t size = H5Tget_size(type.id());
  KVSVD_CHECK(size > 0, "attribute '", name, "' on ", path_, " in ", file_, ": bad string size");
  KVSVD_CHECK(checked_elements(space, size, file_, where) == 1, "attribute '", name, "' on ",
              path_, " in ", file_, " holds more than one string");
  std::string buf(size, '\0');
  Handle mem(KVSVD_H5_CHECK(H5Tcopy(type.id()), file_, where), H5Tclose);
  KVSVD_H5_CHECK(H5Aread(attr.id(), mem.id(), &buf[0]), file_, where);
  // Fixed-length strings are NUL-terminated or NUL-padded: cut at the first NUL.
  size_t end = buf.find('\0');
  if (end != std::string::npos) buf.resize(end);
  return buf;
}

std::vector<int64_t> Object::attr_ints(const std::string& name) const {
  return read_numeric_attr<int64_t>(*this, name, H5T_INTEGER, H5T_NATIVE_INT64, "integer");
}

std::vector<double> Object::attr_doubles(const std::string& name) const {
  return read_numeric_attr<double>(*this, name, H5T_FLOAT, H5T_NATIVE_DOUBLE, "floating-point");
}

int64_t Object::attr_int(const std::string& name) const {
  std::vector<int64_t> v = attr_ints(name);
  KVSVD_CHECK(v.size() == 1, "attribute '", name, "' on ", path_, " in ", file_, " holds ",
              v.size(), " values, expected one integer");
  return v[0];
}

double Object::attr_double(const std::string& name) const {
  std::vector<double> v = attr_doubles(name);
  KVSVD_CHECK(v.size() == 1, "attribute '", name, "' on ", path_, " in ", file_, " holds ",
              v.size(), " values, expected one number");
  return v[0];
}

// ---- Group ----

std::string Group::child_path(const std::string& name) const {
  return path_ == "/" ? "/" + name : path_ + "/" + name;
}

bool Group::has_link(const std::string& name) const {
  quiet_errors();
  // H5Lexists on "a/b" fails when "a" is missing: check each component in turn.
  size_t start = 0;
  while (true) {
    size_t slash = name.find('/', start);
    std::string prefix = name.substr(0, slash);
    htri_t e = KVSVD_H5_CHECK(H5Lexists(id(), prefix.c_str(), H5P_DEFAULT), file_,
                              child_path(prefix));
    if (e <= 0) return false;
    if (slash == std::string::npos) return true;
    start = slash + 1;
  }
}

Group Group::open_group(const std::string& name) const {
  quiet_errors();
  const std::string p = child_path(name);
  KVSVD_CHECK(has_link(name), "missing group ", p, " in ", file_);
  return Group(Handle(KVSVD_H5_CHECK(H5Gopen2(id(), name.c_str(), H5P_DEFAULT), file_, p),
                      H5Gclose),
               file_, p);
}

Group Group::create_group(const std::string& name) const {
  quiet_errors();
  const std::string p = child_path(name);
  return Group(Handle(KVSVD_H5_CHECK(H5Gcreate2(id(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT,
                                                H5P_DEFAULT),
                                     file_, p),
                      H5Gclose),
               file_, p);
}

void Group::unlink(const std::string& name) const {
  quiet_errors();
  KVSVD_H5_CHECK(H5Ldelete(id(), name.c_str(), H5P_DEFAULT), file_, child_path(name));
}

Dataset Group::write_floats(const std::string& name, const std::vector<int64_t>& shape,
                            const std::vector<float>& data) const {
  return write_dataset(*this, name, shape, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, sizeof(float),
                       data.data(), data.size());
}

Dataset Group::write_int32s(const std::string& name, const std::vector<int64_t>& shape,
                            const std::vector<int32_t>& data) const {
  return write_dataset(*this, name, shape, H5T_STD_I32LE, H5T_NATIVE_INT32, sizeof(int32_t),
                       data.data(), data.size());
}

Dataset Group::open_dataset(const std::string& name) const {
  quiet_errors();
  const std::string p = child_path(name);
  KVSVD_CHECK(has_link(name), "missing dataset ", p, " in ", file_);
  return Dataset(Handle(KVSVD_H5_CHECK(H5Dopen2(id(), name.c_str(), H5P_DEFAULT), file_, p),
                        H5Dclose),
                 file_, p);
}

std::vector<float> Group::read_floats(const std::string& name,
                                      const std::vector<int64_t>& expected_shape) const {
  Dataset ds = open_dataset(name);
  check_read_shape(ds, expected_shape);
  return ds.read_all_floats();
}

std::vector<int32_t> Group::read_int32s(const std::string& name,
                                        const std::vector<int64_t>& expected_shape) const {
  Dataset ds = open_dataset(name);
  check_read_shape(ds, expected_shape);
  return ds.read_all_int32s();
}

// ---- Dataset ----

Dataspace Dataset::space() const {
  return Dataspace(Handle(KVSVD_H5_CHECK(H5Dget_space(id()), file_, path_), H5Sclose));
}

H5T_class_t Dataset::type_class() const {
  Handle type(KVSVD_H5_CHECK(H5Dget_type(id()), file_, path_), H5Tclose);
  return H5Tget_class(type.id());
}

bool Dataset::has_fletcher32() const {
  Handle dcpl(KVSVD_H5_CHECK(H5Dget_create_plist(id()), file_, path_), H5Pclose);
  int n = KVSVD_H5_CHECK(H5Pget_nfilters(dcpl.id()), file_, path_);
  for (int i = 0; i < n; ++i) {
    unsigned flags = 0;
    size_t nvals = 0;
    unsigned filter_config = 0;
    H5Z_filter_t f = H5Pget_filter2(dcpl.id(), static_cast<unsigned>(i), &flags, &nvals, nullptr,
                                    0, nullptr, &filter_config);
    if (f == H5Z_FILTER_FLETCHER32) return true;
  }
  return false;
}

std::vector<StorageExtent> Dataset::storage_extents() const {
  Handle dcpl(KVSVD_H5_CHECK(H5Dget_create_plist(id()), file_, path_), H5Pclose);
  std::vector<StorageExtent> out;
  if (H5Pget_layout(dcpl.id()) != H5D_CHUNKED) {
    haddr_t addr = H5Dget_offset(id());
    if (addr != HADDR_UNDEF) out.push_back({addr, H5Dget_storage_size(id())});
    return out;
  }
  Dataspace fs = space();
  hsize_t nchunks = 0;
  KVSVD_H5_CHECK(H5Dget_num_chunks(id(), fs.id(), &nchunks), file_, path_);
  std::vector<hsize_t> offset(fs.shape().size());
  for (hsize_t i = 0; i < nchunks; ++i) {
    unsigned mask = 0;
    haddr_t addr = 0;
    hsize_t size = 0;
    KVSVD_H5_CHECK(H5Dget_chunk_info(id(), fs.id(), i, offset.data(), &mask, &addr, &size), file_,
                   path_);
    out.push_back({addr, size});
  }
  return out;
}

std::vector<float> Dataset::read_all_floats() const {
  KVSVD_CHECK(type_class() == H5T_FLOAT, "dataset ", path_, " in ", file_,
              " does not hold floating-point numbers");
  std::vector<float> out(checked_elements(space(), sizeof(float), file_, path_));
  if (!out.empty()) {
    if (H5Dread(id(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) < 0) {
      raise("reading dataset", file_, path_);
    }
  }
  return out;
}

std::vector<int32_t> Dataset::read_all_int32s() const {
  KVSVD_CHECK(type_class() == H5T_INTEGER, "dataset ", path_, " in ", file_,
              " does not hold integers");
  std::vector<int32_t> out(checked_elements(space(), sizeof(int32_t), file_, path_));
  if (!out.empty()) {
    if (H5Dread(id(), H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) < 0) {
      raise("reading dataset", file_, path_);
    }
  }
  return out;
}

// ---- File ----

File File::create(const std::string& path) {
  quiet_errors();
  PropList fapl(H5P_FILE_ACCESS);
  // SEMI: H5Fclose fails while objects are still open, so a "closed" file is really closed
  // (and flushed) before the caller renames it into place.
  KVSVD_H5_CHECK(H5Pset_fclose_degree(fapl.id(), H5F_CLOSE_SEMI), path, "/");
  set_checksummed_format(fapl, path);
  hid_t id = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.id());
  if (id < 0) raise("creating the HDF5 file", path, "/");
  return File(Handle(id, H5Fclose), path);
}

File File::open(const std::string& path, FileMode mode, bool own_partial) {
  quiet_errors();
  PropList fapl(H5P_FILE_ACCESS);
  if (own_partial) {
    // The property h5clear uses (registered on every file access list since HDF5 1.10.0).
    hbool_t clear = 1;
    KVSVD_H5_CHECK(H5Pset(fapl.id(), "clear_status_flags", &clear), path, "/");
  }
  KVSVD_H5_CHECK(H5Pset_fclose_degree(fapl.id(), H5F_CLOSE_SEMI), path, "/");
  // Objects added on resume get the same checksummed format as the file's first ones.
  if (mode == FileMode::read_write) set_checksummed_format(fapl, path);
  unsigned flags = mode == FileMode::read_write ? H5F_ACC_RDWR : H5F_ACC_RDONLY;
  hid_t id = H5Fopen(path.c_str(), flags, fapl.id());
  if (id < 0) raise("opening the HDF5 file", path, "/");
  return File(Handle(id, H5Fclose), path);
}

Group File::root() const {
  return Group(Handle(KVSVD_H5_CHECK(H5Gopen2(id(), "/", H5P_DEFAULT), path_, "/"), H5Gclose),
               path_, "/");
}

void File::flush() const { KVSVD_H5_CHECK(H5Fflush(id(), H5F_SCOPE_GLOBAL), path_, "/"); }

void File::close() { h_.close(path_, "/"); }

}  // namespace h5
}  // namespace kvsvd
