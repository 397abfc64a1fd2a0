// csi-call: a small CSI client for scripts, demos and the end-to-end tests.
//
//   csi-call --endpoint=unix:///run/csi.sock Identity.Probe
//   csi-call --endpoint=unix:///run/csi.sock Controller.CreateVolume 'name: "pvc-1" ...'
//
// The request is given in protobuf text format (empty when omitted); the response is printed
// in text format on stdout. Exit code 0 on OK; otherwise the gRPC code's number + 10 with
// "CODE: message" on stderr, so scripts can tell codes apart.
#include <iostream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/endpoint.h"
#include "common/redact.h"
#include "csi.grpc.pb.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/text_format.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/impl/codegen/client_unary_call.h"
#include "grpcpp/impl/codegen/rpc_method.h"
#include "grpcpp/security/credentials.h"

namespace {

int Usage() {
  std::cerr << "usage: csi-call --endpoint=unix:///path|tcp://host:port [--timeout=SECONDS] "
               "Service.Method ['text-format request']\n"
               "services: Identity, Controller, GroupController, Node\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string endpoint_text;
  int timeout_seconds = 60;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--endpoint=", 0) == 0) {
      endpoint_text = arg.substr(11);
    } else if (arg.rfind("--timeout=", 0) == 0) {
      timeout_seconds = std::stoi(arg.substr(10));
    } else if (arg == "--help" || arg == "-h") {
      Usage();
      return 0;
    } else {
      positional.push_back(arg);
    }
  }
  if (endpoint_text.empty() || positional.empty() || positional.size() > 2) return Usage();
  auto endpoint = iscsi_csi::ParseEndpoint(endpoint_text);
  if (!endpoint.ok()) {
    std::cerr << "csi-call: --endpoint: " << endpoint.status().message() << "\n";
    return 2;
  }
  std::vector<std::string> parts = absl::StrSplit(positional[0], '.');
  if (parts.size() != 2) return Usage();
  const google::protobuf::FileDescriptor* file =
      csi::v1::ProbeRequest::descriptor()->file();
  const google::protobuf::ServiceDescriptor* service = file->FindServiceByName(parts[0]);
  const google::protobuf::MethodDescriptor* method =
      service == nullptr ? nullptr : service->FindMethodByName(parts[1]);
  if (method == nullptr || method->server_streaming() || method->client_streaming()) {
    std::cerr << "csi-call: no unary CSI method " << positional[0] << "\n";
    return 2;
  }
  auto* factory = google::protobuf::MessageFactory::generated_factory();
  std::unique_ptr<google::protobuf::Message> request(
      factory->GetPrototype(method->input_type())->New());
  std::unique_ptr<google::protobuf::Message> response(
      factory->GetPrototype(method->output_type())->New());
  if (positional.size() == 2 &&
      !google::protobuf::TextFormat::ParseFromString(positional[1], request.get())) {
    std::cerr << "csi-call: cannot parse the request as " << method->input_type()->full_name()
              << "\n";
    return 2;
  }
  auto channel = grpc::CreateChannel(endpoint->GrpcAddress(), grpc::InsecureChannelCredentials());
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(timeout_seconds));
  std::string path = absl::StrCat("/", service->full_name(), "/", method->name());
  grpc::internal::RpcMethod rpc(path.c_str(), grpc::internal::RpcMethod::NORMAL_RPC);
  grpc::Status status =
      grpc::internal::BlockingUnaryCall<google::protobuf::Message, google::protobuf::Message>(
          channel.get(), rpc, &context, *request, response.get());
  if (!status.ok()) {
    std::cerr << static_cast<int>(status.error_code()) << ": " << status.error_message() << "\n";
    return 10 + static_cast<int>(status.error_code());
  }
  std::string text;
  google::protobuf::TextFormat::PrintToString(*response, &text);
  std::cout << text;
  return 0;
}
