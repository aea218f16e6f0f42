#include "cnnlab/data/data_root.h"

#include <fmt/format.h>

#include <cstdlib>

#include "cnnlab/data/cifar10.h"
#include "cnnlab/data/idx.h"
#include "cnnlab/error.h"
#include "cnnlab/io/gzip_reader.h"

namespace cnnlab {
namespace fs = std::filesystem;

namespace {

struct DatasetInfo {
  std::string name;
  std::string folder;
  std::string download;  // where the user gets the files
};

const std::vector<DatasetInfo>& registry() {
  static const std::vector<DatasetInfo> infos = {
      {"mnist", "mnist",
       "the four files from https://storage.googleapis.com/cvdf-datasets/mnist/ "
       "(train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, "
       "t10k-labels-idx1-ubyte.gz)"},
      {"fashion-mnist", "fashion-mnist",
       "the four files from "
       "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/ "
       "(train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, "
       "t10k-labels-idx1-ubyte.gz)"},
      {"cifar10", "cifar-10-batches-bin",
       "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz and unpack it there "
       "(it unpacks to cifar-10-batches-bin/)"},
      {"idx", "",
       "an MNIST-style IDX pair: train-images-idx3-ubyte, train-labels-idx1-ubyte, "
       "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (raw or .gz)"},
  };
  return infos;
}

const DatasetInfo& info_for(const std::string& name) {
  for (const auto& info : registry()) {
    if (info.name == name) return info;
  }
  std::string names;
  for (const auto& info : registry()) names += (names.empty() ? "" : ", ") + info.name;
  throw ConfigError(
      fmt::format("data.dataset: unknown dataset '{}': expected one of {}", name, names));
}

fs::path dataset_dir(const DataOptions& options, const DataRoot& root) {
  const DatasetInfo& info = info_for(options.dataset());
  if (!options.dir().empty()) {
    const fs::path dir(options.dir());
    return dir.is_absolute() ? dir : root.path / dir;
  }
  if (info.folder.empty()) {
    throw ConfigError("data.dir: dataset 'idx' needs data.dir, the folder holding the IDX files");
  }
  return root.path / info.folder;
}

fs::path require_file(const DataOptions& options, const DataRoot& root, const std::string& name) {
  const fs::path dir = dataset_dir(options, root);
  if (auto found = find_plain_or_gz(dir, name)) return *found;
  const DatasetInfo& info = info_for(options.dataset());
  throw DatasetNotFoundError(fmt::format(
      "dataset '{}' not found: looked for {} (or {}.gz) in {} (data root from {}). "
      "Download {} into that folder, or point --data-dir or $CNNLAB_DATA at the folder that holds "
      "'{}/'.",
      options.dataset(), name, name, dir.string(), root.source, info.download,
      dir.filename().string()));
}

std::vector<std::string> digit_names() {
  std::vector<std::string> names;
  for (int i = 0; i < 10; ++i) names.push_back(std::to_string(i));
  return names;
}

Dataset limit(const Dataset& data, int64_t n) {
  if (n < 0) throw ConfigError(fmt::format("data limit: expected a count ≥ 0, found {}", n));
  if (n == 0 || n >= data.size()) return data;
  return data.slice(0, n);
}

Dataset load_split(const DataOptions& options, const DataRoot& root, bool train) {
  const std::string& name = options.dataset();
  if (name == "cifar10") {
    const auto names = dataset_class_names(options, root);
    std::vector<Dataset> parts;
    if (train) {
      for (int b = 1; b <= 5; ++b) {
        parts.push_back(read_cifar10_batch(
            require_file(options, root, fmt::format("data_batch_{}.bin", b)), names));
      }
    } else {
      parts.push_back(read_cifar10_batch(require_file(options, root, "test_batch.bin"), names));
    }
    return concatenate(parts);
  }
  const std::string prefix = train ? "train" : "t10k";
  return load_idx_dataset(require_file(options, root, prefix + "-images-idx3-ubyte"),
                          require_file(options, root, prefix + "-labels-idx1-ubyte"),
                          dataset_class_names(options, root));
}

}  // namespace

DataRoot resolve_data_root(const std::string& flag) {
  if (!flag.empty()) return {fs::path(flag), "--data-dir"};
  if (const char* env = std::getenv("CNNLAB_DATA"); env != nullptr && *env != '\0') {
    return {fs::path(env), "$CNNLAB_DATA"};
  }
  return {fs::path("data"), "the default ./data"};
}

const std::vector<std::string>& known_datasets() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto& info : registry()) out.push_back(info.name);
    return out;
  }();
  return names;
}

std::vector<std::string> dataset_class_names(const DataOptions& options, const DataRoot& root) {
  const std::string& name = options.dataset();
  info_for(name);
  if (name == "fashion-mnist") {
    return {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
            "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  }
  if (name == "cifar10") {
    if (auto meta = find_plain_or_gz(dataset_dir(options, root), "batches.meta.txt")) {
      auto names = read_class_names(*meta);
      if (names.size() != 10) {
        throw DataFormatError(fmt::format("{}: expected 10 class names, found {}",
                                          meta->filename().string(), names.size()));
      }
      return names;
    }
    return cifar10_default_class_names();
  }
  return digit_names();
}

LoadedData load_data(const DataOptions& options, const DataRoot& root) {
  Dataset full_train = limit(load_split(options, root, true), options.train_limit());
  auto [train, validation] = validation_split(full_train, options.validation_split());
  LoadedData data;
  data.train = train;
  data.validation = validation;
  data.test = limit(load_split(options, root, false), options.test_limit());
  if (data.test.channels() != train.channels() || data.test.height() != train.height() ||
      data.test.width() != train.width()) {
    throw DataFormatError(
        fmt::format("dataset '{}': test images are {}x{}x{}, training images {}x{}x{}",
                    options.dataset(), data.test.channels(), data.test.height(), data.test.width(),
                    train.channels(), train.height(), train.width()));
  }
  if (!options.mean().empty()) {
    if (options.mean().size() != options.std().size() ||
        static_cast<int64_t>(options.mean().size()) != train.channels()) {
      throw ConfigError(fmt::format(
          "data.mean / data.std: expected {} values each (one per channel), found {} and {}",
          train.channels(), options.mean().size(), options.std().size()));
    }
    for (double s : options.std()) {
      if (!(s > 0)) throw ConfigError(fmt::format("data.std: expected values > 0, found {}", s));
    }
    data.normalization = Normalization{options.mean(), options.std()};
  } else if (options.normalize()) {
    data.normalization = channel_statistics(train);
  }
  return data;
}

Dataset load_test_set(const DataOptions& options, const DataRoot& root) {
  return limit(load_split(options, root, false), options.test_limit());
}

}  // namespace cnnlab
