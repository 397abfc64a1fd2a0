// cli: the iscsi-csi command line. One binary, subcommands (controller, node, target), each
// with its own set of Abseil flags spelled with dashes, its own --help, and errors that name
// the offending flag. We parse argv ourselves (Abseil's parser wants underscores and prints
// every flag of the binary in --help); values are still parsed and validated by each flag's
// AbslParseFlag.
#ifndef ISCSI_CSI_COMMON_CLI_H_
#define ISCSI_CSI_COMMON_CLI_H_

#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace iscsi_csi {

struct Subcommand {
  std::string name;         // "controller"
  std::string summary;      // one line for the top-level help
  std::string description;  // a paragraph for the subcommand's help
  // Flag names as Abseil knows them (underscores). Flags listed in `repeatable` may be given
  // more than once; their values are joined with ',' (their type is a list).
  std::vector<std::string> flags;
  std::vector<std::string> repeatable;
  // Runs the subcommand after its flags are set; returns the process exit code.
  std::function<int()> run;
};

// ParseSubcommandFlags sets the flags of `command` from `args` (everything after the
// subcommand name). InvalidArgument names the flag on an unknown flag, a missing value, a
// bad value or a stray positional argument.
absl::Status ParseSubcommandFlags(const Subcommand& command, const std::vector<std::string>& args);

// PrintSubcommandHelp writes usage, description and every flag with its default and help.
void PrintSubcommandHelp(const std::string& program, const Subcommand& command, std::ostream& out);

// PrintProgramHelp writes the top-level usage: the subcommands and how to get their help.
void PrintProgramHelp(const std::string& program, const std::vector<Subcommand>& commands,
                      std::ostream& out);

// RunCli dispatches argv: `iscsi-csi --help|--version`, `iscsi-csi help <cmd>`,
// `iscsi-csi <cmd> --help`, `iscsi-csi <cmd> [flags]`. Usage errors exit 2.
int RunCli(int argc, char** argv, const std::vector<Subcommand>& commands,
           const std::string& version);

}  // namespace iscsi_csi

#endif  // ISCSI_CSI_COMMON_CLI_H_
