// Runs the cnnlab command as a user would and checks exit codes and messages.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <thread>

#include "cnnlab/data/image_file.h"
#include "cnnlab/training/device.h"
#include "support/temp_dir.h"
#include "support/tiny_project.h"

namespace cnnlab {
namespace {

namespace fs = std::filesystem;
using testing::run_command;
using testing::TempDir;
using testing::TinyProject;
using testing::TinyProjectOptions;

using Outcome = testing::CommandOutcome;

Outcome run_cnnlab(const std::string& arguments) {
  return testing::run_command(std::string(CNNLAB_BINARY) + " " + arguments);
}

// A small model for 4x4 images on a tiny MNIST-style dataset, trained for `epochs`.
TinyProject tiny_setup(int n_train, int epochs) {
  TinyProjectOptions options;
  options.n_train = n_train;
  options.train = "batch_size = 10\nepochs = " + std::to_string(epochs) + "\n";
  return TinyProject(options);
}

void expect_clean_error(const Outcome& outcome, const std::string& message) {
  EXPECT_EQ(outcome.exit_code, 1) << outcome.output;
  EXPECT_NE(outcome.output.find("cnnlab: error: "), std::string::npos) << outcome.output;
  EXPECT_NE(outcome.output.find(message), std::string::npos) << outcome.output;
  EXPECT_EQ(outcome.output.find("Exception raised from"), std::string::npos) << outcome.output;
  EXPECT_EQ(outcome.output.find("terminate called"), std::string::npos) << outcome.output;
}

// The "Test accuracy: …" line of a command's output, or "(none)".
std::string accuracy_line(const std::string& text) {
  const auto at = text.find("Test accuracy: ");
  return at == std::string::npos ? std::string("(none)")
                                 : text.substr(at, text.find('\n', at) - at);
}

TEST(CliTest, TrainsEvaluatesAndPrintsKerasLines) {
  TinyProject setup;
  const std::string run = (setup.dir / "run").string();
  const Outcome train =
      run_cnnlab("train -c " + setup.config + " --data-dir " + setup.data_dir + " --out " + run);
  ASSERT_EQ(train.exit_code, 0) << train.output;
  EXPECT_NE(train.output.find("Epoch 2/2"), std::string::npos);
  EXPECT_NE(train.output.find("6/6 [==============================] - "), std::string::npos)
      << train.output;
  EXPECT_NE(train.output.find(" - val_accuracy: "), std::string::npos);
  EXPECT_NE(train.output.find("Test accuracy: "), std::string::npos);

  // Training tests its final weights, which are the last checkpoint: evaluate prints the same.
  const Outcome evaluate =
      run_cnnlab("evaluate " + run + " --checkpoint last --data-dir " + setup.data_dir);
  ASSERT_EQ(evaluate.exit_code, 0) << evaluate.output;
  EXPECT_EQ(accuracy_line(evaluate.output), accuracy_line(train.output));
  EXPECT_NE(accuracy_line(train.output), "(none)");
}

// fp32 differs from the default (auto) on every machine, so an ignored option would show.
TEST(CliTest, PrecisionOptionTrainsInItAndRecordsIt) {
  TinyProject setup;
  const std::string run = (setup.dir / "run").string();
  const Outcome train = run_cnnlab("train -c " + setup.config + " --data-dir " + setup.data_dir +
                                   " --precision fp32 --no-report --out " + run);
  ASSERT_EQ(train.exit_code, 0) << train.output;
  EXPECT_NE(train.output.find("on mnist in fp32 on cpu;"), std::string::npos) << train.output;
  std::ifstream metrics(setup.dir / "run" / "metrics.json");
  const std::string text((std::istreambuf_iterator<char>(metrics)), {});
  EXPECT_NE(text.find("\"precision\": \"fp32\""), std::string::npos) << text;
  std::ifstream config(setup.dir / "run" / "config.toml");
  const std::string saved((std::istreambuf_iterator<char>(config)), {});
  EXPECT_NE(saved.find("precision = 'fp32'"), std::string::npos) << saved;

  const Outcome wrong = run_cnnlab("train -c " + setup.config + " --precision fp16");
  EXPECT_NE(wrong.exit_code, 0);
  EXPECT_NE(wrong.output.find("--precision"), std::string::npos) << wrong.output;
}

// The CPU kernels LibTorch ran, as metrics.json records them, from a run trained with the
// environment variable `environment` ("" for none).
std::string recorded_cpu_kernels(const std::string& environment) {
  TinyProject setup = tiny_setup(20, 1);
  const std::string run = (setup.dir / "run").string();
  const Outcome train = run_command("env -u ATEN_CPU_CAPABILITY " + environment + " " +
                                    CNNLAB_BINARY + " train -c " + setup.config + " --data-dir " +
                                    setup.data_dir + " --no-report --out " + run);
  EXPECT_EQ(train.exit_code, 0) << train.output;
  std::ifstream in(setup.dir / "run" / "metrics.json");
  const auto metrics = nlohmann::json::parse(in, nullptr, false);
  if (!metrics.is_object() || !metrics.contains("machine")) return "(no metrics)";
  return metrics["machine"].value("cpu_kernels", "(not recorded)");
}

// cnnlab asks LibTorch for its AVX-512 kernels where the CPU has AVX-512 (LibTorch 1.13 runs
// AVX2 unless asked), and a user's ATEN_CPU_CAPABILITY wins.
TEST(CliTest, RunsAvx512KernelsWhereTheCpuHasThemUnlessTheUserChose) {
  const std::string chosen = recorded_cpu_kernels("");
  if (cpu_has_avx512()) {
    EXPECT_EQ(chosen, "AVX512");
  } else {
    EXPECT_NE(chosen, "AVX512");
    EXPECT_NE(chosen, "(no metrics)");
  }
  EXPECT_EQ(recorded_cpu_kernels("ATEN_CPU_CAPABILITY=avx2"), cpu_has_avx512() ? "AVX2" : chosen);
}

TEST(CliTest, UnknownConfigOptionIsAClearError) {
  TinyProject setup;
  expect_clean_error(run_cnnlab("train -c " + setup.config + " --set train.epoks=3 --data-dir " +
                                setup.data_dir + " --out " + (setup.dir / "r").string()),
                     "train.epoks: unknown option for [train] (did you mean 'epochs'?)");
}

TEST(CliTest, MissingDatasetSaysWhereItLooked) {
  TinyProject setup;
  expect_clean_error(
      run_cnnlab("train -c " + setup.config + " --data-dir " + (setup.dir / "nowhere").string() +
                 " --out " + (setup.dir / "r").string()),
      "dataset 'mnist' not found");
}

// A run remembers the data root it was trained from: evaluate, report and resume find its dataset
// without --data-dir, even where $CNNLAB_DATA points elsewhere. --data-dir still wins, and a
// recorded root that is gone gives way to $CNNLAB_DATA.
TEST(CliTest, ARunFindsItsDataWithoutBeingToldAgain) {
  TinyProject setup;
  const fs::path run = setup.dir / "run";
  const Outcome train = run_command(setup.train_command(run.string()));
  ASSERT_EQ(train.exit_code, 0) << train.output;
  const auto with_data = [](const fs::path& root, const std::string& arguments) {
    return testing::run_command("CNNLAB_DATA=" + root.string() + " " + CNNLAB_BINARY + " " +
                                arguments);
  };
  const fs::path nowhere = setup.dir / "nowhere";

  const Outcome evaluate = with_data(nowhere, "evaluate " + run.string() + " --checkpoint last");
  ASSERT_EQ(evaluate.exit_code, 0) << evaluate.output;
  EXPECT_EQ(accuracy_line(evaluate.output), accuracy_line(train.output));
  const fs::path page = setup.dir / "page.html";
  const Outcome report = with_data(nowhere, "report " + run.string() + " --out " + page.string());
  ASSERT_EQ(report.exit_code, 0) << report.output;
  EXPECT_NE(testing::read_file(page).find("</html>"), std::string::npos);

  expect_clean_error(run_cnnlab("evaluate " + run.string() + " --data-dir " + nowhere.string()),
                     nowhere.string());

  const fs::path moved = setup.dir / "moved";
  fs::rename(setup.data_dir, moved);
  expect_clean_error(with_data(nowhere, "evaluate " + run.string()), "$CNNLAB_DATA");
  const Outcome fallback = with_data(moved, "evaluate " + run.string() + " --checkpoint last");
  ASSERT_EQ(fallback.exit_code, 0) << fallback.output;
  EXPECT_EQ(accuracy_line(fallback.output), accuracy_line(train.output));
}

TEST(CliTest, CorruptDatasetNamesTheFile) {
  TinyProject setup;
  testing::write_bytes(setup.dir / "data" / "mnist" / "t10k-labels-idx1-ubyte", {0, 0, 8, 3, 0});
  expect_clean_error(run_cnnlab("train -c " + setup.config + " --data-dir " + setup.data_dir +
                                " --out " + (setup.dir / "r").string()),
                     "t10k-labels-idx1-ubyte: ");
}

TEST(CliTest, KernelLargerThanInputNamesTheLayer) {
  TinyProject setup;
  expect_clean_error(
      run_cnnlab("train -c " + setup.config + " --set model.layers.Conv1.kernel=9 " +
                 "--data-dir " + setup.data_dir + " --out " + (setup.dir / "r").string()),
      "(Conv1): kernel 9x9 is larger than its input 4x4");
}

TEST(CliTest, UnwritableOutputIsAClearError) {
  TinyProject setup;
  testing::write_text(setup.dir / "file", "x");
  expect_clean_error(run_cnnlab("train -c " + setup.config + " --data-dir " + setup.data_dir +
                                " --out " + (setup.dir / "file" / "run").string()),
                     "cannot create output directory");
}

TEST(CliTest, CheckpointOfAnotherModelIsRefused) {
  TinyProject setup;
  const std::string run = (setup.dir / "run").string();
  ASSERT_EQ(run_command(setup.train_command(run)).exit_code, 0);
  // Edit the run's config so that it describes another model than its checkpoint holds.
  std::ifstream in(setup.dir / "run" / "config.toml");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto at = text.find("filters = 4");
  ASSERT_NE(at, std::string::npos);
  text.replace(at, 11, "filters = 6");
  testing::write_text(setup.dir / "run" / "config.toml", text);
  expect_clean_error(run_cnnlab("evaluate " + run + " --data-dir " + setup.data_dir),
                     "checkpoint is from another model");
}

TEST(CliTest, PredictRejectsNonImages) {
  TinyProject setup;
  const std::string run = (setup.dir / "run").string();
  ASSERT_EQ(run_command(setup.train_command(run)).exit_code, 0);
  testing::write_text(setup.dir / "x.png", "hello");
  expect_clean_error(run_cnnlab("predict " + run + " " + (setup.dir / "x.png").string()),
                     "x.png: not a readable image");
}

// Width and height from a PNG's header (big-endian, after the 8-byte signature and IHDR's length
// and type).
std::pair<uint32_t, uint32_t> png_size(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  unsigned char header[24] = {};
  in.read(reinterpret_cast<char*>(header), sizeof header);
  const auto word = [&](int at) {
    return uint32_t{header[at]} << 24 | uint32_t{header[at + 1]} << 16 |
           uint32_t{header[at + 2]} << 8 | uint32_t{header[at + 3]};
  };
  return {word(16), word(20)};
}

TEST(CliTest, PredictWritesGradCamPictures) {
  TinyProject setup;
  const std::string run = (setup.dir / "run").string();
  ASSERT_EQ(run_command(setup.train_command(run)).exit_code, 0);
  fs::create_directories(setup.dir / "more");
  write_png(setup.dir / "a.png", torch::randint(0, 256, {1, 4, 4}, torch::kUInt8));
  write_png(setup.dir / "more" / "b.png", torch::randint(0, 256, {1, 7, 5}, torch::kUInt8));
  const fs::path out = setup.dir / "cams";
  const Outcome predict =
      run_cnnlab("predict " + run + " " + (setup.dir / "a.png").string() + " " +
                 (setup.dir / "more" / "b.png").string() + " --grad-cam " + out.string());
  ASSERT_EQ(predict.exit_code, 0) << predict.output;
  EXPECT_NE(predict.output.find("in Conv1: " + (out / "a.grad-cam.png").string()),
            std::string::npos)
      << predict.output;
  // The model's 4×4 input, enlarged 56 times to be seen.
  EXPECT_EQ(png_size(out / "a.grad-cam.png"), (std::pair<uint32_t, uint32_t>{224, 224}));
  EXPECT_EQ(png_size(out / "b.grad-cam.png"), (std::pair<uint32_t, uint32_t>{224, 224}));

  // Two files that would write one picture are refused before anything is written.
  write_png(setup.dir / "more" / "a.png", torch::zeros({1, 4, 4}, torch::kUInt8));
  const fs::path clash = setup.dir / "clash";
  expect_clean_error(
      run_cnnlab("predict " + run + " " + (setup.dir / "a.png").string() + " " +
                 (setup.dir / "more" / "a.png").string() + " --grad-cam " + clash.string()),
      "would both write " + (clash / "a.grad-cam.png").string());
  EXPECT_FALSE(fs::exists(clash));
  expect_clean_error(run_cnnlab("predict " + run + " " + (setup.dir / "a.png").string() +
                                " --grad-cam " + out.string() + " --grad-cam-layer Dense"),
                     "--grad-cam-layer: no layer named 'Dense'; expected one of Conv1");
}

TEST(CliTest, ExportWritesAPyTorchModuleAndItsWeights) {
  TinyProject setup;
  const std::string run = (setup.dir / "run").string();
  ASSERT_EQ(run_command(setup.train_command(run)).exit_code, 0);
  const Outcome exported = run_cnnlab("export " + run);
  ASSERT_EQ(exported.exit_code, 0) << exported.output;
  const fs::path out = setup.dir / "run" / "pytorch";
  EXPECT_NE(exported.output.find("Wrote " + (out / "model.py").string() +
                                 " (the model, best checkpoint) and " +
                                 (out / "weights.safetensors").string()),
            std::string::npos)
      << exported.output;
  std::ifstream model(out / "model.py");
  const std::string source((std::istreambuf_iterator<char>(model)), {});
  EXPECT_NE(source.find("self.Conv1 = nn.Conv2d(1, 4, (3, 3)"), std::string::npos) << source;
  EXPECT_NE(source.find("INPUT_SHAPE = (1, 4, 4)"), std::string::npos) << source;
  EXPECT_GT(fs::file_size(out / "weights.safetensors"), 8u);

  const fs::path elsewhere = setup.dir / "elsewhere";
  ASSERT_EQ(run_cnnlab("export " + run + " --checkpoint last -o " + elsewhere.string()).exit_code,
            0);
  EXPECT_TRUE(fs::exists(elsewhere / "model.py"));
  EXPECT_TRUE(fs::exists(elsewhere / "weights.safetensors"));

  expect_clean_error(run_cnnlab("export " + (setup.dir / "nothing").string()),
                     (setup.dir / "nothing").string());
  testing::write_text(setup.dir / "file", "");
  expect_clean_error(run_cnnlab("export " + run + " -o " + (setup.dir / "file" / "out").string()),
                     (setup.dir / "file").string());
}

// The exported files in PyTorch from Python score a slice of a real test set as cnnlab does:
// the study's model of `dataset` trained for one epoch on a slice of its training set.
void expect_pytorch_scores_as_evaluate(const std::string& dataset, const std::string& folder,
                                       const std::string& options) {
  const auto root = testing::real_data_root(folder);
  if (root.empty()) GTEST_SKIP() << "CNNLAB_DATA does not hold " << folder << "/";
  TempDir dir;
  const std::string run = (dir / "run").string();
  const std::string config = std::string(CNNLAB_SOURCE_DIR) + "/configs/" + dataset + ".toml";
  const Outcome train =
      run_cnnlab("train -c " + config + " --data-dir " + root.string() + " --out " + run +
                 " --no-report --set train.epochs=1 --set data.test_limit=600 " + options);
  ASSERT_EQ(train.exit_code, 0) << train.output;
  const Outcome evaluate = run_cnnlab("evaluate " + run + " --data-dir " + root.string());
  ASSERT_EQ(evaluate.exit_code, 0) << evaluate.output;
  ASSERT_EQ(run_cnnlab("export " + run).exit_code, 0);
  const Outcome pytorch = testing::run_command(
      "/usr/bin/python3 " + std::string(CNNLAB_SOURCE_DIR) + "/bench/exported_accuracy.py " + run +
      "/pytorch " + (root / folder).string() + " --limit 600");
  ASSERT_EQ(pytorch.exit_code, 0) << pytorch.output;
  EXPECT_NE(pytorch.output.find(dataset + ": 600 test images"), std::string::npos)
      << pytorch.output;
  EXPECT_NE(accuracy_line(evaluate.output), "(none)");
  EXPECT_EQ(accuracy_line(pytorch.output), accuracy_line(evaluate.output)) << pytorch.output;
}

TEST(CliTest, ExportedMnistModelScoresInPyTorchAsEvaluateDoes) {
  expect_pytorch_scores_as_evaluate("mnist", "mnist",
                                    "--set data.train_limit=1500 --set data.normalize=true");
}

TEST(CliTest, ExportedCifar10ModelScoresInPyTorchAsEvaluateDoes) {
  expect_pytorch_scores_as_evaluate("cifar10", "cifar-10-batches-bin",
                                    "--set data.train_limit=500");
}

TEST(CliTest, InterruptSavesAndResumeFinishes) {
  TinyProject setup = tiny_setup(550, 60);
  const fs::path run = setup.dir / "run";
  const std::string command = std::string(CNNLAB_BINARY) + " train -c " + setup.config +
                              " --data-dir " + setup.data_dir + " --out " + run.string() + " > " +
                              (setup.dir / "log.txt").string() + " 2>&1";
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", ("exec " + command).c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  // Wait until the first epoch is done, then press Ctrl-C.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  std::size_t lines = 0;
  while (lines < 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    std::ifstream epochs(run / "epochs.csv");
    lines = static_cast<std::size_t>(
        std::count(std::istreambuf_iterator<char>(epochs), std::istreambuf_iterator<char>(), '\n'));
  }
  EXPECT_GE(lines, 2u) << "the first epoch did not end within 120 s";  // then Ctrl-C anyway
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  std::ifstream log_file(setup.dir / "log.txt");
  const std::string log((std::istreambuf_iterator<char>(log_file)),
                        std::istreambuf_iterator<char>());
  ASSERT_EQ(WEXITSTATUS(status), 130) << log;
  EXPECT_NE(log.find("cnnlab train --resume " + run.string()), std::string::npos) << log;
  EXPECT_FALSE(fs::exists(run / "metrics.json"));

  const Outcome resumed =
      run_cnnlab("train --resume " + run.string() + " --data-dir " + setup.data_dir);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("Epoch 60/60"), std::string::npos);
  EXPECT_TRUE(fs::exists(run / "metrics.json"));
}

TEST(CliTest, TrainsOnAnImageFolderAndPredictsItsImages) {
  // A dataset cnnlab has never seen: striped pictures in class folders, of assorted sizes, with a
  // broken file and a stray note among them.
  TempDir dir;
  const fs::path root = dir / "stripes";
  testing::write_striped_folder(root, "across", "down", 60);
  testing::write_text(root / "down" / "broken.png", "truncated");
  testing::write_text(root / "across" / "notes.txt", "source: drawn by hand");
  const std::string config = (dir / "stripes.toml").string();
  testing::write_text(config, testing::striped_folder_config(root, 8));
  const std::string run = (dir / "run").string();
  const Outcome train = run_cnnlab("train -c " + config + " --out " + run);
  ASSERT_EQ(train.exit_code, 0) << train.output;
  EXPECT_NE(
      train.output.find("cnnlab: warning: skipped " + (root / "down" / "broken.png").string()),
      std::string::npos)
      << train.output;
  EXPECT_NE(train.output.find("notes.txt: not an image file"), std::string::npos) << train.output;
  const auto at = train.output.find("Test accuracy: ");
  ASSERT_NE(at, std::string::npos) << train.output;
  EXPECT_GE(std::stod(train.output.substr(at + 15)), 0.8) << train.output;

  const Outcome predict = run_cnnlab("predict " + run + " " + (root / "down" / "p1.png").string());
  ASSERT_EQ(predict.exit_code, 0) << predict.output;
  EXPECT_NE(predict.output.find("down"), std::string::npos) << predict.output;
  const Outcome evaluate = run_cnnlab("evaluate " + run);
  ASSERT_EQ(evaluate.exit_code, 0) << evaluate.output;
  EXPECT_NE(evaluate.output.find("Test accuracy: "), std::string::npos) << evaluate.output;

  // train wrote the run's report; `cnnlab report` writes others where asked.
  EXPECT_TRUE(fs::is_regular_file(dir / "run" / "report.html")) << train.output;
  EXPECT_TRUE(fs::is_regular_file(dir / "run" / "report_data" / "epochs.json"));
  const Outcome report =
      run_cnnlab("report " + run + " --images down,0 --out " + (dir / "mine.html").string());
  ASSERT_EQ(report.exit_code, 0) << report.output;
  EXPECT_TRUE(fs::is_regular_file(dir / "mine.html"));
  EXPECT_TRUE(fs::is_regular_file(dir / "mine_data" / "learning_curve.json"));
}

TEST(CliTest, ReportErrorsNameTheProblem) {
  TempDir dir;
  const Outcome missing = run_cnnlab("report " + (dir / "nothing").string());
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.output.find((dir / "nothing").string() + ": not a run directory"),
            std::string::npos)
      << missing.output;
  EXPECT_EQ(missing.output.find("terminate"), std::string::npos) << missing.output;
  const Outcome extension = run_cnnlab("report " + dir.path().string() + " --out report.pdf");
  EXPECT_EQ(extension.exit_code, 1);
  EXPECT_NE(extension.output.find("--out: expected a file name ending in .html, found "
                                  "'report.pdf'"),
            std::string::npos)
      << extension.output;
  EXPECT_FALSE(fs::exists("report.pdf"));
}

TEST(CliTest, SweepReportsAnImpossiblePointAndResumes) {
  TinyProject setup;
  const fs::path sweep = setup.dir / "sweep.toml";
  testing::write_text(sweep,
                      "name = \"kernels\"\nconfig = \"tiny.toml\"\n[grid]\n"
                      "\"model.layers.Conv1.kernel\" = [2, 9]\n");
  const std::string args = "sweep " + sweep.string() + " --data-dir " + setup.data_dir + " --out " +
                           (setup.dir / "runs").string();
  const Outcome first = run_cnnlab(args);
  ASSERT_EQ(first.exit_code, 0) << first.output;
  EXPECT_NE(first.output.find("== run 1 of 2: kernel=2 (2 runs not timed yet) =="),
            std::string::npos)
      << first.output;
  EXPECT_NE(first.output.find("== run 2 of 2: kernel=9"), std::string::npos);
  EXPECT_NE(first.output.find("This model cannot be built (nor can Keras build it); the others go "
                              "on: "),
            std::string::npos);
  EXPECT_NE(first.output.find("kernel 9x9 is larger than its input 4x4"), std::string::npos);
  EXPECT_NE(first.output.find("2 runs, 0 failed, 1 cannot be built. Written: "), std::string::npos);
  EXPECT_TRUE(fs::exists(setup.dir / "runs" / "kernels" / "sweep.html"));
  EXPECT_TRUE(fs::exists(setup.dir / "runs" / "kernels" / "kernel=2" / "report.html"));

  const Outcome again = run_cnnlab(args);
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("Already done in "), std::string::npos) << again.output;
  EXPECT_EQ(again.output.find("Epoch 1/"), std::string::npos) << again.output;
}

TEST(CliTest, SweepAndStudyErrorsNameTheProblem) {
  TinyProject setup;
  expect_clean_error(run_cnnlab("sweep " + (setup.dir / "none.toml").string()),
                     "none.toml: cannot read the sweep file");
  const fs::path sweep = setup.dir / "sweep.toml";
  testing::write_text(sweep,
                      "name = \"s\"\nconfig = \"tiny.toml\"\n[grid]\n"
                      "\"model.layers.Dense*.kernel\" = [2]\n");
  expect_clean_error(run_cnnlab("sweep " + sweep.string() + " --data-dir " + setup.data_dir),
                     "no layer matching 'Dense*' has the option 'kernel'");
  expect_clean_error(
      run_cnnlab("study " + std::string(CNNLAB_SOURCE_DIR) + "/studies/cnn-study.toml --part svhn"),
      "has no part 'svhn' (its parts: mnist, cifar10)");
}

}  // namespace
}  // namespace cnnlab
