// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package hyp

import (
	"bytes"
	"testing"

	"github.com/ferry-hv/ferry/gic"
	"github.com/ferry-hv/ferry/mmio"
	"github.com/ferry-hv/ferry/mmio/virtiommio"
)

// An incoming guest restored and then discarded (its migration aborted
// before it was resumed): its NIC's device is reset and the model forgets
// the driver's set-up, its timers and Group 1 are turned off, the GIC's
// guest part is as before any guest (the NIC's SPI neither enabled nor
// pending, the distributor's Group 1 off), and the board takes the next
// guest as it would have taken the first.
func TestDiscardRestored(t *testing.T) {
	src, srcDev := sample(t), mmio.NewFake(virtiommio.Size)
	src.gic = gic.NewFake(64)
	a := guestNICMachine(t, src, srcDev)
	dev, off, ok := a.bus.Lookup(0xa003c00)
	if !ok {
		t.Fatal("the guest NIC is not on the bus")
	}
	driveGuestNIC(dev, off)
	const nicSPI = 78    // QEMU's virt gives the transport at 0xa003c00 SPI 46
	sd := src.gic.Dist() // the guest's driver enabled Group 1 (through the guard: the bit is Ferry's too) and the NIC's SPI
	a.guard.DistPage().Write(gic.GICD_CTLR, 4, a.guard.DistPage().Read(gic.GICD_CTLR, 4)|gic.CTLR_EnableGrp1)
	sd.Write32(gic.GICD_ISENABLERn+4*(nicSPI/32), 1<<(nicSPI%32))
	states := captureAll(t, a.reg)

	dst, dstDev := newFakeMachine(t), mmio.NewFake(virtiommio.Size)
	dst.gic = gic.NewFake(64)
	quiesced := 0
	b := guestNICMachineWith(t, dst, dstDev, func(hw *stateHW) { hw.quiesce = func() { quiesced++ } })
	blank, err := b.guard.Capture()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.reg.Restore(states, nil); err != nil {
		t.Fatal(err)
	}
	d := dst.gic.Dist()
	bit := func(reg uint64) bool { return d.Read32(reg+4*(nicSPI/32))&(1<<(nicSPI%32)) != 0 }
	guestCTLR := func() uint64 { return b.guard.DistPage().Read(gic.GICD_CTLR, 4) } // as the guest sees it: Group 1 is Ferry's too
	if dstDev.Read(virtiommio.RegStatus, 4)&virtiommio.StatusDriverOK == 0 || !bit(gic.GICD_ISPENDRn) || !bit(gic.GICD_ISENABLERn) ||
		guestCTLR()&gic.CTLR_EnableGrp1 == 0 {
		t.Fatalf("the restored machine is not live: device status %#x, NIC SPI pending %v enabled %v, the guest's GICD_CTLR %#x",
			dstDev.Read(virtiommio.RegStatus, 4), bit(gic.GICD_ISPENDRn), bit(gic.GICD_ISENABLERn), guestCTLR())
	}

	b.discard.discard()
	if got := dstDev.Read(virtiommio.RegStatus, 4); got != 0 {
		t.Errorf("the device's status is %#x after the discard, want 0 (reset)", got)
	}
	ndev, noff, _ := b.bus.Lookup(0xa003c00)
	if st := ndev.Read(noff+virtiommio.RegStatus, 4); st != 0 {
		t.Errorf("the model still shows the driver's set-up: status %#x", st)
	}
	if quiesced != 1 {
		t.Errorf("timers quiesced %d times, want 1", quiesced)
	}
	if bit(gic.GICD_ISPENDRn) || bit(gic.GICD_ISENABLERn) || guestCTLR()&gic.CTLR_EnableGrp1 != 0 {
		t.Errorf("the GIC is not quiet: NIC SPI pending %v enabled %v, the guest's GICD_CTLR %#x",
			bit(gic.GICD_ISPENDRn), bit(gic.GICD_ISENABLERn), guestCTLR())
	}
	after, err := b.guard.Capture()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(after.Encode(), blank.Encode()) {
		t.Error("the GIC's guest part is not as it was before the guest")
	}
	// Tick still Ferry's.
	if dst.gic.Redist().Read32(gic.GICR_ISENABLER0)&(1<<qemuTick) == 0 {
		t.Error("the discard turned Ferry's tick off")
	}

	// The board takes the next guest as it took this one.
	if err := b.reg.Restore(states, nil); err != nil {
		t.Fatal(err)
	}
	if dstDev.Read(virtiommio.RegStatus, 4)&virtiommio.StatusDriverOK == 0 || !bit(gic.GICD_ISENABLERn) {
		t.Error("the next guest's NIC is not set up")
	}
}
