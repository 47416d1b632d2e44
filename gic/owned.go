package gic

import "fmt"

// Owned lists the interrupts Ferry keeps for itself. They are PPIs (INTIDs
// 16-31, in the redistributor), e.g. 26, the EL2 physical timer. Restore
// never changes them, Capture leaves them out of the guest's state, and
// the Guard stops the guest from regrouping, disabling, reprioritising or
// reconfiguring them.
type Owned struct {
	PPIs []uint32
}

// ownMasks are the bits of the redistributor registers that belong to
// Ferry.
type ownMasks struct {
	bits uint32    // one bit per INTID 0-31: IGROUPR0, I[SC]ENABLER0, ...
	prio [8]uint32 // per GICR_IPRIORITYR<n>: the byte lanes of owned INTIDs
	cfg  uint32    // GICR_ICFGR1: the Int_config[1] (edge) bits of owned PPIs; [0] is RES0
}

func (m ownMasks) any() bool { return m.bits != 0 }

// masks checks o and returns its register masks.
func (o Owned) masks() (ownMasks, error) {
	var m ownMasks
	for i, id := range o.PPIs {
		if id < FirstPPI || id >= NumPrivate {
			return m, fmt.Errorf("gic: Owned.PPIs[%d] = %d: not a PPI (16..31)", i, id)
		}
		if m.bits&(1<<id) != 0 {
			return m, fmt.Errorf("gic: Owned.PPIs[%d] = %d: listed twice", i, id)
		}
		m.bits |= 1 << id
		m.prio[id/4] |= 0xff << (8 * (id % 4))
		m.cfg |= 2 << (2 * (id - FirstPPI))
	}
	return m, nil
}

// keep merges a guest value v with the current hardware value cur: the
// owned bits come from cur, the rest from v.
func keep(v, cur, owned uint32) uint32 { return v&^owned | cur&owned }
