#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace cnnlab {

/// `dir/name` if it exists, else `dir/name.gz` if that exists, else nothing.
std::optional<std::filesystem::path> find_plain_or_gz(const std::filesystem::path& dir,
                                                      const std::string& name);

/// Reads a file that may be gzip-compressed (zlib detects it) into memory. Reading stops with a
/// DataFormatError once more than `max_bytes` have been decompressed, so a hostile file cannot
/// exhaust memory. Throws IoError when the file cannot be opened, DataFormatError when the
/// compressed stream is corrupt.
std::vector<std::uint8_t> read_maybe_gzipped(const std::filesystem::path& path,
                                             std::size_t max_bytes);

/// Reads up to `count` bytes more from an open stream; used by readers that check a header
/// before deciding how much to read.
class GzipReader {
 public:
  explicit GzipReader(const std::filesystem::path& path);
  ~GzipReader();
  GzipReader(const GzipReader&) = delete;
  GzipReader& operator=(const GzipReader&) = delete;

  /// Appends up to `count` bytes to `out`; returns how many were read (fewer only at the end).
  std::size_t read(std::vector<std::uint8_t>& out, std::size_t count);
  /// True when no byte is left.
  bool at_end();
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  void* file_ = nullptr;
};

}  // namespace cnnlab
