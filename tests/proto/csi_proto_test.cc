// Checks that proto/csi.proto (our text of CSI spec v1.12.0) is wire-compatible with the spec.
//
// Two kinds of checks, both against literal numbers and names copied from the spec:
//  - on the wire: a message with one field set is serialised with the generated C++ code and
//    its tag bytes are decoded, so a renumbered field or a changed type fails here;
//  - through descriptors: csi_secret on every secrets map (and nowhere else), the alpha_*
//    markers, the extension numbers, and the exact RPC list of every service.

#include <algorithm>
#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/message.h>
#include <gtest/gtest.h>

#include "csi.grpc.pb.h"
#include "csi.pb.h"

namespace iscsi_csi {
namespace {

using ::google::protobuf::Descriptor;
using ::google::protobuf::EnumValueDescriptor;
using ::google::protobuf::FieldDescriptor;
using ::google::protobuf::FileDescriptor;
using ::google::protobuf::Message;
using ::google::protobuf::MethodDescriptor;
using ::google::protobuf::ServiceDescriptor;

// Protobuf wire types (encoding spec, "Message Structure").
enum WireType : int {
  kVarint = 0,
  kFixed64 = 1,
  kLengthDelimited = 2,
  kFixed32 = 5,
};

// One top-level field as it appears in the serialised bytes.
struct WireField {
  int number = 0;
  int wire_type = -1;
  uint64_t varint = 0;   // kVarint only.
  std::string payload;   // kLengthDelimited only.
};

// DecodeWire reads the tag bytes of `bytes` one field at a time. Returns false on malformed
// input or on a wire type this file never uses (groups).
bool DecodeWire(const std::string& bytes, std::vector<WireField>* out) {
  google::protobuf::io::CodedInputStream in(
      reinterpret_cast<const uint8_t*>(bytes.data()), static_cast<int>(bytes.size()));
  while (uint32_t tag = in.ReadTag()) {
    WireField field;
    field.number = static_cast<int>(tag >> 3);
    field.wire_type = static_cast<int>(tag & 7);
    switch (field.wire_type) {
      case kVarint:
        if (!in.ReadVarint64(&field.varint)) return false;
        break;
      case kFixed64: {
        uint64_t ignored;
        if (!in.ReadLittleEndian64(&ignored)) return false;
        break;
      }
      case kLengthDelimited: {
        uint32_t length;
        if (!in.ReadVarint32(&length) || !in.ReadString(&field.payload, length)) return false;
        break;
      }
      case kFixed32: {
        uint32_t ignored;
        if (!in.ReadLittleEndian32(&ignored)) return false;
        break;
      }
      default:
        return false;
    }
    out->push_back(std::move(field));
  }
  return in.ConsumedEntireMessage();
}

std::vector<WireField> Decode(const std::string& bytes) {
  std::vector<WireField> fields;
  EXPECT_TRUE(DecodeWire(bytes, &fields)) << "undecodable bytes";
  return fields;
}

// One row: the field (by spec name), how to give it a non-default value, and where the
// spec says it goes on the wire.
template <typename M>
struct FieldCase {
  std::string name;
  std::function<void(M&)> set;
  int number;
  int wire_type;
};

// ExpectFieldsOnWire sets each row's field alone and checks the single tag it produces. It
// also checks that the table covers as many fields as the spec gives the message.
template <typename M>
void ExpectFieldsOnWire(const std::vector<FieldCase<M>>& cases, int spec_field_count) {
  EXPECT_EQ(static_cast<int>(cases.size()), spec_field_count) << "table misses fields";
  EXPECT_EQ(M::descriptor()->field_count(), spec_field_count)
      << M::descriptor()->full_name() << " has fields the spec does not";
  for (const FieldCase<M>& c : cases) {
    SCOPED_TRACE(M::descriptor()->name() + "." + c.name);
    M message;
    c.set(message);
    const std::vector<WireField> fields = Decode(message.SerializeAsString());
    ASSERT_EQ(fields.size(), 1u);
    EXPECT_EQ(fields[0].number, c.number);
    EXPECT_EQ(fields[0].wire_type, c.wire_type);
  }
}

// ExpectMapEntry checks a serialised map<string, string> entry: key is field 1, value 2.
void ExpectMapEntry(const std::string& entry, const std::string& key, const std::string& value) {
  const std::vector<WireField> fields = Decode(entry);
  ASSERT_EQ(fields.size(), 2u);
  EXPECT_EQ(fields[0].number, 1);
  EXPECT_EQ(fields[0].wire_type, kLengthDelimited);
  EXPECT_EQ(fields[0].payload, key);
  EXPECT_EQ(fields[1].number, 2);
  EXPECT_EQ(fields[1].wire_type, kLengthDelimited);
  EXPECT_EQ(fields[1].payload, value);
}

// ----------------------------------------------------------------------------
// Field numbers on the wire.
// ----------------------------------------------------------------------------

TEST(CsiProtoWireTest, CreateVolumeRequestFieldsUseSpecNumbers) {
  using M = csi::v1::CreateVolumeRequest;
  ExpectFieldsOnWire<M>(
      {
          {"name", [](M& m) { m.set_name("pvc-1"); }, 1, kLengthDelimited},
          {"capacity_range",
           [](M& m) { m.mutable_capacity_range()->set_required_bytes(1 << 20); }, 2,
           kLengthDelimited},
          {"volume_capabilities", [](M& m) { m.add_volume_capabilities(); }, 3,
           kLengthDelimited},
          {"parameters", [](M& m) { (*m.mutable_parameters())["fsType"] = "ext4"; }, 4,
           kLengthDelimited},
          {"secrets", [](M& m) { (*m.mutable_secrets())["user"] = "u"; }, 5, kLengthDelimited},
          {"volume_content_source",
           [](M& m) { m.mutable_volume_content_source()->mutable_volume()->set_volume_id("v"); },
           6, kLengthDelimited},
          {"accessibility_requirements",
           [](M& m) { m.mutable_accessibility_requirements()->add_requisite(); }, 7,
           kLengthDelimited},
          {"mutable_parameters", [](M& m) { (*m.mutable_mutable_parameters())["iops"] = "10"; },
           8, kLengthDelimited},
      },
      8);
}

TEST(CsiProtoWireTest, CreateVolumeRequestSecretsEntryUsesKeyOneValueTwo) {
  csi::v1::CreateVolumeRequest request;
  (*request.mutable_secrets())["password"] = "hunter2";
  const std::vector<WireField> fields = Decode(request.SerializeAsString());
  ASSERT_EQ(fields.size(), 1u);
  EXPECT_EQ(fields[0].number, 5);
  ExpectMapEntry(fields[0].payload, "password", "hunter2");
}

TEST(CsiProtoWireTest, VolumeContentSourceOneofUsesSpecNumbers) {
  using M = csi::v1::VolumeContentSource;
  ExpectFieldsOnWire<M>(
      {
          {"snapshot", [](M& m) { m.mutable_snapshot()->set_snapshot_id("s"); }, 1,
           kLengthDelimited},
          {"volume", [](M& m) { m.mutable_volume()->set_volume_id("v"); }, 2, kLengthDelimited},
      },
      2);
}

TEST(CsiProtoWireTest, NodeStageVolumeRequestFieldsUseSpecNumbers) {
  using M = csi::v1::NodeStageVolumeRequest;
  ExpectFieldsOnWire<M>(
      {
          {"volume_id", [](M& m) { m.set_volume_id("vol-1"); }, 1, kLengthDelimited},
          {"publish_context", [](M& m) { (*m.mutable_publish_context())["lun"] = "0"; }, 2,
           kLengthDelimited},
          {"staging_target_path", [](M& m) { m.set_staging_target_path("/stage"); }, 3,
           kLengthDelimited},
          {"volume_capability", [](M& m) { m.mutable_volume_capability()->mutable_block(); }, 4,
           kLengthDelimited},
          {"secrets", [](M& m) { (*m.mutable_secrets())["node.session.auth.password"] = "p"; },
           5, kLengthDelimited},
          {"volume_context", [](M& m) { (*m.mutable_volume_context())["iqn"] = "iqn.x"; }, 6,
           kLengthDelimited},
      },
      6);
}

TEST(CsiProtoWireTest, VolumeCapabilityBlockMountAndAccessModeUseSpecNumbers) {
  using M = csi::v1::VolumeCapability;
  ExpectFieldsOnWire<M>(
      {
          {"block", [](M& m) { m.mutable_block(); }, 1, kLengthDelimited},
          {"mount", [](M& m) { m.mutable_mount(); }, 2, kLengthDelimited},
          {"access_mode",
           [](M& m) {
             m.mutable_access_mode()->set_mode(
                 csi::v1::VolumeCapability::AccessMode::SINGLE_NODE_WRITER);
           },
           3, kLengthDelimited},
      },
      3);
}

TEST(CsiProtoWireTest, VolumeCapabilityBlockAndMountShareTheAccessTypeOneof) {
  csi::v1::VolumeCapability capability;
  capability.mutable_block();
  capability.mutable_mount()->set_fs_type("xfs");
  EXPECT_FALSE(capability.has_block());
  EXPECT_EQ(capability.access_type_case(), csi::v1::VolumeCapability::kMount);
  const FieldDescriptor* block = csi::v1::VolumeCapability::descriptor()->FindFieldByName("block");
  ASSERT_NE(block, nullptr);
  ASSERT_NE(block->containing_oneof(), nullptr);
  EXPECT_EQ(block->containing_oneof()->name(), "access_type");
  EXPECT_EQ(block->containing_oneof()->field_count(), 2);
}

TEST(CsiProtoWireTest, MountVolumeFieldsIncludingVolumeMountGroupUseSpecNumbers) {
  using M = csi::v1::VolumeCapability::MountVolume;
  ExpectFieldsOnWire<M>(
      {
          {"fs_type", [](M& m) { m.set_fs_type("ext4"); }, 1, kLengthDelimited},
          {"mount_flags", [](M& m) { m.add_mount_flags("noatime"); }, 2, kLengthDelimited},
          {"volume_mount_group", [](M& m) { m.set_volume_mount_group("2000"); }, 3,
           kLengthDelimited},
      },
      3);
}

TEST(CsiProtoWireTest, AccessModeEnumValuesUseSpecNumbers) {
  using Mode = csi::v1::VolumeCapability::AccessMode;
  const std::vector<std::pair<Mode::Mode, uint64_t>> spec = {
      {Mode::SINGLE_NODE_WRITER, 1},        {Mode::SINGLE_NODE_READER_ONLY, 2},
      {Mode::MULTI_NODE_READER_ONLY, 3},    {Mode::MULTI_NODE_SINGLE_WRITER, 4},
      {Mode::MULTI_NODE_MULTI_WRITER, 5},   {Mode::SINGLE_NODE_SINGLE_WRITER, 6},
      {Mode::SINGLE_NODE_MULTI_WRITER, 7},
  };
  for (const auto& [mode, number] : spec) {
    SCOPED_TRACE(Mode::Mode_Name(mode));
    Mode access_mode;
    access_mode.set_mode(mode);
    const std::vector<WireField> fields = Decode(access_mode.SerializeAsString());
    ASSERT_EQ(fields.size(), 1u);
    EXPECT_EQ(fields[0].number, 1);
    EXPECT_EQ(fields[0].wire_type, kVarint);
    EXPECT_EQ(fields[0].varint, number);
  }
}

TEST(CsiProtoWireTest, TopologySegmentsIsFieldOneMapOfStrings) {
  csi::v1::Topology topology;
  (*topology.mutable_segments())["topology.iscsi-csi.io/node"] = "storage-1";
  const std::vector<WireField> fields = Decode(topology.SerializeAsString());
  ASSERT_EQ(fields.size(), 1u);
  EXPECT_EQ(fields[0].number, 1);
  EXPECT_EQ(fields[0].wire_type, kLengthDelimited);
  ExpectMapEntry(fields[0].payload, "topology.iscsi-csi.io/node", "storage-1");
  EXPECT_EQ(csi::v1::Topology::descriptor()->field_count(), 1);
}

TEST(CsiProtoWireTest, TopologyRequirementFieldsUseSpecNumbers) {
  using M = csi::v1::TopologyRequirement;
  ExpectFieldsOnWire<M>(
      {
          {"requisite", [](M& m) { m.add_requisite(); }, 1, kLengthDelimited},
          {"preferred", [](M& m) { m.add_preferred(); }, 2, kLengthDelimited},
      },
      2);
}

TEST(CsiProtoWireTest, SnapshotFieldsUseSpecNumbers) {
  using M = csi::v1::Snapshot;
  ExpectFieldsOnWire<M>(
      {
          {"size_bytes", [](M& m) { m.set_size_bytes(int64_t{1} << 40); }, 1, kVarint},
          {"snapshot_id", [](M& m) { m.set_snapshot_id("snap-1"); }, 2, kLengthDelimited},
          {"source_volume_id", [](M& m) { m.set_source_volume_id("vol-1"); }, 3,
           kLengthDelimited},
          {"creation_time", [](M& m) { m.mutable_creation_time()->set_seconds(1700000000); }, 4,
           kLengthDelimited},
          {"ready_to_use", [](M& m) { m.set_ready_to_use(true); }, 5, kVarint},
          {"group_snapshot_id", [](M& m) { m.set_group_snapshot_id("group-1"); }, 6,
           kLengthDelimited},
      },
      6);
  csi::v1::Snapshot snapshot;
  snapshot.set_size_bytes(int64_t{1} << 40);  // Needs the spec's int64.
  EXPECT_EQ(Decode(snapshot.SerializeAsString()).at(0).varint, uint64_t{1} << 40);
}

TEST(CsiProtoWireTest, NodeGetVolumeStatsResponseFieldsUseSpecNumbers) {
  using M = csi::v1::NodeGetVolumeStatsResponse;
  ExpectFieldsOnWire<M>(
      {
          {"usage", [](M& m) { m.add_usage()->set_total(1); }, 1, kLengthDelimited},
          {"volume_condition", [](M& m) { m.mutable_volume_condition()->set_abnormal(true); },
           2, kLengthDelimited},
      },
      2);
}

TEST(CsiProtoWireTest, VolumeUsageFieldsUseSpecNumbers) {
  using M = csi::v1::VolumeUsage;
  ExpectFieldsOnWire<M>(
      {
          {"available", [](M& m) { m.set_available(10); }, 1, kVarint},
          {"total", [](M& m) { m.set_total(20); }, 2, kVarint},
          {"used", [](M& m) { m.set_used(10); }, 3, kVarint},
          {"unit", [](M& m) { m.set_unit(csi::v1::VolumeUsage::INODES); }, 4, kVarint},
      },
      4);
  csi::v1::VolumeUsage usage;
  usage.set_unit(csi::v1::VolumeUsage::INODES);
  EXPECT_EQ(Decode(usage.SerializeAsString()).at(0).varint, 2u);
  usage.set_unit(csi::v1::VolumeUsage::BYTES);
  EXPECT_EQ(Decode(usage.SerializeAsString()).at(0).varint, 1u);
}

TEST(CsiProtoWireTest, VolumeConditionFieldsUseSpecNumbers) {
  using M = csi::v1::VolumeCondition;
  ExpectFieldsOnWire<M>(
      {
          {"abnormal", [](M& m) { m.set_abnormal(true); }, 1, kVarint},
          {"message", [](M& m) { m.set_message("session down"); }, 2, kLengthDelimited},
      },
      2);
}

TEST(CsiProtoWireTest, ControllerPublishVolumeRequestFieldsUseSpecNumbers) {
  using M = csi::v1::ControllerPublishVolumeRequest;
  ExpectFieldsOnWire<M>(
      {
          {"volume_id", [](M& m) { m.set_volume_id("vol-1"); }, 1, kLengthDelimited},
          {"node_id", [](M& m) { m.set_node_id("node-a"); }, 2, kLengthDelimited},
          {"volume_capability", [](M& m) { m.mutable_volume_capability()->mutable_mount(); }, 3,
           kLengthDelimited},
          {"readonly", [](M& m) { m.set_readonly(true); }, 4, kVarint},
          {"secrets", [](M& m) { (*m.mutable_secrets())["k"] = "v"; }, 5, kLengthDelimited},
          {"volume_context", [](M& m) { (*m.mutable_volume_context())["lun"] = "0"; }, 6,
           kLengthDelimited},
      },
      6);
}

TEST(CsiProtoWireTest, ControllerPublishVolumeResponsePublishContextIsFieldOne) {
  csi::v1::ControllerPublishVolumeResponse response;
  (*response.mutable_publish_context())["chap_user"] = "node-a";
  const std::vector<WireField> fields = Decode(response.SerializeAsString());
  ASSERT_EQ(fields.size(), 1u);
  EXPECT_EQ(fields[0].number, 1);
  ExpectMapEntry(fields[0].payload, "chap_user", "node-a");
}

TEST(CsiProtoWireTest, NodeGetInfoResponseFieldsUseSpecNumbersAndTypes) {
  using M = csi::v1::NodeGetInfoResponse;
  ExpectFieldsOnWire<M>(
      {
          {"node_id", [](M& m) { m.set_node_id("node-a"); }, 1, kLengthDelimited},
          {"max_volumes_per_node", [](M& m) { m.set_max_volumes_per_node(64); }, 2, kVarint},
          {"accessible_topology", [](M& m) { m.mutable_accessible_topology(); }, 3,
           kLengthDelimited},
      },
      3);
  EXPECT_EQ(M::descriptor()->FindFieldByName("max_volumes_per_node")->type(),
            FieldDescriptor::TYPE_INT64);
}

TEST(CsiProtoWireTest, SizesAndCountsUseSpecIntegerTypes) {
  // int32 and int64 share the varint wire type, so check the declared types directly.
  struct Row {
    const Descriptor* message;
    const char* field;
    FieldDescriptor::Type type;
  };
  const std::vector<Row> spec = {
      {csi::v1::CapacityRange::descriptor(), "required_bytes", FieldDescriptor::TYPE_INT64},
      {csi::v1::CapacityRange::descriptor(), "limit_bytes", FieldDescriptor::TYPE_INT64},
      {csi::v1::Volume::descriptor(), "capacity_bytes", FieldDescriptor::TYPE_INT64},
      {csi::v1::Snapshot::descriptor(), "size_bytes", FieldDescriptor::TYPE_INT64},
      {csi::v1::VolumeUsage::descriptor(), "available", FieldDescriptor::TYPE_INT64},
      {csi::v1::VolumeUsage::descriptor(), "total", FieldDescriptor::TYPE_INT64},
      {csi::v1::VolumeUsage::descriptor(), "used", FieldDescriptor::TYPE_INT64},
      {csi::v1::GetCapacityResponse::descriptor(), "available_capacity",
       FieldDescriptor::TYPE_INT64},
      {csi::v1::ControllerExpandVolumeResponse::descriptor(), "capacity_bytes",
       FieldDescriptor::TYPE_INT64},
      {csi::v1::NodeExpandVolumeResponse::descriptor(), "capacity_bytes",
       FieldDescriptor::TYPE_INT64},
      {csi::v1::ListVolumesRequest::descriptor(), "max_entries", FieldDescriptor::TYPE_INT32},
      {csi::v1::ListSnapshotsRequest::descriptor(), "max_entries", FieldDescriptor::TYPE_INT32},
      {csi::v1::GetMetadataDeltaRequest::descriptor(), "max_results",
       FieldDescriptor::TYPE_INT32},
      {csi::v1::GetMetadataDeltaRequest::descriptor(), "starting_offset",
       FieldDescriptor::TYPE_INT64},
  };
  for (const Row& row : spec) {
    SCOPED_TRACE(row.message->name() + "." + row.field);
    const FieldDescriptor* field = row.message->FindFieldByName(row.field);
    ASSERT_NE(field, nullptr);
    EXPECT_EQ(field->type(), row.type);
  }
}

// ----------------------------------------------------------------------------
// Descriptors: secrets, alpha markers, extensions, services.
// ----------------------------------------------------------------------------

const FileDescriptor* CsiFile() { return csi::v1::CreateVolumeRequest::descriptor()->file(); }

// CollectMessages appends `message` and all its nested messages, skipping map entries.
void CollectMessages(const Descriptor* message, std::vector<const Descriptor*>* out) {
  if (message->options().map_entry()) return;
  out->push_back(message);
  for (int i = 0; i < message->nested_type_count(); ++i) {
    CollectMessages(message->nested_type(i), out);
  }
}

const ServiceDescriptor* Service(const std::string& name) {
  const ServiceDescriptor* service = CsiFile()->FindServiceByName(name);
  EXPECT_NE(service, nullptr) << name;
  return service;
}

// MethodCount returns the number of RPCs of the named service, or -1 if it is missing.
int MethodCount(const std::string& service_name) {
  const ServiceDescriptor* service = Service(service_name);
  return service == nullptr ? -1 : service->method_count();
}

std::vector<const Descriptor*> AllMessages() {
  std::vector<const Descriptor*> messages;
  for (int i = 0; i < CsiFile()->message_type_count(); ++i) {
    CollectMessages(CsiFile()->message_type(i), &messages);
  }
  return messages;
}

bool IsSecretsName(const std::string& name) {
  const std::string suffix = "_secrets";
  return name == "secrets" ||
         (name.size() > suffix.size() &&
          name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0);
}

const FieldDescriptor* Field(const Descriptor* message, const std::string& name) {
  const FieldDescriptor* field = message->FindFieldByName(name);
  EXPECT_NE(field, nullptr) << message->full_name() << "." << name;
  return field;
}

TEST(CsiProtoDescriptorTest, FileIsPackageCsiV1WithSpecMessageCounts) {
  EXPECT_EQ(CsiFile()->package(), "csi.v1");
  EXPECT_EQ(CsiFile()->options().go_package(),
            "github.com/container-storage-interface/spec/lib/go/csi");
  EXPECT_EQ(CsiFile()->message_type_count(), 79);  // Top-level messages in v1.12.0.
  EXPECT_EQ(AllMessages().size(), 94u);            // Plus named nested ones, without map entries.
  EXPECT_EQ(CsiFile()->enum_type_count(), 1);      // BlockMetadataType.
}

TEST(CsiProtoDescriptorTest, EverySecretsMapIsMarkedCsiSecretAndNothingElseIs) {
  // Every request of spec v1.12.0 that carries credentials.
  const std::set<std::string> spec_secret_bearers = {
      "csi.v1.CreateVolumeRequest",
      "csi.v1.DeleteVolumeRequest",
      "csi.v1.ControllerPublishVolumeRequest",
      "csi.v1.ControllerUnpublishVolumeRequest",
      "csi.v1.ValidateVolumeCapabilitiesRequest",
      "csi.v1.ControllerModifyVolumeRequest",
      "csi.v1.CreateSnapshotRequest",
      "csi.v1.DeleteSnapshotRequest",
      "csi.v1.ListSnapshotsRequest",
      "csi.v1.GetSnapshotRequest",
      "csi.v1.ControllerExpandVolumeRequest",
      "csi.v1.NodeStageVolumeRequest",
      "csi.v1.NodePublishVolumeRequest",
      "csi.v1.NodeExpandVolumeRequest",
      "csi.v1.CreateVolumeGroupSnapshotRequest",
      "csi.v1.DeleteVolumeGroupSnapshotRequest",
      "csi.v1.GetVolumeGroupSnapshotRequest",
      "csi.v1.GetMetadataAllocatedRequest",
      "csi.v1.GetMetadataDeltaRequest",
  };
  std::set<std::string> found;
  for (const Descriptor* message : AllMessages()) {
    for (int i = 0; i < message->field_count(); ++i) {
      const FieldDescriptor* field = message->field(i);
      const bool secret = field->options().GetExtension(csi::v1::csi_secret);
      if (IsSecretsName(field->name())) {
        EXPECT_TRUE(secret) << field->full_name() << " must be csi_secret";
        EXPECT_TRUE(field->is_map()) << field->full_name();
        found.insert(message->full_name());
      } else {
        EXPECT_FALSE(secret) << field->full_name() << " is not a secret in the spec";
      }
    }
  }
  EXPECT_EQ(found, spec_secret_bearers);
}

TEST(CsiProtoDescriptorTest, PlainFieldsSuchAsNameAreNotSecret) {
  const Descriptor* create = csi::v1::CreateVolumeRequest::descriptor();
  EXPECT_FALSE(Field(create, "name")->options().GetExtension(csi::v1::csi_secret));
  EXPECT_FALSE(Field(create, "parameters")->options().GetExtension(csi::v1::csi_secret));
  EXPECT_TRUE(Field(create, "secrets")->options().GetExtension(csi::v1::csi_secret));
  const Descriptor* stage = csi::v1::NodeStageVolumeRequest::descriptor();
  EXPECT_FALSE(Field(stage, "publish_context")->options().GetExtension(csi::v1::csi_secret));
  EXPECT_FALSE(Field(stage, "volume_context")->options().GetExtension(csi::v1::csi_secret));
}

TEST(CsiProtoDescriptorTest, ExtensionsUseSpecNumbersAndTargets) {
  struct Row {
    const char* name;
    int number;
    const char* extendee;
  };
  const std::vector<Row> spec = {
      {"csi_secret", 1059, "google.protobuf.FieldOptions"},
      {"alpha_field", 1060, "google.protobuf.FieldOptions"},
      {"alpha_enum", 1060, "google.protobuf.EnumOptions"},
      {"alpha_enum_value", 1060, "google.protobuf.EnumValueOptions"},
      {"alpha_message", 1060, "google.protobuf.MessageOptions"},
      {"alpha_method", 1060, "google.protobuf.MethodOptions"},
      {"alpha_service", 1060, "google.protobuf.ServiceOptions"},
  };
  EXPECT_EQ(CsiFile()->extension_count(), static_cast<int>(spec.size()));
  for (const Row& row : spec) {
    SCOPED_TRACE(row.name);
    const FieldDescriptor* extension = CsiFile()->FindExtensionByName(row.name);
    ASSERT_NE(extension, nullptr);
    EXPECT_EQ(extension->number(), row.number);
    EXPECT_EQ(extension->containing_type()->full_name(), row.extendee);
    EXPECT_EQ(extension->type(), FieldDescriptor::TYPE_BOOL);
  }
  EXPECT_EQ(csi::v1::csi_secret.number(), 1059);
}

TEST(CsiProtoDescriptorTest, AlphaFieldsAndMessagesAreMarkedWhereTheSpecPutsThem) {
  EXPECT_TRUE(Field(csi::v1::NodeGetVolumeStatsResponse::descriptor(), "volume_condition")
                  ->options()
                  .GetExtension(csi::v1::alpha_field));
  EXPECT_TRUE(Field(csi::v1::GetCapacityResponse::descriptor(), "minimum_volume_size")
                  ->options()
                  .GetExtension(csi::v1::alpha_field));
  EXPECT_TRUE(Field(csi::v1::ListVolumesResponse::VolumeStatus::descriptor(), "volume_condition")
                  ->options()
                  .GetExtension(csi::v1::alpha_field));
  const FieldDescriptor* expand_secrets =
      Field(csi::v1::NodeExpandVolumeRequest::descriptor(), "secrets");
  EXPECT_TRUE(expand_secrets->options().GetExtension(csi::v1::alpha_field));
  EXPECT_TRUE(expand_secrets->options().GetExtension(csi::v1::csi_secret));

  EXPECT_TRUE(csi::v1::VolumeCondition::descriptor()->options().GetExtension(
      csi::v1::alpha_message));
  EXPECT_TRUE(csi::v1::GetSnapshotRequest::descriptor()->options().GetExtension(
      csi::v1::alpha_message));
  EXPECT_TRUE(csi::v1::ControllerGetVolumeResponse::descriptor()->options().GetExtension(
      csi::v1::alpha_message));

  // GA in v1.12.0: ControllerModifyVolume and mutable_parameters carry no alpha marker.
  EXPECT_FALSE(csi::v1::ControllerModifyVolumeRequest::descriptor()->options().GetExtension(
      csi::v1::alpha_message));
  EXPECT_FALSE(Field(csi::v1::CreateVolumeRequest::descriptor(), "mutable_parameters")
                   ->options()
                   .GetExtension(csi::v1::alpha_field));
  EXPECT_FALSE(Field(csi::v1::CreateVolumeRequest::descriptor(), "secrets")
                   ->options()
                   .GetExtension(csi::v1::alpha_field));
}

TEST(CsiProtoDescriptorTest, AlphaEnumValuesAreMarkedWhereTheSpecPutsThem) {
  struct Row {
    const google::protobuf::EnumDescriptor* type;
    const char* value;
    int number;
    bool alpha;
  };
  const std::vector<Row> spec = {
      {csi::v1::ControllerServiceCapability::RPC::Type_descriptor(), "VOLUME_CONDITION", 11, true},
      {csi::v1::ControllerServiceCapability::RPC::Type_descriptor(), "GET_VOLUME", 12, true},
      {csi::v1::ControllerServiceCapability::RPC::Type_descriptor(), "MODIFY_VOLUME", 14, false},
      {csi::v1::ControllerServiceCapability::RPC::Type_descriptor(), "GET_SNAPSHOT", 15, true},
      {csi::v1::ControllerServiceCapability::RPC::Type_descriptor(), "EXPAND_VOLUME", 9, false},
      {csi::v1::NodeServiceCapability::RPC::Type_descriptor(), "VOLUME_MOUNT_GROUP", 6, false},
      {csi::v1::NodeServiceCapability::RPC::Type_descriptor(), "SINGLE_NODE_MULTI_WRITER", 5,
       true},
      {csi::v1::VolumeCapability::AccessMode::Mode_descriptor(), "SINGLE_NODE_SINGLE_WRITER", 6,
       true},
      {csi::v1::VolumeCapability::AccessMode::Mode_descriptor(), "SINGLE_NODE_WRITER", 1, false},
      {csi::v1::PluginCapability::Service::Type_descriptor(), "SNAPSHOT_METADATA_SERVICE", 4,
       true},
      {csi::v1::PluginCapability::Service::Type_descriptor(), "GROUP_CONTROLLER_SERVICE", 3,
       false},
  };
  for (const Row& row : spec) {
    SCOPED_TRACE(row.value);
    const EnumValueDescriptor* value = row.type->FindValueByName(row.value);
    ASSERT_NE(value, nullptr);
    EXPECT_EQ(value->number(), row.number);
    EXPECT_EQ(value->options().GetExtension(csi::v1::alpha_enum_value), row.alpha);
  }
}

// The RPCs of one service, in the spec's order, with the alpha and streaming ones named.
struct ServiceSpec {
  const ServiceDescriptor* service;
  std::vector<std::string> methods;
  std::set<std::string> alpha;
  std::set<std::string> server_streaming;
  bool alpha_service;
};

std::vector<ServiceSpec> SpecServices() {
  return {
      {Service("Identity"),
       {"GetPluginInfo", "GetPluginCapabilities", "Probe"},
       {},
       {},
       false},
      {Service("Controller"),
       {"CreateVolume", "DeleteVolume", "ControllerPublishVolume", "ControllerUnpublishVolume",
        "ValidateVolumeCapabilities", "ListVolumes", "GetCapacity", "ControllerGetCapabilities",
        "CreateSnapshot", "DeleteSnapshot", "ListSnapshots", "GetSnapshot",
        "ControllerExpandVolume", "ControllerGetVolume", "ControllerModifyVolume"},
       {"GetSnapshot", "ControllerGetVolume"},
       {},
       false},
      {Service("GroupController"),
       {"GroupControllerGetCapabilities", "CreateVolumeGroupSnapshot",
        "DeleteVolumeGroupSnapshot", "GetVolumeGroupSnapshot"},
       {},
       {},
       false},
      {Service("SnapshotMetadata"),
       {"GetMetadataAllocated", "GetMetadataDelta"},
       {},
       {"GetMetadataAllocated", "GetMetadataDelta"},
       true},
      {Service("Node"),
       {"NodeStageVolume", "NodeUnstageVolume", "NodePublishVolume", "NodeUnpublishVolume",
        "NodeGetVolumeStats", "NodeExpandVolume", "NodeGetCapabilities", "NodeGetInfo"},
       {},
       {},
       false},
  };
}

TEST(CsiProtoDescriptorTest, ServicesHaveExactlyTheSpecMethodCounts) {
  EXPECT_EQ(CsiFile()->service_count(), 5);
  EXPECT_EQ(MethodCount("Identity"), 3);
  EXPECT_EQ(MethodCount("Controller"), 15);
  EXPECT_EQ(MethodCount("GroupController"), 4);
  EXPECT_EQ(MethodCount("SnapshotMetadata"), 2);
  EXPECT_EQ(MethodCount("Node"), 8);
  int total = 0;
  for (int i = 0; i < CsiFile()->service_count(); ++i) {
    total += CsiFile()->service(i)->method_count();
  }
  EXPECT_EQ(total, 32);
}

TEST(CsiProtoDescriptorTest, GrpcStubsUseTheSpecServicePaths) {
  EXPECT_STREQ(csi::v1::Identity::service_full_name(), "csi.v1.Identity");
  EXPECT_STREQ(csi::v1::Controller::service_full_name(), "csi.v1.Controller");
  EXPECT_STREQ(csi::v1::GroupController::service_full_name(), "csi.v1.GroupController");
  EXPECT_STREQ(csi::v1::SnapshotMetadata::service_full_name(), "csi.v1.SnapshotMetadata");
  EXPECT_STREQ(csi::v1::Node::service_full_name(), "csi.v1.Node");
}

TEST(CsiProtoDescriptorTest, ServicesHaveTheSpecMethodNamesTypesAndMarkers) {
  for (const ServiceSpec& spec : SpecServices()) {
    const ServiceDescriptor* service = spec.service;
    ASSERT_NE(service, nullptr);
    SCOPED_TRACE(service->full_name());
    EXPECT_EQ(service->full_name(), "csi.v1." + service->name());
    EXPECT_EQ(service->options().GetExtension(csi::v1::alpha_service), spec.alpha_service);
    std::vector<std::string> names;
    for (int i = 0; i < service->method_count(); ++i) {
      const MethodDescriptor* method = service->method(i);
      names.push_back(method->name());
      SCOPED_TRACE(method->name());
      // gRPC path /csi.v1.<Service>/<Method>; messages are <Method>Request / <Method>Response.
      EXPECT_EQ(method->input_type()->full_name(), "csi.v1." + method->name() + "Request");
      EXPECT_EQ(method->output_type()->full_name(), "csi.v1." + method->name() + "Response");
      EXPECT_FALSE(method->client_streaming());
      EXPECT_EQ(method->server_streaming(), spec.server_streaming.count(method->name()) == 1);
      EXPECT_EQ(method->options().GetExtension(csi::v1::alpha_method),
                spec.alpha.count(method->name()) == 1);
    }
    EXPECT_EQ(names, spec.methods);
  }
}

}  // namespace
}  // namespace iscsi_csi
