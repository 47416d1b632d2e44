// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package hyp

import (
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/ferry-hv/ferry/boot/guest"
	"github.com/ferry-hv/ferry/cpu"
	"github.com/ferry-hv/ferry/phys"
)

// The guest's own power calls. Forwarded to the firmware, a guest's
// SYSTEM_RESET or SYSTEM_OFF would restart or stop the whole board --
// Ferry, its management API and the migration ledger with it (a guest
// that rebooted right after its resume on a destination, its Resumed
// lost, could then be rolled back or run twice). So Ferry serves them:
// a reset restarts the guest on this board (restart.go, from the boot
// stash), a power-off stops it; the board and its API stay up, and the
// status says what the guest did.

// PSCI 1.1's SYSTEM_RESET2 (Arm DEN 0022, 5.1.19), in its SMC32 and SMC64
// forms, and its reset types: bit 31 set is a vendor's type, clear an
// architectural one, of which only 0, SYSTEM_WARM_RESET, is defined.
const (
	PSCISystemReset2_32 = 0x84000012
	PSCISystemReset2_64 = 0xc4000012

	resetTypeVendor = 1 << 31
	resetWarm       = 0

	psci11 = 0x10001 // the PSCI version that has SYSTEM_RESET2
)

// Power is what a guest's power call asks of Ferry.
type Power uint8

const (
	PowerOff   Power = iota + 1 // stop the guest for good
	PowerReset                  // start it again from its kernel
)

// PowerRequest is a guest's system power call that Ferry carries out: the
// vCPU returns it from Dispatch (the guest never returns from the call),
// and the run loop restarts the guest or stops it (Machine.power).
type PowerRequest struct {
	Power Power
	Call  string // the call, for the log and the status: "SYSTEM_RESET", "SYSTEM_RESET2 (warm)"
}

func (p *PowerRequest) Error() string {
	if p.Power == PowerReset {
		return "the guest asked for " + p.Call + ": to be restarted"
	}
	return "the guest asked for " + p.Call + ": to be powered off"
}

// ErrPoweredOff is what Run returns once the guest powered itself off.
var ErrPoweredOff = errors.New("the guest powered itself off")

// guestPower decides what the guest's SMC fid with arguments args becomes
// when it is a system power call (ok; false for any other call): a
// request the run loop carries out, or -- a SYSTEM_RESET2 of a type Ferry
// does not serve (a vendor's, a reserved one) -- the answer, and the
// guest goes on.
func guestPower(fid uint32, args [7]uint64) (req *PowerRequest, ret uint64, ok bool) {
	switch fid {
	case PSCISystemOff:
		return &PowerRequest{PowerOff, "SYSTEM_OFF"}, 0, true
	case PSCISystemReset:
		return &PowerRequest{PowerReset, "SYSTEM_RESET"}, 0, true
	case PSCISystemReset2_32, PSCISystemReset2_64:
		// reset_type is 32 bits in both forms.
		if t := uint32(args[0]); t != resetWarm {
			return nil, PSCIInvalidParams, true
		}
		return &PowerRequest{PowerReset, "SYSTEM_RESET2 (warm)"}, 0, true
	}
	return nil, 0, false
}

// power takes the guest's system power calls (guestPower) and reports
// false for any other SMC. A call Ferry carries out comes back as a
// *PowerRequest for the run loop; a SYSTEM_RESET2 it refuses is answered,
// the guest's PC past the SMC.
func (v *VCPU) power(fid uint32, args [7]uint64) (bool, error) {
	req, ret, ok := guestPower(fid, args)
	switch {
	case !ok:
		return false, nil
	case req != nil:
		return true, req
	}
	v.Ctx.X[0] = ret
	v.Ctx.Advance(cpu.ESR(v.Ctx.ESR))
	return true, nil
}

// powerFeature answers PSCI_FEATURES for the power calls Ferry serves
// (ok false for another call): SYSTEM_OFF and SYSTEM_RESET always, and
// SYSTEM_RESET2 where the PSCI version the guest sees (the firmware's)
// has it.
func powerFeature(fi FirmwareInfo, q uint32) (uint64, bool) {
	switch q {
	case PSCISystemOff, PSCISystemReset:
		return PSCISuccess, true
	case PSCISystemReset2_32, PSCISystemReset2_64:
		if fi.PSCI >= psci11 {
			return PSCISuccess, true
		}
		return NotSupported, true
	}
	return 0, false
}

// PowerLog is what the guest did with its power on this board.
type PowerLog struct {
	Resets uint64    // times it restarted itself here
	Last   string    // its last power call ("" for none)
	At     time.Time // when
}

// String says it for a log or a status line: "reset 2 times (last:
// SYSTEM_RESET)".
func (p PowerLog) String() string {
	if p.Last == "" {
		return ""
	}
	if p.Resets == 0 {
		return "last: " + p.Last
	}
	times := "times"
	if p.Resets == 1 {
		times = "time"
	}
	return fmt.Sprintf("reset %d %s (last: %s)", p.Resets, times, p.Last)
}

// Restarted records that the guest restarted itself with call at.
func (c *Control) Restarted(call string, at time.Time) {
	c.mu.Lock()
	c.power.Resets++
	c.power.Last, c.power.At = call, at
	c.mu.Unlock()
}

// PoweredOff records that the guest powered itself off with call at: it
// is "off" from now on (no migration takes it: Pause refuses).
func (c *Control) PoweredOff(call string, at time.Time) {
	c.mu.Lock()
	c.state = GuestOff
	c.power.Last, c.power.At = call, at
	c.mu.Unlock()
}

// Power is what the guest did with its power on this board.
func (c *Control) Power() PowerLog {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.power
}

// carryOut carries out the guest's system power call p, resetCPU putting
// the CPU in its power-on state and pointing it at a boot's kernel (the
// board's: Machine.power). A reset restarts the guest here (restart.go)
// and returns nil: the run loop enters it at its kernel. A power-off, or
// a reset that cannot restart it, stops it for good -- dirty tracking
// ended if a migration was tracking (its next step fails and the guest is
// not resumed), its devices reset -- and returns what Run returns.
func (m *Machine) carryOut(p *PowerRequest, resetCPU func(*guest.Layout) error) error {
	// The other vCPUs stop first: they would go on running the old
	// guest's code in the new one's memory.
	if err := m.stopSecondaries(); err != nil {
		m.halt()
		m.Ctl.Stop(err)
		return err
	}
	if p.Power == PowerReset {
		start := m.hw.Now()
		l, err := m.restarter(resetCPU).run()
		if err == nil {
			m.Ctl.Restarted(p.Call, time.Now())
			m.logf("guest asked for %s: restarted in %v at its kernel %#x (DTB %#x, initramfs %v), its NICs' devices reset, GIC, timers and CPU as at power-on; this board, its API and its migration ledger stay up",
				p.Call, time.Duration(m.hw.Now()-start).Round(time.Microsecond), l.Kernel, l.DTB, l.Initrd)
			return nil
		}
		err = fmt.Errorf("guest asked for %s and cannot be started again: %w", p.Call, err)
		m.halt()
		m.Ctl.Stop(err)
		return err
	}
	m.halt()
	m.Ctl.PoweredOff(p.Call, time.Now())
	m.logf("guest asked for %s: it is powered off, its NICs' devices reset; this board, its API and its migration ledger stay up", p.Call)
	return fmt.Errorf("%w (%s)", ErrPoweredOff, p.Call)
}

// halt leaves a guest that will not run again: dirty tracking ended, its
// NICs' devices reset, its timers off, the GIC's guest part blank.
func (m *Machine) halt() {
	if m.trk.on {
		m.untrack()
	}
	m.discard.discard()
}

// restarter is the guest's restart (restart.go) on this machine.
func (m *Machine) restarter(resetCPU func(*guest.Layout) error) *restart {
	return &restart{
		ram:          guestRAM{m},
		guestRAM:     m.Desc.RAM,
		patch:        m.Desc.Patch,
		firmwareDTB:  m.FirmwareDTB,
		seed:         func() []byte { b := make([]byte, 32); rand.Read(b); return b },
		resetDevices: m.discard.discard,
		wrote: func(w phys.Range) {
			m.hw.CleanDcache(w.Base, w.Size)
			m.dmaWrote(w.Base, w.Size) // stage 2 sees no write of Ferry's
		},
		sync: func() {
			m.hw.InvalidateIcache()
			m.hw.FlushStage2()
		},
		resetCPU: resetCPU,
	}
}

// KeepBoot keeps the guest's boot in its stash (package guest) before it
// first runs, and says how long that took.
func (m *Machine) KeepBoot(s *guest.Stash) (time.Duration, error) {
	start := m.hw.Now()
	if err := s.Keep(guestRAM{m}); err != nil {
		return 0, err
	}
	return time.Duration(m.hw.Now() - start), nil
}

func (m *Machine) logf(format string, args ...any) {
	if m.VCPU.Log != nil {
		m.VCPU.Log(fmt.Sprintf(format, args...))
	}
}
