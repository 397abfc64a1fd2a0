#include "common/redact.h"

#include <string>

#include "csi.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace iscsi_csi {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kSecret[] = "s3cr3t-chap-password";

TEST(RedactTest, SecretMapValuesAreMaskedAndKeysKept) {
  csi::v1::CreateVolumeRequest request;
  request.set_name("pvc-1");
  (*request.mutable_secrets())["password"] = kSecret;
  (*request.mutable_parameters())["fsType"] = "ext4";
  std::string text = RedactedDebugString(request);
  EXPECT_THAT(text, Not(HasSubstr(kSecret)));
  EXPECT_THAT(text, HasSubstr("password"));
  EXPECT_THAT(text, HasSubstr("***"));
  EXPECT_THAT(text, HasSubstr("pvc-1"));
  EXPECT_THAT(text, HasSubstr("ext4"));
  // The original is untouched.
  EXPECT_EQ(request.secrets().at("password"), kSecret);
}

TEST(RedactTest, PublishContextCarryingChapIsMasked) {
  csi::v1::NodeStageVolumeRequest request;
  request.set_volume_id("vol-1");
  (*request.mutable_publish_context())["chapPassword"] = kSecret;
  (*request.mutable_secrets())["node.session.auth.password"] = kSecret;
  (*request.mutable_volume_context())["targetIQN"] = "iqn.2026-11.io.iscsi-csi:vol-1";
  std::string text = RedactedDebugString(request);
  EXPECT_THAT(text, Not(HasSubstr(kSecret)));
  EXPECT_THAT(text, HasSubstr("iqn.2026-11.io.iscsi-csi:vol-1"));
  EXPECT_THAT(text, HasSubstr("vol-1"));
}

TEST(RedactTest, EverySecretsFieldOfEveryRequestIsMasked) {
  // Walk all messages of the file: set every csi_secret map and check the text.
  const google::protobuf::FileDescriptor* file = csi::v1::CreateVolumeRequest::descriptor()->file();
  int checked = 0;
  for (int i = 0; i < file->message_type_count(); ++i) {
    const google::protobuf::Descriptor* type = file->message_type(i);
    for (int f = 0; f < type->field_count(); ++f) {
      const google::protobuf::FieldDescriptor* field = type->field(f);
      if (!field->options().GetExtension(csi::v1::csi_secret) || !field->is_map()) continue;
      std::unique_ptr<google::protobuf::Message> message(
          google::protobuf::MessageFactory::generated_factory()->GetPrototype(type)->New());
      google::protobuf::Message* entry =
          message->GetReflection()->AddMessage(message.get(), field);
      entry->GetReflection()->SetString(entry, field->message_type()->map_key(), "k");
      entry->GetReflection()->SetString(entry, field->message_type()->map_value(), kSecret);
      EXPECT_THAT(RedactedDebugString(*message), Not(HasSubstr(kSecret))) << type->full_name();
      ++checked;
    }
  }
  // CSI v1.12 has nineteen request messages with a secrets map; the walk must visit them all.
  EXPECT_EQ(checked, 19);
}

}  // namespace
}  // namespace iscsi_csi
