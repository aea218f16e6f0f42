#include "cnnlab/data/idx.h"

#include <gtest/gtest.h>

#include "cnnlab/error.h"
#include "support/temp_dir.h"

namespace cnnlab {
namespace {

using testing::idx_bytes;
using testing::TempDir;
using testing::write_bytes;
using testing::write_gzip;

template <typename Fn>
std::string error_of(Fn fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(IdxReaderTest, ReadsThreeImages) {
  TempDir dir;
  std::vector<std::uint8_t> pixels(3 * 2 * 2);
  for (std::size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<std::uint8_t>(i * 10);
  write_bytes(dir / "images", idx_bytes(2051, {3, 2, 2}, pixels));
  const IdxArray array = read_idx(dir / "images");
  EXPECT_EQ(array.magic, 2051);
  ASSERT_EQ(array.data.sizes(), (std::vector<int64_t>{3, 2, 2}));
  EXPECT_EQ(array.data[2][1][1].item<int>(), 110);
  EXPECT_EQ(array.data[0][0][1].item<int>(), 10);
}

TEST(IdxReaderTest, ReadsGzipLikeRaw) {
  TempDir dir;
  const auto bytes = idx_bytes(2049, {4}, {7, 2, 1, 0});
  write_gzip(dir / "labels.gz", bytes);
  const IdxArray array = read_idx(dir / "labels.gz");
  ASSERT_EQ(array.data.numel(), 4);
  EXPECT_EQ(array.data[0].item<int>(), 7);
  EXPECT_EQ(array.data[3].item<int>(), 0);
}

TEST(IdxReaderTest, RejectsWrongMagic) {
  TempDir dir;
  write_bytes(dir / "train-images-idx3-ubyte", idx_bytes(2049, {2}, {1, 2}));
  write_bytes(dir / "train-labels-idx1-ubyte", idx_bytes(2049, {2}, {1, 2}));
  const std::string message = error_of([&] {
    load_idx_dataset(dir / "train-images-idx3-ubyte", dir / "train-labels-idx1-ubyte",
                     {"a", "b", "c"});
  });
  EXPECT_EQ(message, "train-images-idx3-ubyte: bad magic number: expected 2051, found 2049");
}

TEST(IdxReaderTest, RejectsGarbageHeader) {
  TempDir dir;
  write_bytes(dir / "f", {0x12, 0x34, 0x08, 0x01, 0, 0, 0, 1, 9});
  EXPECT_NE(error_of([&] { read_idx(dir / "f"); }).find("f: bad magic number"), std::string::npos);
}

TEST(IdxReaderTest, RejectsNonByteElements) {
  TempDir dir;
  write_bytes(dir / "f", {0, 0, 0x0D, 0x01, 0, 0, 0, 1, 0, 0, 0, 0});
  EXPECT_NE(
      error_of([&] { read_idx(dir / "f"); }).find("expected 0x08 (unsigned byte), found 0x0d"),
      std::string::npos);
}

TEST(IdxReaderTest, RejectsTruncatedData) {
  TempDir dir;
  write_bytes(dir / "images", idx_bytes(2051, {3, 2, 2}, std::vector<std::uint8_t>(10)));
  EXPECT_EQ(error_of([&] { read_idx(dir / "images"); }),
            "images: truncated: expected 12 bytes of data, found 10");
}

TEST(IdxReaderTest, RejectsTruncatedGzip) {
  TempDir dir;
  write_gzip(dir / "images.gz", idx_bytes(2051, {3, 2, 2}, std::vector<std::uint8_t>(5)));
  EXPECT_EQ(error_of([&] { read_idx(dir / "images.gz"); }),
            "images.gz: truncated: expected 12 bytes of data, found 5");
}

TEST(IdxReaderTest, RejectsTruncatedHeader) {
  TempDir dir;
  write_bytes(dir / "images", {0, 0, 8, 3, 0, 0});
  EXPECT_NE(error_of([&] { read_idx(dir / "images"); }).find("images: truncated"),
            std::string::npos);
}

TEST(IdxReaderTest, RejectsTrailingBytes) {
  TempDir dir;
  write_bytes(dir / "labels", idx_bytes(2049, {2}, {1, 2, 3}));
  EXPECT_NE(error_of([&] { read_idx(dir / "labels"); }).find("unexpected bytes after the 2 bytes"),
            std::string::npos);
}

TEST(IdxReaderTest, RejectsHugeHeaderBeforeAllocating) {
  TempDir dir;
  write_bytes(dir / "images", idx_bytes(2051, {0x7fffffff, 0x7fffffff, 0x7fffffff}, {1, 2, 3}));
  EXPECT_NE(error_of([&] { read_idx(dir / "images"); }).find("refusing to read it"),
            std::string::npos);
}

TEST(IdxReaderTest, RejectsMismatchedCounts) {
  TempDir dir;
  write_bytes(dir / "images", idx_bytes(2051, {3, 1, 1}, {1, 2, 3}));
  write_bytes(dir / "labels", idx_bytes(2049, {2}, {0, 1}));
  EXPECT_EQ(error_of([&] {
              load_idx_dataset(dir / "images", dir / "labels", {"a", "b"});
            }),
            "labels: expected 3 labels to match images, found 2");
}

TEST(IdxReaderTest, RejectsLabelOutOfRange) {
  TempDir dir;
  write_bytes(dir / "images", idx_bytes(2051, {3, 1, 1}, {1, 2, 3}));
  write_bytes(dir / "labels", idx_bytes(2049, {3}, {0, 12, 1}));
  EXPECT_EQ(error_of([&] {
              load_idx_dataset(dir / "images", dir / "labels", {"a", "b"});
            }),
            "labels: label 12 of item 1 is out of range: expected 0 to 1");
}

TEST(IdxReaderTest, MissingFileIsIoError) {
  TempDir dir;
  EXPECT_THROW(read_idx(dir / "nothing"), IoError);
}

TEST(IdxReaderTest, LoadsImagesWithChannelDimension) {
  TempDir dir;
  write_bytes(dir / "images", idx_bytes(2051, {2, 2, 3}, std::vector<std::uint8_t>(12, 5)));
  write_bytes(dir / "labels", idx_bytes(2049, {2}, {1, 0}));
  const Dataset data = load_idx_dataset(dir / "images", dir / "labels", {"a", "b"});
  EXPECT_EQ(data.images.sizes(), (std::vector<int64_t>{2, 1, 2, 3}));
  EXPECT_EQ(data.labels.scalar_type(), torch::kInt64);
  EXPECT_EQ(data.labels[0].item<int64_t>(), 1);
}

}  // namespace
}  // namespace cnnlab
