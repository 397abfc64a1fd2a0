#include "common/redact.h"

#include <memory>
#include <vector>

#include "csi.pb.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/text_format.h"

namespace iscsi_csi {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// Fields we mask besides those the spec marks: publish_context is opaque to the CO, and this
// driver carries the volume's CHAP credentials in it (ControllerPublishVolumeResponse,
// NodeStageVolumeRequest, NodePublishVolumeRequest).
bool IsSecret(const FieldDescriptor& field) {
  return field.options().GetExtension(csi::v1::csi_secret) || field.name() == "publish_context";
}

void MaskSecretField(Message& message, const FieldDescriptor& field) {
  const Reflection& reflection = *message.GetReflection();
  if (field.is_map()) {
    // Map entries are messages with key (1) and value (2); keep keys, mask string values.
    const FieldDescriptor* value = field.message_type()->map_value();
    for (int i = 0; i < reflection.FieldSize(message, &field); ++i) {
      Message* entry = reflection.MutableRepeatedMessage(&message, &field, i);
      if (value->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
        entry->GetReflection()->SetString(entry, value, kRedacted);
      } else {
        entry->GetReflection()->ClearField(entry, value);
      }
    }
    return;
  }
  if (field.is_repeated()) {
    if (field.cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
      for (int i = 0; i < reflection.FieldSize(message, &field); ++i) {
        reflection.SetRepeatedString(&message, &field, i, kRedacted);
      }
    } else {
      reflection.ClearField(&message, &field);
    }
    return;
  }
  if (field.cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
    if (reflection.HasField(message, &field) || !reflection.GetString(message, &field).empty()) {
      reflection.SetString(&message, &field, kRedacted);
    }
    return;
  }
  reflection.ClearField(&message, &field);
}

}  // namespace

void Redact(Message& message) {
  const Reflection& reflection = *message.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  reflection.ListFields(message, &fields);
  for (const FieldDescriptor* field : fields) {
    if (IsSecret(*field)) {
      MaskSecretField(message, *field);
      continue;
    }
    if (field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (field->is_repeated()) {
      for (int i = 0; i < reflection.FieldSize(message, field); ++i) {
        Redact(*reflection.MutableRepeatedMessage(&message, field, i));
      }
    } else {
      Redact(*reflection.MutableMessage(&message, field));
    }
  }
}

std::string RedactedDebugString(const Message& message) {
  std::unique_ptr<Message> copy(message.New());
  copy->CopyFrom(message);
  Redact(*copy);
  google::protobuf::TextFormat::Printer printer;
  printer.SetSingleLineMode(true);
  printer.SetUseUtf8StringEscaping(true);
  std::string out;
  printer.PrintToString(*copy, &out);
  // Single-line mode leaves a trailing space.
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

}  // namespace iscsi_csi
