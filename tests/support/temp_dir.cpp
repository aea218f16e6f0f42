#include "support/temp_dir.h"

#include <sys/wait.h>
#include <zlib.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <random>
#include <stdexcept>

#include "cnnlab/data/image_file.h"

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

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
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

void write_striped_folder(const fs::path& root, const std::string& across, const std::string& down,
                          int n) {
  fs::create_directories(root / across);
  fs::create_directories(root / down);
  torch::manual_seed(0);
  for (int i = 0; i < n; ++i) {
    const int64_t h = 14 + i % 5, w = 16 + i % 3;
    auto image = torch::randint(0, 60, {3, h, w}, torch::kInt64);
    const bool is_across = i % 2 == 0;
    for (int64_t k = i % 3; k < (is_across ? h : w); k += 3) {
      image.select(is_across ? 1 : 2, k).add_(180);
    }
    write_png(root / (is_across ? across : down) / ("p" + std::to_string(i) + ".png"),
              image.clamp(0, 255).to(torch::kUInt8));
  }
}

std::string striped_folder_config(const fs::path& root, int epochs) {
  return R"(name = "stripes"
[data]
dataset = "folder"
dir = ")" +
         root.string() +
         R"("
image_size = [12, 12]
test_split = 0.25
validation_split = 0.1
[[model.layers]]
type = "conv2d"
filters = 8
kernel = 3
activation = "relu"
[[model.layers]]
type = "maxpool"
[[model.layers]]
type = "flatten"
[[model.layers]]
type = "dense"
activation = "softmax"
[train]
epochs = )" +
         std::to_string(epochs) +
         R"(
batch_size = 8
lr = 0.01
)";
}

fs::path real_data_root(const std::string& dataset_folder) {
  const char* env = std::getenv("CNNLAB_DATA");
  if (env == nullptr || *env == '\0') return {};
  const fs::path root(env);
  return fs::is_directory(root / dataset_folder) ? root : fs::path();
}

CommandOutcome run_command(const std::string& command) {
  CommandOutcome outcome;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return outcome;
  char buffer[4096];
  while (std::size_t n = fread(buffer, 1, sizeof buffer, pipe)) outcome.output.append(buffer, n);
  const int status = pclose(pipe);
  outcome.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return outcome;
}

}  // namespace cnnlab::testing
