#include "cnnlab/data/data_root.h"

#include <ATen/CPUGeneratorImpl.h>
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
      {"folder", "", "a folder with one subfolder of images per class"},
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

// A user's folder: absolute, or relative to the current directory, or else to the data root.
fs::path user_dir(const std::string& text, const DataRoot& root) {
  const fs::path dir(text);
  std::error_code ec;
  if (dir.is_absolute() || fs::is_directory(dir, ec)) return dir;
  return root.path / dir;
}

// As user_dir, for a folder that must exist: the error names every place it looked.
fs::path existing_user_dir(const std::string& option, const std::string& text,
                           const DataRoot& root) {
  const fs::path dir = user_dir(text, root);
  std::error_code ec;
  if (fs::is_directory(dir, ec)) return dir;
  const std::string looked =
      fs::path(text).is_absolute()
          ? dir.string()
          : fmt::format("{} in the current directory and {} (data root from {})", text,
                        dir.string(), root.source);
  throw DatasetNotFoundError(fmt::format(
      "{}: folder '{}' not found: looked for {}. An image-folder dataset is a folder with one "
      "subfolder of images per class (<folder>/<class name>/*.png|jpg|jpeg|bmp).",
      option, text, looked));
}

fs::path dataset_dir(const DataOptions& options, const DataRoot& root) {
  const DatasetInfo& info = info_for(options.dataset());
  if (!options.dir().empty()) return user_dir(options.dir(), root);
  if (info.folder.empty()) {
    throw ConfigError(fmt::format("data.dir: dataset '{}' needs data.dir, the folder holding {}",
                                  info.name, info.download));
  }
  return root.path / info.folder;
}

ImageDecodeOptions decode_options(const DataOptions& options) {
  const auto& size = options.image_size();
  if (size.size() != 2 || size[0] <= 0 || size[1] <= 0 || size[0] > 4096 || size[1] > 4096) {
    throw ConfigError("data.image_size: expected [height, width], each between 1 and 4096 pixels");
  }
  if (options.color_mode() != "rgb" && options.color_mode() != "grayscale") {
    throw ConfigError(fmt::format("data.color_mode: expected rgb or grayscale, found '{}'",
                                  options.color_mode()));
  }
  if (options.bad_files() != "skip" && options.bad_files() != "fail") {
    throw ConfigError(
        fmt::format("data.bad_files: expected skip or fail, found '{}'", options.bad_files()));
  }
  return ImageDecodeOptions()
      .channels(options.color_mode() == "rgb" ? 3 : 1)
      .height(size[0])
      .width(size[1])
      .skip_bad_files(options.bad_files() == "skip");
}

// The first n entries of a listing (all when n is 0).
void truncate(ImageFolderListing& listing, int64_t n) {
  if (n <= 0 || n >= static_cast<int64_t>(listing.files.size())) return;
  listing.files.resize(static_cast<std::size_t>(n));
  listing.labels.resize(static_cast<std::size_t>(n));
}

ImageFolderListing take(const ImageFolderListing& from, const torch::Tensor& order, int64_t begin,
                        int64_t end) {
  ImageFolderListing part;
  part.class_names = from.class_names;
  const auto order_on_cpu = order.to(torch::kCPU, torch::kInt64).contiguous();
  const auto* index = order_on_cpu.data_ptr<int64_t>();
  for (int64_t i = begin; i < end; ++i) {
    part.files.push_back(from.files[static_cast<std::size_t>(index[i])]);
    part.labels.push_back(from.labels[static_cast<std::size_t>(index[i])]);
  }
  return part;
}

// The training and test listings of a folder dataset. Training images are shuffled once with a
// fixed seed, so that validation_split (the last fraction, as Keras takes it) and test_split
// draw from every class.
std::pair<ImageFolderListing, ImageFolderListing> folder_listings(const DataOptions& options,
                                                                  const DataRoot& root,
                                                                  const LoadCallbacks& callbacks) {
  if (options.dir().empty()) {
    throw ConfigError(
        "data.dir: dataset 'folder' needs data.dir, the folder with one subfolder of images per "
        "class");
  }
  ImageFolderListing all = list_image_folder(existing_user_dir("data.dir", options.dir(), root));
  const auto warn = [&](const std::vector<std::string>& messages) {
    for (const auto& m : messages) {
      if (callbacks.warn) callbacks.warn("skipped " + m);
    }
  };
  warn(all.skipped);
  const auto n = static_cast<int64_t>(all.files.size());
  auto generator = at::detail::createCPUGenerator(0);
  const auto order = torch::randperm(n, generator, torch::TensorOptions().dtype(torch::kInt64));
  ImageFolderListing train, test;
  if (!options.test_dir().empty()) {
    train = take(all, order, 0, n);
    test = list_image_folder(existing_user_dir("data.test_dir", options.test_dir(), root),
                             all.class_names);
    warn(test.skipped);
  } else {
    if (!(options.test_split() > 0 && options.test_split() < 1)) {
      throw ConfigError(fmt::format(
          "data.test_split: expected a fraction in (0, 1) when there is no data.test_dir, found {}",
          options.test_split()));
    }
    const auto split_at = static_cast<int64_t>(static_cast<double>(n) * (1 - options.test_split()));
    if (split_at <= 0 || split_at >= n) {
      throw DataFormatError(fmt::format("{}: {} images are too few to hold out a test_split of {}",
                                        options.dir(), n, options.test_split()));
    }
    train = take(all, order, 0, split_at);
    test = take(all, order, split_at, n);
  }
  truncate(train, options.train_limit());
  truncate(test, options.test_limit());
  return {train, test};
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
  TORCH_CHECK(name != "folder", "load_split does not read folder datasets");
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

DataRoot resolve_data_root(const std::string& flag, const std::string& environment) {
  if (!flag.empty()) return {fs::path(flag), "--data-dir"};
  if (!environment.empty()) return {fs::path(environment), "$CNNLAB_DATA"};
  return {fs::path("data"), "the default ./data"};
}

std::vector<std::string> dataset_class_names(const DataOptions& options, const DataRoot& root) {
  const std::string& name = options.dataset();
  info_for(name);
  if (name == "fashion-mnist") {
    return {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
            "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  }
  if (name == "folder") return list_image_folder(dataset_dir(options, root)).class_names;
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

LoadedData load_data(const DataOptions& options, const DataRoot& root,
                     const LoadCallbacks& callbacks) {
  Dataset full_train, test;
  if (options.dataset() == "folder") {
    const ImageDecodeOptions decode = decode_options(options);
    const auto [train_files, test_files] = folder_listings(options, root, callbacks);
    full_train = decode_images(train_files, decode, callbacks);
    test = decode_images(test_files, decode, callbacks);
    const auto counts = torch::bincount(full_train.labels, {}, full_train.num_classes());
    for (int64_t c = 0; c < full_train.num_classes(); ++c) {
      if (counts[c].item<int64_t>() == 0) {
        throw DataFormatError(fmt::format("{}: class '{}' has no readable training image",
                                          dataset_dir(options, root).string(),
                                          full_train.class_names[static_cast<std::size_t>(c)]));
      }
    }
  } else {
    full_train = limit(load_split(options, root, true), options.train_limit());
    test = limit(load_split(options, root, false), options.test_limit());
  }
  auto [train, validation] = validation_split(full_train, options.validation_split());
  LoadedData data;
  data.train = train;
  data.validation = options.validate_on_test() ? test : validation;
  data.test = test;
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

Dataset load_test_set(const DataOptions& options, const DataRoot& root,
                      const LoadCallbacks& callbacks) {
  if (options.dataset() == "folder") {
    return decode_images(folder_listings(options, root, callbacks).second, decode_options(options),
                         callbacks);
  }
  return limit(load_split(options, root, false), options.test_limit());
}

}  // namespace cnnlab
