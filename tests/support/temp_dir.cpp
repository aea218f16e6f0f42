#include "support/temp_dir.h"

#include <zlib.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <stdexcept>

namespace cnnlab::testing {
namespace fs = std::filesystem;

TempDir::TempDir() {
  std::random_device random;
  const fs::path base = fs::temp_directory_path();
  for (int attempt = 0; attempt < 100; ++attempt) {
    fs::path candidate = base / ("cnnlab-test-" + std::to_string(random()));
    if (fs::create_directory(candidate)) {
      path_ = candidate;
      return;
    }
  }
  throw std::runtime_error("cannot create a temporary directory");
}

TempDir::~TempDir() {
  std::error_code ignored;
  fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ignored);
  fs::remove_all(path_, ignored);
}

void write_bytes(const fs::path& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

void write_gzip(const fs::path& path, const std::vector<std::uint8_t>& bytes) {
  gzFile file = gzopen(path.c_str(), "wb");
  gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(file);
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

std::vector<std::uint8_t> idx_bytes(int32_t magic, const std::vector<int32_t>& dims,
                                    const std::vector<std::uint8_t>& data) {
  std::vector<std::uint8_t> bytes;
  auto put = [&](int32_t v) {
    const auto u = static_cast<uint32_t>(v);
    for (int shift : {24, 16, 8, 0}) bytes.push_back(static_cast<std::uint8_t>(u >> shift));
  };
  put(magic);
  for (int32_t d : dims) put(d);
  bytes.insert(bytes.end(), data.begin(), data.end());
  return bytes;
}

void write_tiny_mnist(const fs::path& dir, int n_train, int n_test) {
  fs::create_directories(dir);
  for (auto [prefix, n] : {std::pair{"train", n_train}, std::pair{"t10k", n_test}}) {
    std::vector<std::uint8_t> pixels, labels;
    for (int i = 0; i < n; ++i) {
      const auto label = static_cast<std::uint8_t>(i % 10);
      labels.push_back(label);
      for (int p = 0; p < 16; ++p) pixels.push_back(static_cast<std::uint8_t>(20 * label));
    }
    write_bytes(dir / (std::string(prefix) + "-images-idx3-ubyte"),
                idx_bytes(2051, {n, 4, 4}, pixels));
    write_bytes(dir / (std::string(prefix) + "-labels-idx1-ubyte"), idx_bytes(2049, {n}, labels));
  }
}

fs::path real_data_root(const std::string& dataset_folder) {
  const char* env = std::getenv("CNNLAB_DATA");
  if (env == nullptr || *env == '\0') return {};
  const fs::path root(env);
  return fs::is_directory(root / dataset_folder) ? root : fs::path();
}

}  // namespace cnnlab::testing
