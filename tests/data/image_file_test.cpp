#include "cnnlab/data/image_file.h"

#include <gtest/gtest.h>

#include "cnnlab/error.h"
#include "support/temp_dir.h"

namespace cnnlab {
namespace {

using testing::TempDir;

TEST(ImageFileTest, PngRoundTripKeepsPixels) {
  TempDir dir;
  const auto image = torch::randint(0, 256, {3, 5, 7}, torch::kInt64).to(torch::kUInt8);
  write_png(dir / "a.png", image);
  EXPECT_TRUE(torch::equal(read_image_file(dir / "a.png", 3, 5, 7), image));
}

TEST(ImageFileTest, ConvertsToGrayAndResizes) {
  TempDir dir;
  write_png(dir / "white.png", torch::full({3, 56, 56}, 255, torch::kUInt8));
  const auto image = read_image_file(dir / "white.png", 1, 28, 28);
  EXPECT_EQ(image.sizes(), (std::vector<int64_t>{1, 28, 28}));
  EXPECT_EQ(image.min().item<int>(), 255);
}

TEST(ImageFileTest, RejectsNonImageNamingTheFile) {
  TempDir dir;
  testing::write_text(dir / "notes.png", "this is not a picture");
  try {
    read_image_file(dir / "notes.png", 1, 28, 28);
    FAIL();
  } catch (const DataFormatError& e) {
    EXPECT_NE(std::string(e.what()).find("notes.png: not a readable image"), std::string::npos);
  }
}

TEST(ImageFileTest, MissingFileIsIoError) {
  TempDir dir;
  EXPECT_THROW(read_image_file(dir / "gone.png", 1, 28, 28), IoError);
}

}  // namespace
}  // namespace cnnlab
