#include "cnnlab/config/run_config.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <cctype>
#include <charconv>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include "cnnlab/config/overrides.h"
#include "cnnlab/error.h"
#include "cnnlab/training/device.h"

namespace cnnlab {
namespace fs = std::filesystem;

namespace {

std::string describe(const toml::node& node) {
  std::ostringstream out;
  out << node.type() << " ";
  if (node.is_table()) {
    out << "{…}";
  } else if (node.is_array()) {
    out << "[…]";
  } else {
    node.visit([&](const auto& value) { out << value; });
  }
  return out.str();
}

// Edit distance, to suggest the option a user probably meant.
std::size_t distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1] ? 1 : 0)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

// A TOML table being read: typed getters with messages that name the file, line and option, and
// a check that every key was understood.
class Section {
 public:
  Section(const toml::table* table, std::string path, const std::string& source)
      : table_(table), path_(std::move(path)), source_(source) {}

  std::string where(const std::string& key) const {
    const toml::node* node = table_ != nullptr ? table_->get(key) : nullptr;
    const std::string name = path_.empty() ? key : path_ + "." + key;
    if (node != nullptr && node->source().path && node->source().begin.line > 0) {
      return fmt::format("{}:{}: {}", source_, node->source().begin.line, name);
    }
    return fmt::format("{}: {}", source_, name);
  }

  const toml::node* node(const std::string& key) {
    used_.insert(key);
    return table_ != nullptr ? table_->get(key) : nullptr;
  }

  template <typename T>
  T get(const std::string& key, T fallback) {
    const toml::node* n = node(key);
    if (n == nullptr) return fallback;
    return convert<T>(*n, where(key));
  }

  std::array<int64_t, 2> get_pair(const std::string& key, std::array<int64_t, 2> fallback) {
    const toml::node* n = node(key);
    if (n == nullptr) return fallback;
    if (n->is_integer()) {
      const int64_t v = n->value<int64_t>().value();
      return {v, v};
    }
    if (const auto* array = n->as_array(); array != nullptr && array->size() == 2 &&
                                           (*array)[0].is_integer() && (*array)[1].is_integer()) {
      return {(*array)[0].value<int64_t>().value(), (*array)[1].value<int64_t>().value()};
    }
    throw ConfigError(fmt::format("{}: expected an integer or a pair [height, width], found {}",
                                  where(key), describe(*n)));
  }

  std::vector<double> get_numbers(const std::string& key) {
    const toml::node* n = node(key);
    std::vector<double> values;
    if (n == nullptr) return values;
    const auto* array = n->as_array();
    if (array == nullptr) {
      throw ConfigError(
          fmt::format("{}: expected a list of numbers, found {}", where(key), describe(*n)));
    }
    for (const auto& element : *array) values.push_back(convert<double>(element, where(key)));
    return values;
  }

  const std::string& source() const { return source_; }

  /// Throws ConfigError for the first key no getter asked for.
  void reject_unknown(const std::string& what) const {
    if (table_ == nullptr) return;
    for (const auto& [key, value] : *table_) {
      const std::string k(key.str());
      if (used_.count(k) != 0) continue;
      std::string hint;
      std::size_t best = 3;
      for (const auto& known : used_) {
        const std::size_t d = distance(k, known);
        if (d < best) {
          best = d;
          hint = fmt::format(" (did you mean '{}'?)", known);
        }
      }
      throw ConfigError(fmt::format("{}: unknown option{}{}", where(k),
                                    what.empty() ? "" : " for " + what, hint));
    }
  }

 private:
  template <typename T>
  static T convert(const toml::node& n, const std::string& where) {
    if constexpr (std::is_same_v<T, bool>) {
      if (n.is_boolean()) return n.value<bool>().value();
      throw ConfigError(fmt::format("{}: expected true or false, found {}", where, describe(n)));
    } else if constexpr (std::is_same_v<T, std::string>) {
      if (n.is_string()) return n.value<std::string>().value();
      throw ConfigError(fmt::format("{}: expected a string, found {}", where, describe(n)));
    } else if constexpr (std::is_floating_point_v<T>) {
      if (n.is_floating_point() || n.is_integer()) return n.value<double>().value();
      throw ConfigError(fmt::format("{}: expected a number, found {}", where, describe(n)));
    } else {
      if (n.is_integer()) return static_cast<T>(n.value<int64_t>().value());
      throw ConfigError(fmt::format("{}: expected an integer, found {}", where, describe(n)));
    }
  }

  const toml::table* table_;
  std::string path_;
  const std::string& source_;
  std::set<std::string> used_;
};

const toml::table* subtable(Section& parent, const std::string& key) {
  const toml::node* n = parent.node(key);
  if (n == nullptr) return nullptr;
  if (const auto* table = n->as_table()) return table;
  throw ConfigError(
      fmt::format("{}: expected a table [{}], found {}", parent.where(key), key, describe(*n)));
}

// train.eps_form: whether Adam's epsilon takes Keras' place.
bool parse_eps_form(const std::string& text, const std::string& where) {
  if (text != "keras" && text != "pytorch") {
    throw ConfigError(fmt::format(
        "{}: expected keras (epsilon added to the square root of the uncorrected second moment) "
        "or pytorch (added after bias correction), found '{}'",
        where, text));
  }
  return text == "keras";
}

DataOptions read_data(Section& s) {
  DataOptions d;
  d.dataset(s.get<std::string>("dataset", d.dataset()))
      .dir(s.get<std::string>("dir", d.dir()))
      .validation_split(s.get<double>("validation_split", d.validation_split()))
      .normalize(s.get<bool>("normalize", d.normalize()))
      .mean(s.get_numbers("mean"))
      .std(s.get_numbers("std"))
      .train_limit(s.get<int64_t>("train_limit", d.train_limit()))
      .test_limit(s.get<int64_t>("test_limit", d.test_limit()))
      .test_dir(s.get<std::string>("test_dir", d.test_dir()))
      .test_split(s.get<double>("test_split", d.test_split()))
      .color_mode(s.get<std::string>("color_mode", d.color_mode()))
      .bad_files(s.get<std::string>("bad_files", d.bad_files()));
  if (s.node("image_size") != nullptr) {
    const auto size = s.get_pair("image_size", {0, 0});
    if (size[0] <= 0 || size[1] <= 0 || size[0] > 4096 || size[1] > 4096) {
      throw ConfigError(fmt::format("{}: expected pixels between 1 and 4096, found [{}, {}]",
                                    s.where("image_size"), size[0], size[1]));
    }
    d.image_size({size[0], size[1]});
  }
  if (!(d.test_split() > 0 && d.test_split() < 1)) {
    throw ConfigError(fmt::format("{}: expected a fraction in (0, 1), found {}",
                                  s.where("test_split"), d.test_split()));
  }
  if (d.color_mode() != "rgb" && d.color_mode() != "grayscale") {
    throw ConfigError(fmt::format("{}: expected rgb or grayscale, found '{}'",
                                  s.where("color_mode"), d.color_mode()));
  }
  if (d.bad_files() != "skip" && d.bad_files() != "fail") {
    throw ConfigError(
        fmt::format("{}: expected skip or fail, found '{}'", s.where("bad_files"), d.bad_files()));
  }
  if (!(d.validation_split() >= 0 && d.validation_split() < 1)) {
    throw ConfigError(fmt::format("{}: expected a fraction in [0, 1), found {}",
                                  s.where("validation_split"), d.validation_split()));
  }
  const auto validation = s.get<std::string>("validation_data", "split");
  if (validation != "split" && validation != "test") {
    throw ConfigError(
        fmt::format("{}: expected split (the last validation_split of the training "
                    "set) or test (the test set), found '{}'",
                    s.where("validation_data"), validation));
  }
  if (validation == "test") {
    if (s.node("validation_split") != nullptr && d.validation_split() > 0) {
      throw ConfigError(fmt::format(
          "{}: validation_data = \"test\" validates on the test set, so no part of the training "
          "set is held out: remove validation_split or set it to 0",
          s.where("validation_split")));
    }
    d.validate_on_test(true).validation_split(0);
  }
  for (const char* key : {"train_limit", "test_limit"}) {
    if (s.get<int64_t>(key, 0) < 0) {
      throw ConfigError(fmt::format("{}: expected a count ≥ 0 (0: all)", s.where(key)));
    }
  }
  if (d.mean().size() != d.std().size()) {
    throw ConfigError(
        fmt::format("{}: mean and std need the same number of values, found {} and {}",
                    s.where("mean"), d.mean().size(), d.std().size()));
  }
  return d;
}

// The options of a layer with a kernel: how it starts, whether and how fast it trains.
void read_weights_options(Section& s, LayerSpec& layer) {
  layer.kernel_initializer = parse_initializer(
      s.get<std::string>("kernel_initializer", "glorot_uniform"), s.where("kernel_initializer"));
  layer.trainable = s.get<bool>("trainable", true);
  layer.kernel_trainable = s.get<bool>("kernel_trainable", true);
  layer.trainable_epochs = s.get<int64_t>("trainable_epochs", 0);
  layer.lr_multiplier = s.get<double>("lr_multiplier", 1.0);
}

LayerSpec read_layer(Section& s, const std::string& where, double default_l2) {
  LayerSpec layer;
  const toml::node* type_node = s.node("type");
  if (type_node == nullptr) {
    throw ConfigError(
        fmt::format("{}: missing 'type' (conv2d, maxpool, avgpool, global_avgpool, "
                    "global_maxpool, batchnorm, dropout, flatten, dense or rescaling)",
                    where));
  }
  layer.type = parse_layer_type(s.get<std::string>("type", ""), s.where("type"));
  layer.name = s.get<std::string>("name", "");
  if (layer.name.find('.') != std::string::npos) {
    // Weights are named "<layer>.weight": a dot in the layer's name would make them ambiguous.
    throw ConfigError(fmt::format("{}: expected a layer name without '.', found '{}'",
                                  s.where("name"), layer.name));
  }
  switch (layer.type) {
    case LayerType::kConv2d:
      layer.filters = s.get<int64_t>("filters", 0);
      if (layer.filters <= 0) {
        throw ConfigError(
            fmt::format("{}: expected filters > 0, found {}", s.where("filters"), layer.filters));
      }
      layer.kernel = s.get_pair("kernel", {3, 3});
      layer.stride = s.get_pair("stride", {1, 1});
      layer.padding = parse_padding(s.get<std::string>("padding", "valid"), s.where("padding"));
      layer.activation =
          parse_activation(s.get<std::string>("activation", "linear"), s.where("activation"));
      layer.l2 = s.get<double>("l2", default_l2);
      layer.use_bias = s.get<bool>("use_bias", true);
      read_weights_options(s, layer);
      break;
    case LayerType::kMaxPool:
    case LayerType::kAvgPool:
      layer.kernel = s.get_pair("size", {2, 2});
      layer.stride = s.get_pair("stride", layer.kernel);
      layer.padding = parse_padding(s.get<std::string>("padding", "valid"), s.where("padding"));
      break;
    case LayerType::kGlobalAvgPool:
    case LayerType::kGlobalMaxPool:
      break;
    case LayerType::kBatchNorm:
      layer.momentum = s.get<double>("momentum", 0.99);
      layer.epsilon = s.get<double>("epsilon", 1e-3);
      layer.center = s.get<bool>("center", true);
      layer.scale = s.get<bool>("scale", true);
      layer.activation =
          parse_activation(s.get<std::string>("activation", "linear"), s.where("activation"));
      layer.trainable = s.get<bool>("trainable", true);
      layer.trainable_epochs = s.get<int64_t>("trainable_epochs", 0);
      layer.lr_multiplier = s.get<double>("lr_multiplier", 1.0);
      break;
    case LayerType::kRescaling:
      layer.scale_factor = s.get<double>("scale", 1.0);
      layer.offset = s.get<double>("offset", 0.0);
      break;
    case LayerType::kFlatten:
      layer.data_format = parse_data_format(s.get<std::string>("data_format", "channels_first"),
                                            s.where("data_format"));
      break;
    case LayerType::kDropout:
      layer.rate = s.get<double>("rate", 0.5);
      break;
    case LayerType::kDense:
      layer.units = s.get<int64_t>("units", 0);
      layer.activation =
          parse_activation(s.get<std::string>("activation", "linear"), s.where("activation"));
      layer.l2 = s.get<double>("l2", default_l2);
      layer.use_bias = s.get<bool>("use_bias", true);
      read_weights_options(s, layer);
      break;
  }
  if (layer.l2 < 0) {
    throw ConfigError(fmt::format("{}: expected l2 ≥ 0, found {}", s.where("l2"), layer.l2));
  }
  if (!(layer.lr_multiplier >= 0)) {
    throw ConfigError(fmt::format("{}: expected lr_multiplier ≥ 0, found {}",
                                  s.where("lr_multiplier"), layer.lr_multiplier));
  }
  if (layer.trainable_epochs < 0) {
    throw ConfigError(fmt::format("{}: expected trainable_epochs ≥ 0 (0: throughout), found {}",
                                  s.where("trainable_epochs"), layer.trainable_epochs));
  }
  if (!(layer.momentum >= 0 && layer.momentum <= 1)) {
    throw ConfigError(fmt::format("{}: expected momentum in [0, 1], found {}", s.where("momentum"),
                                  layer.momentum));
  }
  if (!(layer.epsilon > 0)) {
    throw ConfigError(
        fmt::format("{}: expected epsilon > 0, found {}", s.where("epsilon"), layer.epsilon));
  }
  if (layer.type == LayerType::kDense && (layer.kernel_initializer == Initializer::kDirac ||
                                          layer.kernel_initializer == Initializer::kWhitening)) {
    throw ConfigError(fmt::format("{}: kernel_initializer '{}' is for conv2d layers",
                                  s.where("kernel_initializer"),
                                  initializer_name(layer.kernel_initializer)));
  }
  s.reject_unknown(fmt::format("a {} layer", layer_type_name(layer.type)));
  return layer;
}

ModelSpec read_model(Section& s, const std::string& source, double default_l2) {
  ModelSpec model;
  const toml::node* layers_node = s.node("layers");
  if (layers_node == nullptr) {
    throw ConfigError(
        fmt::format("{}: model.layers: missing; describe the model as [[model.layers]] "
                    "tables",
                    source));
  }
  const auto* layers = layers_node->as_array();
  if (layers == nullptr || layers->empty()) {
    throw ConfigError(
        fmt::format("{}: expected a non-empty list of [[model.layers]] tables", s.where("layers")));
  }
  for (std::size_t i = 0; i < layers->size(); ++i) {
    const auto* table = (*layers)[i].as_table();
    const std::string path = fmt::format("model.layers[{}]", i);
    if (table == nullptr) {
      throw ConfigError(
          fmt::format("{}: {}: expected a table, found {}", source, path, describe((*layers)[i])));
    }
    Section layer_section(table, path, source);
    model.layers.push_back(
        read_layer(layer_section, fmt::format("{}: {}", source, path), default_l2));
  }
  std::vector<LayerType> types;
  for (const auto& layer : model.layers) types.push_back(layer.type);
  const auto defaults = default_layer_names(types);
  for (std::size_t i = 0; i < model.layers.size(); ++i) {
    if (model.layers[i].name.empty()) model.layers[i].name = defaults[i];
  }
  std::set<std::string> names;
  for (const auto& layer : model.layers) {
    if (!names.insert(layer.name).second) {
      throw ConfigError(
          fmt::format("{}: model.layers: the name '{}' is used by two layers", source, layer.name));
    }
  }
  return model;
}

// `options` once their own validate() passed; its message gains the config file's name.
template <typename Options>
Options validated(Options options, const Section& s) {
  try {
    validate(options);
  } catch (const ConfigError& e) {
    throw ConfigError(fmt::format("{}: {}", s.source(), e.what()));
  }
  return options;
}

bool parse_weight_decay_form(const std::string& text, const std::string& where) {
  if (text == "coupled" || text == "decoupled") return text == "decoupled";
  throw ConfigError(fmt::format(
      "{}: unknown weight decay form '{}': expected one of coupled, decoupled", where, text));
}

bool parse_anneal(const std::string& text, const std::string& where) {
  if (text == "cos" || text == "linear") return text == "linear";
  throw ConfigError(
      fmt::format("{}: unknown anneal '{}': expected one of cos, linear", where, text));
}

TrainerOptions read_train(Section& s, RunConfig& config) {
  TrainerOptions t;
  OptimizerOptions o;
  ScheduleOptions sch;
  o.kind(parse_optimizer(s.get<std::string>("optimizer", optimizer_name(o.kind())),
                         s.where("optimizer")))
      .lr(s.get<double>("lr", o.lr()))
      .weight_decay(s.get<double>("weight_decay", o.weight_decay()))
      .beta1(s.get<double>("beta1", o.beta1()))
      .beta2(s.get<double>("beta2", o.beta2()))
      .eps(s.get<double>("eps", o.eps()))
      .keras_epsilon(parse_eps_form(s.get<std::string>("eps_form", "pytorch"), s.where("eps_form")))
      .momentum(s.get<double>("momentum", o.momentum()))
      .nesterov(s.get<bool>("nesterov", o.nesterov()))
      .decoupled_weight_decay(parse_weight_decay_form(
          s.get<std::string>("weight_decay_form", "coupled"), s.where("weight_decay_form")));
  if (o.decoupled_weight_decay() && o.kind() != OptimizerKind::kSgd) {
    throw ConfigError(fmt::format(
        "{}: 'decoupled' is for sgd, and train.optimizer is {}: Adam's decoupled weight decay is "
        "optimizer = \"adamw\"",
        s.where("weight_decay_form"), optimizer_name(o.kind())));
  }
  if (!(o.lr() > 0)) {
    throw ConfigError(
        fmt::format("{}: expected a learning rate > 0, found {}", s.where("lr"), o.lr()));
  }
  if (o.keras_epsilon() && o.kind() == OptimizerKind::kSgd) {
    throw ConfigError(fmt::format(
        "{}: 'keras' places Adam's epsilon, and train.optimizer is sgd: use adam or adamw, or "
        "remove eps_form",
        s.where("eps_form")));
  }
  sch.kind(parse_schedule(s.get<std::string>("schedule", schedule_name(sch.kind())),
                          s.where("schedule")))
      .warmup_epochs(s.get<double>("warmup_epochs", sch.warmup_epochs()))
      .step_epochs(s.get<double>("step_epochs", sch.step_epochs()))
      .gamma(s.get<double>("gamma", sch.gamma()))
      .final_ratio(s.get<double>("final_ratio", sch.final_ratio()))
      .pct_start(s.get<double>("pct_start", sch.pct_start()))
      .start_ratio(s.get<double>("start_ratio", sch.start_ratio()))
      .linear_anneal(parse_anneal(s.get<std::string>("anneal", "cos"), s.where("anneal")))
      .plateau_monitor(s.get<std::string>("plateau_monitor", sch.plateau_monitor()))
      .plateau_patience(s.get<int64_t>("plateau_patience", sch.plateau_patience()))
      .plateau_min_delta(s.get<double>("plateau_min_delta", sch.plateau_min_delta()))
      .plateau_cooldown(s.get<int64_t>("plateau_cooldown", sch.plateau_cooldown()))
      .min_lr(s.get<double>("min_lr", sch.min_lr()));
  t.optimizer(o)
      .schedule(sch)
      .epochs(s.get<int64_t>("epochs", t.epochs()))
      .batch_size(s.get<int64_t>("batch_size", t.batch_size()))
      .label_smoothing(s.get<double>("label_smoothing", t.label_smoothing()))
      .eval_batch_size(s.get<int64_t>("eval_batch_size", t.eval_batch_size()))
      .checkpoint_every_steps(s.get<int64_t>("checkpoint_every_steps", t.checkpoint_every_steps()))
      .prefetch(s.get<bool>("prefetch", t.prefetch()))
      .nonfinite_loss(parse_nonfinite_loss(
          s.get<std::string>("nonfinite_loss", nonfinite_loss_name(t.nonfinite_loss())),
          s.where("nonfinite_loss")))
      .precision(parse_precision(s.get<std::string>("precision", precision_name(t.precision())),
                                 s.where("precision")))
      .device(s.get<std::string>("device", t.device()))
      .sync_every_steps(s.get<int64_t>("sync_every_steps", t.sync_every_steps()))
      .cuda_graphs(s.get<bool>("cuda_graphs", t.cuda_graphs()))
      .sync_batchnorm(s.get<bool>("sync_batchnorm", t.sync_batchnorm()))
      .lookahead(LookaheadOptions()
                     .every(s.get<int64_t>("lookahead_every", t.lookahead().every()))
                     .decay(s.get<double>("lookahead_decay", t.lookahead().decay())))
      .tta(parse_tta(s.get<std::string>("tta", tta_name(t.tta())), s.where("tta")));
  check_device_spelling(t.device(), s.where("device"));
  const int64_t seed = s.get<int64_t>("seed", 0);
  if (seed < 0)
    throw ConfigError(fmt::format("{}: expected a seed ≥ 0, found {}", s.where("seed"), seed));
  t.seed(static_cast<uint64_t>(seed));
  config.threads = s.get<int64_t>("threads", config.threads);
  if (config.threads < 0) {
    throw ConfigError(fmt::format("{}: expected a count ≥ 0 (0: one per core), found {}",
                                  s.where("threads"), config.threads));
  }
  return validated(t, s);
}

AugmentOptions read_augment(Section& s) {
  AugmentOptions a;
  a.rotation_range(s.get<double>("rotation_range", a.rotation_range()))
      .width_shift_range(s.get<double>("width_shift_range", a.width_shift_range()))
      .height_shift_range(s.get<double>("height_shift_range", a.height_shift_range()))
      .shear_range(s.get<double>("shear_range", a.shear_range()))
      .zoom_range(s.get<double>("zoom_range", a.zoom_range()))
      .horizontal_flip(s.get<bool>("horizontal_flip", a.horizontal_flip()))
      .vertical_flip(s.get<bool>("vertical_flip", a.vertical_flip()))
      .fill_mode(parse_fill_mode(s.get<std::string>("fill_mode", fill_mode_name(a.fill_mode())),
                                 s.where("fill_mode")))
      .cval(s.get<double>("cval", a.cval()))
      .alternating_flip(s.get<bool>("alternating_flip", a.alternating_flip()))
      .crop_padding(s.get<int64_t>("crop_padding", a.crop_padding()))
      .cutout(s.get<int64_t>("cutout", a.cutout()));
  return validated(a, s);
}

// [early_stopping]: present means enabled, unless it says enabled = false.
EarlyStoppingOptions read_early_stopping(Section& s, bool present) {
  EarlyStoppingOptions e;
  e.enabled(s.get<bool>("enabled", present))
      .monitor(s.get<std::string>("monitor", e.monitor()))
      .min_delta(s.get<double>("min_delta", e.min_delta()))
      .patience(s.get<int64_t>("patience", e.patience()))
      .start_from_epoch(s.get<int64_t>("start_from_epoch", e.start_from_epoch()))
      .restore_best_weights(s.get<bool>("restore_best_weights", e.restore_best_weights()));
  return validated(e, s);
}

}  // namespace

namespace {

RunConfig read_config(toml::table root, const std::string& source,
                      const std::vector<std::string>& overrides) {
  for (const auto& override_text : overrides) apply_override(root, override_text);

  RunConfig config;
  Section top(&root, "", source);
  config.name = top.get<std::string>("name", config.name);
  if (config.name.empty() || config.name.find('/') != std::string::npos) {
    throw ConfigError(fmt::format("{}: expected a non-empty name without '/', found '{}'",
                                  top.where("name"), config.name));
  }
  Section data(subtable(top, "data"), "data", source);
  config.data = read_data(data);
  data.reject_unknown("[data]");

  Section train(subtable(top, "train"), "train", source);
  config.train = read_train(train, config);
  const double default_l2 = train.get<double>("l2", 0.0);
  if (default_l2 < 0) {
    throw ConfigError(
        fmt::format("{}: expected a value ≥ 0, found {}", train.where("l2"), default_l2));
  }
  train.reject_unknown("[train]");

  Section augment(subtable(top, "augment"), "augment", source);
  config.train.augment(read_augment(augment));
  augment.reject_unknown("[augment]");

  const toml::table* stopping_table = subtable(top, "early_stopping");
  Section stopping(stopping_table, "early_stopping", source);
  config.train.early_stopping(read_early_stopping(stopping, stopping_table != nullptr));
  stopping.reject_unknown("[early_stopping]");

  const toml::table* model_table = subtable(top, "model");
  if (model_table == nullptr) {
    throw ConfigError(fmt::format("{}: missing [model] with its [[model.layers]]", source));
  }
  Section model(model_table, "model", source);
  config.model = read_model(model, source, default_l2);
  if (model.node("input") != nullptr) {
    const auto input = model.get_numbers("input");
    if (input.size() != 3) {
      throw ConfigError(fmt::format("{}: expected [channels, height, width], found {} values",
                                    model.where("input"), input.size()));
    }
    for (int i = 0; i < 3; ++i) config.model.input[i] = static_cast<int64_t>(input[i]);
  }
  if (const toml::node* classes = model.node("classes")) {
    const auto* array = classes->as_array();
    if (array == nullptr || array->empty()) {
      throw ConfigError(fmt::format("{}: expected a list of class names", model.where("classes")));
    }
    for (const auto& element : *array) {
      if (!element.is_string()) {
        throw ConfigError(fmt::format("{}: expected strings, found {}", model.where("classes"),
                                      describe(element)));
      }
      config.class_names.push_back(element.value<std::string>().value());
    }
    config.model.num_classes = static_cast<int64_t>(config.class_names.size());
  }
  model.reject_unknown("[model]");

  Section output(subtable(top, "output"), "output", source);
  config.output_dir = output.get<std::string>("dir", config.output_dir);
  output.reject_unknown("[output]");
  top.reject_unknown("");
  return config;
}

}  // namespace

RunConfig parse_config(const std::string& text, const std::string& source,
                       const std::vector<std::string>& overrides) {
  return read_config(parse_toml(text, source), source, overrides);
}

RunConfig load_config_file(const fs::path& path, const std::vector<std::string>& overrides) {
  std::vector<fs::path> files;
  toml::table table = read_config_table(path, &files);
  // An option that came from a base is named under the file read first, so messages name the
  // bases too: "short.toml (extending base.toml)".
  std::string source = path.string();
  for (std::size_t i = 1; i < files.size(); ++i) {
    source += (i == 1 ? " (extending " : ", ") + files[i].string();
  }
  if (files.size() > 1) source += ")";
  return read_config(std::move(table), source, overrides);
}

namespace {

// toml++ writes every float with 17 significant digits, so a learning rate of 0.05 reads
// 0.050000000000000003 in config.toml. This rewrites each float value in the shortest form that
// reads back as the same double; strings, comments, keys and integers are left as they are.
std::string shortest_floats(const std::string& text) {
  auto word_char = [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) != 0 || ch == '_' || ch == '-' ||
           ch == '+' || ch == '.';
  };
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const char ch = text[i];
    if (ch == '"' || ch == '\'') {  // a string, to its closing quote
      std::size_t end = i + 1;
      while (end < text.size() && text[end] != ch && text[end] != '\n') {
        end += (ch == '"' && text[end] == '\\') ? 2 : 1;
      }
      end = std::min(end + 1, text.size());
      out.append(text, i, end - i);
      i = end;
      continue;
    }
    if (ch == '#') {  // a comment, to the end of the line
      const std::size_t end = std::min(text.find('\n', i), text.size());
      out.append(text, i, end - i);
      i = end;
      continue;
    }
    if (!word_char(ch)) {
      out += ch;
      ++i;
      continue;
    }
    std::size_t end = i;
    while (end < text.size() && word_char(text[end])) ++end;
    const std::string_view word(text.data() + i, end - i);
    std::size_t next = end;
    while (next < text.size() && text[next] == ' ') ++next;
    const bool is_key = next < text.size() && text[next] == '=';
    double value = 0;
    const auto [stop, error] = std::from_chars(word.data(), word.data() + word.size(), value);
    const bool is_float = word.find_first_of(".eE") != std::string_view::npos &&
                          std::isdigit(static_cast<unsigned char>(word.back())) != 0;
    if (is_key || !is_float || error != std::errc() || stop != word.data() + word.size()) {
      out.append(word);
    } else {
      std::string shortest = fmt::format("{}", value);
      if (shortest.find_first_of(".e") == std::string::npos) shortest += ".0";
      out += shortest;
    }
    i = end;
  }
  return out;
}

void write_weights_options(const LayerSpec& l, toml::table& t) {
  t.insert("kernel_initializer", initializer_name(l.kernel_initializer));
  t.insert("trainable", l.trainable);
  t.insert("kernel_trainable", l.kernel_trainable);
  t.insert("trainable_epochs", l.trainable_epochs);
  t.insert("lr_multiplier", l.lr_multiplier);
}

}  // namespace

std::string to_toml(const RunConfig& c) {
  auto numbers = [](const std::vector<double>& values) {
    toml::array array;
    for (double v : values) array.push_back(v);
    return array;
  };
  auto pair = [](const std::array<int64_t, 2>& v) { return toml::array{v[0], v[1]}; };
  const auto& o = c.train.optimizer();
  const auto& s = c.train.schedule();
  toml::table data{{"dataset", c.data.dataset()},
                   {"validation_split", c.data.validation_split()},
                   {"validation_data", c.data.validate_on_test() ? "test" : "split"},
                   {"normalize", c.data.normalize()},
                   {"train_limit", c.data.train_limit()},
                   {"test_limit", c.data.test_limit()}};
  if (!c.data.dir().empty()) data.insert("dir", c.data.dir());
  if (c.data.dataset() == "folder") {
    if (!c.data.test_dir().empty()) data.insert("test_dir", c.data.test_dir());
    data.insert("test_split", c.data.test_split());
    data.insert("image_size", toml::array{c.data.image_size()[0], c.data.image_size()[1]});
    data.insert("color_mode", c.data.color_mode());
    data.insert("bad_files", c.data.bad_files());
  }
  if (!c.data.mean().empty()) {
    data.insert("mean", numbers(c.data.mean()));
    data.insert("std", numbers(c.data.std()));
  }
  // The l2 shared by most layers becomes train.l2; layers that differ keep their own.
  double common_l2 = 0;
  for (const auto& layer : c.model.layers) {
    if (layer.type == LayerType::kConv2d || layer.type == LayerType::kDense) {
      common_l2 = layer.l2;
      break;
    }
  }
  toml::table train{{"epochs", c.train.epochs()},
                    {"batch_size", c.train.batch_size()},
                    {"optimizer", optimizer_name(o.kind())},
                    {"lr", o.lr()},
                    {"weight_decay", o.weight_decay()},
                    {"beta1", o.beta1()},
                    {"beta2", o.beta2()},
                    {"eps", o.eps()},
                    {"eps_form", o.keras_epsilon() ? "keras" : "pytorch"},
                    {"momentum", o.momentum()},
                    {"nesterov", o.nesterov()},
                    {"weight_decay_form", o.decoupled_weight_decay() ? "decoupled" : "coupled"},
                    {"schedule", schedule_name(s.kind())},
                    {"warmup_epochs", s.warmup_epochs()},
                    {"step_epochs", s.step_epochs()},
                    {"gamma", s.gamma()},
                    {"final_ratio", s.final_ratio()},
                    {"pct_start", s.pct_start()},
                    {"start_ratio", s.start_ratio()},
                    {"anneal", s.linear_anneal() ? "linear" : "cos"},
                    {"plateau_monitor", s.plateau_monitor()},
                    {"plateau_patience", s.plateau_patience()},
                    {"plateau_min_delta", s.plateau_min_delta()},
                    {"plateau_cooldown", s.plateau_cooldown()},
                    {"min_lr", s.min_lr()},
                    {"label_smoothing", c.train.label_smoothing()},
                    {"l2", common_l2},
                    {"seed", static_cast<int64_t>(c.train.seed())},
                    {"threads", c.threads},
                    {"eval_batch_size", c.train.eval_batch_size()},
                    {"checkpoint_every_steps", c.train.checkpoint_every_steps()},
                    {"precision", precision_name(c.train.precision())},
                    {"device", c.train.device()},
                    {"sync_every_steps", c.train.sync_every_steps()},
                    {"cuda_graphs", c.train.cuda_graphs()},
                    {"sync_batchnorm", c.train.sync_batchnorm()},
                    {"prefetch", c.train.prefetch()},
                    {"nonfinite_loss", nonfinite_loss_name(c.train.nonfinite_loss())},
                    {"lookahead_every", c.train.lookahead().every()},
                    {"lookahead_decay", c.train.lookahead().decay()},
                    {"tta", tta_name(c.train.tta())}};
  const auto& a = c.train.augment();
  toml::table augment{{"rotation_range", a.rotation_range()},
                      {"width_shift_range", a.width_shift_range()},
                      {"height_shift_range", a.height_shift_range()},
                      {"shear_range", a.shear_range()},
                      {"zoom_range", a.zoom_range()},
                      {"horizontal_flip", a.horizontal_flip()},
                      {"alternating_flip", a.alternating_flip()},
                      {"vertical_flip", a.vertical_flip()},
                      {"fill_mode", fill_mode_name(a.fill_mode())},
                      {"cval", a.cval()},
                      {"crop_padding", a.crop_padding()},
                      {"cutout", a.cutout()}};
  const auto& e = c.train.early_stopping();
  toml::table early_stopping{{"enabled", e.enabled()},
                             {"monitor", e.monitor()},
                             {"min_delta", e.min_delta()},
                             {"patience", e.patience()},
                             {"start_from_epoch", e.start_from_epoch()},
                             {"restore_best_weights", e.restore_best_weights()}};
  toml::array layers;
  for (const auto& l : c.model.layers) {
    toml::table t{{"type", layer_type_name(l.type)}, {"name", l.name}};
    switch (l.type) {
      case LayerType::kConv2d:
        t.insert("filters", l.filters);
        t.insert("kernel", pair(l.kernel));
        t.insert("stride", pair(l.stride));
        t.insert("padding", padding_name(l.padding));
        t.insert("activation", activation_name(l.activation));
        if (l.l2 != common_l2) t.insert("l2", l.l2);
        t.insert("use_bias", l.use_bias);
        write_weights_options(l, t);
        break;
      case LayerType::kMaxPool:
      case LayerType::kAvgPool:
        t.insert("size", pair(l.kernel));
        t.insert("stride", pair(l.stride));
        t.insert("padding", padding_name(l.padding));
        break;
      case LayerType::kGlobalAvgPool:
      case LayerType::kGlobalMaxPool:
        break;
      case LayerType::kBatchNorm:
        t.insert("momentum", l.momentum);
        t.insert("epsilon", l.epsilon);
        t.insert("center", l.center);
        t.insert("scale", l.scale);
        t.insert("activation", activation_name(l.activation));
        t.insert("trainable", l.trainable);
        t.insert("trainable_epochs", l.trainable_epochs);
        t.insert("lr_multiplier", l.lr_multiplier);
        break;
      case LayerType::kRescaling:
        t.insert("scale", l.scale_factor);
        t.insert("offset", l.offset);
        break;
      case LayerType::kFlatten:
        t.insert("data_format", data_format_name(l.data_format));
        break;
      case LayerType::kDropout:
        t.insert("rate", l.rate);
        break;
      case LayerType::kDense:
        if (l.units > 0) t.insert("units", l.units);
        t.insert("activation", activation_name(l.activation));
        if (l.l2 != common_l2) t.insert("l2", l.l2);
        t.insert("use_bias", l.use_bias);
        write_weights_options(l, t);
        break;
    }
    layers.push_back(std::move(t));
  }
  toml::table model{{"input", toml::array{c.model.input[0], c.model.input[1], c.model.input[2]}},
                    {"layers", std::move(layers)}};
  if (!c.class_names.empty()) {
    toml::array classes;
    for (const auto& name : c.class_names) classes.push_back(name);
    model.insert("classes", std::move(classes));
  }
  toml::table root{{"name", c.name},
                   {"data", std::move(data)},
                   {"model", std::move(model)},
                   {"train", std::move(train)},
                   {"augment", std::move(augment)},
                   {"early_stopping", std::move(early_stopping)},
                   {"output", toml::table{{"dir", c.output_dir}}}};
  std::ostringstream out;
  out << "# Resolved cnnlab config: every option, defaults included.\n" << root << "\n";
  return shortest_floats(out.str());
}

}  // namespace cnnlab
