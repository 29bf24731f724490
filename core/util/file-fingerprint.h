// Content fingerprints (SHA-256, hex) of whole files and byte buffers, for provenance of datasets
// and profile stores. Torch-free.
#pragma once
#include <cstddef>
#include <string>

namespace kvsvd {

// Full-content SHA-256 of a regular file; the error names the path.
std::string file_fingerprint(const std::string& path);

// SHA-256 of a byte buffer.
std::string bytes_fingerprint(const void* data, size_t len);

}  // namespace kvsvd
