#include "cnnlab/app/train_job.h"

#include "cnnlab/app/run_jobs.h"

namespace cnnlab {

TrainJobResult run_train_job(TrainJob job) {
  TrainJobResult result;
  result.run =
      job.config
          ? train_run(*job.config, job.root, job.run_dir, job.callbacks, job.loading, job.group)
          : resume_run(job.run_dir, job.root, job.callbacks, job.loading, job.device, job.group);
  if (job.on_trained) job.on_trained(result.run);
  const bool writes = !job.group || job.group->rank() == 0;
  if (!job.report || !writes || result.run.status != FitStatus::kCompleted) return result;
  try {
    result.report = report_trained_run(result.run, job.root, job.report_options, job.loading);
  } catch (const std::exception& e) {
    result.report_error = e.what();
  }
  return result;
}

RunDir new_run_dir(const RunConfig& config, const std::filesystem::path& out) {
  return out.empty() ? RunDir(fresh_run_dir(config.output_dir, config.name)) : RunDir(out);
}

}  // namespace cnnlab
