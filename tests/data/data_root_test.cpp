#include "cnnlab/data/data_root.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "cnnlab/error.h"
#include "support/temp_dir.h"

namespace cnnlab {
namespace {

using testing::TempDir;

TEST(DataRootTest, FlagWinsOverEnvironment) {
  EXPECT_EQ(resolve_data_root("/from/flag", "/from/env").path, "/from/flag");
  EXPECT_EQ(resolve_data_root("", "/from/env").path, "/from/env");
  EXPECT_EQ(resolve_data_root("", "/from/env").source, "$CNNLAB_DATA");
  EXPECT_EQ(resolve_data_root("", "").path, "data");
  EXPECT_EQ(resolve_data_root("", "").source, "the default ./data");
}

TEST(DataRootTest, MissingDatasetSaysWhereItLookedAndWhereToGetIt) {
  TempDir dir;
  try {
    load_data(DataOptions().dataset("mnist"), DataRoot{dir.path(), "--data-dir"});
    FAIL();
  } catch (const DatasetNotFoundError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("train-images-idx3-ubyte"), std::string::npos);
    EXPECT_NE(message.find((dir.path() / "mnist").string()), std::string::npos);
    EXPECT_NE(message.find("--data-dir"), std::string::npos);
    EXPECT_NE(message.find("https://storage.googleapis.com/cvdf-datasets/mnist/"),
              std::string::npos);
  }
}

TEST(DataRootTest, UnknownDatasetListsTheKnownOnes) {
  TempDir dir;
  try {
    load_data(DataOptions().dataset("imagenet"), DataRoot{dir.path(), "--data-dir"});
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown dataset 'imagenet': expected one of mnist"),
              std::string::npos);
  }
}

TEST(DataRootTest, LoadsTinyIdxFolderWithLimitsAndSplit) {
  TempDir dir;
  testing::write_tiny_mnist(dir / "fashion-mnist", 40, 20);
  const LoadedData data = load_data(
      DataOptions().dataset("fashion-mnist").validation_split(0.25).train_limit(20).test_limit(5),
      DataRoot{dir.path(), "test"});
  EXPECT_EQ(data.train.size(), 15);
  EXPECT_EQ(data.validation.size(), 5);
  EXPECT_EQ(data.test.size(), 5);
  EXPECT_EQ(data.train.class_names.at(9), "Ankle boot");
  EXPECT_EQ(data.validation.labels[0].item<int64_t>(), 5);  // item 15 of the training set
}

TEST(DataRootTest, ValidationOnTheTestSetTrainsOnTheWholeTrainingSet) {
  TempDir dir;
  testing::write_tiny_mnist(dir / "mnist", 40, 20);
  const LoadedData data = load_data(DataOptions().validation_split(0).validate_on_test(true),
                                    DataRoot{dir.path(), "test"});
  EXPECT_EQ(data.train.size(), 40);
  EXPECT_TRUE(torch::equal(data.validation.images, data.test.images));
  EXPECT_TRUE(torch::equal(data.validation.labels, data.test.labels));
}

TEST(DataRootTest, ComputesNormalisationFromTrainingSplit) {
  TempDir dir;
  testing::write_tiny_mnist(dir / "mnist", 20, 10);
  const LoadedData data =
      load_data(DataOptions().normalize(true).validation_split(0.5), DataRoot{dir.path(), "test"});
  ASSERT_TRUE(data.normalization.enabled());
  // Training split: labels 0..9, pixel values 20·label / 255.
  EXPECT_NEAR(data.normalization.mean[0], 90.0 / 255.0, 1e-9);
}

TEST(RealMnistTest, FirstLabelsMatchTheOfficialFiles) {
  const auto root = testing::real_data_root("mnist");
  if (root.empty()) GTEST_SKIP() << "CNNLAB_DATA does not hold mnist/";
  const LoadedData data = load_data(DataOptions(), DataRoot{root, "$CNNLAB_DATA"});
  EXPECT_EQ(data.train.size(), 54000);
  EXPECT_EQ(data.validation.size(), 6000);
  EXPECT_EQ(data.test.size(), 10000);
  EXPECT_TRUE(torch::equal(data.train.labels.slice(0, 0, 10),
                           torch::tensor({5, 0, 4, 1, 9, 2, 1, 3, 1, 4}, torch::kInt64)));
  EXPECT_TRUE(torch::equal(data.test.labels.slice(0, 0, 10),
                           torch::tensor({7, 2, 1, 0, 4, 1, 4, 9, 5, 9}, torch::kInt64)));
}

TEST(RealCifar10Test, LabelsClassesAndStatistics) {
  const auto root = testing::real_data_root("cifar-10-batches-bin");
  if (root.empty()) GTEST_SKIP() << "CNNLAB_DATA does not hold cifar-10-batches-bin/";
  const LoadedData data = load_data(DataOptions().dataset("cifar10").validation_split(0.0),
                                    DataRoot{root, "$CNNLAB_DATA"});
  EXPECT_EQ(data.train.size(), 50000);
  EXPECT_EQ(data.test.size(), 10000);
  EXPECT_EQ(data.train.class_names.front(), "airplane");
  EXPECT_EQ(data.train.class_names.back(), "truck");
  EXPECT_TRUE(torch::equal(data.train.labels.slice(0, 0, 10),
                           torch::tensor({6, 9, 9, 4, 1, 1, 2, 7, 8, 3}, torch::kInt64)));
  EXPECT_TRUE(torch::equal(data.test.labels.slice(0, 0, 10),
                           torch::tensor({3, 8, 8, 0, 6, 6, 1, 6, 3, 1}, torch::kInt64)));
  EXPECT_EQ(torch::bincount(data.test.labels).min().item<int64_t>(), 1000);
  const Normalization norm = channel_statistics(data.train);
  EXPECT_NEAR(norm.mean[0], 0.4914, 1e-4);
  EXPECT_NEAR(norm.mean[2], 0.4465, 1e-4);
  EXPECT_NEAR(norm.std[1], 0.2435, 1e-4);
}

}  // namespace
}  // namespace cnnlab
