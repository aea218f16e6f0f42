// Everything a user names reaches the report escaped: class names (folder names), run names,
// layer names, config strings and run directory names holding markup, quotes and bytes that are
// not UTF-8. The report stays valid UTF-8, gains no element, and loads nothing from the network.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <regex>

#include "cnnlab/data/image_file.h"
#include "support/temp_dir.h"

namespace cnnlab {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

using testing::read_file;

// A check of its own, independent of the library's: well-formed UTF-8 (RFC 3629).
bool well_formed_utf8(const std::string& text) {
  for (std::size_t i = 0; i < text.size();) {
    const auto b = static_cast<unsigned char>(text[i]);
    std::size_t n = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > text.size()) return false;
    uint32_t code = n == 1 ? b : b & (0x7F >> n);
    for (std::size_t k = 1; k < n; ++k) {
      const auto c = static_cast<unsigned char>(text[i + k]);
      if ((c >> 6) != 2) return false;
      code = (code << 6) | (c & 0x3F);
    }
    const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code < min[n] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return false;
    i += n;
  }
  return true;
}

int run_cnnlab(const std::string& arguments, std::string& output) {
  FILE* pipe = popen((std::string(CNNLAB_BINARY) + " " + arguments + " 2>&1").c_str(), "r");
  char buffer[4096];
  while (std::size_t n = fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
  const int status = pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string shell_quoted(const fs::path& path) {
  std::string out = "'";
  for (char c : path.string()) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// An image-folder dataset of two classes with the given folder names, and a config to train on
// it for one epoch under the run name `name` with a layer named `layer`.
std::string write_run_inputs(const fs::path& dir, const std::string& class_a,
                             const std::string& class_b, const std::string& name,
                             const std::string& layer) {
  testing::write_striped_folder(dir / "pictures", class_a, class_b, 40);
  const auto toml_string = [](const std::string& s) {
    std::string out = "\"";
    for (char c : s) out += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
    return out + "\"";
  };
  const fs::path config = dir / "run.toml";
  testing::write_text(config, "name = " + toml_string(name) + R"(
[data]
dataset = "folder"
dir = )" + toml_string((dir / "pictures").string()) +
                                  R"(
image_size = [12, 12]
test_split = 0.25
[[model.layers]]
type = "conv2d"
name = )" + toml_string(layer) + R"(
filters = 4
activation = "relu"
[[model.layers]]
type = "flatten"
[[model.layers]]
type = "dense"
activation = "softmax"
[train]
epochs = 1
batch_size = 8
)");
  return config.string();
}

std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

TEST(ReportSafetyTest, UserSuppliedNamesAreEscapedEverywhere) {
  TempDir dir;
  // A benign run: the report's own elements, to count against.
  const std::string plain_config =
      write_run_inputs(dir / "plain", "across", "down", "plain", "Conv1");
  std::string output;
  ASSERT_EQ(run_cnnlab("train -c " + shell_quoted(plain_config) + " --out " +
                           shell_quoted(dir / "plain" / "run"),
                       output),
            0)
      << output;
  const std::string plain = read_file(dir / "plain" / "run" / "report.html");

  const std::string class_script = "<script>alert(1)";
  const std::string class_latin1 = "caf\xE9 \"quoted\" & 'single'";
  const std::string run_name = "<script>alert(3)";  // a run name may not hold '/'

  const std::string layer_name = "<img src=x onerror=alert(4)>";
  const fs::path run = dir / "hostile" / "run-<u>\xFF\"'";
  const std::string config =
      write_run_inputs(dir / "hostile", class_script, class_latin1, run_name, layer_name);
  output.clear();
  ASSERT_EQ(run_cnnlab("train -c " + shell_quoted(config) + " --out " + shell_quoted(run), output),
            0)
      << output;
  const std::string report = read_file(run / "report.html");
  ASSERT_FALSE(report.empty());

  EXPECT_TRUE(well_formed_utf8(report));
  // Nothing the user named became markup.
  for (const std::string& raw : {class_script, run_name, layer_name, std::string("<u>"),
                                 std::string("\"quoted\" & 'single'")}) {
    EXPECT_EQ(report.find(raw), std::string::npos) << "unescaped: " << raw;
  }
  EXPECT_EQ(count_of(report, "<script"), count_of(plain, "<script"));
  EXPECT_EQ(count_of(report, "<img"), count_of(plain, "<img"));
  // …but every name reached the page, escaped (HTML text or JSON inside a script element).
  for (const std::string& mark : {std::string("alert(1)"), std::string("alert(3)"),
                                  std::string("alert(4)"), std::string("caf\xEF\xBF\xBD")}) {
    EXPECT_NE(report.find(mark), std::string::npos) << "missing: " << mark;
  }
  EXPECT_NE(report.find("&lt;script&gt;alert(3)"), std::string::npos);
  EXPECT_NE(report.find("run-&lt;u&gt;\xEF\xBF\xBD&quot;&#39;"), std::string::npos);
  // The chart data beside the report is valid UTF-8 too.
  for (const auto& entry : fs::directory_iterator(run / "report_data")) {
    EXPECT_TRUE(well_formed_utf8(read_file(entry.path()))) << entry.path();
  }

  // Nothing is fetched: no element, style or script points outside the page.
  const std::regex remote(
      R"((src|href)\s*=\s*["']?\s*(https?:|//)|url\(\s*["']?(https?:|//)|@import)",
      std::regex::icase);
  std::string markup = report;
  // Script bodies (the inlined charting libraries) mention URLs in strings; only markup counts.
  for (auto open = markup.find("<script"); open != std::string::npos;
       open = markup.find("<script", open + 1)) {
    const auto body = markup.find('>', open);
    const auto close = markup.find("</script>", body);
    if (body == std::string::npos || close == std::string::npos) break;
    markup.erase(body + 1, close - body - 1);
  }
  std::smatch match;
  EXPECT_FALSE(std::regex_search(markup, match, remote)) << match.str();
}

}  // namespace
}  // namespace cnnlab
