#include "cnnlab/data/image_folder.h"

#include <gtest/gtest.h>
#include <stb_image_write.h>

#include "cnnlab/data/data_root.h"
#include "cnnlab/data/image_file.h"
#include "cnnlab/error.h"
#include "support/temp_dir.h"

namespace cnnlab {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

// A solid RGB picture of `value` in every channel, written as PNG.
void solid_png(const fs::path& path, int value, int64_t h = 6, int64_t w = 10) {
  fs::create_directories(path.parent_path());
  write_png(path, torch::full({3, h, w}, value, torch::kUInt8));
}

// root/ant (value 10), root/cat (value 120), root/zebra (value 240), `per_class` images each.
void three_classes(const fs::path& root, int per_class) {
  const std::vector<std::pair<std::string, int>> classes = {
      {"zebra", 240}, {"ant", 10}, {"cat", 120}};
  for (const auto& [name, value] : classes) {
    for (int i = 0; i < per_class; ++i) {
      solid_png(root / name / ("img" + std::to_string(i) + ".png"), value);
    }
  }
}

std::vector<std::string> warnings_of(const std::function<void(const LoadCallbacks&)>& load) {
  std::vector<std::string> warnings;
  LoadCallbacks callbacks;
  callbacks.warn = [&](const std::string& m) { warnings.push_back(m); };
  load(callbacks);
  return warnings;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(ImageFolderTest, ClassesAreSortedFolderNamesAndLabelsFollowThem) {
  TempDir dir;
  three_classes(dir / "train", 2);
  const auto listing = list_image_folder(dir / "train");
  EXPECT_EQ(listing.class_names, (std::vector<std::string>{"ant", "cat", "zebra"}));
  ASSERT_EQ(listing.files.size(), 6u);
  const auto data = decode_images(listing, ImageDecodeOptions().height(4).width(4));
  ASSERT_EQ(data.size(), 6);
  const int expected_value[] = {10, 120, 240};
  for (int64_t i = 0; i < data.size(); ++i) {
    const int64_t label = data.labels[i].item<int64_t>();
    EXPECT_EQ(data.images[i].min().item<int>(), expected_value[label]) << i;
    EXPECT_EQ(data.images[i].max().item<int>(), expected_value[label]) << i;
  }
}

TEST(ImageFolderTest, FolderNamesThatAreNotUtf8GiveReplacementCharacters) {
  TempDir dir;
  fs::create_directories(dir / "caf\xE9");
  solid_png(dir / "caf\xE9" / "a.png", 10);
  fs::create_directories(dir / "tea");
  solid_png(dir / "tea" / "b.png", 20);
  EXPECT_EQ(list_image_folder(dir.path()).class_names,
            (std::vector<std::string>{"caf\xEF\xBF\xBD", "tea"}));
  // Two folders that differ only in such bytes would give one class name twice.
  fs::create_directories(dir / "caf\xE8");
  solid_png(dir / "caf\xE8" / "c.png", 30);
  try {
    list_image_folder(dir.path());
    FAIL() << "expected an error";
  } catch (const DataFormatError& e) {
    EXPECT_NE(std::string(e.what()).find("both folders give the class name"), std::string::npos)
        << e.what();
  }
}

TEST(ImageFolderTest, ReportsProgressUpToTheTotal) {
  TempDir dir;
  three_classes(dir.path(), 3);
  std::vector<std::pair<int64_t, int64_t>> calls;
  LoadCallbacks callbacks;
  callbacks.progress = [&](int64_t done, int64_t total) { calls.emplace_back(done, total); };
  decode_images(list_image_folder(dir.path()), ImageDecodeOptions().height(4).width(4), callbacks);
  ASSERT_FALSE(calls.empty());
  EXPECT_EQ(calls.back(), (std::pair<int64_t, int64_t>{9, 9}));
}

TEST(ImageFolderTest, ResizesAndConvertsToGrayscaleOrRgb) {
  TempDir dir;
  solid_png(dir / "a" / "x.png", 200, 30, 50);
  // A JPEG and a BMP in a nested folder are found too.
  fs::create_directories(dir / "b" / "nested");
  const auto pixels = torch::full({12, 8, 3}, 90, torch::kUInt8);
  ASSERT_NE(stbi_write_jpg((dir / "b" / "nested" / "y.JPG").c_str(), 8, 12, 3,
                           pixels.data_ptr<uint8_t>(), 95),
            0);
  ASSERT_NE(stbi_write_bmp((dir / "b" / "z.bmp").c_str(), 8, 12, 3, pixels.data_ptr<uint8_t>()), 0);
  const auto listing = list_image_folder(dir.path());
  ASSERT_EQ(listing.files.size(), 3u);
  const auto gray = decode_images(listing, ImageDecodeOptions().channels(1).height(7).width(5));
  EXPECT_EQ(gray.images.sizes(), (std::vector<int64_t>{3, 1, 7, 5}));
  const auto rgb = decode_images(listing, ImageDecodeOptions().channels(3).height(16).width(16));
  EXPECT_EQ(rgb.images.sizes(), (std::vector<int64_t>{3, 3, 16, 16}));
  EXPECT_EQ(rgb.images[0].min().item<int>(), 200);
  EXPECT_NEAR(rgb.images[1].to(torch::kFloat32).mean().item<float>(), 90, 3);  // JPEG is lossy
  EXPECT_EQ(rgb.labels[1].item<int64_t>(), 1);
}

TEST(ImageFolderTest, CorruptImageIsSkippedWithAWarningNamingIt) {
  TempDir dir;
  three_classes(dir.path(), 2);
  testing::write_text(dir / "cat" / "broken.png", "not really a PNG");
  const auto listing = list_image_folder(dir.path());
  Dataset data;
  const auto warnings = warnings_of([&](const LoadCallbacks& callbacks) {
    data = decode_images(listing, ImageDecodeOptions().height(4).width(4), callbacks);
  });
  EXPECT_EQ(data.size(), 6);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_TRUE(contains(warnings[0], "broken.png")) << warnings[0];
  EXPECT_TRUE(contains(warnings[0], "not a readable image")) << warnings[0];
}

TEST(ImageFolderTest, CorruptImageFailsWhenAskedTo) {
  TempDir dir;
  three_classes(dir.path(), 1);
  testing::write_text(dir / "ant" / "broken.jpg", "");
  try {
    decode_images(list_image_folder(dir.path()),
                  ImageDecodeOptions().height(4).width(4).skip_bad_files(false));
    FAIL() << "expected DataFormatError";
  } catch (const DataFormatError& e) {
    EXPECT_TRUE(contains(e.what(), "broken.jpg")) << e.what();
  }
}

TEST(ImageFolderTest, NonImageFilesAreReportedByPath) {
  TempDir dir;
  three_classes(dir.path(), 1);
  testing::write_text(dir / "zebra" / "notes.txt", "hello");
  testing::write_text(dir / "README", "loose file");
  testing::write_text(dir / "ant" / ".hidden", "ignored");
  const auto listing = list_image_folder(dir.path());
  EXPECT_EQ(listing.files.size(), 3u);
  ASSERT_EQ(listing.skipped.size(), 2u);
  EXPECT_TRUE(contains(listing.skipped[0], "README")) << listing.skipped[0];
  EXPECT_TRUE(contains(listing.skipped[1], "notes.txt: not an image file")) << listing.skipped[1];
}

TEST(ImageFolderTest, EmptyClassIsAnErrorNamingIt) {
  TempDir dir;
  three_classes(dir.path(), 1);
  fs::create_directories(dir / "dog");
  testing::write_text(dir / "dog" / "list.csv", "a,b");
  try {
    list_image_folder(dir.path());
    FAIL() << "expected DataFormatError";
  } catch (const DataFormatError& e) {
    EXPECT_TRUE(contains(e.what(), "class 'dog' holds no image")) << e.what();
  }
}

TEST(ImageFolderTest, TestClassUnknownToTrainingIsAnErrorNamingIt) {
  TempDir dir;
  three_classes(dir / "train", 1);
  solid_png(dir / "test" / "cat" / "a.png", 120);
  solid_png(dir / "test" / "dog" / "a.png", 50);
  const auto train = list_image_folder(dir / "train");
  try {
    list_image_folder(dir / "test", train.class_names);
    FAIL() << "expected DataFormatError";
  } catch (const DataFormatError& e) {
    EXPECT_TRUE(contains(e.what(), "class 'dog' is not one of the training classes")) << e.what();
  }
}

TEST(ImageFolderTest, TestFolderWithSomeClassesKeepsTrainingLabels) {
  TempDir dir;
  three_classes(dir / "train", 1);
  solid_png(dir / "test" / "zebra" / "a.png", 240);
  const auto test = list_image_folder(dir / "test", {"ant", "cat", "zebra"});
  ASSERT_EQ(test.labels.size(), 1u);
  EXPECT_EQ(test.labels[0], 2);
  EXPECT_EQ(test.class_names.size(), 3u);
}

TEST(ImageFolderTest, MissingRootSaysWhatItExpected) {
  TempDir dir;
  try {
    list_image_folder(dir / "nowhere");
    FAIL() << "expected DatasetNotFoundError";
  } catch (const DatasetNotFoundError& e) {
    EXPECT_TRUE(contains(e.what(), "nowhere: no such folder")) << e.what();
    EXPECT_TRUE(contains(e.what(), "<class name>")) << e.what();
  }
  fs::create_directories(dir / "flat");
  solid_png(dir / "flat" / "a.png", 1);
  EXPECT_THROW(list_image_folder(dir / "flat"), DataFormatError);
}

TEST(ImageFolderDatasetTest, SplitsTestAndValidationFromEveryClass) {
  TempDir dir;
  three_classes(dir / "pets", 20);
  const auto options = DataOptions()
                           .dataset("folder")
                           .dir((dir / "pets").string())
                           .test_split(0.25)
                           .validation_split(0.2)
                           .image_size({8, 8});
  const LoadedData data = load_data(options, DataRoot{dir.path(), "--data-dir"});
  EXPECT_EQ(data.test.size(), 15);
  EXPECT_EQ(data.train.size(), 36);
  EXPECT_EQ(data.validation.size(), 9);
  EXPECT_EQ(data.train.images.sizes(), (std::vector<int64_t>{36, 3, 8, 8}));
  // Shuffled once before splitting, so the held-out parts are not one class.
  EXPECT_GT(std::get<0>(torch::_unique(data.test.labels)).numel(), 1);
  EXPECT_GT(std::get<0>(torch::_unique(data.validation.labels)).numel(), 1);
  // The same split every time.
  const LoadedData again = load_data(options, DataRoot{dir.path(), "--data-dir"});
  EXPECT_TRUE(torch::equal(data.test.labels, again.test.labels));
  EXPECT_EQ(dataset_class_names(options, DataRoot{dir.path(), "--data-dir"}),
            (std::vector<std::string>{"ant", "cat", "zebra"}));
}

TEST(ImageFolderDatasetTest, SeparateTestFolderAndGrayscale) {
  TempDir dir;
  three_classes(dir / "train", 4);
  three_classes(dir / "test", 2);
  const auto options = DataOptions()
                           .dataset("folder")
                           .dir("train")  // relative: found in the data root
                           .test_dir("test")
                           .validation_split(0)
                           .color_mode("grayscale")
                           .image_size({5, 6});
  const LoadedData data = load_data(options, DataRoot{dir.path(), "--data-dir"});
  EXPECT_EQ(data.train.size(), 12);
  EXPECT_EQ(data.test.size(), 6);
  EXPECT_EQ(data.test.images.sizes(), (std::vector<int64_t>{6, 1, 5, 6}));
  const Dataset test = load_test_set(options, DataRoot{dir.path(), "--data-dir"});
  EXPECT_TRUE(torch::equal(test.images, data.test.images));
}

TEST(ImageFolderDatasetTest, MissingFolderNamesEveryPlaceLookedIn) {
  TempDir dir;
  const DataRoot root{dir / "datasets", "$CNNLAB_DATA"};
  try {
    load_data(DataOptions().dataset("folder").dir("no-such-photos"), root);
    FAIL() << "expected DatasetNotFoundError";
  } catch (const DatasetNotFoundError& e) {
    const std::string message = e.what();
    EXPECT_TRUE(contains(message, "data.dir: folder 'no-such-photos' not found")) << message;
    EXPECT_TRUE(contains(message, "in the current directory")) << message;
    EXPECT_TRUE(contains(message, (dir / "datasets" / "no-such-photos").string())) << message;
    EXPECT_TRUE(contains(message, "$CNNLAB_DATA")) << message;
  }
  EXPECT_THROW(load_data(DataOptions().dataset("folder"), root), ConfigError);
}

TEST(ImageFolderDatasetTest, ClassWithOnlyBadImagesIsAnError) {
  TempDir dir;
  three_classes(dir.path(), 2);
  fs::create_directories(dir / "dog");
  testing::write_text(dir / "dog" / "a.png", "broken");
  const auto options = DataOptions().dataset("folder").dir(dir.path().string()).test_split(0.01);
  std::vector<std::string> warnings;
  LoadCallbacks callbacks;
  callbacks.warn = [&](const std::string& m) { warnings.push_back(m); };
  try {
    load_data(options, DataRoot{dir.path(), "--data-dir"}, callbacks);
    FAIL() << "expected DataFormatError";
  } catch (const DataFormatError& e) {
    EXPECT_TRUE(contains(e.what(), "class 'dog' has no readable training image")) << e.what();
  }
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_TRUE(contains(warnings[0], "a.png")) << warnings[0];
}

}  // namespace
}  // namespace cnnlab
