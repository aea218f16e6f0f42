#include "cnnlab/experiments/plan.h"

#include <fmt/format.h>

#include <fstream>
#include <map>

#include "cnnlab/config/run_config.h"
#include "cnnlab/error.h"
#include "cnnlab/run/metrics.h"
#include "cnnlab/run/run.h"

namespace cnnlab {
namespace fs = std::filesystem;

namespace {

// Work of a run in epoch-images, for estimating the time left.
double run_work(const RunConfig& config) {
  int64_t images = config.data.train_limit();
  if (images == 0) {
    const std::string& dataset = config.data.dataset();
    images = dataset == "cifar10" ? 50000 : dataset == "folder" ? 10000 : 60000;
  }
  return static_cast<double>(config.train.epochs()) * images *
         (1.0 - config.data.validation_split());
}

// Seconds per epoch-image, measured per config file (a model family), from finished runs.
class TimeEstimate {
 public:
  void add(const fs::path& config, double work, const nlohmann::json& metrics) {
    if (!metrics.is_object() || !metrics.contains("train_seconds")) return;
    auto& [seconds, done] = measured_[config];
    seconds += metrics["train_seconds"].get<double>();
    done += work;
  }
  TimeLeft time_for(const std::vector<std::pair<fs::path, double>>& runs) const {
    TimeLeft left;
    for (const auto& [config, work] : runs) {
      const auto it = measured_.find(config);
      if (it == measured_.end() || it->second.second <= 0) {
        ++left.untimed;
      } else {
        left.seconds += work * it->second.first / it->second.second;
      }
    }
    return left;
  }

 private:
  std::map<fs::path, std::pair<double, double>> measured_;
};

}  // namespace

const char* run_status_name(RunStatus status) {
  switch (status) {
    case RunStatus::kTrained:
      return "trained";
    case RunStatus::kAlreadyDone:
      return "already done";
    case RunStatus::kCannotBuild:
      return "cannot be built";
    case RunStatus::kFailed:
      return "failed";
    case RunStatus::kInterrupted:
      return "interrupted";
    case RunStatus::kNotRun:
      return "not run";
  }
  return "?";
}

std::vector<RunOutcome> run_plan(const std::vector<PlannedRun>& plan, const DataRoot& root,
                                 const PlanCallbacks& callbacks) {
  // Configs are read up front, so that a typo in the last run's overrides is found before hours
  // of training; an impossible model is only found when it is built. So is a folder that holds a
  // run with other options (the study or sweep file edited since): it would be resumed or kept
  // as it is, and the page would mix old and new runs.
  std::vector<double> work(plan.size(), 0.0);
  std::vector<std::string> config_errors(plan.size());
  for (std::size_t i = 0; i < plan.size(); ++i) {
    try {
      const RunConfig config = load_config_file(plan[i].config, plan[i].overrides);
      work[i] = run_work(config);
      const RunDir run_dir(plan[i].run_dir);
      const std::string changed = run_dir.holds_run() ? changed_options(run_dir, config) : "";
      if (!changed.empty()) {
        config_errors[i] = fmt::format(
            "{}: holds a run trained with other options than it would get now ({}); delete the "
            "folder to train it again with the new options, or restore the old ones to keep it",
            run_dir.string(), changed);
      }
    } catch (const ConfigError& e) {
      config_errors[i] = e.what();
    }
  }
  TimeEstimate estimate;
  for (std::size_t i = 0; i < plan.size(); ++i) {
    estimate.add(plan[i].config, work[i], read_metrics(plan[i].run_dir));
  }

  std::vector<RunOutcome> outcomes;
  bool stopped = false;
  for (std::size_t i = 0; i < plan.size(); ++i) {
    const PlannedRun& run = plan[i];
    RunOutcome outcome{run, RunStatus::kNotRun, "", nullptr};
    if (stopped) {
      outcomes.push_back(std::move(outcome));
      continue;
    }
    if (callbacks.on_run_begin) {
      std::vector<std::pair<fs::path, double>> left;
      for (std::size_t j = i; j < plan.size(); ++j) {
        if (read_metrics(plan[j].run_dir).is_null() && config_errors[j].empty()) {
          left.emplace_back(plan[j].config, work[j]);
        }
      }
      callbacks.on_run_begin(i, plan.size(), run, estimate.time_for(left));
    }
    outcome.metrics = read_metrics(run.run_dir);
    if (!config_errors[i].empty()) {
      outcome.status = RunStatus::kFailed;
      outcome.error = config_errors[i];
    } else if (!outcome.metrics.is_null()) {
      outcome.status = RunStatus::kAlreadyDone;
    } else {
      try {
        const RunResult result =
            RunDir(run.run_dir).holds_run()
                ? resume_run(run.run_dir, root, callbacks.trainer, callbacks.loading,
                             load_config_file(run.config, run.overrides).train.device())
                : train_run(load_config_file(run.config, run.overrides), root, run.run_dir,
                            callbacks.trainer, callbacks.loading);
        if (result.status == FitStatus::kInterrupted) {
          outcome.status = RunStatus::kInterrupted;
          stopped = true;
        } else {
          outcome.status = RunStatus::kTrained;
          outcome.metrics = read_metrics(run.run_dir);
          estimate.add(run.config, work[i], outcome.metrics);
        }
      } catch (const ShapeError& e) {
        outcome.status = RunStatus::kCannotBuild;
        outcome.error = e.what();
      } catch (const ConfigError& e) {
        outcome.status = RunStatus::kFailed;
        outcome.error = e.what();
      } catch (const DivergenceError& e) {
        outcome.status = RunStatus::kFailed;
        outcome.error = e.what();
      }
    }
    if (callbacks.on_run_finished && !outcome.metrics.is_null()) callbacks.on_run_finished(outcome);
    if (callbacks.on_run_end) callbacks.on_run_end(outcome);
    outcomes.push_back(std::move(outcome));
  }
  return outcomes;
}

}  // namespace cnnlab
