#include "cnnlab/data/image_folder.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <map>

#include "cnnlab/data/image_file.h"
#include "cnnlab/error.h"
#include "cnnlab/io/utf8.h"

namespace cnnlab {
namespace fs = std::filesystem;

namespace {

bool hidden(const fs::path& path) {
  const std::string name = path.filename().string();
  return !name.empty() && name[0] == '.';
}

bool has_image_extension(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp";
}

std::vector<fs::path> sorted_entries(const fs::path& dir) {
  std::vector<fs::path> entries;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (!hidden(it->path())) entries.push_back(it->path());
  }
  if (ec) throw IoError(fmt::format("{}: cannot list the folder: {}", dir.string(), ec.message()));
  std::sort(entries.begin(), entries.end());
  return entries;
}

// Image files under `dir`, recursively, sorted; other files go to `skipped`.
void collect_images(const fs::path& dir, std::vector<fs::path>& images,
                    std::vector<std::string>& skipped) {
  for (const auto& entry : sorted_entries(dir)) {
    std::error_code ec;
    if (fs::is_directory(entry, ec)) {
      collect_images(entry, images, skipped);
    } else if (has_image_extension(entry)) {
      images.push_back(entry);
    } else {
      skipped.push_back(fmt::format("{}: not an image file (expected .png, .jpg, .jpeg or .bmp)",
                                    entry.string()));
    }
  }
}

}  // namespace

ImageFolderListing list_image_folder(const fs::path& root,
                                     const std::vector<std::string>& classes) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    throw DatasetNotFoundError(fmt::format(
        "{}: no such folder; an image-folder dataset is a folder with one subfolder of images per "
        "class (root/<class name>/*.png|jpg|jpeg|bmp)",
        root.string()));
  }
  ImageFolderListing listing;
  std::vector<fs::path> class_dirs;
  for (const auto& entry : sorted_entries(root)) {
    if (fs::is_directory(entry, ec)) {
      class_dirs.push_back(entry);
    } else {
      listing.skipped.push_back(
          fmt::format("{}: not in a class folder (images belong in {}/<class name>/)",
                      entry.string(), root.string()));
    }
  }
  if (class_dirs.empty()) {
    throw DataFormatError(
        fmt::format("{}: no class folders found; expected one subfolder of images per class "
                    "(root/<class name>/*.png|jpg|jpeg|bmp)",
                    root.string()));
  }
  listing.class_names = classes;
  std::map<std::string, int64_t> index;
  for (std::size_t i = 0; i < classes.size(); ++i) index[classes[i]] = static_cast<int64_t>(i);
  std::map<std::string, fs::path> folder_of;
  for (const auto& dir : class_dirs) {
    // Class names go into configs, JSON and pages, which need UTF-8; a folder name that is not
    // gets U+FFFD for its stray bytes.
    const std::string name = valid_utf8(dir.filename().string());
    const auto [seen, fresh] = folder_of.emplace(name, dir);
    if (!fresh) {
      throw DataFormatError(fmt::format(
          "{} and {}: both folders give the class name '{}' (bytes that are not UTF-8 become "
          "U+FFFD); rename one",
          seen->second.string(), dir.string(), name));
    }
    if (classes.empty()) {
      index[name] = static_cast<int64_t>(listing.class_names.size());
      listing.class_names.push_back(name);
    } else if (index.count(name) == 0) {
      std::string known;
      for (const auto& c : classes) known += (known.empty() ? "" : ", ") + c;
      throw DataFormatError(fmt::format("{}: class '{}' is not one of the training classes ({})",
                                        dir.string(), name, known));
    }
    const std::size_t before = listing.files.size();
    collect_images(dir, listing.files, listing.skipped);
    if (listing.files.size() == before) {
      throw DataFormatError(fmt::format("{}: class '{}' holds no image (.png, .jpg, .jpeg or .bmp)",
                                        dir.string(), name));
    }
    listing.labels.resize(listing.files.size(), index[name]);
  }
  return listing;
}

Dataset decode_images(const ImageFolderListing& listing, const ImageDecodeOptions& options,
                      const LoadCallbacks& callbacks) {
  TORCH_CHECK(options.channels() == 1 || options.channels() == 3,
              "decode_images: channels must be 1 or 3");
  TORCH_CHECK(options.height() > 0 && options.width() > 0, "decode_images: empty image size");
  const auto n = static_cast<int64_t>(listing.files.size());
  auto images =
      torch::empty({n, options.channels(), options.height(), options.width()}, torch::kUInt8);
  std::vector<std::string> errors(static_cast<std::size_t>(n));
  // Chunks keep the progress line moving; inside a chunk the files decode in parallel.
  const int64_t chunk = 512;
  for (int64_t begin = 0; begin < n; begin += chunk) {
    const int64_t end = std::min(n, begin + chunk);
    at::parallel_for(begin, end, 1, [&](int64_t first, int64_t last) {
      for (int64_t i = first; i < last; ++i) {
        const auto& file = listing.files[static_cast<std::size_t>(i)];
        try {
          images[i].copy_(
              read_image_file(file, options.channels(), options.height(), options.width()));
        } catch (const std::exception& e) {
          errors[static_cast<std::size_t>(i)] = e.what();
        }
      }
    });
    if (callbacks.progress) callbacks.progress(end, n);
  }
  std::vector<int64_t> kept;
  for (int64_t i = 0; i < n; ++i) {
    const std::string& error = errors[static_cast<std::size_t>(i)];
    if (error.empty()) {
      kept.push_back(i);
      continue;
    }
    if (!options.skip_bad_files()) {
      throw DataFormatError(
          fmt::format("{} (set data.bad_files = \"skip\" to leave such files out)", error));
    }
    if (callbacks.warn) callbacks.warn(fmt::format("skipped {}", error));
  }
  if (kept.empty()) {
    throw DataFormatError(fmt::format("none of the {} image files could be decoded", n));
  }
  Dataset data;
  data.class_names = listing.class_names;
  data.labels = torch::tensor(listing.labels, torch::kInt64);
  if (static_cast<int64_t>(kept.size()) == n) {
    data.images = images;
  } else {
    const auto index = torch::tensor(kept, torch::kInt64);
    data.images = images.index_select(0, index);
    data.labels = data.labels.index_select(0, index);
  }
  return data;
}

}  // namespace cnnlab
