#include "cnnlab/data/cifar10.h"

#include <gtest/gtest.h>

#include "cnnlab/error.h"
#include "support/temp_dir.h"

namespace cnnlab {
namespace {

using testing::TempDir;

std::vector<std::uint8_t> two_records() {
  std::vector<std::uint8_t> bytes;
  for (std::uint8_t label : {6, 9}) {
    bytes.push_back(label);
    for (int channel = 0; channel < 3; ++channel) {
      for (int p = 0; p < 1024; ++p)
        bytes.push_back(static_cast<std::uint8_t>(label * 10 + channel));
    }
  }
  // A marker pixel: record 1, green plane, row 2, column 5.
  bytes[3073 + 1 + 1024 + 2 * 32 + 5] = 255;
  return bytes;
}

TEST(Cifar10ReaderTest, ReadsTwoRecords) {
  TempDir dir;
  testing::write_bytes(dir / "data_batch_1.bin", two_records());
  const Dataset data = read_cifar10_batch(dir / "data_batch_1.bin", cifar10_default_class_names());
  ASSERT_EQ(data.images.sizes(), (std::vector<int64_t>{2, 3, 32, 32}));
  EXPECT_EQ(data.labels[0].item<int64_t>(), 6);
  EXPECT_EQ(data.labels[1].item<int64_t>(), 9);
  EXPECT_EQ(data.images[0][2][0][0].item<int>(), 62);
  EXPECT_EQ(data.images[1][1][2][5].item<int>(), 255);
  EXPECT_EQ(data.images[1][1][2][6].item<int>(), 91);
}

TEST(Cifar10ReaderTest, ReadsGzip) {
  TempDir dir;
  testing::write_gzip(dir / "test_batch.bin.gz", two_records());
  const Dataset data = read_cifar10_batch(dir / "test_batch.bin.gz", cifar10_default_class_names());
  EXPECT_EQ(data.size(), 2);
  EXPECT_EQ(data.images[1][1][2][5].item<int>(), 255);
}

TEST(Cifar10ReaderTest, RejectsTruncatedFile) {
  TempDir dir;
  auto bytes = two_records();
  bytes.pop_back();
  testing::write_bytes(dir / "data_batch_1.bin", bytes);
  try {
    read_cifar10_batch(dir / "data_batch_1.bin", cifar10_default_class_names());
    FAIL() << "expected an error";
  } catch (const DataFormatError& e) {
    EXPECT_STREQ(e.what(),
                 "data_batch_1.bin: truncated or corrupt: expected a whole number of 3073-byte "
                 "records, found 6145 bytes");
  }
}

TEST(Cifar10ReaderTest, RejectsLabelOutOfRange) {
  TempDir dir;
  auto bytes = two_records();
  bytes[3073] = 10;
  testing::write_bytes(dir / "data_batch_1.bin", bytes);
  try {
    read_cifar10_batch(dir / "data_batch_1.bin", cifar10_default_class_names());
    FAIL() << "expected an error";
  } catch (const DataFormatError& e) {
    EXPECT_STREQ(e.what(), "data_batch_1.bin: record 1: label 10 is out of range: expected 0 to 9");
  }
}

TEST(Cifar10ReaderTest, ReadsClassNamesIgnoringBlankLinesAndSpaces) {
  TempDir dir;
  testing::write_text(dir / "batches.meta.txt", "airplane  \nautomobile\n\n  bird\n");
  EXPECT_EQ(read_class_names(dir / "batches.meta.txt"),
            (std::vector<std::string>{"airplane", "automobile", "bird"}));
}

TEST(Cifar10ReaderTest, ConcatenatesBatches) {
  TempDir dir;
  testing::write_bytes(dir / "a.bin", two_records());
  const Dataset one = read_cifar10_batch(dir / "a.bin", cifar10_default_class_names());
  const Dataset both = concatenate({one, one});
  EXPECT_EQ(both.size(), 4);
  EXPECT_EQ(both.labels[3].item<int64_t>(), 9);
}

}  // namespace
}  // namespace cnnlab
