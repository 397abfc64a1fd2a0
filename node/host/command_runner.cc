#include "node/host/command_runner.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"

namespace iscsi_csi::node {

Arg Secret(std::string value) {
  Arg arg(std::move(value));
  arg.secret = true;
  return arg;
}

std::string Command::Tool() const {
  if (argv.empty()) return "";
  const std::string& program = argv[0].value;
  size_t slash = program.rfind('/');
  return slash == std::string::npos ? program : program.substr(slash + 1);
}

std::string Command::ToString() const {
  return absl::StrJoin(argv, " ", [](std::string* out, const Arg& arg) {
    out->append(arg.secret ? "***" : arg.value);
  });
}

std::vector<std::string> Command::Values() const {
  std::vector<std::string> values;
  values.reserve(argv.size());
  for (const Arg& arg : argv) values.push_back(arg.value);
  return values;
}

std::string Command::Mask(absl::string_view text) const {
  std::string out(text);
  for (const Arg& arg : argv) {
    if (arg.secret && !arg.value.empty()) out = absl::StrReplaceAll(out, {{arg.value, "***"}});
  }
  return out;
}

std::string FirstLine(absl::string_view text) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) continue;
    std::string out(line.substr(0, 300));
    return out;
  }
  return "";
}

}  // namespace iscsi_csi::node

namespace iscsi_csi::node {

std::string Summarize(absl::string_view text) {
  std::string out;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) continue;
    if (!out.empty()) out.append("; ");
    out.append(line.data(), line.size());
  }
  if (out.size() > 400) out = out.substr(0, 397) + "...";
  return out;
}

}  // namespace iscsi_csi::node
