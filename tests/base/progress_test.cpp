// ProgressBar draws at the promised rate and formats counts, rates, ETAs and summaries.
#include "common/base/progress.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

namespace towerstream {
namespace {

// Captures what a ProgressBar prints, with a clock the test moves by hand.
class ProgressCapture {
 public:
  ProgressCapture() : out_(std::tmpfile()) {}
  ~ProgressCapture() { std::fclose(out_); }

  ProgressOptions Options(bool terminal) {
    ProgressOptions o;
    o.label = "rows";
    o.unit = "rows";
    o.out = out_;
    o.terminal = terminal;
    o.clock = [this] { return now_; };
    return o;
  }
  void Advance(double seconds) { now_ += seconds; }
  std::string Text() {
    std::fflush(out_);
    std::rewind(out_);
    std::string text;
    char buf[256];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), out_)) > 0) text.append(buf, n);
    return text;
  }

 private:
  std::FILE* out_;
  double now_ = 100;
};

int CountOf(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) ++n;
  return n;
}

TEST(ProgressBarTest, LogModePrintsALineOnlyEveryLogInterval) {
  ProgressCapture capture;
  ProgressBar bar(1000, capture.Options(/*terminal=*/false));
  for (int i = 0; i < 100; ++i) {
    capture.Advance(0.5);  // 50 s in all: lines at 10, 20, 30, 40, 50 s
    bar.Add(10);
  }
  const std::string text = capture.Text();
  EXPECT_EQ(CountOf(text, "\n"), 5) << text;
  EXPECT_EQ(text.find('\r'), std::string::npos) << text;
}

TEST(ProgressBarTest, TerminalModeRedrawsAtMostFiveTimesASecond) {
  ProgressCapture capture;
  ProgressBar bar(1000, capture.Options(/*terminal=*/true));
  for (int i = 0; i < 100; ++i) {
    capture.Advance(0.01);  // one second in all
    bar.Add(1);
  }
  const std::string text = capture.Text();
  EXPECT_LE(CountOf(text, "\r"), 5) << text;
  EXPECT_GE(CountOf(text, "\r"), 4) << text;
}

TEST(ProgressBarTest, ShowsPercentRateAndEta) {
  ProgressCapture capture;
  ProgressBar bar(1000, capture.Options(/*terminal=*/false));
  capture.Advance(10);
  bar.Add(250);  // 25 rows/s, 750 left: 30 s
  const std::string text = capture.Text();
  EXPECT_NE(text.find(" 25.0%"), std::string::npos) << text;
  EXPECT_NE(text.find("250/1,000 rows"), std::string::npos) << text;
  EXPECT_NE(text.find("25 rows/s"), std::string::npos) << text;
  EXPECT_NE(text.find("ETA 0:30"), std::string::npos) << text;
}

TEST(ProgressBarTest, AppendsTheDetailOfTheMoment) {
  ProgressCapture capture;
  ProgressOptions options = capture.Options(/*terminal=*/false);
  double loss = 5.25;
  options.detail = [&loss] { return "loss " + std::to_string(loss).substr(0, 4); };
  ProgressBar bar(1000, options);
  capture.Advance(10);
  bar.Add(100);
  loss = 4.5;
  capture.Advance(10);
  bar.Add(100);
  const std::string text = capture.Text();
  EXPECT_NE(text.find(", loss 5.25\n"), std::string::npos) << text;
  EXPECT_NE(text.find(", loss 4.50\n"), std::string::npos) << text;
}

TEST(ProgressBarTest, FinishPrintsOneSummaryLine) {
  ProgressCapture capture;
  {
    ProgressBar bar(0, capture.Options(/*terminal=*/false));
    bar.Add(31788324);
    capture.Advance(92);
    bar.Finish();
    bar.Finish();  // idempotent, and the destructor adds nothing
  }
  EXPECT_EQ(capture.Text(), "rows: 31,788,324 rows in 1:32 (345,525 rows/s)\n");
}

TEST(ProgressBarTest, NullOutputPrintsNothing) {
  ProgressOptions options;
  options.out = nullptr;
  ProgressBar bar(10, options);
  bar.Add(10);
  bar.Finish();
  EXPECT_EQ(bar.done(), 10);
}

TEST(ProgressOptionsTest, RejectsNonPositiveIntervals) {
  ProgressOptions options;
  options.redraw_interval_s = 0;
  EXPECT_FALSE(options.Validate().ok());
  options = {};
  options.log_interval_s = -1;
  EXPECT_FALSE(options.Validate().ok());
  EXPECT_TRUE(ProgressOptions{}.Validate().ok());
}

TEST(FormatTest, CountsDurationsAndBytes) {
  struct Case {
    std::string got, want;
  };
  const Case cases[] = {
      {FormatCount(0), "0"},
      {FormatCount(999), "999"},
      {FormatCount(1000), "1,000"},
      {FormatCount(-1234567), "-1,234,567"},
      {FormatDuration(7.4), "0:07"},
      {FormatDuration(92), "1:32"},
      {FormatDuration(3723), "1:02:03"},
      {FormatBytes(512), "512 B"},
      {FormatBytes(36127865), "36.1 MB"},
      {FormatBytes(3485081960), "3.49 GB"},
  };
  for (const Case& c : cases) EXPECT_EQ(c.got, c.want);
}

}  // namespace
}  // namespace towerstream
