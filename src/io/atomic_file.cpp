#include "cnnlab/io/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "cnnlab/error.h"

namespace cnnlab {
namespace fs = std::filesystem;

namespace {

void fsync_path(const fs::path& path, int flags) {
  const int fd = ::open(path.c_str(), flags);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

void write_atomically(const fs::path& path, const std::function<void(const fs::path&)>& write) {
  const fs::path tmp = fs::path(path.string() + ".tmp");
  try {
    write(tmp);
  } catch (const Error&) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    throw;
  } catch (const std::exception& e) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    throw IoError(path.string() + ": cannot write: " + torch_error_message(e));
  }
  std::error_code ec;
  if (!fs::exists(tmp, ec)) {
    throw IoError(path.string() + ": cannot write: the file was not created");
  }
  fsync_path(tmp, O_RDONLY);
  fs::rename(tmp, path, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    throw IoError(path.string() + ": cannot replace the file: " + ec.message());
  }
  fsync_path(path.parent_path().empty() ? fs::path(".") : path.parent_path(),
             O_RDONLY | O_DIRECTORY);
}

void write_file_atomically(const fs::path& path, const std::string& contents) {
  write_atomically(path, [&](const fs::path& tmp) {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) {
      throw IoError(path.string() + ": cannot open for writing: " + std::strerror(errno));
    }
    out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
    out.flush();
    if (!out) {
      throw IoError(path.string() + ": write failed (disk full?): " + std::strerror(errno));
    }
  });
}

void ensure_writable_directory(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir)) {
    throw IoError(dir.string() + ": cannot create output directory: " +
                  (ec ? ec.message() : std::string("a file of that name exists")));
  }
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    throw IoError(dir.string() + ": output directory is not writable: " + std::strerror(errno));
  }
}

}  // namespace cnnlab
