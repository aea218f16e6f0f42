#include "cnnlab/data/image_file.h"

#include <gtest/gtest.h>
#include <stb_image_write.h>

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

TEST(ImageFileTest, EncodedPngDecodesToTheSamePixels) {
  TempDir dir;
  const auto image = torch::randint(0, 256, {3, 5, 7}, torch::kInt64).to(torch::kUInt8);
  const std::string png = encode_png(image);
  ASSERT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  testing::write_text(dir / "encoded.png", png);
  EXPECT_TRUE(torch::equal(read_image_file(dir / "encoded.png", 3, 5, 7), image));
  EXPECT_THROW(encode_png(torch::zeros({2, 4, 4}, torch::kUInt8)), c10::Error);
}

TEST(ImageFileTest, ConvertsToGrayAndResizes) {
  TempDir dir;
  write_png(dir / "white.png", torch::full({3, 56, 56}, 255, torch::kUInt8));
  const auto image = read_image_file(dir / "white.png", 1, 28, 28);
  EXPECT_EQ(image.sizes(), (std::vector<int64_t>{1, 28, 28}));
  EXPECT_EQ(image.min().item<int>(), 255);
}

// A JPEG whose Huffman table declares more than 256 codes would overflow the decoder's arrays:
// it is refused before decoding. The valid JPEG it is made from still decodes.
TEST(ImageFileTest, JpegWithAnOverfullHuffmanTableIsRefused) {
  const auto image = torch::randint(0, 256, {7, 9, 3}, torch::kInt64).to(torch::kUInt8);
  std::string jpeg;
  stbi_write_jpg_to_func(
      [](void* context, void* data, int size) {
        static_cast<std::string*>(context)->append(static_cast<const char*>(data), size);
      },
      &jpeg, 9, 7, 3, image.data_ptr<std::uint8_t>(), 90);
  EXPECT_EQ(decode_image(jpeg, "good.jpg", 3, 7, 9).sizes(), (std::vector<int64_t>{3, 7, 9}));
  const auto dht = jpeg.find("\xFF\xC4");
  ASSERT_NE(dht, std::string::npos);
  // The first table's 16 code counts follow the marker, its length and the class/id byte.
  for (int i = 0; i < 16; ++i) jpeg[dht + 5 + i] = static_cast<char>(200);
  try {
    decode_image(jpeg, "bad.jpg", 3, 7, 9);
    FAIL();
  } catch (const DataFormatError& e) {
    EXPECT_EQ(std::string(e.what()),
              "bad.jpg: corrupt JPEG: a Huffman table declares 3200 codes, at most 256 are "
              "possible");
  }
}

TEST(ImageFileTest, FormatsBeyondPngJpegBmpGifAreRefusedUnread) {
  const auto image = torch::zeros({2, 2, 3}, torch::kUInt8);
  std::string tga;
  stbi_write_tga_to_func(
      [](void* context, void* data, int size) {
        static_cast<std::string*>(context)->append(static_cast<const char*>(data), size);
      },
      &tga, 2, 2, 3, image.data_ptr<std::uint8_t>());
  try {
    decode_image(tga, "picture.tga", 3, 2, 2);
    FAIL();
  } catch (const DataFormatError& e) {
    EXPECT_NE(std::string(e.what()).find("picture.tga: not a readable image (PNG, JPEG, BMP or "
                                         "GIF expected)"),
              std::string::npos)
        << e.what();
  }
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

TEST(ImageFileTest, HugeClaimedSizeIsRefusedBeforeDecoding) {
  TempDir dir;
  // A PNG signature, an IHDR chunk claiming 10000 x 10000 RGB pixels and an empty IDAT chunk
  // (newer stb_image reads on to the first IDAT to learn the channel count).
  std::vector<std::uint8_t> bytes = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n',
                                     0,    0,   0,   13,  'I',  'H',  'D',  'R'};
  for (int i = 0; i < 2; ++i) {
    const uint32_t side = 10000;
    for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back((side >> shift) & 0xff);
  }
  for (std::uint8_t b : {8, 2, 0, 0, 0, 0, 0, 0, 0}) bytes.push_back(b);    // depth, type, …, CRC
  bytes.insert(bytes.end(), {0, 0, 0, 0, 'I', 'D', 'A', 'T', 0, 0, 0, 0});  // length 0, CRC
  testing::write_bytes(dir / "huge.png", bytes);
  try {
    read_image_file(dir / "huge.png", 3, 8, 8);
    FAIL() << "expected DataFormatError";
  } catch (const DataFormatError& e) {
    EXPECT_NE(std::string(e.what()).find("huge.png: the image claims 10000x10000 pixels"),
              std::string::npos)
        << e.what();
  }
}

TEST(ImageFileTest, MissingFileIsIoError) {
  TempDir dir;
  EXPECT_THROW(read_image_file(dir / "gone.png", 1, 28, 28), IoError);
}

}  // namespace
}  // namespace cnnlab
