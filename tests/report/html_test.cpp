#include "cnnlab/report/html.h"

#include <gtest/gtest.h>

#include "cnnlab/io/utf8.h"

namespace cnnlab {
namespace {

TEST(HtmlTest, EscapesMarkupAndQuotes) {
  EXPECT_EQ(html_escape("<img src=x onerror=\"alert('1')\"> & co"),
            "&lt;img src=x onerror=&quot;alert(&#39;1&#39;)&quot;&gt; &amp; co");
  EXPECT_EQ(html_escape("plain text"), "plain text");
}

TEST(HtmlTest, BytesThatAreNotUtf8BecomeReplacementCharacters) {
  EXPECT_EQ(html_escape("caf\xC3\xA9 caf\xE9"), "caf\xC3\xA9 caf\xEF\xBF\xBD");
  EXPECT_TRUE(is_valid_utf8("\xF0\x9F\x98\x80 \xE2\x82\xAC"));  // 😀 €
  for (const char* bad : {"\xC0\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xE2\x82", "\x80"}) {
    EXPECT_FALSE(is_valid_utf8(bad)) << bad;
    EXPECT_TRUE(is_valid_utf8(valid_utf8(bad))) << bad;
  }
  // Overlong "/" (C0 AF): each stray byte is replaced on its own.
  EXPECT_EQ(valid_utf8("a\xC0\xAF"
                       "b"),
            "a\xEF\xBF\xBD\xEF\xBF\xBD"
            "b");
}

TEST(HtmlTest, Base64MatchesRfc4648Vectors) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foob"), "Zm9vYg==");
  EXPECT_EQ(base64_encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64_encode(std::string("\xff\x00\xfe", 3)), "/wD+");
  EXPECT_EQ(png_data_url("foo"), "data:image/png;base64,Zm9v");
}

TEST(HtmlTest, JsonForScriptCannotCloseTheScriptElement) {
  const nlohmann::json value = {{"class", "</script><script>alert(1)</script>"}};
  const std::string text = json_for_script(value);
  EXPECT_EQ(text.find('<'), std::string::npos) << text;
  EXPECT_EQ(nlohmann::json::parse(text), value);
}

TEST(HtmlTest, InlineScriptEscapesClosingTagsAndDropsTheSourceMap) {
  EXPECT_EQ(inline_script("a = '</script>'; b = '</SCRIPT>';\n//# sourceMappingURL=x.js.map"),
            "a = '<\\/script>'; b = '<\\/SCRIPT>';\n");
  // A source-map comment that is not the last line is code's business, not ours.
  EXPECT_EQ(inline_script("f();"), "f();");
}

}  // namespace
}  // namespace cnnlab
