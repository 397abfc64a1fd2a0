#include "common/cli.h"

#include <algorithm>
#include <iostream>
#include <map>
#include <optional>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace iscsi_csi {
namespace {

std::string Dashed(absl::string_view name) { return absl::StrReplaceAll(name, {{"_", "-"}}); }
std::string Underscored(absl::string_view name) { return absl::StrReplaceAll(name, {{"-", "_"}}); }

bool Contains(const std::vector<std::string>& list, const std::string& item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

// Wraps `text` at `width` columns, each line prefixed by `indent`.
std::string Wrap(absl::string_view text, size_t width, absl::string_view indent) {
  std::string out;
  std::string line(indent);
  for (absl::string_view word : absl::StrSplit(text, ' ', absl::SkipEmpty())) {
    if (line.size() > indent.size() && line.size() + 1 + word.size() > width) {
      absl::StrAppend(&out, line, "\n");
      line = std::string(indent);
    }
    if (line.size() > indent.size()) line += ' ';
    absl::StrAppend(&line, word);
  }
  if (line.size() > indent.size()) absl::StrAppend(&out, line, "\n");
  return out;
}

}  // namespace

absl::Status ParseSubcommandFlags(const Subcommand& command,
                                  const std::vector<std::string>& args) {
  std::map<std::string, std::vector<std::string>> values;  // flag name -> values in order
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      if (i + 1 < args.size()) {
        return absl::InvalidArgumentError(absl::StrCat("unexpected argument '", args[i + 1],
                                                       "'; ", command.name, " takes only flags"));
      }
      break;
    }
    if (!absl::StartsWith(arg, "-") || arg == "-") {
      return absl::InvalidArgumentError(
          absl::StrCat("unexpected argument '", arg, "'; ", command.name, " takes only flags"));
    }
    absl::string_view body = arg;
    body.remove_prefix(absl::StartsWith(body, "--") ? 2 : 1);
    std::string name;
    std::optional<std::string> value;
    if (size_t eq = body.find('='); eq != absl::string_view::npos) {
      name = Underscored(body.substr(0, eq));
      value = std::string(body.substr(eq + 1));
    } else {
      name = Underscored(body);
    }
    bool negated = false;
    if (!Contains(command.flags, name) && absl::StartsWith(name, "no") &&
        Contains(command.flags, name.substr(2))) {
      name = name.substr(2);
      negated = true;
    }
    if (!Contains(command.flags, name)) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", Dashed(name), " for '",
                                                     command.name, "' (see --help)"));
    }
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    if (flag == nullptr) {
      return absl::InternalError(absl::StrCat("flag --", Dashed(name), " is not linked in"));
    }
    if (flag->IsOfType<bool>()) {
      if (negated && value.has_value()) {
        return absl::InvalidArgumentError(
            absl::StrCat("flag --no", Dashed(name), " takes no value"));
      }
      if (!value.has_value()) value = negated ? "false" : "true";
    } else {
      if (negated) {
        return absl::InvalidArgumentError(absl::StrCat("unknown flag --no", Dashed(name)));
      }
      if (!value.has_value()) {
        if (i + 1 >= args.size()) {
          return absl::InvalidArgumentError(
              absl::StrCat("flag --", Dashed(name), " needs a value"));
        }
        value = args[++i];
      }
    }
    std::vector<std::string>& slot = values[name];
    if (!slot.empty() && !Contains(command.repeatable, name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("flag --", Dashed(name), " is given more than once"));
    }
    slot.push_back(*value);
  }
  for (const auto& [name, list] : values) {
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    std::string joined = absl::StrJoin(list, ",");
    std::string error;
    if (!flag->ParseFrom(joined, &error)) {
      // Abseil prefixes its own "Illegal value 'v' specified for flag 'f'; " with underscores.
      if (absl::StartsWith(error, "Illegal value")) {
        if (size_t semi = error.find("; "); semi != std::string::npos) error = error.substr(semi + 2);
      }
      return absl::InvalidArgumentError(
          absl::StrCat("invalid value '", joined, "' for flag --", Dashed(name), ": ", error));
    }
  }
  return absl::OkStatus();
}

void PrintSubcommandHelp(const std::string& program, const Subcommand& command,
                         std::ostream& out) {
  out << "Usage: " << program << " " << command.name << " [flags]\n\n";
  out << Wrap(command.description, 80, "");
  out << "\nFlags:\n";
  for (const std::string& name : command.flags) {
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    if (flag == nullptr) continue;
    std::string head = absl::StrCat("  --", Dashed(name));
    if (!flag->IsOfType<bool>()) absl::StrAppend(&head, "=VALUE");
    std::string def = flag->DefaultValue();
    absl::StrAppend(&head, "  (default: ", def.empty() ? "none" : def, ")");
    if (Contains(command.repeatable, name)) absl::StrAppend(&head, "  [repeatable]");
    out << head << "\n" << Wrap(flag->Help(), 80, "      ");
  }
  out << "  --help\n      Show this help and exit.\n";
}

void PrintProgramHelp(const std::string& program, const std::vector<Subcommand>& commands,
                      std::ostream& out) {
  out << "Usage: " << program << " <command> [flags]\n\n"
      << "iscsi-csi is a Kubernetes CSI driver that brings its own iSCSI storage.\n\nCommands:\n";
  for (const Subcommand& command : commands) {
    std::string name = command.name;
    name.resize(std::max<size_t>(name.size(), 12), ' ');
    out << "  " << name << command.summary << "\n";
  }
  out << "\nRun '" << program << " <command> --help' for the flags of a command.\n"
      << "  --help       Show this help and exit.\n"
      << "  --version    Print the version and exit.\n";
}

int RunCli(int argc, char** argv, const std::vector<Subcommand>& commands,
           const std::string& version) {
  std::string program = "iscsi-csi";
  std::vector<std::string> args(argv + 1, argv + argc);
  auto find = [&](const std::string& name) -> const Subcommand* {
    for (const Subcommand& c : commands) {
      if (c.name == name) return &c;
    }
    return nullptr;
  };
  if (args.empty()) {
    PrintProgramHelp(program, commands, std::cerr);
    return 2;
  }
  const std::string& first = args[0];
  if (first == "--help" || first == "-h" || first == "help") {
    if (first == "help" && args.size() > 1) {
      if (const Subcommand* c = find(args[1])) {
        PrintSubcommandHelp(program, *c, std::cout);
        return 0;
      }
      std::cerr << program << ": unknown command '" << args[1] << "'\n";
      return 2;
    }
    PrintProgramHelp(program, commands, std::cout);
    return 0;
  }
  if (first == "--version" || first == "version") {
    std::cout << program << " " << version << "\n";
    return 0;
  }
  const Subcommand* command = find(first);
  if (command == nullptr) {
    std::cerr << program << ": unknown command '" << first << "'\n\n";
    PrintProgramHelp(program, commands, std::cerr);
    return 2;
  }
  std::vector<std::string> rest(args.begin() + 1, args.end());
  for (const std::string& a : rest) {
    if (a == "--") break;
    if (a == "--help" || a == "-h" || a == "-help") {
      PrintSubcommandHelp(program, *command, std::cout);
      return 0;
    }
  }
  if (absl::Status st = ParseSubcommandFlags(*command, rest); !st.ok()) {
    std::cerr << program << " " << command->name << ": " << st.message() << "\n";
    return 2;
  }
  return command->run();
}

}  // namespace iscsi_csi
