#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace cnnlab::testing {

/// A fresh directory, removed with its contents when the object goes away.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

void write_bytes(const std::filesystem::path& path, const std::vector<std::uint8_t>& bytes);
void write_gzip(const std::filesystem::path& path, const std::vector<std::uint8_t>& bytes);
void write_text(const std::filesystem::path& path, const std::string& text);
/// The whole file as bytes ("" when it cannot be read).
std::string read_file(const std::filesystem::path& path);

/// Bytes of an IDX file: the magic number (big-endian) and dimensions, then `data`.
std::vector<std::uint8_t> idx_bytes(int32_t magic, const std::vector<int32_t>& dims,
                                    const std::vector<std::uint8_t>& data);

/// Writes an MNIST-style dataset folder (train-/t10k- images and labels) with `n` tiny
/// 4x4 images per split, images of class c filled with value 20·c.
void write_tiny_mnist(const std::filesystem::path& dir, int n_train, int n_test);

/// Writes an image-folder dataset of `n` striped RGB PNGs of assorted sizes (14–18 × 16–18): even
/// images have horizontal stripes and go to the folder `across`, odd ones vertical stripes and go
/// to `down` (the names given). A small conv net tells them apart within a few epochs.
void write_striped_folder(const std::filesystem::path& root, const std::string& across,
                          const std::string& down, int n);

/// A config (TOML text) for a small conv net trained on the image folder `root`: 12×12 images,
/// test_split 0.25, validation_split 0.1, `epochs` epochs of batch 8.
std::string striped_folder_config(const std::filesystem::path& root, int epochs);

/// The data root of the real datasets ($CNNLAB_DATA), or empty when it is not set or lacks
/// `dataset_folder`.
std::filesystem::path real_data_root(const std::string& dataset_folder);

/// What a shell command printed (standard output and error together) and its exit code
/// (128 + the signal for one killed by a signal).
struct CommandOutcome {
  int exit_code = -1;
  std::string output;
};
CommandOutcome run_command(const std::string& command);

}  // namespace cnnlab::testing
