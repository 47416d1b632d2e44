// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package virtiommio

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ferry-hv/ferry/internal/wire"
	"github.com/ferry-hv/ferry/mmio"
	"github.com/ferry-hv/ferry/mmio/virtq"
)

// MaxQueues bounds the queues a State holds: a virtio-net with a control
// queue has three, one with multiqueue a pair per queue.
const MaxQueues = 16

// ShadowBudget bounds the shadow memory (Ferry's, in its carve-out) one
// device's model takes: its queues' shadow rings, with memory kept from
// before a reset, and Announce's buffer. A queue is as large as the guest
// asks, up to what the device offers (QueueNumMax: QEMU's is 1024), and
// its shadow takes ShadowSize (1 KiB of indirect table per entry: 1.03
// MiB for 1024 entries); 8 MiB holds seven such queues (three queue
// pairs and a control queue). A queue past the budget is refused, and
// reported, like one outside guest RAM.
const ShadowBudget = 8 << 20

// maxQueueNum is the largest split virtqueue (virtio 1.2, 2.7: "Queue Size
// ... a maximum of 32768").
const maxQueueNum = virtq.MaxSize

// Alignment of a split virtqueue's areas (2.7 "Split Virtqueues", the
// table of alignment requirements).
const (
	alignDesc   = 16
	alignDriver = 2
	alignDevice = 4
)

// Feature bits (virtio 1.2, 6 "Reserved Feature Bits"). The model hides
// those of Hidden from the driver: the shadow relays split rings only,
// and cannot reset one queue on its own. VIRTIO_F_EVENT_IDX is the
// guest's and the device's alike, and the relay carries it between the
// rings: the guest's used_event becomes the shadow's, bounded by what the
// device holds (virtq.Shadow.Arm), and the guest's avail_event is
// Ferry's (virtq.Shadow.NoNotify).
const (
	FeatureEventIdx         = 1 << 29 // VIRTIO_F_EVENT_IDX
	FeatureRingPacked       = 1 << 34 // VIRTIO_F_RING_PACKED
	FeatureNotificationData = 1 << 38 // VIRTIO_F_NOTIFICATION_DATA
	FeatureRingReset        = 1 << 40 // VIRTIO_F_RING_RESET
	Hidden                  = FeatureRingPacked | FeatureNotificationData | FeatureRingReset
)

// InterruptStatus bits (4.2.2).
const (
	InterruptUsed   = 1 << 0 // a used buffer
	InterruptConfig = 1 << 1 // a configuration change
)

// Queue is one virtqueue as the driver set it up, and where it stood when
// the device was stopped for a migration.
type Queue struct {
	Num                  uint32 // QueueNum: its size
	Desc, Driver, Device uint64 // the areas' guest-physical addresses
	Ready                bool   // QueueReady
	At                   virtq.Position
}

// State is what the driver of a transport wrote that the transport does
// not read back (DriverFeatures, QueueNum and the queue addresses are
// write-only, 4.2.2), with the device status and each queue's readiness
// and position.
type State struct {
	DriverFeatures uint64
	Status         uint32
	Queues         []Queue
}

// Shadowing is what the model needs to run the device on shadow rings.
type Shadowing struct {
	// Guest is guest RAM by physical address; InRAM reports whether a
	// range lies in it.
	Guest virtq.Mem
	InRAM func(addr, size uint64) bool
	// Alloc returns size bytes of Ferry's memory that the device reaches
	// by DMA, page-aligned, zeroed, and their physical address.
	Alloc func(size uint64) (virtq.Mem, uint64, error)
	// Wrote, if set, is told the guest memory the device or the relay
	// wrote (a migration's dirty tracking does not see it).
	Wrote func(addr, size uint64)
	// Pend, if set, makes the device's interrupt pending at the guest's
	// interrupt controller: the device is set up again after a migration
	// with used buffers the guest may not have seen.
	Pend func()
	// Fence, if set, orders the CPU's memory accesses as the device sees
	// them (virtq.Shadow.Fence).
	Fence func()
	// Now, if set, is the clock (ns, monotonic) that times the requests
	// the device holds (Held); else Go's.
	Now func() int64
}

// Transport is the model of the guest's transport. Every access is
// performed on the device but the queue addresses: the device is given
// shadow rings in Ferry's memory instead (package virtq), and the model
// relays between them and the guest's at the accesses that tell it to --
// a kick (QueueNotify), the guest's interrupt handler (InterruptStatus,
// InterruptACK). So every buffer is checked against guest RAM before the
// device sees it, and the device's ring positions (which virtio-mmio can
// neither read nor set) are Ferry's: a migration stops the device (Stop)
// and sets another up at the same positions (Start). The driver's set-up
// is recorded (State); a reset (Status = 0) forgets it. Every access
// width goes through the model, as QEMU's virtio-mmio takes it (access):
// no access reaches the device behind the model's back.
type Transport struct {
	// Log, if set, receives a line when the driver sets DRIVER_OK (what it
	// set up), when a queue is refused or stopped (a chain outside guest
	// RAM, a broken ring), and the first time the driver selects a queue
	// beyond MaxQueues (forwarded, not recorded).
	Log func(string)

	mu      sync.Mutex
	dev     mmio.Device
	sh      Shadowing
	state   State
	shadows []*virtq.Shadow // by queue: the relay of a ready queue (nil: none, or stopped)
	// areas are, by queue, the shadow memory given to the device since
	// its last reset: the device may use it until the next, whatever the
	// relay does, so it is neither freed nor given to another queue.
	// pool is memory the device was given before its last reset.
	areas    []area
	pool     []area
	frame    area   // Ferry's buffer for Announce
	taken    uint64 // bytes of shadow memory in areas, pool and frame (ShadowBudget)
	devSel   uint32 // DeviceFeaturesSel
	drvSel   uint32 // DriverFeaturesSel
	queueSel uint32 // QueueSel
	warned   bool
	refused  bool // an access of a width or alignment the model refuses was reported
	used     bool // InterruptStatus shows a used buffer until the guest acknowledges one (Start)
	stopped  bool // Stop reset the device
	faults   []string
	nfaults  int // faults so far
}

// area is Ferry's memory the device may reach.
type area struct {
	mem  virtq.Mem
	base uint64
	size uint64
}

// New returns the model over the transport's registers dev.
func New(dev mmio.Device, sh Shadowing) *Transport {
	if sh.Now == nil {
		sh.Now = func() int64 { return int64(time.Since(epoch)) }
	}
	return &Transport{dev: dev, sh: sh}
}

// epoch is the origin of the default clock.
var epoch = time.Now()

// Read implements mmio.Device: the device's registers, but for the
// feature bits the model hides, the queue addresses the guest wrote (the
// device holds the shadow's), and InterruptStatus, before which the
// device's used buffers are relayed. Every width goes through the model
// (access).
func (t *Transport) Read(off uint64, size int) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch t.access(off, size, false) {
	case accessWide:
		return t.read32(off) | t.read32(off+4)<<32
	case accessConfig:
		return t.dev.Read(off, size)
	case accessRegister:
		return t.read32(off)
	}
	return 0
}

// read32 is a 4-byte read at off.
func (t *Transport) read32(off uint64) uint64 {
	const size = 4
	if off >= RegConfig {
		return t.dev.Read(off, size)
	}
	switch off {
	case RegDeviceFeatures:
		v := t.dev.Read(off, size)
		if t.devSel < 2 {
			v &^= uint64(Hidden) >> (32 * t.devSel) & 0xffffffff
		}
		return v
	case RegInterruptStatus:
		t.relayUsed()
		v := t.dev.Read(off, size)
		if t.used {
			v |= InterruptUsed
		}
		return v
	case RegQueueDescLow, RegQueueDescHigh, RegQueueDriverLow, RegQueueDriverHigh, RegQueueDeviceLow, RegQueueDeviceHigh:
		q := t.queue()
		if q == nil {
			return 0
		}
		a := q.Desc
		switch off &^ 4 {
		case RegQueueDriverLow:
			a = q.Driver
		case RegQueueDeviceLow:
			a = q.Device
		}
		return a >> (8 * (off & 4)) & 0xffffffff
	}
	return t.dev.Read(off, size)
}

// Write implements mmio.Device: the write is performed and recorded if it
// is the driver's set-up, but for the queue addresses (the device gets the
// shadow's when the queue is made ready) and the feature bits the model
// hides. A kick copies the queue's new chains onto its shadow first, and
// the queue's used entries back after; an interrupt acknowledgement
// relays what the device used. A write to a register the model does not
// know is not performed. Every width goes through the model (access).
func (t *Transport) Write(off uint64, size int, v uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch t.access(off, size, true) {
	case accessWide:
		t.write32(off, v&0xffffffff)
		t.write32(off+4, v>>32)
	case accessConfig:
		t.dev.Write(off, size, v)
	case accessRegister:
		t.write32(off, v)
	}
}

// How an access is performed (access).
const (
	accessRefused  = iota // not at all: it reads as 0
	accessRegister        // one 4-byte register access
	accessWide            // two 4-byte accesses, at off and off+4
	accessConfig          // as it is, on the configuration space
)

// access says how the model performs an access of size bytes at off,
// as QEMU's virtio-mmio would take it (its region implements 4-byte
// accesses, and the memory core adapts every other width to that): an
// 8-byte access is two 4-byte ones, the low word first, each through the
// model -- a register's or the configuration space's; a 1-, 2- or 4-byte
// access to the configuration space is the device's (it takes every
// width there, and nothing in it is DMA); a 1- or 2-byte access to a
// register is refused (QEMU ignores it); so is a misaligned one, or one
// past the window (a decode error in QEMU). No access reaches the device
// but through the model. A refusal is reported once.
func (t *Transport) access(off uint64, size int, write bool) int {
	n := uint64(size)
	switch {
	case n != 1 && n != 2 && n != 4 && n != 8, off%n != 0, off >= Size, Size-off < n:
		t.refuse(fmt.Sprintf("a %d-byte access (write %v) at %#x: misaligned or outside the %#x-byte window", size, write, off, Size))
		return accessRefused
	case n == 8:
		return accessWide
	case off >= RegConfig:
		return accessConfig
	case n != 4:
		t.refuse(fmt.Sprintf("a %d-byte access (write %v) to register %#x: the registers are 32 bits wide", size, write, off))
		return accessRefused
	}
	return accessRegister
}

// refuse reports the first refused access.
func (t *Transport) refuse(s string) {
	if !t.refused {
		t.refused = true
		t.fault(s + "; ignored (reported once)")
	}
}

// write32 is a 4-byte write of v at off.
func (t *Transport) write32(off uint64, v uint64) {
	const size = 4
	if off >= RegConfig {
		t.dev.Write(off, size, v)
		return
	}
	w := uint32(v)
	switch off {
	case RegDeviceFeaturesSel:
		t.devSel = w
	case RegDriverFeaturesSel:
		t.drvSel = w
	case RegDriverFeatures:
		if t.drvSel < 2 {
			shift := 32 * t.drvSel
			w &^= uint32(uint64(Hidden) >> shift)
			t.state.DriverFeatures = t.state.DriverFeatures&^(0xffffffff<<shift) | uint64(w)<<shift
		}
		v = uint64(w)
	case RegQueueSel:
		t.queueSel = w
	case RegQueueNum:
		q := t.queue()
		if q == nil || q.Ready {
			return // a ready queue's size stays (4.2.3.2: set before QueueReady)
		}
		q.Num = w
	case RegQueueDescLow, RegQueueDescHigh, RegQueueDriverLow, RegQueueDriverHigh, RegQueueDeviceLow, RegQueueDeviceHigh:
		if q := t.queue(); q != nil && !q.Ready { // a ready queue's rings stay where they are
			switch off &^ 4 {
			case RegQueueDescLow:
				setHalf(&q.Desc, off&4 != 0, w)
			case RegQueueDriverLow:
				setHalf(&q.Driver, off&4 != 0, w)
			case RegQueueDeviceLow:
				setHalf(&q.Device, off&4 != 0, w)
			}
		}
		return
	case RegQueueReady:
		q := t.queue()
		if q == nil {
			return
		}
		if w&1 == 0 {
			t.dev.Write(off, size, v)
			q.Ready = false
			t.drop(t.queueSel)
			return
		}
		if q.Ready {
			return // ready already
		}
		if err := t.ready(t.queueSel, q, virtq.Position{}); err != nil {
			t.fault(fmt.Sprintf("queue %d refused: %v", t.queueSel, err))
			return
		}
		q.Ready = true
		return
	case RegQueueNotify:
		if t.relayAvail(w) {
			t.dev.Write(off, size, v)
		}
		if int(w) < len(t.shadows) {
			t.relayQueue(int(w))
		}
		return
	case RegInterruptACK:
		t.dev.Write(off, size, v)
		if w&InterruptUsed != 0 {
			t.used = false
		}
		t.relayUsed()
		return
	case RegStatus:
		if w == 0 {
			t.dev.Write(off, size, v)
			t.forget()
			if t.dev.Read(RegStatus, 4) == 0 {
				t.reclaim() // else the memory stays the device's
			}
			return
		}
		if w&StatusDriverOK != 0 && t.state.Status&StatusDriverOK == 0 && t.Log != nil {
			t.Log(fmt.Sprintf("driver ready: features %#x, %d queues", t.state.DriverFeatures, t.readyQueues()))
		}
		t.state.Status = w
	default:
		return // read-only, unknown, or a legacy transport's (QueuePFN): not the device's business
	}
	t.dev.Write(off, size, v)
}

// maxFaults bounds the faults a Transport keeps and logs: a driver that
// keeps failing fills neither Ferry's memory nor its console.
const maxFaults = 16

// fault reports a refused set-up or a stopped queue.
func (t *Transport) fault(s string) {
	t.nfaults++
	if len(t.faults) == maxFaults {
		t.faults = t.faults[1:]
	}
	t.faults = append(t.faults, s)
	switch {
	case t.Log == nil:
	case t.nfaults <= maxFaults:
		t.Log(s)
	case t.nfaults == maxFaults+1:
		t.Log(fmt.Sprintf("more faults than %d: no more logged (the board's status keeps the last)", maxFaults))
	}
}

// Faults are the last refusals and stopped queues, oldest first.
func (t *Transport) Faults() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.faults...)
}

// ready puts queue i, as the driver set it up in q, on a shadow at at
// and makes it ready at the device (selected there): its rings must lie in
// guest RAM, its size be one the relay takes and the device offers (its
// QueueNumMax; a queue of 0 does not exist), its shadow fit the budget.
func (t *Transport) ready(i uint32, q *Queue, at virtq.Position) error {
	if err := q.shape(); err != nil {
		return err
	}
	switch max := uint32(t.dev.Read(RegQueueNumMax, 4)); {
	case max == 0:
		return fmt.Errorf("the device has no queue %d (its QueueNumMax is 0)", i)
	case q.Num > max:
		return fmt.Errorf("size %d: the device's queue holds at most %d (QueueNumMax)", q.Num, max)
	}
	n := uint64(q.Num)
	for _, a := range [...]struct {
		name       string
		addr, size uint64
	}{{"descriptor table", q.Desc, 16 * n}, {"available ring", q.Driver, 6 + 2*n}, {"used ring", q.Device, 6 + 8*n}} {
		if a.addr+a.size < a.addr || !t.sh.InRAM(a.addr, a.size) {
			return fmt.Errorf("its %s [%#x+%#x] is not in guest RAM", a.name, a.addr, a.size)
		}
	}
	g := virtq.Ring{Num: uint16(q.Num), Desc: q.Desc, Driver: q.Driver, Device: q.Device}
	need := virtq.ShadowSize(g.Num)
	ar, err := t.area(i, need)
	if err != nil {
		return err
	}
	s, err := virtq.NewShadow(g, t.sh.Guest, ar.base, ar.mem, at, t.sh.InRAM)
	if err != nil {
		return err
	}
	for _, e := range s.GivenBack {
		t.fault(fmt.Sprintf("queue %d: %v, changed while the device held it: given back to the guest unused", i, e))
	}
	if len(s.GivenBack) > 0 && t.sh.Wrote != nil {
		t.sh.Wrote(g.Device, 4+8*n) // the used entries and index NewShadow wrote
	}
	s.Wrote, s.Fence, s.Now = t.sh.Wrote, t.sh.Fence, t.sh.Now
	s.EventIdx = t.state.DriverFeatures&FeatureEventIdx != 0
	sr := s.Ring()
	for _, r := range [...]struct {
		off  uint64
		addr uint64
	}{{RegQueueDescLow, sr.Desc}, {RegQueueDriverLow, sr.Driver}, {RegQueueDeviceLow, sr.Device}} {
		t.dev.Write(r.off, 4, r.addr&0xffffffff)
		t.dev.Write(r.off+4, 4, r.addr>>32)
	}
	t.dev.Write(RegQueueReady, 4, 1)
	for uint32(len(t.shadows)) <= i {
		t.shadows = append(t.shadows, nil)
	}
	t.shadows[i] = s
	return nil
}

// area returns the shadow memory of queue i, of need bytes at least: the
// queue's own since the device's last reset (a queue set up again), else
// memory from before it, else new.
func (t *Transport) area(i uint32, need uint64) (area, error) {
	for uint32(len(t.areas)) <= i {
		t.areas = append(t.areas, area{})
	}
	if ar := t.areas[i]; ar.mem != nil {
		if ar.size < need {
			return area{}, fmt.Errorf("set up again, larger (%d bytes of shadow, %d before), without a reset of the device", need, ar.size)
		}
		return ar, nil
	}
	for k, ar := range t.pool {
		if ar.size >= need {
			t.pool = append(t.pool[:k], t.pool[k+1:]...)
			t.areas[i] = ar
			return ar, nil
		}
	}
	mem, base, err := t.alloc(need)
	if err != nil {
		return area{}, fmt.Errorf("shadow ring: %w", err)
	}
	t.areas[i] = area{mem, base, need}
	return t.areas[i], nil
}

// ShadowMemory is the shadow memory the model holds for its device
// (at most ShadowBudget).
func (t *Transport) ShadowMemory() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.taken
}

// alloc takes size bytes of new shadow memory within ShadowBudget,
// giving up the memory kept from before the device's last reset (pool)
// if it must.
func (t *Transport) alloc(size uint64) (virtq.Mem, uint64, error) {
	if t.taken+size > ShadowBudget {
		for _, ar := range t.pool {
			t.taken -= ar.size
		}
		t.pool = nil
	}
	if t.taken+size > ShadowBudget {
		return nil, 0, fmt.Errorf("%d bytes more of Ferry's memory, with %d taken, is past the device's budget of %d", size, t.taken, ShadowBudget)
	}
	mem, base, err := t.sh.Alloc(size)
	if err != nil {
		return nil, 0, err
	}
	t.taken += size
	return mem, base, nil
}

// reclaim takes the shadow memory back from a device just reset.
func (t *Transport) reclaim() {
	for _, ar := range t.areas {
		if ar.mem != nil {
			t.pool = append(t.pool, ar)
		}
	}
	t.areas = nil
}

// drop forgets queue i's relay; its memory stays the device's until the
// device is reset.
func (t *Transport) drop(i uint32) {
	if int(i) < len(t.shadows) {
		t.shadows[i] = nil
	}
}

// stop stops queue i after a relay error: the device is told of no more
// of its chains, the guest sees no more of its used entries.
func (t *Transport) stop(i int, err error) {
	t.drop(uint32(i))
	t.fault(fmt.Sprintf("queue %d stopped: %v", i, err))
}

// relayAvail copies queue i's new chains onto its shadow and reports
// whether the kick is to reach the device.
func (t *Transport) relayAvail(i uint32) bool {
	if int(i) >= len(t.shadows) || t.shadows[i] == nil {
		return false // not ready, or stopped: nothing of it reaches the device
	}
	n, err := t.shadows[i].Avail()
	switch {
	case errors.Is(err, virtq.ErrWait):
		// Ferry's own frame holds a descriptor this kick's chain takes:
		// the chain goes on when it is used (relayUsed). The device
		// interrupts the guest then.
	case err != nil:
		t.stop(int(i), err)
	}
	return n > 0
}

// relayUsed relays every queue (relayQueue).
func (t *Transport) relayUsed() {
	for i := range t.shadows {
		t.relayQueue(i)
	}
}

// maxRearm bounds the rounds of relayQueue while the device keeps using
// entries as the relay re-arms it: each round's event is read by the
// device's next used entry.
const maxRearm = 8

// relayQueue copies queue i's used entries back to the guest; takes the
// guest's new chains if it was told not to kick (Unkicked), since the
// interrupt these entries raised is when it expects them taken; tells it
// whether to kick; and re-arms the device's interrupt (event indices).
func (t *Transport) relayQueue(i int) {
	for range maxRearm {
		s := t.shadows[i]
		if s == nil {
			return
		}
		if _, err := s.Used(); err != nil {
			t.stop(i, err)
			return
		}
		if s.Unkicked() && t.relayAvail(uint32(i)) {
			t.dev.Write(RegQueueNotify, 4, uint64(i))
		}
		if t.shadows[i] == nil {
			return
		}
		t.quietOne(i)
		if !s.Arm() {
			return
		}
	}
}

// quiet tells the guest which queues need no kick: those whose device
// holds a chain, whose used entry will interrupt the guest (the shadow's
// avail ring never suppresses interrupts) and so run the relay, which
// takes the guest's new chains then. A single vCPU makes it exact: the
// guest adds no chain while Ferry runs.
func (t *Transport) quiet() {
	for i := range t.shadows {
		t.quietOne(i)
	}
}

// quietOne is quiet for queue i.
func (t *Transport) quietOne(i int) {
	s := t.shadows[i]
	if s == nil {
		return
	}
	n, _ := s.Holding()
	s.NoNotify(n > 0)
}

// forget is the driver's reset: its set-up and the relays go.
func (t *Transport) forget() {
	for i := range t.shadows {
		t.drop(uint32(i))
	}
	t.state, t.devSel, t.drvSel, t.queueSel, t.used = State{}, 0, 0, 0, false
}

// readyQueues counts the ready queues.
func (t *Transport) readyQueues() int {
	n := 0
	for _, q := range t.state.Queues {
		if q.Ready {
			n++
		}
	}
	return n
}

// queue returns the selected queue's record, growing the list to it.
func (t *Transport) queue() *Queue {
	if t.queueSel >= MaxQueues {
		if !t.warned {
			t.fault(fmt.Sprintf("queue %d selected: beyond the %d Ferry relays; its set-up is not performed", t.queueSel, MaxQueues))
		}
		t.warned = true
		return nil
	}
	for uint32(len(t.state.Queues)) <= t.queueSel {
		t.state.Queues = append(t.state.Queues, Queue{})
	}
	return &t.state.Queues[t.queueSel]
}

func setHalf(p *uint64, high bool, w uint32) {
	if high {
		*p = *p&0xffffffff | uint64(w)<<32
	} else {
		*p = *p&^0xffffffff | uint64(w)
	}
}

// State returns a copy of what the driver set up.
func (t *Transport) State() State {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.state.clone()
}

func (s State) clone() State {
	s.Queues = append([]Queue(nil), s.Queues...)
	for i := range s.Queues {
		s.Queues[i].At.InFlight = append([]uint16(nil), s.Queues[i].At.InFlight...)
	}
	return s
}

// resetTimeout bounds a device's reset: the driver waits for Status to
// read 0 again (2.4.2).
const resetTimeout = 100 * time.Millisecond

// resetDevice resets the device and waits until it says so.
func (t *Transport) resetDevice() error {
	t.dev.Write(RegStatus, 4, 0)
	for start := time.Now(); t.dev.Read(RegStatus, 4) != 0; {
		if time.Since(start) > resetTimeout {
			return fmt.Errorf("the device's status is still %#x %v after a reset", t.dev.Read(RegStatus, 4), resetTimeout)
		}
		time.Sleep(10 * time.Microsecond)
	}
	t.reclaim()
	return nil
}

// Stop quiesces the device for a migration, the guest paused: it relays
// what the device used, waits up to wait until the device has used every
// chain with a device-readable buffer (every request, such as a frame to
// send, is carried out, and exactly once), resets the device (no more
// DMA; receive buffers still in flight stay the guest's, given to the
// next device), relays what it used before the reset, and returns what a
// device is set up from again, positions included (Start; Restart here).
// A device still holding a request after wait is an error (and a fault,
// naming the queues: Held), and it keeps running -- unless giveBack: the
// device is then reset all the same, and the requests it still held are
// given back to the guest as used with nothing written
// (virtq.Shadow.GiveBack): a frame not sent is lost, as on a wire.
func (t *Transport) Stop(wait time.Duration, giveBack bool) (State, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return t.state.clone(), nil
	}
	start := time.Now()
	for {
		t.relayUsed()
		held := 0
		for _, s := range t.shadows {
			if s == nil {
				continue
			}
			if n, readable := s.Holding(); readable {
				held += n
			}
		}
		if held == 0 {
			break
		}
		if time.Since(start) > wait {
			if giveBack {
				break
			}
			err := fmt.Errorf("the device still holds requests after %v: %s", wait, strings.Join(t.held(0), "; "))
			t.fault("a pause failed: " + err.Error())
			return State{}, err
		}
		t.mu.Unlock()
		time.Sleep(50 * time.Microsecond)
		t.mu.Lock()
	}
	if t.state.Status != 0 {
		if err := t.resetDevice(); err != nil {
			return State{}, err
		}
	}
	t.relayUsed()
	for i, s := range t.shadows {
		if s == nil || !giveBack {
			continue
		}
		if n := s.GiveBack(); n > 0 && t.Log != nil {
			t.Log(fmt.Sprintf("queue %d: the device, reset, gave %d request(s) back to the guest unused", i, n))
		}
	}
	for i := range t.state.Queues {
		q := &t.state.Queues[i]
		q.Ready, q.At = false, virtq.Position{}
		if i < len(t.shadows) && t.shadows[i] != nil {
			q.Ready, q.At = true, t.shadows[i].Position()
			t.drop(uint32(i))
		}
	}
	t.stopped = true
	return t.state.clone(), nil
}

// Held says, for each queue whose device has held a request (a chain
// with a device-readable buffer) for at least min, how many it holds and
// for how long the oldest: a pause waits for them (Stop).
func (t *Transport) Held(min time.Duration) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.held(min)
}

func (t *Transport) held(min time.Duration) []string {
	var out []string
	now := t.sh.Now()
	for i, s := range t.shadows {
		if s == nil {
			continue
		}
		head, since, ok := s.OldestRequest()
		if !ok || time.Duration(now-since) < min {
			continue
		}
		chains, _ := s.Holding()
		out = append(out, fmt.Sprintf("queue %d: the device holds a request (the chain at %d) for %v, %d chain(s) in all",
			i, head, time.Duration(now-since).Round(time.Millisecond), chains))
	}
	return out
}

// Restart sets the device up again as Stop left it: a migration that
// stopped it failed, and the guest runs on here.
func (t *Transport) Restart() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.stopped {
		return nil
	}
	return t.start(t.state.clone())
}

// Start sets the device up from s as the guest's driver had it on the
// source, on shadows at its queues' positions (their chains in flight
// given to the device again), the guest paused. The device then shows the
// guest a used buffer until it acknowledges one, and its interrupt is
// made pending (Shadowing.Pend): what the source relayed last may not
// have been seen.
func (t *Transport) Start(s State) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.start(s)
}

func (t *Transport) start(s State) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if f := s.DriverFeatures & Hidden; f != 0 {
		return fmt.Errorf("virtio-mmio: the driver's features %#x include %#x, which Ferry's relay does not carry", s.DriverFeatures, f)
	}
	if err := t.resetDevice(); err != nil {
		return err
	}
	t.forget()
	t.stopped = false
	if err := t.setUp(s); err != nil {
		t.forget()
		return errors.Join(err, t.resetDevice())
	}
	return nil
}

func (t *Transport) setUp(s State) error {
	if s.Status == 0 {
		return nil
	}
	w := func(off uint64, v uint32) { t.dev.Write(off, 4, uint64(v)) }
	status := uint32(StatusAcknowledge | StatusDriver)
	w(RegStatus, StatusAcknowledge)
	w(RegStatus, status)
	for sel := uint32(0); sel < 2; sel++ {
		w(RegDriverFeaturesSel, sel)
		w(RegDriverFeatures, uint32(s.DriverFeatures>>(32*sel)))
	}
	if s.Status&StatusFeaturesOK != 0 {
		status |= StatusFeaturesOK
		w(RegStatus, status)
		if t.dev.Read(RegStatus, 4)&StatusFeaturesOK == 0 {
			return fmt.Errorf("virtio-mmio: the device refuses the driver's features %#x", s.DriverFeatures)
		}
	}
	t.state = State{DriverFeatures: s.DriverFeatures, Status: status, Queues: make([]Queue, len(s.Queues))}
	for i, q := range s.Queues {
		at := q.At
		q.Ready, q.At = false, virtq.Position{}
		t.state.Queues[i] = q
		if !s.Queues[i].Ready {
			continue
		}
		w(RegQueueSel, uint32(i))
		w(RegQueueNum, q.Num)
		if err := t.ready(uint32(i), &t.state.Queues[i], at); err != nil {
			return fmt.Errorf("virtio-mmio: queue %d: %w", i, err)
		}
		t.state.Queues[i].Ready = true
	}
	w(RegStatus, s.Status)
	t.state.Status = s.Status
	// The selectors back where the model's are (0, as after a reset):
	// the driver's next feature or queue write then reaches, at the
	// device, the word and the queue the model checks and records it for.
	w(RegDeviceFeaturesSel, t.devSel)
	w(RegDriverFeaturesSel, t.drvSel)
	w(RegQueueSel, t.queueSel)
	t.quiet()
	for i, sh := range t.shadows {
		if sh != nil {
			if n, _ := sh.Holding(); n > 0 {
				w(RegQueueNotify, uint32(i))
			}
		}
	}
	t.used = true
	if t.sh.Pend != nil {
		t.sh.Pend()
	}
	return nil
}

// netHeaderSize is a virtio-net header with VIRTIO_F_VERSION_1 (5.1.6).
const netHeaderSize = 12

// Announce sends frame (Ethernet) in the guest's name on transmit queue
// tx of a virtio-net device (transmitq1 is queue 1), after a virtio-net
// header asking for nothing: the destination announcing the guest's MAC.
// The frame is Ferry's, on a descriptor the device does not hold; one at
// a time.
func (t *Transport) Announce(tx int, frame []byte) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if tx >= len(t.shadows) || t.shadows[tx] == nil {
		return fmt.Errorf("virtio-mmio: queue %d is not running", tx)
	}
	const size = 4096
	if netHeaderSize+len(frame) > size {
		return fmt.Errorf("virtio-mmio: a frame of %d bytes", len(frame))
	}
	if t.frame.mem == nil {
		mem, base, err := t.alloc(size)
		if err != nil {
			return err
		}
		t.frame = area{mem, base, size}
	}
	buf, err := t.frame.mem.Slice(t.frame.base, netHeaderSize+len(frame))
	if err != nil {
		return err
	}
	clear(buf[:netHeaderSize])
	copy(buf[netHeaderSize:], frame)
	s := t.shadows[tx]
	if _, err := s.Used(); err != nil {
		t.stop(tx, err)
		return err
	}
	if err := s.Inject(t.frame.base, uint32(len(buf))); err != nil {
		return err
	}
	t.dev.Write(RegQueueNotify, 4, uint64(tx))
	return nil
}

// Config reads n bytes of the device's configuration space at off (a
// virtio-net's MAC address is its first 6).
func (t *Transport) Config(off, n int) []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(t.dev.Read(RegConfig+uint64(off+i), 1))
	}
	return b
}

// Version is the version of State's encoding this package writes; it
// reads every version from Oldest.
const (
	Version = 1
	Oldest  = 1
)

// Encode returns the wire form: DriverFeatures u64 | Status u32 | count
// u32 | per queue: Num u32, Desc, Driver, Device u64, Ready u8, then its
// position: Avail, Used u16, in-flight count u16, the heads u16.
func (s *State) Encode() []byte {
	var w wire.Writer
	w.U64(s.DriverFeatures)
	w.U32(s.Status)
	w.U32(uint32(len(s.Queues)))
	for _, q := range s.Queues {
		w.U32(q.Num)
		w.U64(q.Desc)
		w.U64(q.Driver)
		w.U64(q.Device)
		ready := uint8(0)
		if q.Ready {
			ready = 1
		}
		w.U8(ready)
		w.U16(q.At.Avail)
		w.U16(q.At.Used)
		w.U16(uint16(len(q.At.InFlight)))
		for _, h := range q.At.InFlight {
			w.U16(h)
		}
	}
	return w.Bytes()
}

// Decode reads a state of a version from Oldest to Version, as Encode
// writes it: the queue count is checked against MaxQueues before anything
// is allocated, and the result validated.
func Decode(version uint16, b []byte) (*State, error) {
	if version < Oldest || version > Version {
		return nil, fmt.Errorf("virtio-mmio: state version %d; this Ferry reads %d to %d", version, Oldest, Version)
	}
	r := wire.NewReader(b)
	s := &State{DriverFeatures: r.U64(), Status: r.U32()}
	n := r.U32()
	if r.Err() == nil && n > MaxQueues {
		return nil, fmt.Errorf("virtio-mmio: %d queues, at most %d", n, MaxQueues)
	}
	if r.Err() == nil && n > 0 {
		s.Queues = make([]Queue, n)
	}
	for i := range s.Queues {
		q := &s.Queues[i]
		q.Num, q.Desc, q.Driver, q.Device = r.U32(), r.U64(), r.U64(), r.U64()
		switch r.U8() {
		case 0:
		case 1:
			q.Ready = true
		default:
			r.Fail(fmt.Errorf("queue %d: Ready is neither 0 nor 1", i))
		}
		q.At.Avail, q.At.Used = r.U16(), r.U16()
		held := r.U16()
		if r.Err() != nil {
			break
		}
		if uint32(held) > q.Num {
			r.Fail(fmt.Errorf("queue %d: %d chains in flight in a queue of %d", i, held, q.Num))
			break
		}
		if held > 0 {
			q.At.InFlight = make([]uint16, held)
		}
		for k := range q.At.InFlight {
			q.At.InFlight[k] = r.U16()
		}
	}
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("virtio-mmio: decode: %w", err)
	}
	return s, s.Validate()
}

// shape checks what a split virtqueue must be: a size that is a power of
// two up to 32768, its areas aligned as 2.7 requires.
func (q *Queue) shape() error {
	if q.Num == 0 || q.Num&(q.Num-1) != 0 || q.Num > maxQueueNum {
		return fmt.Errorf("size %d (want a power of two up to %d)", q.Num, maxQueueNum)
	}
	if q.Desc%alignDesc != 0 || q.Driver%alignDriver != 0 || q.Device%alignDevice != 0 {
		return fmt.Errorf("areas %#x, %#x, %#x not aligned to %d, %d, %d", q.Desc, q.Driver, q.Device, alignDesc, alignDriver, alignDevice)
	}
	return nil
}

// Validate checks what a device could be set up with: a status of known
// bits, and every ready queue of a size that is a power of two up to
// 32768 with its areas aligned as a split virtqueue's must be, and a
// position that holds as many chains as it says, each a head of the
// queue once; a queue not ready has no position.
func (s *State) Validate() error {
	const known = StatusAcknowledge | StatusDriver | StatusDriverOK | StatusFeaturesOK | StatusDeviceNeedsReset | StatusFailed
	if s.Status&^known != 0 {
		return fmt.Errorf("virtio-mmio: status %#x has unknown bits", s.Status)
	}
	if len(s.Queues) > MaxQueues {
		return fmt.Errorf("virtio-mmio: %d queues, at most %d", len(s.Queues), MaxQueues)
	}
	for i, q := range s.Queues {
		if !q.Ready {
			if q.At.Avail != 0 || q.At.Used != 0 || len(q.At.InFlight) != 0 {
				return fmt.Errorf("virtio-mmio: queue %d is not ready but has a position", i)
			}
			continue
		}
		if err := q.shape(); err != nil {
			return fmt.Errorf("virtio-mmio: queue %d is ready with %w", i, err)
		}
		if int(q.At.Avail-q.At.Used) != len(q.At.InFlight) {
			return fmt.Errorf("virtio-mmio: queue %d at %d and %d holds %d chains", i, q.At.Avail, q.At.Used, len(q.At.InFlight))
		}
		seen := make([]bool, q.Num)
		for _, h := range q.At.InFlight {
			if uint32(h) >= q.Num || seen[h] {
				return fmt.Errorf("virtio-mmio: queue %d: head %d in flight twice or beyond its %d", i, h, q.Num)
			}
			seen[h] = true
		}
	}
	return nil
}

// Reset resets the device and forgets the driver's set-up: the guest it
// was set up for does not run here (an incoming migration was refused
// after its state was loaded).
func (t *Transport) Reset() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.forget()
	t.stopped = false
	return t.resetDevice()
}
