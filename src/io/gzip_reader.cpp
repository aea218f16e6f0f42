#include "cnnlab/io/gzip_reader.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "cnnlab/error.h"

namespace cnnlab {
namespace fs = std::filesystem;

namespace {
constexpr std::size_t kChunkBytes = std::size_t{1} << 22;
}  // namespace

std::optional<fs::path> find_plain_or_gz(const fs::path& dir, const std::string& name) {
  std::error_code ec;
  for (const fs::path& candidate : {dir / name, dir / (name + ".gz")}) {
    if (fs::is_regular_file(candidate, ec)) return candidate;
  }
  return std::nullopt;
}

GzipReader::GzipReader(const fs::path& path) : path_(path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    throw IoError(path.string() + ": expected a file, found a directory");
  }
  gzFile file = gzopen(path.c_str(), "rb");
  if (file == nullptr) {
    throw IoError(path.string() + ": cannot open: " + std::strerror(errno));
  }
  gzbuffer(file, 1 << 18);
  file_ = file;
}

GzipReader::~GzipReader() {
  if (file_ != nullptr) gzclose(static_cast<gzFile>(file_));
}

std::size_t GzipReader::read(std::vector<std::uint8_t>& out, std::size_t count) {
  auto file = static_cast<gzFile>(file_);
  std::size_t total = 0;
  while (total < count) {
    const std::size_t want = std::min(count - total, kChunkBytes);
    const std::size_t old_size = out.size();
    out.resize(old_size + want);
    const int got = gzread(file, out.data() + old_size, static_cast<unsigned>(want));
    if (got < 0) {
      out.resize(old_size);
      int errnum = 0;
      const char* message = gzerror(file, &errnum);
      throw DataFormatError(path_.string() + ": corrupt gzip data: " +
                            (message != nullptr ? message : "unknown zlib error"));
    }
    out.resize(old_size + static_cast<std::size_t>(got));
    total += static_cast<std::size_t>(got);
    if (static_cast<std::size_t>(got) < want) {
      int errnum = 0;
      gzerror(file, &errnum);
      if (errnum != Z_OK && errnum != Z_BUF_ERROR) {
        throw DataFormatError(path_.string() + ": corrupt gzip data");
      }
      break;
    }
  }
  return total;
}

bool GzipReader::at_end() {
  std::vector<std::uint8_t> probe;
  if (read(probe, 1) == 0) return true;
  gzungetc(probe[0], static_cast<gzFile>(file_));
  return false;
}

std::vector<std::uint8_t> read_maybe_gzipped(const fs::path& path, std::size_t max_bytes) {
  GzipReader reader(path);
  std::vector<std::uint8_t> bytes;
  reader.read(bytes, max_bytes);
  if (bytes.size() == max_bytes && !reader.at_end()) {
    throw DataFormatError(path.string() + ": file is larger than the " + std::to_string(max_bytes) +
                          " bytes this format allows");
  }
  return bytes;
}

}  // namespace cnnlab
