//go:build tamago && arm64

package cpu

import "math/bits"

// CNTHP_CTL_EL2 fields (ARM ARM D24.8 CNTHP_CTL_EL2).
const (
	cnthpEnable = 1 << 0 // timer enabled
	cnthpIMask  = 1 << 1 // interrupt masked
)

// ArmHypTimer makes the EL2 physical timer (CNTHP) fire when the physical
// count reaches at. Its interrupt is Ferry's tick.
func ArmHypTimer(at uint64) {
	WriteCNTHP_CVAL_EL2(at)
	WriteCNTHP_CTL_EL2(cnthpEnable)
}

// DisarmHypTimer stops the EL2 physical timer.
func DisarmHypTimer() { WriteCNTHP_CTL_EL2(cnthpIMask) }

// spuriousINTID is the first INTID ICC_IAR0_EL1 returns when nothing of
// Group 0 is pending (GICv3 2.2.1, "Special INTIDs").
const spuriousINTID = 1020

// AckGroup0 acknowledges the highest-priority pending Group 0 interrupt
// (an FIQ taken at EL2, since HCR_EL2.FMO is set) and ends it (EOImode 0:
// priority drop and deactivation). It returns the INTID, or a value of at
// least 1020 when there was none.
func AckGroup0() uint32 {
	id := uint32(ReadICC_IAR0_EL1() & 0xffffff)
	if id < spuriousINTID {
		WriteICC_EOIR0_EL1(uint64(id))
	}
	return id
}

// Ticks converts a duration in nanoseconds to counter ticks.
func Ticks(ns int64) uint64 { return uint64(ns) * ReadCNTFRQ_EL0() / 1e9 }

// Nanotime is the time since the counter started, in nanoseconds: the Go
// runtime's clock on the board.
//
//go:nosplit
func Nanotime() int64 {
	hi, lo := bits.Mul64(ReadCNTPCT_EL0(), 1e9)
	ns, _ := bits.Div64(hi, lo, ReadCNTFRQ_EL0())
	return int64(ns)
}
