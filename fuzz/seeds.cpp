#include <stb_image_write.h>

#include "cnnlab/config/overrides.h"
#include "cnnlab/config/run_config.h"
#include "cnnlab/data/image_file.h"
#include "cnnlab/models/network.h"
#include "cnnlab/run/checkpoint.h"
#include "support/temp_dir.h"
#include "targets.h"

namespace cnnlab::fuzz {
namespace fs = std::filesystem;
using testing::idx_bytes;
using testing::write_bytes;
using testing::write_gzip;
using testing::write_text;

namespace {

std::vector<std::uint8_t> ramp(std::size_t n, int step) {
  std::vector<std::uint8_t> bytes(n);
  for (std::size_t i = 0; i < n; ++i) bytes[i] = static_cast<std::uint8_t>(i * step);
  return bytes;
}

void write_idx_seeds(const fs::path& dir) {
  write_bytes(dir / "images", idx_bytes(2051, {2, 3, 4}, ramp(24, 7)));
  write_bytes(dir / "labels", idx_bytes(2049, {5}, {0, 1, 2, 3, 9}));
  write_gzip(dir / "images-gz", idx_bytes(2051, {1, 2, 2}, ramp(4, 60)));
  write_bytes(dir / "empty", idx_bytes(2049, {0}, {}));
}

void write_cifar10_seeds(const fs::path& dir) {
  std::vector<std::uint8_t> records;
  for (std::uint8_t label : {3, 9}) {
    records.push_back(label);
    const auto pixels = ramp(3072, label + 1);
    records.insert(records.end(), pixels.begin(), pixels.end());
  }
  write_bytes(dir / "two-records", records);
  write_gzip(dir / "two-records-gz", records);
}

// Image seeds start with the target's control byte (3 channels, 12x12), then the file.
void write_image(const fs::path& path, const std::string& file) {
  // Sized up front: GCC 12 mistakes an insert into a one-byte vector for an overread.
  std::vector<std::uint8_t> bytes(file.size() + 1);
  bytes[0] = static_cast<std::uint8_t>(1 | (8 << 1));
  std::copy(file.begin(), file.end(), bytes.begin() + 1);
  write_bytes(path, bytes);
}

void write_image_seeds(const fs::path& dir) {
  torch::manual_seed(0);
  const auto rgb = torch::randint(0, 256, {3, 7, 9}, torch::kInt64).to(torch::kUInt8);
  const auto gray = torch::randint(0, 256, {1, 5, 6}, torch::kInt64).to(torch::kUInt8);
  write_image(dir / "rgb.png", encode_png(rgb));
  write_image(dir / "gray.png", encode_png(gray));
  const auto hwc = rgb.permute({1, 2, 0}).contiguous();
  const auto* pixels = hwc.data_ptr<std::uint8_t>();
  const auto to_string = [](void* context, void* data, int size) {
    static_cast<std::string*>(context)->append(static_cast<const char*>(data), size);
  };
  std::string bmp, jpg;
  stbi_write_bmp_to_func(to_string, &bmp, 9, 7, 3, pixels);
  stbi_write_jpg_to_func(to_string, &jpg, 9, 7, 3, pixels, 90);
  write_image(dir / "rgb.bmp", bmp);
  write_image(dir / "rgb.jpg", jpg);
  // A 1x1 GIF: header, a two-colour table, one image of LZW data.
  write_image(dir / "dot.gif",
              std::string("GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00"
                          ",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02\x44\x01\x00;",
                          35));
}

void write_config_seeds(const fs::path& dir, const fs::path& configs_dir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(configs_dir, ec)) {
    if (entry.path().extension() != ".toml") continue;
    // The target reads text alone, with no file beside it to extend: a config that extends
    // another is written resolved.
    if (parse_toml(testing::read_file(entry.path()), entry.path().string()).contains("extends")) {
      write_text(dir / entry.path().filename(), to_toml(load_config_file(entry.path())));
    } else {
      fs::copy_file(entry.path(), dir / entry.path().filename(),
                    fs::copy_options::overwrite_existing);
    }
  }
  write_text(dir / "stripes.toml", testing::striped_folder_config("pictures", 2));
}

void write_checkpoint_seeds(const fs::path& dir) {
  torch::manual_seed(0);
  Network network(checkpoint_model());
  torch::optim::Adam optimizer(network->parameters());
  TrainingState state;
  state.epoch = 1;
  state.global_step = 4;
  save_checkpoint(dir / "fresh.pt", *network, nullptr, state);
  // One step, so that the optimizer state holds moments.
  auto loss = network->forward(torch::rand({2, 1, 8, 8})).sum();
  loss.backward();
  optimizer.step();
  save_checkpoint(dir / "trained.pt", *network, &optimizer, state);
}

}  // namespace

void write_seed_corpus(const fs::path& dir, const fs::path& configs_dir) {
  for (const auto& target : targets()) fs::create_directories(dir / target.name);
  write_idx_seeds(dir / "idx");
  write_cifar10_seeds(dir / "cifar10");
  write_image_seeds(dir / "image");
  write_config_seeds(dir / "config", configs_dir);
  write_checkpoint_seeds(dir / "checkpoint");
}

}  // namespace cnnlab::fuzz
