// Reservations through a LogicalUnit with three I_T nexuses: SPC-2
// RESERVE/RELEASE, the PERSISTENT RESERVE OUT state machine per service
// action, the access rules per reservation type, unit attentions to the
// affected nexuses, PREEMPT AND ABORT, PERSISTENT RESERVE IN data, and
// persistence across re-creating the LogicalUnit over the same files.
#include <unistd.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/target/scsi/lun_harness.h"

namespace iscsi_csi::target::scsi {
namespace {

using testing::Bytes;
using ::testing::ElementsAre;
using testing::HarnessOptions;
using testing::LunHarness;
using testing::Outcome;
using testing::PrInCdb;
using testing::PrOutCdb;
using testing::PrOutParameters;

constexpr uint8_t kRegister = 0x00, kReserve = 0x01, kRelease = 0x02, kClear = 0x03,
                  kPreempt = 0x04, kPreemptAndAbort = 0x05, kRegisterIgnore = 0x06;
constexpr uint8_t kWe = 1, kEa = 3, kWeRo = 5, kEaRo = 6, kWeAr = 7, kEaAr = 8;
constexpr uint64_t kA = 1, kB = 2, kC = 3;  // nexus ids
constexpr uint64_t kKeyA = 0xaaaa, kKeyB = 0xbbbb, kKeyC = 0xcccc;

Bytes FixedSense(uint8_t key, uint8_t asc, uint8_t ascq) {
  return {0x70, 0, key, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0, asc, ascq, 0, 0, 0, 0};
}

class ReservationsTest : public ::testing::Test {
 protected:
  explicit ReservationsTest(HarnessOptions options = {}) : harness_(options) {
    for (uint64_t n : {kA, kB, kC}) harness_.ClearUnitAttention(n);
  }
  Outcome PrOut(uint64_t nexus, uint8_t action, uint64_t key, uint64_t sa_key, uint8_t type = 0,
                bool aptpl = false) {
    return harness_.Run(PrOutCdb(action, type), PrOutParameters(key, sa_key, aptpl), 24, nexus);
  }
  void MustPrOut(uint64_t nexus, uint8_t action, uint64_t key, uint64_t sa_key, uint8_t type = 0,
                 bool aptpl = false) {
    const Outcome out = PrOut(nexus, action, key, sa_key, type, aptpl);
    ASSERT_EQ(out.status, ScsiStatus::kGood) << "action " << int{action} << " nexus " << nexus;
  }
  Outcome PrIn(uint64_t nexus, uint8_t action) {
    return harness_.Run(PrInCdb(action), {}, 1 << 16, nexus);
  }
  ScsiStatus StatusOf(uint64_t nexus, Bytes cdb, Bytes data = {}) {
    return harness_.Run(std::move(cdb), std::move(data), 1 << 16, nexus).status;
  }
  // Next pending unit attention of `nexus` as (asc, ascq), via TEST UNIT READY.
  std::pair<uint8_t, uint8_t> UnitAttention(uint64_t nexus) {
    const Outcome out = harness_.Run(Bytes{0, 0, 0, 0, 0, 0}, {}, 0, nexus);
    if (out.status != ScsiStatus::kCheckCondition) return {0, 0};
    EXPECT_EQ(testing::SenseKeyOf(out.sense), 0x06);
    return {testing::AscOf(out.sense), testing::AscqOf(out.sense)};
  }
  struct ParkedRead {
    ScsiTask task;
    absl::Notification done;
  };
  // ParkReadBehindHeldIo holds the store's I/O and submits a one-block READ(10) of `nexus`
  // into `parked`, returning once that READ waits for its I/O. `parked` must outlive the task.
  void ParkReadBehindHeldIo(uint64_t nexus, ParkedRead* parked) {
    harness_.store().HoldIo();
    parked->task.nexus = harness_.Nexus(nexus);
    const Bytes read = testing::Read10(0, 1);
    ASSERT_TRUE(parked->task.SetCdb(read));
    parked->task.expected_transfer_length = 512;
    harness_.lun().Submit(parked->task, [parked](ScsiTask&) { parked->done.Notify(); });
    harness_.store().WaitForHeld(1);
  }
  LunHarness harness_;
};

TEST_F(ReservationsTest, RegisterThenReadKeysListsKeysWithGeneration) {
  MustPrOut(kA, kRegister, 0, kKeyA);
  MustPrOut(kB, kRegister, 0, kKeyB);
  EXPECT_THAT(PrIn(kC, 0x00).data_in, ElementsAre(0, 0, 0, 2, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0xaa,
                                                  0xaa, 0, 0, 0, 0, 0, 0, 0xbb, 0xbb));
}

TEST_F(ReservationsTest, RegisterFromUnregisteredNexusWithNonZeroKeyConflicts) {
  EXPECT_EQ(PrOut(kA, kRegister, 0x1234, kKeyA).status, ScsiStatus::kReservationConflict);
  EXPECT_TRUE(PrOut(kA, kRegister, 0x1234, kKeyA).sense.empty());
}

TEST_F(ReservationsTest, RegisterWithWrongKeyConflictsAndIgnoreExistingKeyDoesNot) {
  MustPrOut(kA, kRegister, 0, kKeyA);
  EXPECT_EQ(PrOut(kA, kRegister, 0x9999, 0x7777).status, ScsiStatus::kReservationConflict);
  MustPrOut(kA, kRegisterIgnore, 0x9999, 0x7777);
  EXPECT_THAT(PrIn(kA, 0x00).data_in,
              ElementsAre(0, 0, 0, 2, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0x77, 0x77));
}

TEST_F(ReservationsTest, RegisterWithZeroServiceActionKeyUnregisters) {
  MustPrOut(kA, kRegister, 0, kKeyA);
  MustPrOut(kA, kRegister, kKeyA, 0);
  EXPECT_THAT(PrIn(kA, 0x00).data_in, ElementsAre(0, 0, 0, 2, 0, 0, 0, 0));
}

TEST_F(ReservationsTest, ReserveNeedsARegistrationWithTheRightKey) {
  EXPECT_EQ(PrOut(kA, kReserve, kKeyA, 0, kWe).status, ScsiStatus::kReservationConflict);
  MustPrOut(kA, kRegister, 0, kKeyA);
  EXPECT_EQ(PrOut(kA, kReserve, 0x1, 0, kWe).status, ScsiStatus::kReservationConflict);
  MustPrOut(kA, kReserve, kKeyA, 0, kWe);
  MustPrOut(kA, kReserve, kKeyA, 0, kWe);  // same holder, same type: no-op
  EXPECT_EQ(PrOut(kA, kReserve, kKeyA, 0, kEa).status, ScsiStatus::kReservationConflict);
  MustPrOut(kB, kRegister, 0, kKeyB);
  EXPECT_EQ(PrOut(kB, kReserve, kKeyB, 0, kWe).status, ScsiStatus::kReservationConflict);
}

TEST_F(ReservationsTest, ReadReservationShowsHolderKeyAndType) {
  MustPrOut(kA, kRegister, 0, kKeyA);
  EXPECT_THAT(PrIn(kA, 0x01).data_in, ElementsAre(0, 0, 0, 1, 0, 0, 0, 0));
  MustPrOut(kA, kReserve, kKeyA, 0, kEaRo);
  EXPECT_THAT(PrIn(kB, 0x01).data_in, ElementsAre(0, 0, 0, 1, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0xaa,
                                                  0xaa, 0, 0, 0, 0, 0, kEaRo, 0, 0));
}

TEST_F(ReservationsTest, AllRegistrantsReservationReportsKeyZero) {
  MustPrOut(kA, kRegister, 0, kKeyA);
  MustPrOut(kA, kReserve, kKeyA, 0, kWeAr);
  const Bytes d = PrIn(kA, 0x01).data_in;
  ASSERT_EQ(d.size(), 24u);
  EXPECT_THAT(Bytes(d.begin() + 8, d.begin() + 16), ElementsAre(0, 0, 0, 0, 0, 0, 0, 0));
  EXPECT_EQ(d[21], kWeAr);
}

TEST_F(ReservationsTest, ReportCapabilitiesAdvertisesTypesCrhAndPtpl) {
  EXPECT_THAT(PrIn(kA, 0x02).data_in, ElementsAre(0, 8, 0x11, 0x80, 0xea, 0x01, 0, 0));
  MustPrOut(kA, kRegister, 0, kKeyA, 0, /*aptpl=*/true);
  EXPECT_THAT(PrIn(kA, 0x02).data_in, ElementsAre(0, 8, 0x11, 0x81, 0xea, 0x01, 0, 0));
}

TEST_F(ReservationsTest, ReadFullStatusCarriesHolderAndIscsiTransportId) {
  MustPrOut(kA, kRegister, 0, kKeyA);
  MustPrOut(kA, kReserve, kKeyA, 0, kEa);
  const Bytes d = PrIn(kA, 0x03).data_in;
  // "iqn.2026-01.test:init1,i,0x1" is 28 chars + NUL -> 32 bytes.
  ASSERT_EQ(d.size(), 8u + 24 + 4 + 32);
  EXPECT_THAT(Bytes(d.begin(), d.begin() + 8), ElementsAre(0, 0, 0, 1, 0, 0, 0, 60));
  EXPECT_THAT(Bytes(d.begin() + 8, d.begin() + 32),
              ElementsAre(0, 0, 0, 0, 0, 0, 0xaa, 0xaa, 0, 0, 0, 0, 0x01, kEa, 0, 0, 0, 0, 0, 0, 0,
                          0, 0, 36));
  EXPECT_THAT(Bytes(d.begin() + 32, d.begin() + 36), ElementsAre(0x40, 0, 0, 32));
  const std::string name(d.begin() + 36, d.begin() + 36 + 28);
  EXPECT_EQ(name, "iqn.2026-01.test:init1,i,0x1");
}

// --- access per type ------------------------------------------------------------

struct AccessCase {
  const char* name;
  uint8_t type;
  // Expected for: holder A, registered B, unregistered C; reads then writes.
  bool b_read, b_write, c_read, c_write;
};

class AccessTest : public ReservationsTest, public ::testing::WithParamInterface<AccessCase> {};

TEST_P(AccessTest, ReadsAndWritesFollowTheTypeTable) {
  const AccessCase& c = GetParam();
  MustPrOut(kA, kRegister, 0, kKeyA);
  MustPrOut(kB, kRegister, 0, kKeyB);
  MustPrOut(kA, kReserve, kKeyA, 0, c.type);
  auto expect = [](bool allowed) {
    return allowed ? ScsiStatus::kGood : ScsiStatus::kReservationConflict;
  };
  const Bytes block(512, 1);
  EXPECT_EQ(StatusOf(kA, testing::Read10(0, 1)), ScsiStatus::kGood);
  EXPECT_EQ(StatusOf(kA, testing::Write10(0, 1), block), ScsiStatus::kGood);
  EXPECT_EQ(StatusOf(kB, testing::Read10(0, 1)), expect(c.b_read));
  EXPECT_EQ(StatusOf(kB, testing::Write10(0, 1), block), expect(c.b_write));
  EXPECT_EQ(StatusOf(kC, testing::Read10(0, 1)), expect(c.c_read));
  EXPECT_EQ(StatusOf(kC, testing::Write10(0, 1), block), expect(c.c_write));
  EXPECT_EQ(StatusOf(kC, testing::Cdb10(0x35, 0, 0)), expect(c.c_write));  // SYNC CACHE
  EXPECT_EQ(StatusOf(kC, testing::CompareAndWriteCdb(0, 1), Bytes(1024, 0)), expect(c.c_write));
  // Always allowed, whatever the type.
  EXPECT_EQ(StatusOf(kC, Bytes{0, 0, 0, 0, 0, 0}), ScsiStatus::kGood);
  EXPECT_EQ(StatusOf(kC, testing::Inquiry(false, 0, 96)), ScsiStatus::kGood);
  EXPECT_EQ(StatusOf(kC, testing::ReadCapacity10()), ScsiStatus::kGood);
  EXPECT_EQ(StatusOf(kC, testing::ReportLuns()), ScsiStatus::kGood);
  EXPECT_EQ(StatusOf(kC, PrInCdb(0x00)), ScsiStatus::kGood);
}

INSTANTIATE_TEST_SUITE_P(
    AllTypes, AccessTest,
    ::testing::Values(AccessCase{"WriteExclusive", kWe, true, false, true, false},
                      AccessCase{"ExclusiveAccess", kEa, false, false, false, false},
                      AccessCase{"WriteExclusiveRegistrantsOnly", kWeRo, true, true, true, false},
                      AccessCase{"ExclusiveAccessRegistrantsOnly", kEaRo, true, true, false, false},
                      AccessCase{"WriteExclusiveAllRegistrants", kWeAr, true, true, true, false},
                      AccessCase{"ExclusiveAccessAllRegistrants", kEaAr, true, true, false, false}),
    [](const ::testing::TestParamInfo<AccessCase>& param_info) { return param_info.param.name; });

TEST_F(ReservationsTest, ModeSenseUnderExclusiveAccessIsAllowedOnlyForRegistrants) {
  MustPrOut(kA, kRegister, 0, kKeyA);
  MustPrOut(kB, kRegister, 0, kKeyB);
  MustPrOut(kA, kReserve, kKeyA, 0, kEa);
  EXPECT_EQ(StatusOf(kB, testing::ModeSense6(0x3f)), ScsiStatus::kGood);
  EXPECT_EQ(StatusOf(kC, testing::ModeSense6(0x3f)), ScsiStatus::kReservationConflict);
}

// --- release, clear, preempt ------------------------------------------------------

TEST_F(ReservationsTest, ReleaseWithWrongTypeIsInvalidReleaseOfPersistentReservation) {
  MustPrOut(kA, kRegister, 0, kKeyA);
  MustPrOut(kA, kReserve, kKeyA, 0, kWe);
  EXPECT_EQ(PrOut(kA, kRelease, kKeyA, 0, kEa).sense, FixedSense(0x05, 0x26, 0x04));
  MustPrOut(kA, kRelease, kKeyA, 0, kWe);
  EXPECT_EQ(PrIn(kA, 0x01).data_in.size(), 8u);
}

TEST_F(ReservationsTest, ReleaseByNonHolderIsGoodAndChangesNothing) {
  MustPrOut(kA, kRegister, 0, kKeyA);
  MustPrOut(kB, kRegister, 0, kKeyB);
  MustPrOut(kA, kReserve, kKeyA, 0, kWe);
  MustPrOut(kB, kRelease, kKeyB, 0, kWe);
  EXPECT_EQ(PrIn(kA, 0x01).data_in.size(), 24u);
  EXPECT_EQ(PrOut(kC, kRelease, 0, 0, kWe).status, ScsiStatus::kReservationConflict);
}

TEST_F(ReservationsTest, ReleasingRegistrantsOnlyReservationTellsOtherRegistrants) {
  MustPrOut(kA, kRegister, 0, kKeyA);
  MustPrOut(kB, kRegister, 0, kKeyB);
  MustPrOut(kA, kReserve, kKeyA, 0, kWeRo);
  MustPrOut(kA, kRelease, kKeyA, 0, kWeRo);
  EXPECT_EQ(UnitAttention(kB), std::make_pair(uint8_t{0x2a}, uint8_t{0x04}));
  EXPECT_EQ(UnitAttention(kA), std::make_pair(uint8_t{0}, uint8_t{0}));
  EXPECT_EQ(UnitAttention(kC), std::make_pair(uint8_t{0}, uint8_t{0}));
}

TEST_F(ReservationsTest, ReleasingPlainWriteExclusiveEstablishesNoUnitAttention) {
  MustPrOut(kA, kRegister, 0, kKeyA);
  MustPrOut(kB, kRegister, 0, kKeyB);
  MustPrOut(kA, kReserve, kKeyA, 0, kWe);
  MustPrOut(kA, kRelease, kKeyA, 0, kWe);
  EXPECT_EQ(UnitAttention(kB), std::make_pair(uint8_t{0}, uint8_t{0}));
}

TEST_F(ReservationsTest, ClearRemovesEverythingAndTellsOthersReservationsPreempted) {
  MustPrOut(kA, kRegister, 0, kKeyA);
  MustPrOut(kB, kRegister, 0, kKeyB);
  MustPrOut(kA, kReserve, kKeyA, 0, kEa);
  MustPrOut(kB, kClear, kKeyB, 0);
  EXPECT_EQ(UnitAttention(kA), std::make_pair(uint8_t{0x2a}, uint8_t{0x03}));
  EXPECT_EQ(UnitAttention(kB), std::make_pair(uint8_t{0}, uint8_t{0}));
  EXPECT_THAT(PrIn(kA, 0x00).data_in, ElementsAre(0, 0, 0, 3, 0, 0, 0, 0));
  EXPECT_EQ(StatusOf(kC, testing::Write10(0, 1), Bytes(512, 0)), ScsiStatus::kGood);
}

TEST_F(ReservationsTest, ClearFromUnregisteredNexusConflicts) {
  MustPrOut(kA, kRegister, 0, kKeyA);
  EXPECT_EQ(PrOut(kC, kClear, 0, 0).status, ScsiStatus::kReservationConflict);
}

TEST_F(ReservationsTest, PreemptOfTheHolderMovesTheReservationAndTellsThePreempted) {
  MustPrOut(kA, kRegister, 0, kKeyA);
  MustPrOut(kB, kRegister, 0, kKeyB);
  MustPrOut(kC, kRegister, 0, kKeyC);
  MustPrOut(kA, kReserve, kKeyA, 0, kWe);
  MustPrOut(kB, kPreempt, kKeyB, kKeyA, kEaRo);
  EXPECT_EQ(UnitAttention(kA), std::make_pair(uint8_t{0x2a}, uint8_t{0x05}));
  // The type changed: the remaining registrant hears RESERVATIONS RELEASED.
  EXPECT_EQ(UnitAttention(kC), std::make_pair(uint8_t{0x2a}, uint8_t{0x04}));
  const Bytes r = PrIn(kB, 0x01).data_in;
  ASSERT_EQ(r.size(), 24u);
  EXPECT_EQ(LoadBe64(&r[8]), kKeyB);
  EXPECT_EQ(r[21], kEaRo);
  EXPECT_EQ(StatusOf(kA, testing::Read10(0, 1)), ScsiStatus::kReservationConflict);
}

TEST_F(ReservationsTest, PreemptOfNonHolderKeyRemovesOnlyRegistrations) {
  MustPrOut(kA, kRegister, 0, kKeyA);
  MustPrOut(kB, kRegister, 0, kKeyB);
  MustPrOut(kC, kRegister, 0, kKeyC);
  MustPrOut(kA, kReserve, kKeyA, 0, kWe);
  MustPrOut(kA, kPreempt, kKeyA, kKeyC, kWe);
  EXPECT_EQ(UnitAttention(kC), std::make_pair(uint8_t{0x2a}, uint8_t{0x05}));
  EXPECT_THAT(PrIn(kA, 0x00).data_in, ElementsAre(0, 0, 0, 4, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0xaa,
                                                  0xaa, 0, 0, 0, 0, 0, 0, 0xbb, 0xbb));
  EXPECT_EQ(PrIn(kA, 0x01).data_in[21], kWe);
}

TEST_F(ReservationsTest, PreemptOfUnknownKeyConflictsAndZeroKeyIsInvalidField) {
  MustPrOut(kA, kRegister, 0, kKeyA);
  EXPECT_EQ(PrOut(kA, kPreempt, kKeyA, 0x4242, kWe).status, ScsiStatus::kReservationConflict);
  EXPECT_EQ(PrOut(kA, kPreempt, kKeyA, 0, kWe).sense,
            (Bytes{0x70, 0, 0x05, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0, 0x26, 0, 0, 0x8f, 0, 8}));
}

TEST_F(ReservationsTest, PreemptWithZeroKeyUnderAllRegistrantsTakesEverything) {
  MustPrOut(kA, kRegister, 0, kKeyA);
  MustPrOut(kB, kRegister, 0, kKeyB);
  MustPrOut(kA, kReserve, kKeyA, 0, kEaAr);
  MustPrOut(kB, kPreempt, kKeyB, 0, kWe);
  EXPECT_EQ(UnitAttention(kA), std::make_pair(uint8_t{0x2a}, uint8_t{0x05}));
  const Bytes r = PrIn(kB, 0x01).data_in;
  EXPECT_EQ(LoadBe64(&r[8]), kKeyB);
  EXPECT_EQ(r[21], kWe);
}

TEST_F(ReservationsTest, UnregisteringTheHolderOfRegistrantsOnlyReleasesAndTellsOthers) {
  MustPrOut(kA, kRegister, 0, kKeyA);
  MustPrOut(kB, kRegister, 0, kKeyB);
  MustPrOut(kA, kReserve, kKeyA, 0, kEaRo);
  MustPrOut(kA, kRegister, kKeyA, 0);
  EXPECT_EQ(UnitAttention(kB), std::make_pair(uint8_t{0x2a}, uint8_t{0x04}));
  EXPECT_EQ(PrIn(kB, 0x01).data_in.size(), 8u);
}

TEST_F(ReservationsTest, AllRegistrantsReservationSurvivesUntilTheLastRegistrantLeaves) {
  MustPrOut(kA, kRegister, 0, kKeyA);
  MustPrOut(kB, kRegister, 0, kKeyB);
  MustPrOut(kA, kReserve, kKeyA, 0, kWeAr);
  MustPrOut(kA, kRegister, kKeyA, 0);
  EXPECT_EQ(PrIn(kB, 0x01).data_in.size(), 24u);
  EXPECT_EQ(StatusOf(kB, testing::Write10(0, 1), Bytes(512, 0)), ScsiStatus::kGood);
  MustPrOut(kB, kRegister, kKeyB, 0);
  EXPECT_EQ(PrIn(kB, 0x01).data_in.size(), 8u);
}

TEST_F(ReservationsTest, SpecIptAndAllTgPtAreInvalidFieldsInParameterList) {
  EXPECT_EQ(harness_.Run(PrOutCdb(kRegister), PrOutParameters(0, kKeyA, false, 0x08), 24, kA).sense,
            (Bytes{0x70, 0, 0x05, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0, 0x26, 0, 0, 0x8b, 0, 20}));
  EXPECT_EQ(harness_.Run(PrOutCdb(kRegister), PrOutParameters(0, kKeyA, false, 0x04), 24, kA).sense,
            (Bytes{0x70, 0, 0x05, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0, 0x26, 0, 0, 0x8a, 0, 20}));
}

TEST_F(ReservationsTest, ShortParameterDataIsParameterListLengthError) {
  EXPECT_EQ(harness_.Run(PrOutCdb(kRegister), Bytes(10, 0), 10, kA).sense,
            FixedSense(0x05, 0x1a, 0x00));
}

TEST_F(ReservationsTest, PreemptAndAbortAbortsThePreemptedNexusTasks) {
  MustPrOut(kA, kRegister, 0, kKeyA);
  MustPrOut(kB, kRegister, 0, kKeyB);
  MustPrOut(kB, kReserve, kKeyB, 0, kWe);
  ParkedRead victim;
  ASSERT_NO_FATAL_FAILURE(ParkReadBehindHeldIo(kB, &victim));
  // Queue one more B task that cannot start yet (ORDERED behind the READ).
  ScsiTask queued;
  queued.nexus = harness_.Nexus(kB);
  queued.attribute = TaskAttribute::kOrdered;
  const Bytes read = testing::Read10(0, 1);
  ASSERT_TRUE(queued.SetCdb(read));
  queued.expected_transfer_length = 512;
  absl::Notification queued_done;
  harness_.lun().Submit(queued, [&](ScsiTask&) { queued_done.Notify(); });

  ScsiTask preempt;
  preempt.nexus = harness_.Nexus(kA);
  preempt.attribute = TaskAttribute::kHeadOfQueue;
  const Bytes cdb = PrOutCdb(kPreemptAndAbort, kEa);
  ASSERT_TRUE(preempt.SetCdb(cdb));
  preempt.data_out = PrOutParameters(kKeyA, kKeyB);
  preempt.expected_transfer_length = 24;
  absl::Notification preempt_done;
  harness_.lun().Submit(preempt, [&](ScsiTask&) { preempt_done.Notify(); });
  // The queued task is aborted without running; the running one completes
  // once its I/O is released, then the PREEMPT AND ABORT completes.
  queued_done.WaitForNotification();
  EXPECT_EQ(queued.status, ScsiStatus::kTaskAborted);
  EXPECT_FALSE(preempt_done.HasBeenNotified());
  harness_.store().ReleaseIo();
  victim.done.WaitForNotification();
  preempt_done.WaitForNotification();
  harness_.lun().Drain();
  EXPECT_EQ(preempt.status, ScsiStatus::kGood);
  EXPECT_EQ(UnitAttention(kB), std::make_pair(uint8_t{0x2a}, uint8_t{0x05}));
  EXPECT_EQ(PrIn(kA, 0x01).data_in[21], kEa);
}

TEST_F(ReservationsTest, PreemptAndAbortDoesNotWaitForTasksThatArriveWhileItWaits) {
  // The deadlock the fuzz test found: PREEMPT AND ABORT (a running SIMPLE task) waited for
  // every task of the preempted nexus, including an ORDERED one sent while it waited, which
  // cannot start until the PREEMPT AND ABORT ends.
  MustPrOut(kA, kRegister, 0, kKeyA);
  MustPrOut(kB, kRegister, 0, kKeyB);
  MustPrOut(kB, kReserve, kKeyB, 0, kWe);
  ParkedRead victim;
  ASSERT_NO_FATAL_FAILURE(ParkReadBehindHeldIo(kB, &victim));

  ScsiTask preempt;
  preempt.nexus = harness_.Nexus(kA);
  const Bytes cdb = PrOutCdb(kPreemptAndAbort, kEa);
  ASSERT_TRUE(preempt.SetCdb(cdb));
  preempt.data_out = PrOutParameters(kKeyA, kKeyB);
  preempt.expected_transfer_length = 24;
  absl::Notification preempt_done;
  harness_.lun().Submit(preempt, [&](ScsiTask&) { preempt_done.Notify(); });
  // The PREEMPT AND ABORT is waiting once it has flagged the victim.
  while (!victim.task.abort_requested()) absl::SleepFor(absl::Milliseconds(1));

  // An ORDERED INQUIRY (it runs despite the unit attention the preemption left for B).
  ScsiTask late;
  late.nexus = harness_.Nexus(kB);
  late.attribute = TaskAttribute::kOrdered;
  const Bytes inquiry = testing::Inquiry(false, 0, 96);
  ASSERT_TRUE(late.SetCdb(inquiry));
  late.expected_transfer_length = 96;
  absl::Notification late_done;
  harness_.lun().Submit(late, [&](ScsiTask&) { late_done.Notify(); });

  harness_.store().ReleaseIo();
  victim.done.WaitForNotification();
  ASSERT_TRUE(preempt_done.WaitForNotificationWithTimeout(absl::Seconds(20)))
      << "PREEMPT AND ABORT waits for a task that arrived after it";
  EXPECT_EQ(preempt.status, ScsiStatus::kGood);
  ASSERT_TRUE(late_done.WaitForNotificationWithTimeout(absl::Seconds(20)));
  harness_.lun().Drain();
}

// --- SPC-2 RESERVE / RELEASE ---------------------------------------------------------

TEST_F(ReservationsTest, Reserve6ExcludesOtherNexusesUntilReleased) {
  const Bytes reserve6 = {0x16, 0, 0, 0, 0, 0}, release6 = {0x17, 0, 0, 0, 0, 0};
  EXPECT_EQ(StatusOf(kA, reserve6), ScsiStatus::kGood);
  EXPECT_EQ(StatusOf(kA, reserve6), ScsiStatus::kGood);  // again: fine
  EXPECT_EQ(StatusOf(kB, reserve6), ScsiStatus::kReservationConflict);
  EXPECT_EQ(StatusOf(kB, release6), ScsiStatus::kGood);  // a no-op
  EXPECT_EQ(StatusOf(kA, testing::ModeSense6(0x3f)), ScsiStatus::kGood);
  EXPECT_EQ(StatusOf(kB, testing::ModeSense6(0x3f)), ScsiStatus::kReservationConflict);
  EXPECT_EQ(StatusOf(kB, Bytes{0, 0, 0, 0, 0, 0}), ScsiStatus::kReservationConflict);
  EXPECT_EQ(StatusOf(kB, testing::Inquiry(false, 0, 96)), ScsiStatus::kGood);
  EXPECT_EQ(StatusOf(kB, testing::ReportLuns()), ScsiStatus::kGood);
  EXPECT_EQ(StatusOf(kB, testing::RequestSense()), ScsiStatus::kGood);
  EXPECT_EQ(StatusOf(kA, release6), ScsiStatus::kGood);
  EXPECT_EQ(StatusOf(kB, Bytes{0x56, 0, 0, 0, 0, 0, 0, 0, 0, 0}), ScsiStatus::kGood);
  EXPECT_EQ(StatusOf(kA, testing::Read10(0, 1)), ScsiStatus::kReservationConflict);
}

TEST_F(ReservationsTest, Reserve6BlocksPersistentReserveCommandsFromEveryone) {
  EXPECT_EQ(StatusOf(kA, Bytes{0x16, 0, 0, 0, 0, 0}), ScsiStatus::kGood);
  EXPECT_EQ(PrOut(kA, kRegister, 0, kKeyA).status, ScsiStatus::kReservationConflict);
  EXPECT_EQ(PrIn(kA, 0x00).status, ScsiStatus::kReservationConflict);
  EXPECT_EQ(PrIn(kB, 0x00).status, ScsiStatus::kReservationConflict);
}

TEST_F(ReservationsTest, NexusLossAndLunResetReleaseReserve6) {
  const Bytes reserve6 = {0x16, 0, 0, 0, 0, 0};
  ASSERT_EQ(StatusOf(kA, reserve6), ScsiStatus::kGood);
  harness_.lun().RemoveNexus(kA);
  EXPECT_EQ(StatusOf(kB, reserve6), ScsiStatus::kGood);
  harness_.lun().Reset();
  harness_.ClearUnitAttention(kC);
  EXPECT_EQ(StatusOf(kC, reserve6), ScsiStatus::kGood);
}

TEST_F(ReservationsTest, Reserve6UnderPersistentReservationsIsGoodOnlyForTheHolder) {
  MustPrOut(kA, kRegister, 0, kKeyA);
  EXPECT_EQ(StatusOf(kB, Bytes{0x16, 0, 0, 0, 0, 0}), ScsiStatus::kReservationConflict);
  MustPrOut(kA, kReserve, kKeyA, 0, kWe);
  EXPECT_EQ(StatusOf(kA, Bytes{0x16, 0, 0, 0, 0, 0}), ScsiStatus::kGood);
  EXPECT_EQ(StatusOf(kB, Bytes{0x17, 0, 0, 0, 0, 0}), ScsiStatus::kGood);
  EXPECT_EQ(PrIn(kA, 0x01).data_in.size(), 24u);  // untouched by RESERVE/RELEASE
}

TEST_F(ReservationsTest, PersistentReservationsSurviveLunResetAndNexusLoss) {
  MustPrOut(kA, kRegister, 0, kKeyA);
  MustPrOut(kA, kReserve, kKeyA, 0, kEa);
  harness_.lun().Reset();
  harness_.lun().RemoveNexus(kA);
  harness_.ClearUnitAttention(kA);
  harness_.ClearUnitAttention(kB);
  EXPECT_EQ(PrIn(kA, 0x01).data_in[21], kEa);
  EXPECT_EQ(StatusOf(kB, testing::Read10(0, 1)), ScsiStatus::kReservationConflict);
  EXPECT_EQ(StatusOf(kA, testing::Read10(0, 1)), ScsiStatus::kGood);
}

// --- persistence -------------------------------------------------------------------------

class PersistenceTest : public ::testing::Test {
 protected:
  PersistenceTest() : path_(testing::TempPath("prlun")), state_(absl::StrCat(path_, ".pr")) {
    auto file = backend::SparseFile::Open(path_, 1 << 20);
    EXPECT_TRUE(file.ok());
  }
  ~PersistenceTest() override {
    lun_.reset();
    ::unlink(path_.c_str());
    ::unlink(state_.c_str());
  }
  absl::Status Open() {
    lun_.reset();
    auto file = backend::SparseFile::Open(path_, 0);
    if (!file.ok()) return file.status();
    LogicalUnitConfig config;
    config.serial = "PR1";
    config.naa_wwn = testing::TestWwn();
    config.persistent_reservation_path = state_;
    auto lun =
        LogicalUnit::Create(config, std::shared_ptr<backend::SparseFile>(std::move(*file)), pool_);
    if (!lun.ok()) return lun.status();
    lun_ = std::move(*lun);
    return absl::OkStatus();
  }
  Outcome Run(uint64_t nexus_id, Bytes cdb, Bytes data = {}) {
    ScsiTask task;
    auto nexus = std::make_shared<ItNexus>();
    nexus->id = nexus_id;
    nexus->initiator_port_name = absl::StrCat("iqn.2026-01.test:init", nexus_id, ",i,0x1");
    task.nexus = nexus;
    EXPECT_TRUE(task.SetCdb(cdb));
    task.expected_transfer_length = data.empty() ? 4096 : static_cast<uint32_t>(data.size());
    task.data_out = std::move(data);
    absl::Notification done;
    lun_->Submit(task, [&](ScsiTask&) { done.Notify(); });
    done.WaitForNotification();
    lun_->Drain();
    return Outcome{task.status, task.sense, task.data_in.ToVector()};
  }
  Outcome Settled(uint64_t nexus_id, Bytes cdb, Bytes data = {}) {
    Outcome out = Run(nexus_id, cdb, data);
    for (int i = 0; i < 4 && out.status == ScsiStatus::kCheckCondition &&
                    testing::SenseKeyOf(out.sense) == 0x06;
         ++i) {
      out = Run(nexus_id, cdb, data);
    }
    return out;
  }
  bool StateFileExists() const { return ::access(state_.c_str(), F_OK) == 0; }

  std::string path_;
  std::string state_;
  std::shared_ptr<backend::WorkerPool> pool_ = std::make_shared<backend::WorkerPool>(2);
  std::unique_ptr<LogicalUnit> lun_;
};

TEST_F(PersistenceTest, AptplRegistrationsAndReservationSurviveRecreation) {
  ASSERT_TRUE(Open().ok());
  ASSERT_EQ(Settled(kA, PrOutCdb(kRegister), PrOutParameters(0, kKeyA, true)).status,
            ScsiStatus::kGood);
  ASSERT_EQ(Settled(kB, PrOutCdb(kRegister), PrOutParameters(0, kKeyB, true)).status,
            ScsiStatus::kGood);
  ASSERT_EQ(Settled(kA, PrOutCdb(kReserve, kWeRo), PrOutParameters(kKeyA, 0)).status,
            ScsiStatus::kGood);
  EXPECT_TRUE(StateFileExists());
  ASSERT_TRUE(Open().ok());
  EXPECT_THAT(Settled(kC, PrInCdb(0x00)).data_in,
              ElementsAre(0, 0, 0, 2, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0xaa, 0xaa, 0, 0, 0, 0, 0, 0,
                          0xbb, 0xbb));
  const Bytes r = Settled(kC, PrInCdb(0x01)).data_in;
  ASSERT_EQ(r.size(), 24u);
  EXPECT_EQ(LoadBe64(&r[8]), kKeyA);
  EXPECT_EQ(r[21], kWeRo);
  EXPECT_EQ(Settled(kC, PrInCdb(0x02)).data_in[3], 0x81);  // PTPL_A
  // The restored holder is the same I_T nexus: it may still write; an
  // unregistered one may not.
  EXPECT_EQ(Settled(kA, testing::Write10(0, 1), Bytes(512, 1)).status, ScsiStatus::kGood);
  EXPECT_EQ(Settled(kC, testing::Write10(0, 1), Bytes(512, 1)).status,
            ScsiStatus::kReservationConflict);
}

TEST_F(PersistenceTest, WithoutAptplNothingSurvives) {
  ASSERT_TRUE(Open().ok());
  ASSERT_EQ(Settled(kA, PrOutCdb(kRegister), PrOutParameters(0, kKeyA, false)).status,
            ScsiStatus::kGood);
  EXPECT_FALSE(StateFileExists());
  ASSERT_TRUE(Open().ok());
  EXPECT_THAT(Settled(kA, PrInCdb(0x00)).data_in, ElementsAre(0, 0, 0, 0, 0, 0, 0, 0));
}

TEST_F(PersistenceTest, ClearingAptplRemovesTheStateFile) {
  ASSERT_TRUE(Open().ok());
  ASSERT_EQ(Settled(kA, PrOutCdb(kRegister), PrOutParameters(0, kKeyA, true)).status,
            ScsiStatus::kGood);
  ASSERT_TRUE(StateFileExists());
  ASSERT_EQ(Settled(kA, PrOutCdb(kRegister), PrOutParameters(kKeyA, 0x55, false)).status,
            ScsiStatus::kGood);
  EXPECT_FALSE(StateFileExists());
  ASSERT_TRUE(Open().ok());
  EXPECT_THAT(Settled(kA, PrInCdb(0x00)).data_in, ElementsAre(0, 0, 0, 0, 0, 0, 0, 0));
}

TEST_F(PersistenceTest, CorruptStateFileFailsCreateWithDataLoss) {
  ASSERT_TRUE(Open().ok());
  ASSERT_EQ(Settled(kA, PrOutCdb(kRegister), PrOutParameters(0, kKeyA, true)).status,
            ScsiStatus::kGood);
  lun_.reset();
  {
    std::fstream f(state_, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(14);
    f.put('\x7f');
  }
  EXPECT_EQ(Open().code(), absl::StatusCode::kDataLoss);
}

TEST(ReservationsCodecTest, EncodedStateDecodesToTheSameState) {
  Reservations r;
  PreparedCommand reg;
  reg.kind = CommandKind::kPersistentReserveOut;
  reg.service_action = 0;
  PrNexus a{"iqn.a,i,0x1", "iqn.t,t,0x1", 1, 5};
  PrNexus b{"iqn.b,i,0x2", "iqn.t,t,0x1", 1, 5};
  ASSERT_FALSE(r.PersistentReserveOut(reg, PrOutParameters(0, 7, true), a, 1).conflict);
  ASSERT_FALSE(r.PersistentReserveOut(reg, PrOutParameters(0, 9, true), b, 2).conflict);
  PreparedCommand reserve = reg;
  reserve.service_action = 1;
  reserve.pr_type = kEa;
  ASSERT_FALSE(r.PersistentReserveOut(reserve, PrOutParameters(9, 0), b, 2).conflict);
  auto decoded = Reservations::DecodeFromPersistence(r.EncodeForPersistence());
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->generation(), r.generation());
  ASSERT_EQ(decoded->registrations().size(), 2u);
  EXPECT_EQ(decoded->registrations()[1].nexus, b);
  EXPECT_EQ(decoded->registrations()[1].key, 9u);
  EXPECT_EQ(decoded->reservation_type(), PrType::kExclusiveAccess);
  EXPECT_TRUE(decoded->aptpl());
  Bytes truncated = r.EncodeForPersistence();
  truncated.resize(truncated.size() - 1);
  EXPECT_FALSE(Reservations::DecodeFromPersistence(truncated).ok());
}

}  // namespace
}  // namespace iscsi_csi::target::scsi
