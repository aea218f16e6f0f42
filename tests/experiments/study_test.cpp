#include <fmt/format.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>

#include "cnnlab/app/experiment_jobs.h"
#include "cnnlab/error.h"
#include "support/temp_dir.h"

namespace cnnlab {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

std::string read(const fs::path& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

std::string parse_error(const std::string& text) {
  try {
    parse_study(text, "s.toml", ".");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no error";
}

TEST(StudyTest, BadStudyFilesNameTheFileAndTheKey) {
  EXPECT_NE(parse_error("name = \"s\"\n").find("s.toml: expected at least one [[parts]]"),
            std::string::npos);
  EXPECT_NE(parse_error("name = \"s\"\n[[parts]]\nname = \"a\"\n")
                .find("s.toml: parts[0].config: expected a non-empty string"),
            std::string::npos);
  EXPECT_NE(parse_error("name = \"s\"\n[[parts]]\nname = \"a\"\nconfig = \"c\"\nrefrence = 1\n")
                .find("parts[0]: unknown key 'refrence'"),
            std::string::npos);
  EXPECT_NE(parse_error("name = \"s\"\n[[parts]]\nname = \"a\"\nconfig = \"c\"\n"
                        "reference_accuracy = 99.2\n")
                .find("parts[0].reference_accuracy: expected an accuracy between 0 and 1"),
            std::string::npos);
  EXPECT_NE(parse_error("name = \"s\"\n[[parts]]\nname = \"a\"\nconfig = \"c\"\n"
                        "[[parts]]\nname = \"a\"\nconfig = \"c\"\n")
                .find("parts[1].name: expected a unique name"),
            std::string::npos);
  EXPECT_NE(parse_error("name = \"a/b\"\n").find("name: expected a name without '/'"),
            std::string::npos);
}

TEST(StudyTest, ShippedStudyPlansTheStudysRunsInItsOrder) {
  const StudySpec spec =
      load_study_file(fs::path(CNNLAB_SOURCE_DIR) / "studies" / "cnn-study.toml");
  ASSERT_EQ(spec.parts.size(), 2u);
  EXPECT_DOUBLE_EQ(spec.parts[0].reference_accuracy, 0.9920);
  EXPECT_DOUBLE_EQ(spec.parts[0].reference_l2_accuracy, 0.9720);
  EXPECT_DOUBLE_EQ(spec.parts[1].reference_accuracy, 0.8361);
  EXPECT_DOUBLE_EQ(spec.parts[1].reference_l2_accuracy, 0.7800);
  EXPECT_EQ(spec.parts[1].images, (std::vector<std::string>{"frog", "ship"}));

  EXPECT_EQ(spec.parts[0].config.filename(), "mnist.toml");
  EXPECT_EQ(spec.parts[0].config.parent_path().filename(), "study");  // the plain Keras model
  EXPECT_EQ(spec.parts[0].preset.filename(), "mnist.toml");

  const StudyPlan plan = plan_study(spec, "out", {"train.epochs=1"});
  // mnist; 7 filter sizes at stride 1 and 2 more strides at size 3, each with seeds 0, 1, 2;
  // mnist-l2, the preset and its L2 variant; cifar10, cifar10-l2, the preset and its L2 variant.
  ASSERT_EQ(plan.runs.size(), 35u);
  std::vector<std::string> labels;
  for (const auto& run : plan.runs) labels.push_back(run.label);
  EXPECT_EQ(labels[0], "mnist");
  EXPECT_EQ(labels[1], "mnist-sweep/kernel=3,stride=1,seed=0");
  EXPECT_EQ(labels[3], "mnist-sweep/kernel=3,stride=1,seed=2");
  EXPECT_EQ(labels[4], "mnist-sweep/kernel=4,stride=1,seed=0");
  EXPECT_EQ(labels[27], "mnist-sweep/kernel=3,stride=3,seed=2");
  EXPECT_EQ((std::vector<std::string>(labels.begin() + 28, labels.end())),
            (std::vector<std::string>{"mnist-l2", "mnist-preset", "mnist-preset-l2", "cifar10",
                                      "cifar10-l2", "cifar10-preset", "cifar10-preset-l2"}));
  EXPECT_EQ(plan.runs[28].run_dir, fs::path("out") / "mnist-l2");
  EXPECT_EQ(plan.runs[13].run_dir, fs::path("out") / "mnist-sweep" / "kernel=7,stride=1,seed=0");
  EXPECT_EQ(plan.runs[29].config, spec.parts[0].preset);
  const auto& l2 = plan.runs[34].overrides;
  EXPECT_NE(std::find(l2.begin(), l2.end(), "train.l2=0.01"), l2.end());
  EXPECT_NE(std::find(l2.begin(), l2.end(), "train.epochs=1"), l2.end());
  EXPECT_EQ(l2.back(), "name=\"cifar10-preset-l2\"");
  EXPECT_EQ(plan.parts[0].model, 0u);
  EXPECT_EQ(plan.parts[0].sweep.size(), 27u);
  EXPECT_EQ(plan.parts[0].l2, 28u);
  EXPECT_EQ(plan.parts[0].preset, 29u);
  EXPECT_EQ(plan.parts[0].preset_l2, 30u);
  EXPECT_EQ(plan.parts[1].model, 31u);
  EXPECT_TRUE(plan.parts[1].sweep.empty());
  // The sweep keeps the plain model's "valid" padding, as the study did.
  for (const auto& o : plan.runs[27].overrides) {
    EXPECT_EQ(o.find("padding"), std::string::npos) << o;
  }
}

// The whole study, quickly, on the real datasets: every section of the report is there, with its
// computed sentences.
TEST(StudyTest, QuickStudyWritesEverySection) {
  const fs::path data = testing::real_data_root("mnist");
  if (data.empty() || testing::real_data_root("cifar-10-batches-bin").empty()) {
    GTEST_SKIP() << "$CNNLAB_DATA does not hold mnist/ and cifar10/";
  }
  TempDir dir;
  const StudySpec spec =
      load_study_file(fs::path(CNNLAB_SOURCE_DIR) / "studies" / "cnn-study.toml");
  ExperimentCallbacks callbacks;
  callbacks.analysis.gallery_size(6).saliency_count(1);
  auto extra = quick_study_overrides();
  extra.push_back("train.threads=1");
  const auto outcome =
      run_study(spec, dir / "study", DataRoot{data, "$CNNLAB_DATA"}, true, callbacks, extra);
  ASSERT_FALSE(outcome.interrupted);
  ASSERT_EQ(outcome.runs.size(), 35u);
  for (const auto& run : outcome.runs) {
    // Stride 3 at "valid" padding leaves the second pool no room: Keras cannot build it either.
    const bool impossible = run.run.label.rfind("mnist-sweep/kernel=3,stride=3,", 0) == 0;
    const auto expected = impossible ? RunStatus::kCannotBuild : RunStatus::kTrained;
    EXPECT_EQ(run.status, expected) << run.run.label << ": " << run.error;
  }
  const std::string html = read(outcome.page);
  for (const char* section :
       {"id=\"results\"", "id=\"s1-1\"", "id=\"s1-2\"", "id=\"s1-3\"", "id=\"s1-4\"", "id=\"s2-1\"",
        "id=\"s2-2\"", "id=\"s2-3\"", "id=\"s2-4\"", "id=\"s2-5\"",
        ">1-1 MNIST: training, filter size and stride<", ">1-2 MNIST: examples<",
        ">1-3 MNIST: feature maps<", ">1-4 MNIST: L2 regularisation<",
        ">2-1 CIFAR-10: preprocessing<", ">2-2 CIFAR-10: training<",
        ">2-5 CIFAR-10: L2 regularisation<", "A quick run (--quick)"}) {
    EXPECT_NE(html.find(section), std::string::npos) << section;
  }
  EXPECT_EQ(html.find("id=\"s1-5\""), std::string::npos);
  // Sentences computed from the results, and the study's numbers beside this run's.
  for (const char* sentence :
       {"As kernel went from 3 to 9 (stride=1), test accuracy",
        "As stride went from 1 to 2 (kernel=3)", "test images were misclassified",
        "Conv1 gives 32 maps of 26×26", "Conv6 gives 128 maps of 8×8", "With L2, test accuracy was",
        "of the Dense.weight values lie within ±0.01 with L2",
        "Every training batch is augmented afresh"}) {
    EXPECT_NE(html.find(sentence), std::string::npos) << sentence;
  }

  // Every accuracy on the page is the one its run recorded: metrics.json, read back from disk.
  std::map<std::string, double> accuracy;
  for (const auto& run : outcome.runs) {
    if (run.status != RunStatus::kTrained) continue;
    const auto metrics = nlohmann::json::parse(read(run.run.run_dir / "metrics.json"));
    accuracy[run.run.label] = metrics.at("test_accuracy").get<double>();
  }
  // The results table: the study's figure, this run's, and the difference.
  for (const auto& [label, reference] : std::vector<std::pair<std::string, double>>{
           {"mnist", 0.9920}, {"mnist-l2", 0.9720}, {"cifar10", 0.8361}, {"cifar10-l2", 0.7800}}) {
    const double ours = accuracy.at(label);
    const std::string row = fmt::format(
        "<td class=\"num\">{:.4f}</td><td class=\"num\">{:.4f}</td><td class=\"num\">{:+.4f}</td>",
        reference, ours, ours - reference);
    EXPECT_NE(html.find(row), std::string::npos) << label << ": " << row;
    // The tuned preset's figure in its own column, after the report link.
    EXPECT_NE(html.find(fmt::format(">{:.4f}</a></td></tr>",
                                    accuracy.at(label == "mnist-l2"     ? "mnist-preset-l2"
                                                : label == "cifar10-l2" ? "cifar10-preset-l2"
                                                                        : label + "-preset"))),
              std::string::npos)
        << label;
  }
  // The L2 sentences of both parts.
  for (const char* dataset : {"mnist", "cifar10"}) {
    const std::string sentence =
        fmt::format("With L2, test accuracy was {:.4f}, against {:.4f} without.",
                    accuracy.at(std::string(dataset) + "-l2"), accuracy.at(dataset));
    EXPECT_NE(html.find(sentence), std::string::npos) << sentence;
  }
  // The study's conclusions, each tested on the runs with a verdict.
  const auto conclusions = html.find("<section id=\"conclusions\">");
  ASSERT_NE(conclusions, std::string::npos);
  const std::string tested =
      html.substr(conclusions, html.find("</section>", conclusions) - conclusions);
  for (const char* claim :
       {"Filter size makes little difference.</strong> At stride 1, filter sizes 3 to 9 reach",
        "Accuracy falls as stride rises.</strong> At filter size 3: ",
        "(stride 3 cannot be built); the noise margin is ", "MNIST: L2 does not raise accuracy.",
        "CIFAR-10: L2 does not raise accuracy.",
        "MNIST: L2 pulls the weights toward zero.</strong> The share of weights with |w| &lt; "
        "0.01, "
        "without → with L2: Conv1 "}) {
    EXPECT_NE(tested.find(claim), std::string::npos) << claim << "\n" << tested;
  }
  const std::regex verdict("(Reproduced|Not reproduced|Not decided)[^<]*\\.</strong>");
  const auto verdicts = std::distance(std::sregex_iterator(tested.begin(), tested.end(), verdict),
                                      std::sregex_iterator());
  EXPECT_EQ(verdicts, 6) << tested;
  EXPECT_NE(html.find("data-chart=\"p1-sweep\""), std::string::npos);
  EXPECT_NE(html.find("alt=\"augmented 1\""), std::string::npos);
  EXPECT_TRUE(fs::exists(dir / "study" / "mnist-sweep" / "sweep.html"));
  const std::string csv = read(dir / "study" / "mnist-sweep" / "sweep.csv");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 28);
  EXPECT_NE(csv.find("\"kernel=3,stride=3,seed=0\",3,3,0,cannot be built"), std::string::npos)
      << csv;
  EXPECT_NE(html.find("kernel=3,stride=3,seed=0: model.layers[3] (Pool2): pool window 2x2 is "
                      "larger than its input 1x1"),
            std::string::npos);
  // Each trained sweep point's line holds its run's accuracy.
  for (const auto& run : outcome.runs) {
    if (run.run.label.rfind("mnist-sweep/", 0) != 0 || run.status != RunStatus::kTrained) continue;
    const std::string point = run.run.label.substr(std::string("mnist-sweep/").size());
    const auto line_start = csv.find("\n\"" + point + "\",");
    ASSERT_NE(line_start, std::string::npos) << point << "\n" << csv;
    const std::string line =
        csv.substr(line_start + 1, csv.find('\n', line_start + 1) - line_start);
    EXPECT_NE(line.find(fmt::format(",trained,{:.6f},", accuracy.at(run.run.label))),
              std::string::npos)
        << line;
  }
  EXPECT_TRUE(fs::exists(dir / "study" / "cifar10-l2" / "report.html"));
}

}  // namespace
}  // namespace cnnlab
