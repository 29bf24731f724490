// Checks an untrusted profile store in a separate (forked) process, so that a crash or a hang
// inside libhdf5 on a damaged or hostile file becomes an error naming the file, not a dead job.
#pragma once
#include <string>

#include "core/store/profile-store.h"

namespace kvsvd {

// Forks a child that opens `path` and runs ProfileStoreReader::verify() (every dataset read
// through Fletcher32 and compared with the recorded digest); the child sends its report back
// through a pipe and never touches MPI. Raises kvsvd::Error naming the file when the store
// cannot be opened (the child's message), when the child dies of a signal (a crash inside the
// HDF5 library), exits without a verdict, or runs past `timeout_seconds` (it is then killed);
// timeout_seconds <= 0 picks 60 s plus 1 s per 20 MB of file. Otherwise returns the child's
// report, whose failures the caller judges. Call it before this process opens the store: the
// child must read the file itself, not share this process's open HDF5 handle.
// Tests: KVSVD_FAULT_INJECT=store-check:crash (the child raises SIGSEGV) or store-check:hang
// (it never answers) exercise both paths without a hostile file.
VerifyReport verify_store_isolated(const std::string& path, double timeout_seconds = 0);

// The check every stage makes before it reads a store (on one process, before any rank uses
// it): verify_store_isolated, then an error naming the first failure (checksum, digest, missing
// layer) when there is one. Orthonormality is not judged here (`inspect --verify` does).
void require_sound_store(const std::string& path, double timeout_seconds = 0);

}  // namespace kvsvd
