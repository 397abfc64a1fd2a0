// SPC-2 and SPC-4 persistent reservations (see reservations.h). Section
// numbers are SPC-4 r37 unless noted.
#include "target/scsi/reservations.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "target/scsi/byte_order.h"

namespace iscsi_csi::target::scsi {
namespace {

// How a command is treated in the presence of a persistent reservation
// (SPC-4 table 66, SBC-3 table 3), for an I_T nexus that is not a holder.
enum class Access : uint8_t {
  kAlways,  // allowed whatever the type
  kInfo,    // MODE SENSE, RSOC, RSTMF: conflict only for unregistered nexuses under EA types
  kRead,    // conflict under Exclusive Access types
  kWrite,   // conflict under every type for non-holders (registrants-only types allow registrants)
};

Access AccessOf(const PreparedCommand& c) {
  switch (c.kind) {
    case CommandKind::kTestUnitReady:
    case CommandKind::kInquiry:
    case CommandKind::kRequestSense:
    case CommandKind::kReportLuns:
    case CommandKind::kReadCapacity10:
    case CommandKind::kReadCapacity16:
    case CommandKind::kLogSense:
    case CommandKind::kPersistentReserveIn:
    case CommandKind::kPersistentReserveOut:
    case CommandKind::kReserve6:
    case CommandKind::kRelease6:
      return Access::kAlways;
    case CommandKind::kModeSense:
    case CommandKind::kReportSupportedOpcodes:
    case CommandKind::kReportSupportedTmfs:
      return Access::kInfo;
    case CommandKind::kRead:
    case CommandKind::kVerify:
    case CommandKind::kPrefetch:
    case CommandKind::kGetLbaStatus:
      return Access::kRead;
    case CommandKind::kStartStopUnit:
      // SBC-3 table 3: START=1 with POWER CONDITION 0 is allowed; stopping
      // or power changes conflict.
      return c.start && c.power_condition == 0 ? Access::kAlways : Access::kWrite;
    default:
      return Access::kWrite;
  }
}

bool IsAllRegistrants(PrType type) {
  return type == PrType::kWriteExclusiveAllRegistrants ||
         type == PrType::kExclusiveAccessAllRegistrants;
}

bool IsRegistrantsOnlyOrAll(PrType type) {
  return type == PrType::kWriteExclusiveRegistrantsOnly ||
         type == PrType::kExclusiveAccessRegistrantsOnly || IsAllRegistrants(type);
}

std::optional<PrType> ValidType(uint8_t type) {
  switch (type) {
    case 0x1: case 0x3: case 0x5: case 0x6: case 0x7: case 0x8:
      return static_cast<PrType>(type);
    default:
      return std::nullopt;
  }
}

PrOutOutcome Conflict() {
  PrOutOutcome out;
  out.conflict = true;
  return out;
}
PrOutOutcome Check(CheckCondition condition) {
  PrOutOutcome out;
  out.check = condition;
  return out;
}
PrOutOutcome Changed() {
  PrOutOutcome out;
  out.state_changed = true;
  return out;
}

// iSCSI TransportID (SPC-4 7.6.4.6 / 8.2.x): FORMAT CODE 01b when the name
// carries ",i,0x<ISID>", else 00b; NUL terminated, padded to a multiple of 4
// and at least 20 bytes.
std::vector<uint8_t> TransportIdOf(const PrNexus& nexus) {
  const bool with_isid = nexus.initiator_port.find(",i,0x") != std::string::npos;
  std::vector<uint8_t> name(nexus.initiator_port.begin(),
                            nexus.initiator_port.begin() +
                                std::min<size_t>(nexus.initiator_port.size(), 223));
  name.push_back(0);
  while (name.size() % 4 != 0 || name.size() < 20) name.push_back(0);
  std::vector<uint8_t> id(4, 0);
  id[0] = static_cast<uint8_t>((with_isid ? 0x40 : 0x00) | (nexus.protocol_identifier & 0x0f));
  StoreBe16(&id[2], static_cast<uint16_t>(name.size()));
  id.insert(id.end(), name.begin(), name.end());
  return id;
}

// --- persistence helpers ----------------------------------------------------

constexpr char kMagic[8] = {'I', 'S', 'C', 'S', 'I', 'P', 'R', '1'};
constexpr uint32_t kFormatVersion = 1;
constexpr uint32_t kNoHolder = 0xffffffffu;

uint64_t Fnv1a(absl::Span<const uint8_t> bytes) {
  uint64_t hash = 0xcbf29ce484222325ull;
  for (uint8_t b : bytes) {
    hash ^= b;
    hash *= 0x100000001b3ull;
  }
  return hash;
}

void Put16(std::vector<uint8_t>& out, uint16_t v) {
  out.resize(out.size() + 2);
  StoreBe16(&out[out.size() - 2], v);
}
void Put32(std::vector<uint8_t>& out, uint32_t v) {
  out.resize(out.size() + 4);
  StoreBe32(&out[out.size() - 4], v);
}
void Put64(std::vector<uint8_t>& out, uint64_t v) {
  out.resize(out.size() + 8);
  StoreBe64(&out[out.size() - 8], v);
}
void PutString(std::vector<uint8_t>& out, const std::string& s) {
  Put16(out, static_cast<uint16_t>(s.size()));
  out.insert(out.end(), s.begin(), s.end());
}

// A bounds-checked cursor over the state file.
class Reader {
 public:
  explicit Reader(absl::Span<const uint8_t> bytes) : bytes_(bytes) {}
  bool Need(size_t n) const { return bytes_.size() - at_ >= n; }
  bool Get8(uint8_t& v) {
    if (!Need(1)) return false;
    v = bytes_[at_++];
    return true;
  }
  bool Get16(uint16_t& v) {
    if (!Need(2)) return false;
    v = LoadBe16(&bytes_[at_]);
    at_ += 2;
    return true;
  }
  bool Get32(uint32_t& v) {
    if (!Need(4)) return false;
    v = LoadBe32(&bytes_[at_]);
    at_ += 4;
    return true;
  }
  bool Get64(uint64_t& v) {
    if (!Need(8)) return false;
    v = LoadBe64(&bytes_[at_]);
    at_ += 8;
    return true;
  }
  bool GetString(std::string& s) {
    uint16_t n = 0;
    if (!Get16(n) || !Need(n)) return false;
    s.assign(bytes_.begin() + at_, bytes_.begin() + at_ + n);
    at_ += n;
    return true;
  }
  bool AtEnd() const { return at_ == bytes_.size(); }

 private:
  absl::Span<const uint8_t> bytes_;
  size_t at_ = 0;
};

}  // namespace

// --- lookups ------------------------------------------------------------------

const PrRegistration* Reservations::FindRegistration(const PrNexus& nexus) const {
  for (const PrRegistration& r : registrations_) {
    if (r.nexus == nexus) return &r;
  }
  return nullptr;
}

bool Reservations::AllRegistrantsType() const {
  return type_.has_value() && IsAllRegistrants(*type_);
}

bool Reservations::IsHolder(const PrNexus& nexus) const {
  if (!type_.has_value()) return false;
  // 5.13.10: with an all-registrants type every registered I_T nexus holds.
  if (AllRegistrantsType()) return FindRegistration(nexus) != nullptr;
  return holder_.has_value() && *holder_ == nexus;
}

template <typename Pred>
std::vector<PrNexus> Reservations::RemoveRegistrations(const PrNexus& keep, Pred pred) {
  std::vector<PrNexus> removed;
  auto it = std::remove_if(registrations_.begin(), registrations_.end(),
                           [&](const PrRegistration& r) {
                             if (r.nexus == keep || !pred(r)) return false;
                             removed.push_back(r.nexus);
                             return true;
                           });
  registrations_.erase(it, registrations_.end());
  return removed;
}

// --- conflicts ------------------------------------------------------------------

bool Reservations::Conflicts(const PreparedCommand& command, uint64_t nexus_id,
                             const PrNexus& nexus) const {
  if (spc2_holder_.has_value()) {
    // SPC-2 5.5.1: PERSISTENT RESERVE IN/OUT conflict regardless of the
    // initiator while a RESERVE is in force.
    if (command.kind == CommandKind::kPersistentReserveIn ||
        command.kind == CommandKind::kPersistentReserveOut) {
      return true;
    }
    if (*spc2_holder_ != nexus_id) {
      switch (command.kind) {
        case CommandKind::kInquiry:
        case CommandKind::kRequestSense:
        case CommandKind::kReportLuns:
        case CommandKind::kRelease6:
          return false;
        default:
          return true;
      }
    }
    return false;
  }
  if (!type_.has_value() || IsHolder(nexus)) return false;
  const Access access = AccessOf(command);
  if (access == Access::kAlways) return false;
  const bool registered = FindRegistration(nexus) != nullptr;
  switch (*type_) {
    case PrType::kWriteExclusive:
      return access == Access::kWrite;
    case PrType::kExclusiveAccess:
      return access == Access::kInfo ? !registered : true;
    case PrType::kWriteExclusiveRegistrantsOnly:
    case PrType::kWriteExclusiveAllRegistrants:
      return access == Access::kWrite && !registered;
    case PrType::kExclusiveAccessRegistrantsOnly:
    case PrType::kExclusiveAccessAllRegistrants:
      return !registered;
  }
  return true;
}

// --- SPC-2 ------------------------------------------------------------------------

bool Reservations::Reserve6(uint64_t nexus_id, const PrNexus& nexus) {
  // SPC-4 5.13.3 (CRH=1): with persistent reservation state present, RESERVE
  // succeeds without effect for a persistent reservation holder and
  // conflicts for everyone else.
  if (!registrations_.empty() || type_.has_value()) return IsHolder(nexus);
  if (spc2_holder_.has_value() && *spc2_holder_ != nexus_id) return false;
  spc2_holder_ = nexus_id;
  return true;
}

void Reservations::Release6(uint64_t nexus_id) {
  // SPC-2 7.22: releasing a reservation held by another nexus, or none, is
  // GOOD and changes nothing; so is RELEASE under persistent reservations.
  if (spc2_holder_.has_value() && *spc2_holder_ == nexus_id) spc2_holder_.reset();
}

void Reservations::ClearSpc2Reservation(std::optional<uint64_t> nexus_id) {
  if (!nexus_id.has_value() || spc2_holder_ == nexus_id) spc2_holder_.reset();
}

// --- PERSISTENT RESERVE IN (6.13) ----------------------------------------------------

PrInResult Reservations::PersistentReserveIn(const PreparedCommand& command) const {
  PrInResult result;
  std::vector<uint8_t>& out = result.data;
  switch (static_cast<PrInAction>(command.service_action)) {
    case PrInAction::kReadKeys: {  // 6.13.2
      out.resize(8, 0);
      StoreBe32(&out[0], generation_);
      for (const PrRegistration& r : registrations_) Put64(out, r.key);
      StoreBe32(&out[4], static_cast<uint32_t>(out.size() - 8));
      break;
    }
    case PrInAction::kReadReservation: {  // 6.13.3
      out.resize(8, 0);
      StoreBe32(&out[0], generation_);
      if (type_.has_value()) {
        out.resize(24, 0);
        StoreBe32(&out[4], 16);
        uint64_t key = 0;  // 0 for all-registrants types (6.13.3.2)
        if (!AllRegistrantsType() && holder_.has_value()) {
          if (const PrRegistration* r = FindRegistration(*holder_)) key = r->key;
        }
        StoreBe64(&out[8], key);
        out[21] = static_cast<uint8_t>(*type_);  // SCOPE 0h (LU_SCOPE)
      }
      break;
    }
    case PrInAction::kReportCapabilities: {  // 6.13.4 table 165
      out.resize(8, 0);
      StoreBe16(&out[0], 8);
      out[2] = 0x10 | 0x01;  // CRH, PTPL_C; no SIP_C, ATP_C, RLR_C
      out[3] = static_cast<uint8_t>(0x80 | (aptpl_ ? 0x01 : 0));  // TMV, PTPL_A
      out[4] = 0x80 | 0x40 | 0x20 | 0x08 | 0x02;  // WR_EX_AR EX_AC_RO WR_EX_RO EX_AC WR_EX
      out[5] = 0x01;                              // EX_AC_AR
      break;
    }
    case PrInAction::kReadFullStatus: {  // 6.13.5
      out.resize(8, 0);
      StoreBe32(&out[0], generation_);
      for (const PrRegistration& r : registrations_) {
        const std::vector<uint8_t> transport_id = TransportIdOf(r.nexus);
        const size_t at = out.size();
        out.resize(at + 24, 0);
        StoreBe64(&out[at], r.key);
        if (IsHolder(r.nexus)) {
          out[at + 12] = 0x01;  // R_HOLDER
          out[at + 13] = static_cast<uint8_t>(*type_);
        }
        StoreBe16(&out[at + 18], r.nexus.relative_target_port_id);
        StoreBe32(&out[at + 20], static_cast<uint32_t>(transport_id.size()));
        out.insert(out.end(), transport_id.begin(), transport_id.end());
      }
      StoreBe32(&out[4], static_cast<uint32_t>(out.size() - 8));
      break;
    }
    default:
      result.check = CheckCondition::InvalidFieldInCdb(1, 4);
      break;
  }
  return result;
}

// --- PERSISTENT RESERVE OUT (5.13.x, 6.14) --------------------------------------------

PrOutOutcome Reservations::PersistentReserveOut(const PreparedCommand& command,
                                                absl::Span<const uint8_t> parameters,
                                                const PrNexus& nexus, uint64_t nexus_id) {
  (void)nexus_id;
  if (spc2_holder_.has_value()) return Conflict();
  // 6.14.3 table 180: the basic 24-byte parameter list.
  if (parameters.size() < 24) return Check(CheckCondition::Of(SenseReason::kParameterListLengthError));
  const uint64_t key = LoadBe64(&parameters[0]);
  const uint64_t sa_key = LoadBe64(&parameters[8]);
  const uint8_t flags = parameters[20];
  if ((flags & 0x08) != 0) return Check(CheckCondition::InvalidFieldInParameterList(20, 3));
  if ((flags & 0x04) != 0) return Check(CheckCondition::InvalidFieldInParameterList(20, 2));
  const bool aptpl = (flags & 0x01) != 0;

  const auto action = static_cast<PrOutAction>(command.service_action);
  if (action == PrOutAction::kRegister) return Register(nexus, key, sa_key, false, aptpl);
  if (action == PrOutAction::kRegisterAndIgnoreExistingKey) {
    return Register(nexus, key, sa_key, true, aptpl);
  }
  // Everything else needs a registered I_T nexus whose key matches (5.13.1).
  const PrRegistration* reg = FindRegistration(nexus);
  if (reg == nullptr || reg->key != key) return Conflict();
  switch (action) {
    case PrOutAction::kReserve:
      return Reserve(nexus, static_cast<PrType>(command.pr_type));
    case PrOutAction::kRelease:
      return Release(nexus, command.pr_type);
    case PrOutAction::kClear:
      return Clear(nexus);
    case PrOutAction::kPreempt:
      return Preempt(nexus, sa_key, command.pr_type, false);
    case PrOutAction::kPreemptAndAbort:
      return Preempt(nexus, sa_key, command.pr_type, true);
    default:
      return Check(CheckCondition::InvalidFieldInCdb(1, 4));
  }
}

PrOutOutcome Reservations::Register(const PrNexus& nexus, uint64_t key, uint64_t sa_key,
                                    bool ignore_key, bool aptpl) {
  auto it = std::find_if(registrations_.begin(), registrations_.end(),
                         [&](const PrRegistration& r) { return r.nexus == nexus; });
  if (it == registrations_.end()) {
    // 5.13.7.2: an unregistered I_T nexus registers with key 0 (or any key
    // with REGISTER AND IGNORE EXISTING KEY); SA key 0 does nothing.
    if (!ignore_key && key != 0) return Conflict();
    if (sa_key == 0) return PrOutOutcome{};
    if (registrations_.size() >= kMaxRegistrations) {
      return Check(CheckCondition::Of(SenseReason::kInsufficientRegistrationResources));
    }
    registrations_.push_back(PrRegistration{nexus, sa_key});
    ++generation_;
    aptpl_ = aptpl;
    return Changed();
  }
  if (!ignore_key && key != it->key) return Conflict();
  PrOutOutcome out = Changed();
  ++generation_;
  aptpl_ = aptpl;
  if (sa_key != 0) {
    it->key = sa_key;  // 5.13.7.3: change the key; the reservation stays
    return out;
  }
  // Unregister (5.13.7.3, 5.13.10).
  const bool was_holder = IsHolder(nexus);
  registrations_.erase(it);
  if (was_holder) {
    if (AllRegistrantsType()) {
      if (registrations_.empty()) {
        type_.reset();
        holder_.reset();
      }
    } else {
      const PrType old = *type_;
      type_.reset();
      holder_.reset();
      // A registrants-only reservation released by its holder leaving tells
      // the other registrants (5.13.10.2).
      if (IsRegistrantsOnlyOrAll(old)) {
        for (const PrRegistration& r : registrations_) {
          out.unit_attentions.emplace_back(r.nexus, SenseReason::kReservationsReleased);
        }
      }
    }
  }
  return out;
}

PrOutOutcome Reservations::Reserve(const PrNexus& nexus, PrType type) {
  // 5.13.9: a holder reserving again with the same type is a no-op; any
  // other RESERVE while a reservation exists conflicts.
  if (type_.has_value()) {
    if (IsHolder(nexus) && *type_ == type) return PrOutOutcome{};
    return Conflict();
  }
  type_ = type;
  if (IsAllRegistrants(type)) {
    holder_.reset();
  } else {
    holder_ = nexus;
  }
  return Changed();  // the generation does not change for RESERVE
}

PrOutOutcome Reservations::Release(const PrNexus& nexus, uint8_t type) {
  // 5.13.11.2.2: no reservation, or not the holder: GOOD, nothing changes.
  if (!type_.has_value() || !IsHolder(nexus)) return PrOutOutcome{};
  if (type != static_cast<uint8_t>(*type_)) {
    return Check(CheckCondition::Of(SenseReason::kInvalidReleaseOfPersistentReservation));
  }
  const PrType old = *type_;
  type_.reset();
  holder_.reset();
  PrOutOutcome out = Changed();
  if (IsRegistrantsOnlyOrAll(old)) {
    for (const PrRegistration& r : registrations_) {
      if (!(r.nexus == nexus)) {
        out.unit_attentions.emplace_back(r.nexus, SenseReason::kReservationsReleased);
      }
    }
  }
  return out;
}

PrOutOutcome Reservations::Clear(const PrNexus& nexus) {
  // 5.13.11.2.3: every registration and the reservation go; the others are
  // told RESERVATIONS PREEMPTED.
  PrOutOutcome out = Changed();
  for (const PrRegistration& r : registrations_) {
    if (!(r.nexus == nexus)) {
      out.unit_attentions.emplace_back(r.nexus, SenseReason::kReservationsPreempted);
    }
  }
  registrations_.clear();
  type_.reset();
  holder_.reset();
  ++generation_;
  return out;
}

PrOutOutcome Reservations::Preempt(const PrNexus& nexus, uint64_t sa_key, uint8_t type,
                                   bool abort) {
  PrOutOutcome out = Changed();
  auto finish = [&](const std::vector<PrNexus>& removed) {
    for (const PrNexus& n : removed) {
      out.unit_attentions.emplace_back(n, SenseReason::kRegistrationsPreempted);
      if (abort) out.abort_nexuses.push_back(n);
    }
    ++generation_;
  };
  auto matches_key = [sa_key](const PrRegistration& r) { return r.key == sa_key; };
  // Removes the registrations with the SA key; RESERVATION CONFLICT when
  // there are none (5.13.11.2.4.3).
  auto preempt_registrations = [&]() -> bool {
    if (std::none_of(registrations_.begin(), registrations_.end(), matches_key)) return false;
    finish(RemoveRegistrations(nexus, matches_key));
    return true;
  };
  auto take_reservation = [&](PrType new_type) {
    type_ = new_type;
    if (IsAllRegistrants(new_type)) {
      holder_.reset();
    } else {
      holder_ = nexus;
    }
  };

  if (!type_.has_value()) {
    if (sa_key == 0) return Check(CheckCondition::InvalidFieldInParameterList(8));
    if (!preempt_registrations()) return Conflict();
    return out;
  }
  if (AllRegistrantsType()) {
    if (sa_key != 0) {
      if (!preempt_registrations()) return Conflict();
      return out;
    }
    // 5.13.11.2.4.4: SA key 0 preempts every other registrant and the
    // all-registrants reservation, replaced by the issuer's.
    const std::optional<PrType> new_type = ValidType(type);
    if (!new_type.has_value()) return Check(CheckCondition::InvalidFieldInCdb(2, 3));
    finish(RemoveRegistrations(nexus, [](const PrRegistration&) { return true; }));
    take_reservation(*new_type);
    return out;
  }
  const PrRegistration* holder = holder_.has_value() ? FindRegistration(*holder_) : nullptr;
  if (holder == nullptr || holder->key != sa_key) {
    // Not the holder's key: registrations only (5.13.11.2.4.2).
    if (sa_key == 0) return Check(CheckCondition::InvalidFieldInParameterList(8));
    if (!preempt_registrations()) return Conflict();
    return out;
  }
  // The holder's key: take over the reservation (5.13.11.2.4.3).
  const std::optional<PrType> new_type = ValidType(type);
  if (!new_type.has_value()) return Check(CheckCondition::InvalidFieldInCdb(2, 3));
  const PrType old_type = *type_;
  finish(RemoveRegistrations(nexus, matches_key));
  take_reservation(*new_type);
  if (old_type != *new_type) {
    for (const PrRegistration& r : registrations_) {
      if (!(r.nexus == nexus)) {
        out.unit_attentions.emplace_back(r.nexus, SenseReason::kReservationsReleased);
      }
    }
  }
  return out;
}

// --- persistence ------------------------------------------------------------------------

std::vector<uint8_t> Reservations::EncodeForPersistence() const {
  std::vector<uint8_t> out(kMagic, kMagic + sizeof(kMagic));
  Put32(out, kFormatVersion);
  Put32(out, generation_);
  out.push_back(type_.has_value() ? 1 : 0);
  out.push_back(type_.has_value() ? static_cast<uint8_t>(*type_) : 0);
  uint32_t holder_index = kNoHolder;
  if (holder_.has_value()) {
    for (size_t i = 0; i < registrations_.size(); ++i) {
      if (registrations_[i].nexus == *holder_) holder_index = static_cast<uint32_t>(i);
    }
  }
  Put32(out, holder_index);
  Put32(out, static_cast<uint32_t>(registrations_.size()));
  for (const PrRegistration& r : registrations_) {
    Put64(out, r.key);
    Put16(out, r.nexus.relative_target_port_id);
    out.push_back(r.nexus.protocol_identifier);
    PutString(out, r.nexus.initiator_port);
    PutString(out, r.nexus.target_port);
  }
  Put64(out, Fnv1a(out));
  return out;
}

absl::StatusOr<Reservations> Reservations::DecodeFromPersistence(
    absl::Span<const uint8_t> bytes) {
  auto corrupt = [](absl::string_view what) {
    return absl::DataLossError(absl::StrCat("persistent reservation state: ", what));
  };
  if (bytes.size() < sizeof(kMagic) + 8 ||
      !std::equal(kMagic, kMagic + sizeof(kMagic), bytes.begin())) {
    return corrupt("bad magic");
  }
  const absl::Span<const uint8_t> body = bytes.subspan(0, bytes.size() - 8);
  if (Fnv1a(body) != LoadBe64(&bytes[bytes.size() - 8])) return corrupt("checksum mismatch");
  Reader in(body.subspan(sizeof(kMagic)));
  Reservations r;
  uint32_t version = 0, holder_index = 0, count = 0;
  uint8_t reserved = 0, type = 0;
  if (!in.Get32(version) || version != kFormatVersion) return corrupt("unknown version");
  if (!in.Get32(r.generation_) || !in.Get8(reserved) || !in.Get8(type) ||
      !in.Get32(holder_index) || !in.Get32(count)) {
    return corrupt("truncated header");
  }
  if (count > kMaxRegistrations) return corrupt("too many registrations");
  for (uint32_t i = 0; i < count; ++i) {
    PrRegistration reg;
    if (!in.Get64(reg.key) || !in.Get16(reg.nexus.relative_target_port_id) ||
        !in.Get8(reg.nexus.protocol_identifier) || !in.GetString(reg.nexus.initiator_port) ||
        !in.GetString(reg.nexus.target_port)) {
      return corrupt("truncated registration");
    }
    if (reg.key == 0) return corrupt("registration with key 0");
    r.registrations_.push_back(std::move(reg));
  }
  if (!in.AtEnd()) return corrupt("trailing bytes");
  if (reserved != 0) {
    const std::optional<PrType> valid = ValidType(type);
    if (!valid.has_value()) return corrupt("bad reservation type");
    r.type_ = *valid;
    if (!IsAllRegistrants(*valid)) {
      if (holder_index >= r.registrations_.size()) return corrupt("bad holder");
      r.holder_ = r.registrations_[holder_index].nexus;
    } else if (r.registrations_.empty()) {
      return corrupt("all-registrants reservation without registrants");
    }
  }
  r.aptpl_ = true;
  return r;
}

}  // namespace iscsi_csi::target::scsi
