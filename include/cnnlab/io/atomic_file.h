#pragma once

#include <filesystem>
#include <functional>
#include <string>

namespace cnnlab {

/// Writes `path` so that a reader (or a crash at any moment) sees either the previous file or the
/// complete new one, never a partial file: the data goes to `path.tmp`, is flushed to disk, then
/// renamed over `path`. `write` receives the temporary path and must create the file there.
/// Throws IoError naming `path` when the directory is not writable or the disk is full; the
/// previous file at `path` is then left untouched.
void write_atomically(const std::filesystem::path& path,
                      const std::function<void(const std::filesystem::path&)>& write);

/// write_atomically for text or bytes already in memory.
void write_file_atomically(const std::filesystem::path& path, const std::string& contents);

/// Creates `dir` (and parents) and checks that a file can be created in it; throws IoError that
/// names the directory otherwise.
void ensure_writable_directory(const std::filesystem::path& dir);

}  // namespace cnnlab
