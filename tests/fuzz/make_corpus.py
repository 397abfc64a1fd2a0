#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz/corpus/<harness>/ (a few valid inputs each).

The files are checked in; run this again after changing an input format. CSI requests are
encoded with protoc --encode from proto/csi.proto. Usage: tests/fuzz/make_corpus.py
"""
import os
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def write(harness, name, data):
    directory = os.path.join(HERE, "corpus", harness)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


def be16(n):
    return struct.pack(">H", n)


def be24(n):
    return struct.pack(">I", n)[1:]


def be32(n):
    return struct.pack(">I", n)


def be64(n):
    return struct.pack(">Q", n)


def text(*pairs):
    return b"".join(p.encode() + b"\0" for p in pairs)


# --- fuzz_pdu: settings byte + PDUs ------------------------------------------------------

def bhs(opcode, byte1=0, ahs_words=0, data_length=0, rest=b""):
    head = bytes([opcode, byte1, 0, 0, ahs_words]) + be24(data_length)
    out = head + rest
    return out + bytes(48 - len(out))


def pad(data):
    return data + bytes((4 - len(data) % 4) % 4)


def pdu_seeds():
    login_text = text("InitiatorName=iqn.2026-01.example:init", "SessionType=Normal",
                      "TargetName=iqn.2026-01.example:target", "AuthMethod=None")
    login = bhs(0x43, 0x87, 0, len(login_text),
                b"\x00\x00\x00\x00" + bytes([0x80, 0x12, 0x34, 0x56, 0, 1]) + b"\x00\x00"
                + be32(1) + b"\x00\x00\x00\x00" + be32(7) + be32(0)) + pad(login_text)
    read10 = bytes([0x28, 0, 0, 0, 0, 0, 0, 0, 8, 0])
    scsi_read = bhs(0x01, 0xc1, 0, 0, be64(0) + be32(2) + be32(4096) + be32(8)
                    + be32(1) + read10 + bytes(6))
    write_data = bytes(range(64))
    scsi_write = bhs(0x01, 0xa1, 0, len(write_data),
                     be64(0) + be32(3) + be32(512) + be32(9) + be32(1)
                     + bytes([0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0]) + bytes(6)) + write_data
    data_out = bhs(0x05, 0x80, 0, len(write_data),
                   be64(0) + be32(3) + be32(0x10) + bytes(4) + be32(1) + bytes(8)
                   + be32(0) + be32(64)) + write_data
    # An Extended CDB AHS (type 1) carrying 16 more CDB bytes after the BHS's 16.
    ext_ahs = be16(17) + bytes([1, 0]) + bytes(16) + bytes(2)
    ext_ahs = ext_ahs + bytes((4 - len(ext_ahs) % 4) % 4)
    scsi_ext = bhs(0x01, 0xc1, len(ext_ahs) // 4, 0,
                   be64(0) + be32(4) + be32(512) + be32(10) + be32(1)
                   + bytes([0x7f] + [0] * 15)) + ext_ahs
    nop = bhs(0x40, 0x80, 0, 4, be64(0) + be32(5) + be32(0xffffffff) + be32(11)
              + be32(1)) + b"ping"
    text_req = text("SendTargets=All")
    text_pdu = bhs(0x44, 0x80, 0, len(text_req), be64(0) + be32(6)
                   + be32(0xffffffff) + be32(12) + be32(1)) + pad(text_req)
    tmf = bhs(0x42, 0x81, 0, 0, be64(0) + be32(7) + be32(3) + be32(13) + be32(1))
    logout = bhs(0x46, 0x80, 0, 0, bytes(8) + be32(8) + b"\x00\x00\x00\x00"
                 + be32(14) + be32(1))
    snack = bhs(0x10, 0x81, 0, 0, be64(0) + be32(9) + be32(0xffffffff) + bytes(4)
                + be32(1) + bytes(8) + be32(0) + be32(0))
    write("fuzz_pdu", "login", b"\x00" + login)
    write("fuzz_pdu", "login_then_read", b"\x00" + login + scsi_read)
    write("fuzz_pdu", "write_immediate_and_data_out", b"\x00" + scsi_write + data_out)
    write("fuzz_pdu", "extended_cdb", b"\x00" + scsi_ext)
    write("fuzz_pdu", "nop_text_tmf_logout", b"\x00" + nop + text_pdu + tmf + logout)
    write("fuzz_pdu", "snack_erl1", b"\x04" + snack)
    # Header digest on: a (wrong) digest after the BHS.
    write("fuzz_pdu", "header_digest", b"\x01" + scsi_read + b"\xde\xad\xbe\xef")
    # A target-side stream, as a test initiator parses it.
    write("fuzz_pdu", "target_side", b"\x80" + bhs(0x23, 0x87) + bhs(0x21, 0x80) + bhs(0x25, 0x81))


# --- fuzz_text_keys: policy byte + login records -----------------------------------------

def record(flags, body):
    return bytes([flags]) + be16(len(body)) + body


INITIATOR = "InitiatorName=iqn.2026-01.example:initiator"
TARGET = "TargetName=iqn.2026-01.example:target"
OPERATIONAL = ("HeaderDigest=None", "DataDigest=None", "MaxRecvDataSegmentLength=262144",
               "InitialR2T=No", "ImmediateData=Yes", "MaxBurstLength=16776192",
               "FirstBurstLength=262144", "MaxConnections=1", "DefaultTime2Wait=2",
               "DefaultTime2Retain=0", "MaxOutstandingR2T=1", "DataPDUInOrder=Yes",
               "DataSequenceInOrder=Yes", "ErrorRecoveryLevel=0", "iSCSIProtocolLevel=1")


def text_keys_seeds():
    # Flags: 0x80 T, 0x40 C, CSG << 4, NSG; 0x08 a full-feature Text Request.
    write("fuzz_text_keys", "no_auth_two_stages", b"\x00"
          + record(0x81, text(INITIATOR, TARGET, "SessionType=Normal", "AuthMethod=None"))
          + record(0x93, text(*OPERATIONAL))
          + record(0x08, text("MaxRecvDataSegmentLength=65536", "InitiatorAlias=node-1")))
    write("fuzz_text_keys", "straight_to_ffp", b"\x00"
          + record(0x93, text(INITIATOR, TARGET, *OPERATIONAL))
          + record(0x08, text("SendTargets=All")))
    write("fuzz_text_keys", "discovery", b"\x00"
          + record(0x81, text(INITIATOR, "SessionType=Discovery", "AuthMethod=None"))
          + record(0x93, text("HeaderDigest=None", "MaxRecvDataSegmentLength=65536"))
          + record(0x08, text("SendTargets=All")))
    write("fuzz_text_keys", "chap_one_way", b"\x01"
          + record(0x01, text(INITIATOR, TARGET, "SessionType=Normal", "AuthMethod=CHAP,None"))
          + record(0x01, text("CHAP_A=5"))
          + record(0x81, text("CHAP_N=iqn.2026-01.example:initiator", "CHAP_R=auto"))
          + record(0x93, text(*OPERATIONAL)))
    write("fuzz_text_keys", "chap_mutual", b"\x03"
          + record(0x01, text(INITIATOR, TARGET, "AuthMethod=CHAP"))
          + record(0x01, text("CHAP_A=5"))
          + record(0x81, text("CHAP_N=iqn.2026-01.example:initiator", "CHAP_R=auto",
                              "CHAP_I=7", "CHAP_C=0x00112233445566778899aabbccddeeff"))
          + record(0x93, text(*OPERATIONAL)))
    write("fuzz_text_keys", "continued_request", b"\x08"
          + record(0x41, text(INITIATOR, TARGET)[:20])
          + record(0x81, text(INITIATOR, TARGET)[20:] + text("AuthMethod=None"))
          + record(0x13, text("HeaderDigest=CRC32C,None", "X-com.example.Key=1"))
          + record(0x93, b""))
    write("fuzz_text_keys", "digests_required", b"\x10"
          + record(0x81, text(INITIATOR, TARGET, "AuthMethod=None"))
          + record(0x93, text("HeaderDigest=CRC32C", "DataDigest=CRC32C,None")))


# --- fuzz_chap: config byte + steps -----------------------------------------------------

def chap_seeds():
    def step(*pairs):
        body = text(*pairs)
        return be16(len(body)) + body
    name = "CHAP_N=iqn.2026-01.example:initiator"
    write("fuzz_chap", "md5_one_way", b"\x00" + step("CHAP_A=5") + step(name, "CHAP_R=auto"))
    write("fuzz_chap", "sha256_mutual", b"\x05" + step("CHAP_A=7,6,5")
          + step(name, "CHAP_R=auto", "CHAP_I=42",
                 "CHAP_C=0xa1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0")
          + step())
    write("fuzz_chap", "sha3_base64", b"\x03" + step("CHAP_A=8")
          + step(name, "CHAP_R=0bAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="))
    write("fuzz_chap", "wrong_response", b"\x00" + step("CHAP_A=5")
          + step(name, "CHAP_R=0x00112233445566778899aabbccddeeff"))
    write("fuzz_chap", "mutual_required", b"\x0c" + step("CHAP_A=5")
          + step(name, "CHAP_R=auto"))
    write("fuzz_chap", "no_common_algorithm", b"\x02" + step("CHAP_A=5,6,7"))


# --- fuzz_scsi: config byte + commands ---------------------------------------------------

def cmd(cdb, data=b"", expected=4096, nexus=0, attribute=0, write_dir=None):
    flags = nexus | (attribute << 2) | (0x40 if (data if write_dir is None else write_dir) else 0)
    return bytes([flags, len(cdb) - 1]) + bytes(cdb) + be16(len(data)) + data + be16(expected)


def cdb10(op, lba=0, length=0, byte1=0):
    return bytes([op, byte1]) + be32(lba) + b"\x00" + be16(length) + b"\x00"


def cdb16(op, lba=0, length=0, byte1=0):
    return bytes([op, byte1]) + be64(lba) + be32(length) + b"\x00\x00"


def scsi_seeds():
    tur = bytes(6)
    inquiry = bytes([0x12, 0, 0, 0, 0xff, 0])
    vpd83 = bytes([0x12, 1, 0x83, 0, 0xff, 0])
    clear_ua = cmd(tur, expected=0)
    write("fuzz_scsi", "inquiry_and_capacity", b"\x00" + cmd(inquiry) + cmd(vpd83)
          + cmd(bytes([0x12, 1, 0xb0, 0, 0xff, 0])) + clear_ua
          + cmd(bytes([0x25] + [0] * 9)) + cmd(cdb16(0x9e, 0, 32, 0x10))
          + cmd(bytes([0xa0, 0, 0, 0, 0, 0]) + be32(256) + b"\x00\x00"))
    write("fuzz_scsi", "write_read_verify", b"\x00" + clear_ua
          + cmd(cdb10(0x2a, 1, 2), bytes(range(256)) * 4)
          + cmd(cdb10(0x28, 1, 2), expected=1024)
          + cmd(cdb16(0x8a, 3, 1, 0x08), bytes(512))
          + cmd(cdb10(0x2f, 1, 2, 0x02), bytes(range(256)) * 4)
          + cmd(bytes([0x35] + [0] * 9), expected=0))
    unmap_list = be16(6 + 32) + be16(32) + bytes(4) + be64(2) + be32(4) + bytes(4) + be64(20) \
        + be32(1) + bytes(4)
    write("fuzz_scsi", "unmap_and_write_same", b"\x00" + clear_ua
          + cmd(bytes([0x42, 0, 0, 0, 0, 0, 0]) + be16(len(unmap_list)) + b"\x00", unmap_list)
          + cmd(cdb16(0x93, 8, 4, 0x08), bytes(512))
          + cmd(cdb16(0x9e, 0, 32, 0x12), expected=64))
    caw = bytes([0x89, 0]) + be64(5) + bytes([0, 0, 0, 1, 0, 0])
    write("fuzz_scsi", "compare_and_write", b"\x00" + clear_ua + cmd(caw, bytes(1024)))
    def pr_out(sa, key, sa_key, type_=0, flags=0, nexus=0):
        return cmd(bytes([0x5f, sa, type_, 0, 0]) + be32(24) + b"\x00",
                   be64(key) + be64(sa_key) + bytes(4) + bytes([flags, 0, 0, 0]), nexus=nexus)
    write("fuzz_scsi", "persistent_reservations", b"\x00" + clear_ua
          + cmd(tur, expected=0, nexus=1)
          + pr_out(0, 0, 1) + pr_out(1, 1, 0, 3)
          + cmd(bytes([0x5e, 0, 0, 0, 0, 0, 0]) + be16(1024) + b"\x00")
          + cmd(bytes([0x5e, 1, 0, 0, 0, 0, 0]) + be16(1024) + b"\x00")
          + cmd(cdb10(0x2a, 0, 1), bytes(512), nexus=1)
          + pr_out(0, 0, 2, nexus=1) + pr_out(4, 2, 1, 3, nexus=1) + pr_out(2, 2, 0, 3, nexus=1)
          + pr_out(0, 0, 3, flags=1) + pr_out(3, 3, 0, nexus=1))
    mode_page_caching = bytes([0x08, 0x12, 0x00]) + bytes(17)
    ms6 = bytes([0, 0, 0, 8]) + bytes([0, 0, 0, 0, 0, 0, 2, 0]) + mode_page_caching
    control = bytes([0x0a, 0x0a, 0x04, 0x10, 0, 0x40, 0, 0, 0xff, 0xff, 0, 0])
    ms10 = bytes(8) + control
    write("fuzz_scsi", "mode_sense_select", b"\x00" + clear_ua
          + cmd(bytes([0x1a, 0, 0x3f, 0, 0xff, 0]))
          + cmd(bytes([0x5a, 0, 0x3f, 0, 0, 0, 0]) + be16(1024) + b"\x00")
          + cmd(bytes([0x15, 0x10, 0, 0, len(ms6), 0]), ms6)
          + cmd(bytes([0x55, 0x10, 0, 0, 0, 0, 0]) + be16(len(ms10)) + b"\x00", ms10)
          + cmd(bytes([0x4d, 0, 0x40, 0, 0, 0, 0]) + be16(512) + b"\x00"))
    write("fuzz_scsi", "reserve_release_and_tmf", b"\x08" + clear_ua
          + cmd(bytes([0x16, 0, 0, 0, 0, 0]), expected=0)
          + cmd(cdb10(0x28, 0, 1), expected=512, nexus=2)
          + cmd(bytes([0x17, 0, 0, 0, 0, 0]), expected=0)
          + b"\x80\x02" + cmd(bytes([0x03, 0, 0, 0, 252, 0]), attribute=1)
          + b"\x80\x07" + cmd(bytes([0xa3, 0x0c, 0x00, 0, 0, 0, 0, 0, 0x10, 0, 0, 0])))
    write("fuzz_scsi", "read_only_4k", b"\x03" + clear_ua
          + cmd(cdb10(0x2a, 0, 1), bytes(4096)) + cmd(cdb16(0x88, 0, 1), expected=4096)
          + cmd(cdb16(0x9e, 0, 32, 0x10)))


# --- fuzz_csi_requests: selector byte + protobuf -----------------------------------------

def encode(message, text_format):
    return subprocess.run(
        ["protoc", "--encode=csi.v1." + message, "-I", os.path.join(ROOT, "proto"),
         "-I", "/usr/include", "csi.proto"],
        input=text_format.encode(), stdout=subprocess.PIPE, check=True).stdout


MOUNT_CAP = 'access_mode { mode: SINGLE_NODE_WRITER } mount { fs_type: "ext4" }'
BLOCK_CAP = 'access_mode { mode: MULTI_NODE_MULTI_WRITER } block {}'
CONTEXT = ('volume_context { key: "portals" value: "10.0.0.5:3260,[fd00::5]:3260" } '
           'volume_context { key: "targetIQN" '
           'value: "iqn.2026-11.io.iscsi-csi:vol-0123456789abcdef" } '
           'volume_context { key: "lun" value: "0" } '
           'volume_context { key: "wwn" value: "6001405011223344556677889900aabb" } '
           'volume_context { key: "blockSize" value: "512" } ')
CHAP = ('publish_context { key: "chapUser" value: "vol-user" } '
        'publish_context { key: "chapSecret" value: "secret-secret-1" } '
        'publish_context { key: "chapTargetUser" value: "vol-target" } '
        'publish_context { key: "chapTargetSecret" value: "secret-secret-2" } ')


def csi_seeds():
    seeds = {
        "create_volume": (0, "CreateVolumeRequest",
                          'name: "pvc-1" capacity_range { required_bytes: 1073741824 '
                          'limit_bytes: 2147483648 } volume_capabilities { %s } '
                          'parameters { key: "fsType" value: "xfs" } '
                          'parameters { key: "blockSize" value: "4096" } '
                          'parameters { key: "csi.storage.k8s.io/pvc/name" value: "data" } '
                          'accessibility_requirements { requisite { segments { '
                          'key: "topology.iscsi-csi.io/zone" value: "a" } } }' % MOUNT_CAP),
        "create_volume_clone": (0, "CreateVolumeRequest",
                                'name: "pvc-2" volume_capabilities { %s } '
                                'volume_content_source { volume { '
                                'volume_id: "vol-0123456789abcdef" } }' % BLOCK_CAP),
        "create_snapshot": (1, "CreateSnapshotRequest",
                            'source_volume_id: "vol-0123456789abcdef" name: "snap-a" '
                            'parameters { key: "csi.storage.k8s.io/volumesnapshot/name" '
                            'value: "s" }'),
        "validate_capabilities": (2, "ValidateVolumeCapabilitiesRequest",
                                  'volume_id: "vol-0123456789abcdef" volume_capabilities { %s } '
                                  'volume_capabilities { %s }' % (MOUNT_CAP, BLOCK_CAP)),
        "controller_publish": (3, "ControllerPublishVolumeRequest",
                               'volume_id: "vol-0123456789abcdef" node_id: "node-1" '
                               'volume_capability { %s }' % MOUNT_CAP),
        "controller_expand": (4, "ControllerExpandVolumeRequest",
                              'volume_id: "vol-0123456789abcdef" capacity_range { '
                              'required_bytes: 5000000000 }'),
        "node_stage": (5, "NodeStageVolumeRequest",
                       'volume_id: "vol-0123456789abcdef" staging_target_path: '
                       '"/var/lib/kubelet/plugins/staging/pv-1" volume_capability { %s } %s %s'
                       % (MOUNT_CAP, CONTEXT, CHAP)),
        "node_stage_block": (5, "NodeStageVolumeRequest",
                             'volume_id: "vol-0123456789abcdef" staging_target_path: "/s" '
                             'volume_capability { %s } %s' % (BLOCK_CAP, CONTEXT)),
        "node_publish": (6, "NodePublishVolumeRequest",
                         'volume_id: "vol-0123456789abcdef" staging_target_path: "/s" '
                         'target_path: "/var/lib/kubelet/pods/p/volumes/v/mount" '
                         'readonly: true volume_capability { %s } %s' % (MOUNT_CAP, CONTEXT)),
    }
    for name, (selector, message, text_format) in seeds.items():
        write("fuzz_csi_requests", name, bytes([selector]) + encode(message, text_format))
    write("fuzz_csi_requests", "topology",
          b"\x07topology.iscsi-csi.io/zone=a\nkubernetes.io/hostname=node-1")


def main():
    pdu_seeds()
    text_keys_seeds()
    chap_seeds()
    scsi_seeds()
    csi_seeds()
    return 0


if __name__ == "__main__":
    sys.exit(main())
