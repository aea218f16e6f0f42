#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "cnnlab/models/layer_spec.h"

namespace cnnlab::fuzz {

/// One input for a parser of outside data. A target returns normally or throws cnnlab::Error
/// (the input was rejected with a message); a crash, a sanitizer report or any other exception
/// is a bug.
using Target = void (*)(const std::uint8_t* data, std::size_t size);

struct NamedTarget {
  std::string name;
  Target run;
};

/// Every fuzz target: idx, cifar10, image, config, checkpoint.
const std::vector<NamedTarget>& targets();

/// The target called `name`; throws std::invalid_argument naming the known ones otherwise.
Target find_target(const std::string& name);

/// The small model whose checkpoints the checkpoint target reads.
ModelSpec checkpoint_model();

/// Writes a seed corpus for every target into `dir`/<target>/: valid inputs made by the same
/// writers the tests use (IDX files, CIFAR-10 batches, PNG/BMP/JPEG/GIF… images, the configs
/// shipped in `configs_dir`, a checkpoint of the checkpoint target's model).
void write_seed_corpus(const std::filesystem::path& dir, const std::filesystem::path& configs_dir);

}  // namespace cnnlab::fuzz
