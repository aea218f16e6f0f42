#include "cnnlab/training/callbacks.h"

namespace cnnlab {

CallbackList::CallbackList(std::initializer_list<Callback*> callbacks) {
  for (Callback* callback : callbacks) {
    if (callback != nullptr) callbacks_.push_back(callback);
  }
}

void CallbackList::on_train_begin(Trainer& trainer) {
  for (Callback* c : callbacks_) c->on_train_begin(trainer);
}
void CallbackList::on_epoch_begin(int64_t epoch, int64_t epochs, int64_t steps_per_epoch) {
  for (Callback* c : callbacks_) c->on_epoch_begin(epoch, epochs, steps_per_epoch);
}
void CallbackList::on_batch_end(const StepEvent& event) {
  for (Callback* c : callbacks_) c->on_batch_end(event);
}
void CallbackList::on_batch_skipped(const StepEvent& event, double loss) {
  for (Callback* c : callbacks_) c->on_batch_skipped(event, loss);
}
void CallbackList::on_epoch_end(const EpochRecord& record, Trainer& trainer) {
  for (Callback* c : callbacks_) c->on_epoch_end(record, trainer);
}
void CallbackList::on_checkpoint(CheckpointKind kind, Trainer& trainer) {
  for (Callback* c : callbacks_) c->on_checkpoint(kind, trainer);
}
void CallbackList::on_learning_rate_reduced(int64_t epoch, double lr) {
  for (Callback* c : callbacks_) c->on_learning_rate_reduced(epoch, lr);
}
void CallbackList::on_early_stop(const EarlyStoppingVerdict& verdict) {
  for (Callback* c : callbacks_) c->on_early_stop(verdict);
}
void CallbackList::on_best_weights_restored(const EarlyStoppingVerdict& verdict) {
  for (Callback* c : callbacks_) c->on_best_weights_restored(verdict);
}
void CallbackList::on_warning(const std::string& message) {
  for (Callback* c : callbacks_) c->on_warning(message);
}
void CallbackList::on_train_end(FitStatus status, Trainer& trainer) {
  for (Callback* c : callbacks_) c->on_train_end(status, trainer);
}
bool CallbackList::stop_requested() {
  bool stop = false;
  for (Callback* c : callbacks_) stop = c->stop_requested() || stop;
  return stop;
}

void LambdaCallback::on_epoch_begin(int64_t epoch, int64_t epochs, int64_t steps_per_epoch) {
  if (f_.on_epoch_begin) f_.on_epoch_begin(epoch, epochs, steps_per_epoch);
}
void LambdaCallback::on_batch_end(const StepEvent& event) {
  if (f_.on_step_end) f_.on_step_end(event);
}
void LambdaCallback::on_batch_skipped(const StepEvent& event, double loss) {
  if (f_.on_batch_skipped) f_.on_batch_skipped(event, loss);
}
void LambdaCallback::on_epoch_end(const EpochRecord& record, Trainer& /*trainer*/) {
  if (f_.on_epoch_end) f_.on_epoch_end(record);
}
void LambdaCallback::on_learning_rate_reduced(int64_t epoch, double lr) {
  if (f_.on_learning_rate_reduced) f_.on_learning_rate_reduced(epoch, lr);
}
void LambdaCallback::on_early_stop(const EarlyStoppingVerdict& verdict) {
  if (f_.on_early_stop) f_.on_early_stop(verdict);
}
void LambdaCallback::on_best_weights_restored(const EarlyStoppingVerdict& verdict) {
  if (f_.on_best_weights_restored) f_.on_best_weights_restored(verdict);
}
void LambdaCallback::on_train_begin(Trainer& trainer) {
  if (f_.on_train_begin) f_.on_train_begin(trainer);
}
void LambdaCallback::on_warning(const std::string& message) {
  if (f_.on_warning) f_.on_warning(message);
}
bool LambdaCallback::stop_requested() { return f_.stop_requested && f_.stop_requested(); }

}  // namespace cnnlab
