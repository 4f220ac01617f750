// load_numtorch: a numtorch checkpoint in LibTorch (PyTorch's C++ API).
//
//   load_numtorch CHECKPOINT MODEL C H W
//
// CHECKPOINT is a safetensors file written by numtorch.save (a state_dict, or the checkpoint of
// `numtorch train`, whose weights are stored under "model."); MODEL is "mlp" (the two-layer net)
// or "simplecnn" (conv - relu - pool - fc - relu - fc).  The network is rebuilt with torch::nn
// under numtorch's state_dict keys (they are PyTorch's), the weights are copied in, and the input
// x[i] = sin(0.37 i) of shape (1, C, H, W) is run; the program prints y[0][0] and the argmax, the
// two numbers make_checkpoints.py prints for the same checkpoint and input.
//
// The safetensors layout: 8 bytes (little-endian u64) header length n, n bytes of JSON
// {"name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, ...}, then the raw bytes.

#include <torch/torch.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

// ---- a small JSON reader: enough for a safetensors header (objects, arrays, strings, numbers) ----

struct Json {
  enum Kind { Null, Bool, Number, String, Array, Object } kind = Null;
  double number = 0;
  std::string text;
  std::vector<Json> items;
  std::map<std::string, Json> fields;

  const Json& at(const std::string& key) const {
    auto it = fields.find(key);
    if (it == fields.end()) throw std::runtime_error("safetensors header: missing field " + key);
    return it->second;
  }
};

class JsonParser {
 public:
  explicit JsonParser(const std::string& s) : s_(s) {}

  Json parse() {
    Json v = value();
    skip();
    if (i_ != s_.size()) fail("trailing characters");
    return v;
  }

 private:
  const std::string& s_;
  size_t i_ = 0;

  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error("safetensors header: bad JSON at byte " + std::to_string(i_) + ": " + what);
  }
  void skip() { while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_; }
  char peek() { skip(); if (i_ >= s_.size()) fail("unexpected end"); return s_[i_]; }
  void expect(char c) { if (peek() != c) fail(std::string("expected ") + c); ++i_; }

  Json value() {
    char c = peek();
    if (c == '{') return object();
    if (c == '[') return array();
    if (c == '"') { Json v; v.kind = Json::String; v.text = string(); return v; }
    if (s_.compare(i_, 4, "true") == 0) { i_ += 4; Json v; v.kind = Json::Bool; v.number = 1; return v; }
    if (s_.compare(i_, 5, "false") == 0) { i_ += 5; Json v; v.kind = Json::Bool; return v; }
    if (s_.compare(i_, 4, "null") == 0) { i_ += 4; return Json{}; }
    return number();
  }
  Json object() {
    Json v; v.kind = Json::Object;
    expect('{');
    if (peek() == '}') { ++i_; return v; }
    while (true) {
      skip();
      std::string key = string();
      expect(':');
      v.fields[key] = value();
      if (peek() == ',') { ++i_; continue; }
      expect('}');
      return v;
    }
  }
  Json array() {
    Json v; v.kind = Json::Array;
    expect('[');
    if (peek() == ']') { ++i_; return v; }
    while (true) {
      v.items.push_back(value());
      if (peek() == ',') { ++i_; continue; }
      expect(']');
      return v;
    }
  }
  std::string string() {
    expect('"');
    std::string out;
    while (i_ < s_.size() && s_[i_] != '"') {
      char c = s_[i_++];
      if (c != '\\') { out += c; continue; }
      if (i_ >= s_.size()) fail("unfinished escape");
      char e = s_[i_++];
      switch (e) {
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'u': out += '?'; i_ += 4; break;  // names here are ASCII; other text is only skipped
        default: out += e;                      // \" \\ \/
      }
    }
    expect('"');
    return out;
  }
  Json number() {
    size_t start = i_;
    while (i_ < s_.size() && std::strchr("+-0123456789.eE", s_[i_])) ++i_;
    if (start == i_) fail("expected a value");
    Json v; v.kind = Json::Number; v.number = std::stod(s_.substr(start, i_ - start));
    return v;
  }
};

// ---- reading a safetensors file into {name: tensor} ----

torch::Dtype dtype_of(const std::string& name) {
  static const std::map<std::string, torch::Dtype> table = {
      {"F32", torch::kFloat32}, {"F64", torch::kFloat64}, {"F16", torch::kFloat16}, {"BF16", torch::kBFloat16},
      {"I64", torch::kInt64}, {"I32", torch::kInt32}, {"I16", torch::kInt16}, {"I8", torch::kInt8},
      {"U8", torch::kUInt8}, {"BOOL", torch::kBool}};
  auto it = table.find(name);
  if (it == table.end()) throw std::runtime_error("safetensors: unsupported dtype " + name);
  return it->second;
}

std::map<std::string, torch::Tensor> read_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  unsigned char len_bytes[8];
  if (!in.read(reinterpret_cast<char*>(len_bytes), 8)) throw std::runtime_error(path + ": too short");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | len_bytes[i];  // little-endian
  if (n > 100000000) throw std::runtime_error(path + ": header too large");
  std::string header(n, '\0');
  if (!in.read(header.data(), static_cast<std::streamsize>(n))) throw std::runtime_error(path + ": short header");
  std::vector<char> data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());

  std::map<std::string, torch::Tensor> tensors;
  for (const auto& [name, info] : JsonParser(header).parse().fields) {
    if (name == "__metadata__") continue;
    std::vector<int64_t> shape;
    for (const auto& d : info.at("shape").items) shape.push_back(static_cast<int64_t>(d.number));
    auto begin = static_cast<size_t>(info.at("data_offsets").items.at(0).number);
    auto end = static_cast<size_t>(info.at("data_offsets").items.at(1).number);
    if (end < begin || end > data.size()) throw std::runtime_error(path + ": bad offsets for " + name);
    auto t = torch::empty(shape, torch::TensorOptions().dtype(dtype_of(info.at("dtype").text)));
    if (static_cast<size_t>(t.nbytes()) != end - begin) throw std::runtime_error(path + ": bad size of " + name);
    std::memcpy(t.data_ptr(), data.data() + begin, end - begin);
    tensors[name] = t;
  }
  return tensors;
}

// The weights of a `numtorch train` checkpoint sit under "model."; a saved state_dict has them bare.
std::map<std::string, torch::Tensor> model_weights(std::map<std::string, torch::Tensor> all) {
  std::map<std::string, torch::Tensor> model;
  for (const auto& [k, v] : all)
    if (k.rfind("model.", 0) == 0) model[k.substr(6)] = v;
  return model.empty() ? all : model;
}

const torch::Tensor& get(const std::map<std::string, torch::Tensor>& weights, const std::string& key) {
  auto it = weights.find(key);
  if (it == weights.end()) throw std::runtime_error("checkpoint has no " + key + " (is it the other model?)");
  return it->second;
}

// ---- the networks, with numtorch's (= PyTorch's) state_dict keys ----

struct TwoLayerNetImpl : torch::nn::Module {
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
  TwoLayerNetImpl(int64_t in, int64_t hidden, int64_t out) {
    fc1 = register_module("fc1", torch::nn::Linear(in, hidden));
    fc2 = register_module("fc2", torch::nn::Linear(hidden, out));
  }
  torch::Tensor forward(torch::Tensor x) { return fc2(torch::relu(fc1(x.flatten(1)))); }
};
TORCH_MODULE(TwoLayerNet);

struct SimpleConvNetImpl : torch::nn::Module {
  torch::nn::Conv2d conv1{nullptr};
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
  SimpleConvNetImpl(int64_t c, int64_t filters, int64_t k, int64_t flat, int64_t hidden, int64_t out) {
    conv1 = register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(c, filters, k)));
    fc1 = register_module("fc1", torch::nn::Linear(flat, hidden));
    fc2 = register_module("fc2", torch::nn::Linear(hidden, out));
  }
  torch::Tensor forward(torch::Tensor x) {
    x = torch::max_pool2d(torch::relu(conv1(x)), 2, 2);
    return fc2(torch::relu(fc1(x.flatten(1))));
  }
};
TORCH_MODULE(SimpleConvNet);

// Copies every parameter from the checkpoint (names and shapes must match, as load_state_dict checks).
void load_weights(torch::nn::Module& net, const std::map<std::string, torch::Tensor>& weights) {
  torch::NoGradGuard no_grad;
  for (auto& p : net.named_parameters()) {
    const torch::Tensor& w = get(weights, p.key());
    if (w.sizes() != p.value().sizes()) throw std::runtime_error("shape of " + p.key() + " differs");
    p.value().copy_(w);
  }
}

int main(int argc, char** argv) {
  if (argc != 6) {
    std::cerr << "usage: load_numtorch CHECKPOINT mlp|simplecnn C H W\n";
    return 2;
  }
  try {
    const std::string path = argv[1], kind = argv[2];
    const int64_t C = std::stoll(argv[3]), H = std::stoll(argv[4]), W = std::stoll(argv[5]);
    auto weights = model_weights(read_safetensors(path));
    torch::Tensor x = torch::sin(torch::arange(C * H * W, torch::kFloat32) * 0.37).reshape({1, C, H, W});
    torch::Tensor y;
    if (kind == "mlp") {
      auto w1 = get(weights, "fc1.weight"), w2 = get(weights, "fc2.weight");
      TwoLayerNet net(w1.size(1), w1.size(0), w2.size(0));
      load_weights(*net, weights);
      net->eval();
      y = net->forward(x);
    } else if (kind == "simplecnn") {
      auto wc = get(weights, "conv1.weight"), w1 = get(weights, "fc1.weight"), w2 = get(weights, "fc2.weight");
      SimpleConvNet net(wc.size(1), wc.size(0), wc.size(2), w1.size(1), w1.size(0), w2.size(0));
      load_weights(*net, weights);
      net->eval();
      y = net->forward(x);
    } else {
      std::cerr << "load_numtorch: unknown model " << kind << " (mlp or simplecnn)\n";
      return 2;
    }
    std::cout << y[0] << "\n";  // the whole row, as a tensor (LibTorch's debug print)
    std::cout << std::setprecision(9);
    std::cout << "x[0][0][0][1] = " << x[0][0][0][1].item().toFloat() << "\n";
    std::cout << kind << ": y[0][0] = " << y[0][0].item().toFloat()
              << "  argmax = " << y.argmax(1)[0].item<int64_t>() << "\n";
  } catch (const c10::Error& e) {  // LibTorch's own errors: the message without its C++ backtrace
    std::cerr << "load_numtorch: error: " << e.what_without_backtrace() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "load_numtorch: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
