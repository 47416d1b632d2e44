// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package enet

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/ferry-hv/ferry/net/link"
)

// Frame and buffer sizes.
const (
	EthernetHeaderSize = 14
	crcSize            = 4
	minFrame           = 60 // shortest frame without CRC: shorter ones are padded

	// MTU is the largest IP packet the driver carries, and MinMTU the
	// smallest it accepts (IPv4's minimum reassembly size). No jumbo
	// frames: every frame fits one buffer.
	MTU    = 1500
	MinMTU = 576

	// bufSize is each buffer: the longest frame the MAC accepts (a
	// VLAN-tagged 1500-byte packet and its CRC, maxFL) rounded up to 64.
	// FTRL truncates anything longer to it, so a frame never spans
	// buffers.
	maxFL   = EthernetHeaderSize + 4 + MTU + crcSize // 1522
	bufSize = 1536

	// Ring sizes: DefaultRing buffers each way unless Options say
	// otherwise, at most MaxRing.
	DefaultRing = 128
	MinRing     = 4
	MaxRing     = 512

	// DefaultIPGClock is the highest IPG clock the MDIO divider is set
	// for (the ENET_AXI root's rate on the EVK): with a slower clock MDC
	// runs slower, never faster than IEEE 802.3's 2.5 MHz.
	DefaultIPGClock = 266_666_666
	mdcMax          = 2_500_000

	// DefaultLinkWait is how long Open waits for the PHY to report a
	// link before it starts the MAC anyway (Check takes the link when it
	// comes).
	DefaultLinkWait = 5 * time.Second
	// checkInterval is how often an idle device looks at the link, the
	// bus-error bit and a stalled transmit ring.
	checkInterval = time.Second
)

// Options configure Open.
type Options struct {
	// MTU is the largest IP packet, MinMTU to MTU (0: MTU).
	MTU int
	// MAC is the address to use. Empty: the one in PALR/PAUR, if the boot
	// loader left a unicast address there, else a random locally
	// administered one.
	MAC net.HardwareAddr
	// PHY is the PHY's MDIO address (0 to 31); -1 scans for the first
	// that answers.
	PHY int
	// PHYMode is the DTB's phy-mode ("rgmii", "rgmii-id", "rgmii-rxid",
	// "rgmii-txid", "rmii" or "mii"; "" is "rgmii").
	PHYMode string
	// RxRing and TxRing are the buffers each way (0: DefaultRing).
	RxRing, TxRing int
	// IPGClock is the ENET's IPG clock in Hz, or an upper bound of it (0:
	// DefaultIPGClock).
	IPGClock uint64
	// LinkWait bounds Open's wait for the link (0: DefaultLinkWait;
	// negative: no wait).
	LinkWait time.Duration
	// Now and Sleep are the clock (nil: package time's).
	Now   func() time.Time
	Sleep func(time.Duration)
}

// Errors counts what the MAC reported and what the driver dropped, by
// kind.
type Errors struct {
	RxCRC, RxLength, RxOverrun, RxTruncated, RxAlign uint64
	// RxSplit counts buffers of frames that spanned buffers (the MAC is
	// set up so that none does) and RxOversize frames whose length is
	// past their buffer: both a broken descriptor, dropped.
	RxSplit, RxOversize uint64
	// TxStalls counts restarts after the MAC held transmit buffers for a
	// whole check interval with the link up; RxDesyncs restarts after the
	// MAC filled receive buffers elsewhere than where the driver waits
	// (a descriptor given back out of its turn).
	TxStalls, RxDesyncs uint64
	// LinkChanges counts the link going up or down after Open.
	LinkChanges uint64
}

// Link is the PHY's view of the wire.
type Link struct {
	Up         bool
	Speed      int // Mbit/s: 10, 100 or 1000
	FullDuplex bool
}

func (l Link) String() string {
	if !l.Up {
		return "link down"
	}
	d := "half"
	if l.FullDuplex {
		d = "full"
	}
	return fmt.Sprintf("link up, %d Mbit/s %s duplex", l.Speed, d)
}

// Device is a running ENET: legacy descriptors, ring 0 only, one buffer
// per frame. It is not safe for concurrent use (link.Endpoint serialises
// it), except Interrupt (see there).
type Device struct {
	r    Regs
	dma  DMA
	base uint64
	opt  Options
	mac  net.HardwareAddr
	mtu  int

	rx, tx      *ring
	rxNext      int  // next receive descriptor the MAC fills
	rxDiscard   bool // inside a frame that spans buffers: drop up to its last
	txNext      int  // next transmit descriptor to post
	txClean     int  // oldest posted, not yet reclaimed
	txUsed      int  // posted, not yet reclaimed
	txKick      bool // posted since the last Flush
	txPosted    uint64
	txReclaimed uint64 // or dropped at a restart

	phy     int
	phyID   uint32
	link    Link // the wire, as last read
	running Link // the speed and duplex the MAC is set up for

	checked                   time.Time
	lastReclaimed, lastPosted uint64 // at the last Check

	stats link.Stats
	errs  Errors
	err   error
}

var _ link.Device = (*Device)(nil)

// Open takes the ENET behind r (base is its bus address, for messages),
// stops it, sets it up with rings from dma and the PHY's link, and starts
// it. It does not reset the PHY or touch clocks and pins: the boot loader
// left them set up (docs/boards.md).
func Open(r Regs, base uint64, dma DMA, opt Options) (*Device, error) {
	d := &Device{r: r, dma: dma, base: base}
	if err := d.options(opt); err != nil {
		return nil, err
	}
	// Stop the MAC first: a boot loader that did not halt it leaves it
	// writing to buffers Ferry does not own.
	r.Write32(RegECR, 0)
	r.Write32(RegEIMR, 0)
	r.Write32(RegEIR, ^uint32(0))
	d.mac = d.pickMAC()
	r.Write32(RegMSCR, d.mscr())
	var err error
	if d.rx, err = newRing(dma, "receive", d.opt.RxRing, bufSize); err != nil {
		return nil, d.errorf("%v", err)
	}
	if d.tx, err = newRing(dma, "transmit", d.opt.TxRing, bufSize); err != nil {
		return nil, d.errorf("%v", err)
	}
	if err := d.findPHY(); err != nil {
		return nil, err
	}
	d.link, err = d.waitLink()
	if err != nil {
		return nil, err
	}
	d.start(d.link)
	d.checked = d.opt.Now()
	return d, nil
}

func (d *Device) options(o Options) error {
	if o.MTU == 0 {
		o.MTU = MTU
	}
	if o.MTU < MinMTU || o.MTU > MTU {
		return d.errorf("MTU %d out of range [%d, %d] (no jumbo frames)", o.MTU, MinMTU, MTU)
	}
	if len(o.MAC) != 0 && (len(o.MAC) != 6 || o.MAC[0]&1 != 0) {
		return d.errorf("MAC %v is not a unicast Ethernet address", o.MAC)
	}
	if o.PHY < -1 || o.PHY > 31 {
		return d.errorf("PHY address %d out of range [0, 31] (-1: scan)", o.PHY)
	}
	switch o.PHYMode {
	case "":
		o.PHYMode = "rgmii"
	case "rgmii", "rgmii-id", "rgmii-rxid", "rgmii-txid", "rmii", "mii":
	default:
		return d.errorf("phy-mode %q: want rgmii, rgmii-id, rgmii-rxid, rgmii-txid, rmii or mii", o.PHYMode)
	}
	for _, n := range []*int{&o.RxRing, &o.TxRing} {
		if *n == 0 {
			*n = DefaultRing
		}
		if *n < MinRing || *n > MaxRing {
			return d.errorf("ring of %d buffers out of range [%d, %d]", *n, MinRing, MaxRing)
		}
	}
	if o.IPGClock == 0 {
		o.IPGClock = DefaultIPGClock
	}
	if o.LinkWait == 0 {
		o.LinkWait = DefaultLinkWait
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = time.Sleep
	}
	d.opt, d.mtu = o, o.MTU
	return nil
}

func (d *Device) errorf(format string, args ...any) error {
	return fmt.Errorf("enet %#x: "+format, append([]any{d.base}, args...)...)
}

// pickMAC is Options.MAC, else what the boot loader left in PALR/PAUR
// (Linux's fec takes it from there too), else a random locally
// administered unicast address.
func (d *Device) pickMAC() net.HardwareAddr {
	if len(d.opt.MAC) != 0 {
		return append(net.HardwareAddr(nil), d.opt.MAC...)
	}
	lo, hi := d.r.Read32(RegPALR), d.r.Read32(RegPAUR)
	mac := net.HardwareAddr{byte(lo >> 24), byte(lo >> 16), byte(lo >> 8), byte(lo), byte(hi >> 24), byte(hi >> 16)}
	if mac[0]&1 == 0 && (lo != 0 || hi>>16 != 0) && (lo != ^uint32(0) || hi>>16 != 0xffff) {
		return mac
	}
	rand.Read(mac)
	mac[0] = mac[0]&^1 | 2
	return mac
}

// mscr is the MII speed: MDC at most 2.5 MHz from the IPG clock (Linux:
// DIV_ROUND_UP(ipg, 5 MHz) - 1), and a hold time of at least 10 ns.
func (d *Device) mscr() uint32 {
	speed := min((d.opt.IPGClock+2*mdcMax-1)/(2*mdcMax)-1, MSCRSpeedMax)
	hold := min((d.opt.IPGClock+99_999_999)/100_000_000-1, 7)
	return uint32(speed)<<MSCRSpeedPos | uint32(hold)<<MSCRHoldTimePos
}

// start sets the MAC up for l (or for 1000 Mbit/s full duplex while the
// link is down) on fresh rings and enables it. The MAC must be stopped
// (ECR = 0): transmit buffers still posted are dropped and counted.
func (d *Device) start(l Link) {
	r := d.r
	if !l.Up {
		l = Link{Speed: 1000, FullDuplex: true}
	}
	d.stats.TxDrops += uint64(d.txUsed)
	d.txReclaimed = d.txPosted
	for i := range d.rx.n {
		d.rx.store(i, 0, rxEmpty)
	}
	for i := range d.tx.n {
		d.tx.store(i, 0, 0)
	}
	d.rxNext, d.rxDiscard, d.txNext, d.txClean, d.txUsed, d.txKick = 0, false, 0, 0, 0, false

	r.Write32(RegPALR, uint32(d.mac[0])<<24|uint32(d.mac[1])<<16|uint32(d.mac[2])<<8|uint32(d.mac[3]))
	r.Write32(RegPAUR, uint32(d.mac[4])<<24|uint32(d.mac[5])<<16)
	for _, reg := range []uint32{RegIAUR, RegIALR, RegGAUR, RegGALR, RegTXIC, RegRXIC, RegRACC, RegMIBC} {
		r.Write32(reg, 0)
	}
	r.Write32(RegEIR, ^uint32(0)&^EventMII)
	r.Write32(RegMSCR, d.mscr())
	r.Write32(RegRDSR, uint32(d.rx.pa))
	r.Write32(RegTDSR, uint32(d.tx.pa))
	r.Write32(RegMRBR, bufSize)
	r.Write32(RegFTRL, bufSize)
	r.Write32(RegTFWR, TFWRStrFwd)

	rcr := uint32(maxFL)<<RCRMaxFLPos | RCRMIIMode
	switch d.opt.PHYMode {
	case "rmii":
		rcr |= RCRRMII
	case "mii":
	default:
		rcr |= RCRRGMII
	}
	ecr := uint32(ECREtherEn | ECRDBSWP)
	switch l.Speed {
	case 1000:
		ecr |= ECRSpeed
	case 10:
		rcr |= RCRRMII10T
	}
	tcr := uint32(0)
	if l.FullDuplex {
		tcr |= TCRFDEN
	} else {
		rcr |= RCRDRT
	}
	r.Write32(RegRCR, rcr)
	r.Write32(RegTCR, tcr)
	d.dma.Fence()
	r.Write32(RegECR, ecr)
	r.Write32(RegRDAR, DescriptorActive)
	d.stats.RxNotifies++
	d.running = l
}

// stop disables the MAC (Linux on the AVB ENETs: ECR = 0, not a reset),
// which forgets its place in the rings.
func (d *Device) stop() {
	d.r.Write32(RegECR, 0)
	d.r.Write32(RegEIMR, 0)
}

// fail stops the device for good with err.
func (d *Device) fail(err error) {
	if d.err == nil {
		d.err = d.errorf("%w", err)
		d.stop()
	}
}

// MAC implements link.Device.
func (d *Device) MAC() net.HardwareAddr { return d.mac }

// MTU is the largest IP packet it carries.
func (d *Device) MTU() int { return d.mtu }

// MaxFrame implements link.Device: the largest frame, header included,
// CRC excluded.
func (d *Device) MaxFrame() int { return d.mtu + EthernetHeaderSize }

// Link is the wire as last read from the PHY.
func (d *Device) Link() Link { return d.link }

// Errors are the error counters.
func (d *Device) Errors() Errors { return d.errs }

// Stats implements link.Device.
func (d *Device) Stats() link.Stats { return d.stats }

// Err implements link.Device.
func (d *Device) Err() error { return d.err }

// RingSizes are the receive and transmit ring sizes.
func (d *Device) RingSizes() (rx, tx int) { return d.rx.n, d.tx.n }

// String describes the device for logs.
func (d *Device) String() string {
	return fmt.Sprintf("ENET at %#x, MAC %v, MTU %d, %s, PHY %d (ID %#08x), %s, rings rx %d tx %d",
		d.base, d.mac, d.mtu, d.opt.PHYMode, d.phy, d.phyID, d.link, d.rx.n, d.tx.n)
}

// Transmit implements link.Device: the frame is copied into the next
// transmit buffer, padded to the Ethernet minimum, and handed to the MAC,
// which appends the CRC; Flush tells the MAC.
func (d *Device) Transmit(pieces ...[]byte) error {
	if d.err != nil {
		return d.err
	}
	n := 0
	for _, p := range pieces {
		n += len(p)
	}
	if n > d.MaxFrame() {
		d.stats.TxDrops++
		return d.errorf("frame of %d bytes exceeds the %d-byte maximum (MTU %d)", n, d.MaxFrame(), d.mtu)
	}
	if d.txUsed == d.tx.n {
		return link.ErrQueueFull
	}
	i := d.txNext
	b := d.tx.bufs[i]
	off := 0
	for _, p := range pieces {
		off += copy(b[off:], p)
	}
	if off < minFrame {
		clear(b[off:minFrame])
		off = minFrame
	}
	d.dma.Fence() // the frame before the descriptor
	d.tx.store(i, uint16(off), txReady|txLast|txTC)
	d.txNext = d.tx.next(i)
	d.txUsed++
	d.txPosted++
	d.txKick = true
	d.stats.TxFrames++
	d.stats.TxBytes += uint64(n)
	return nil
}

// Flush implements link.Device: TDAR tells the MAC there are descriptors
// ready.
func (d *Device) Flush() {
	if !d.txKick || d.err != nil {
		return
	}
	d.txKick = false
	d.r.Write32(RegTDAR, DescriptorActive)
	d.stats.TxNotifies++
}

// Reclaim implements link.Device: the oldest posted descriptors the MAC
// has given back, in order. A descriptor it gives back out of order waits
// for those before it; one never posted is never looked at.
func (d *Device) Reclaim() int {
	n := 0
	for d.txUsed > 0 && d.err == nil {
		if _, st := d.tx.load(d.txClean); st&txReady != 0 {
			break
		}
		d.txClean = d.tx.next(d.txClean)
		d.txUsed--
		n++
	}
	d.txReclaimed += uint64(n)
	// ERR006358 (i.MX6 and later ENETs; Linux's fec_enet_tx_queue): the
	// MAC may clear TDAR with descriptors still ready. Keep it going.
	if d.txUsed > 0 && d.err == nil && d.r.Read32(RegTDAR)&DescriptorActive == 0 {
		d.r.Write32(RegTDAR, DescriptorActive)
		d.stats.TxNotifies++
	}
	return n
}

// Receive implements link.Device. Every buffer the MAC filled is given
// back to it, delivered or not: a frame with an error bit, shorter than
// an Ethernet header, longer than its buffer, or spread over several
// buffers (which the MAC is set up never to do) is dropped and counted.
func (d *Device) Receive(max int, deliver func(frame []byte)) int {
	n := 0
	for n < max && d.err == nil {
		i := d.rxNext
		length, st := d.rx.load(i)
		if st&rxEmpty != 0 {
			break
		}
		d.dma.Fence() // the descriptor before its buffer
		n++
		if f, ok := d.frame(i, int(length), st); ok {
			d.stats.RxFrames++
			d.stats.RxBytes += uint64(len(f))
			deliver(f)
		} else {
			d.stats.RxDrops++
		}
		d.rx.store(i, 0, rxEmpty)
		d.rxNext = d.rx.next(i)
	}
	if n > 0 && d.err == nil {
		d.r.Write32(RegRDAR, DescriptorActive)
		d.stats.RxNotifies++
	}
	return n
}

// frame is buffer i's frame, CRC stripped, if it is one to deliver.
func (d *Device) frame(i, length int, st uint16) ([]byte, bool) {
	switch {
	case st&rxLast == 0:
		d.rxDiscard = true
		d.errs.RxSplit++
		return nil, false
	case d.rxDiscard:
		d.rxDiscard = false
		d.errs.RxSplit++
		return nil, false
	case st&rxErrors != 0:
		switch {
		case st&rxOV != 0:
			d.errs.RxOverrun++
		case st&rxCR != 0:
			d.errs.RxCRC++
		case st&rxNO != 0:
			d.errs.RxAlign++
		case st&rxTR != 0:
			d.errs.RxTruncated++
		default:
			d.errs.RxLength++
		}
		return nil, false
	case length > bufSize:
		d.errs.RxOversize++
		return nil, false
	case length < EthernetHeaderSize+crcSize:
		d.errs.RxLength++
		return nil, false
	}
	return d.rx.bufs[i][:length-crcSize], true
}

// Interrupt implements link.Device: it acknowledges the ring-0 frame
// events (never EIR.MII, which an MDIO access in progress waits for) and
// masks every interrupt until Arm. It returns the events, 0 if none was
// pending.
func (d *Device) Interrupt() uint32 {
	st := d.r.Read32(RegEIR) & (EventRXF | EventTXF)
	if st != 0 {
		d.r.Write32(RegEIR, st)
	}
	d.r.Write32(RegEIMR, 0)
	return st
}

// Arm implements link.Device: it forgets the frame events already polled,
// unmasks RXF (and TXF with txWait), reads EIMR back so that the writes
// have reached the MAC, and only then looks at the rings: a frame that
// lands after the look raises the interrupt, one before it is reported.
func (d *Device) Arm(txWait bool) bool {
	if d.err != nil {
		return false
	}
	mask := uint32(EventRXF)
	if txWait {
		mask |= EventTXF
	}
	d.r.Write32(RegEIR, mask)
	d.r.Write32(RegEIMR, mask)
	d.r.Read32(RegEIMR)
	if _, st := d.rx.load(d.rxNext); st&rxEmpty == 0 {
		return true
	}
	if txWait && d.txUsed > 0 {
		if _, st := d.tx.load(d.txClean); st&txReady == 0 {
			return true
		}
	}
	return false
}

// Idle implements link.Device: Check, at most once per checkInterval.
func (d *Device) Idle() {
	if now := d.opt.Now(); now.Sub(d.checked) >= checkInterval {
		d.checked = now
		d.Check()
	}
}

// ErrBusError is the error that stops a device whose DMA met a bus error.
var ErrBusError = errors.New("bus error (EIR.EBERR): the MAC's DMA stopped")

// Check looks at the device's health: a bus error stops it for good; a
// link change sets the MAC up for the new speed and duplex; a transmit
// ring the MAC has held since the last check with the link up, or a
// receive ring filled out of turn (the driver's next descriptor empty,
// another one full), restarts it on fresh rings. It costs a register read and up to seven MDIO frames (a few hundred
// microseconds).
func (d *Device) Check() error {
	if d.err != nil {
		return d.err
	}
	if d.r.Read32(RegEIR)&EventEBERR != 0 {
		d.fail(ErrBusError)
		return d.err
	}
	l, err := d.readLink()
	if err != nil {
		return nil // MDIO trouble: the MAC carries on as it was
	}
	if l.Up != d.link.Up {
		d.errs.LinkChanges++
	}
	d.link = l
	// Stalled: nothing came back since the last check, and a frame
	// posted before it is still out.
	stalled := d.txReclaimed == d.lastReclaimed && d.txReclaimed < d.lastPosted
	d.lastReclaimed, d.lastPosted = d.txReclaimed, d.txPosted
	switch {
	case l.Up && (l.Speed != d.running.Speed || l.FullDuplex != d.running.FullDuplex):
		d.stop()
		d.start(l)
	case l.Up && stalled:
		d.errs.TxStalls++
		d.stop()
		d.start(l)
	case d.rxDesync():
		d.errs.RxDesyncs++
		d.stop()
		d.start(l)
	}
	return nil
}

// rxDesync reports a receive ring whose next descriptor is empty while
// another is full: the MAC is filling the ring elsewhere than where the
// driver waits, and would go on doing so.
func (d *Device) rxDesync() bool {
	if _, st := d.rx.load(d.rxNext); st&rxEmpty == 0 {
		return false
	}
	for i := range d.rx.n {
		if _, st := d.rx.load(i); st&rxEmpty == 0 {
			return true
		}
	}
	return false
}
