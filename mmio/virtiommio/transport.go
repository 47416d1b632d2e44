package virtiommio

import (
	"fmt"
	"sync"

	"github.com/ferry-hv/ferry/internal/wire"
	"github.com/ferry-hv/ferry/mmio"
)

// MaxQueues bounds the queues a State holds: a virtio-net with a control
// queue has three, one with multiqueue a pair per queue.
const MaxQueues = 16

// maxQueueNum is the largest split virtqueue (virtio 1.2, 2.7: "Queue Size
// ... a maximum of 32768").
const maxQueueNum = 32768

// Alignment of a split virtqueue's areas (2.7 "Split Virtqueues", the
// table of alignment requirements).
const (
	alignDesc   = 16
	alignDriver = 2
	alignDevice = 4
)

// Queue is one virtqueue as the driver set it up.
type Queue struct {
	Num                  uint32 // QueueNum: its size
	Desc, Driver, Device uint64 // the areas' guest-physical addresses
	Ready                bool   // QueueReady
}

// State is what the driver of a transport wrote that the transport does
// not read back (DriverFeatures, QueueNum and the queue addresses are
// write-only, 4.2.2), with the device status and each queue's readiness.
type State struct {
	DriverFeatures uint64
	Status         uint32
	Queues         []Queue
}

// Transport is the model of the guest's transport: every access is
// performed on the device, and the driver's writes are recorded (State).
// A driver's reset (Status = 0) forgets them.
type Transport struct {
	// Log, if set, receives a line when the driver sets DRIVER_OK (what it
	// set up), and the first time it selects a queue beyond MaxQueues
	// (forwarded, not recorded).
	Log func(string)

	mu       sync.Mutex
	dev      mmio.Device
	state    State
	drvSel   uint32 // DriverFeaturesSel
	queueSel uint32 // QueueSel
	warned   bool
}

// New returns the model over the transport's registers dev.
func New(dev mmio.Device) *Transport { return &Transport{dev: dev} }

// Read implements mmio.Device.
func (t *Transport) Read(off uint64, size int) uint64 { return t.dev.Read(off, size) }

// Write implements mmio.Device: the write is performed, and recorded if it
// is the driver's set-up.
func (t *Transport) Write(off uint64, size int, v uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.dev.Write(off, size, v)
	if size != 4 {
		return // the registers are 32 bits wide; the configuration space reads back
	}
	w := uint32(v)
	switch off {
	case RegDriverFeaturesSel:
		t.drvSel = w
	case RegDriverFeatures:
		if t.drvSel < 2 {
			shift := 32 * t.drvSel
			t.state.DriverFeatures = t.state.DriverFeatures&^(0xffffffff<<shift) | uint64(w)<<shift
		}
	case RegQueueSel:
		t.queueSel = w
	case RegStatus:
		if w == 0 {
			t.state, t.drvSel, t.queueSel = State{}, 0, 0
			return
		}
		if w&StatusDriverOK != 0 && t.state.Status&StatusDriverOK == 0 && t.Log != nil {
			t.Log(fmt.Sprintf("driver ready: features %#x, %d queues", t.state.DriverFeatures, t.ready()))
		}
		t.state.Status = w
	case RegQueueNum, RegQueueReady, RegQueueDescLow, RegQueueDescHigh, RegQueueDriverLow, RegQueueDriverHigh, RegQueueDeviceLow, RegQueueDeviceHigh:
		q := t.queue()
		if q == nil {
			return
		}
		switch off {
		case RegQueueNum:
			q.Num = w
		case RegQueueReady:
			q.Ready = w&1 != 0
		case RegQueueDescLow, RegQueueDescHigh:
			setHalf(&q.Desc, off == RegQueueDescHigh, w)
		case RegQueueDriverLow, RegQueueDriverHigh:
			setHalf(&q.Driver, off == RegQueueDriverHigh, w)
		case RegQueueDeviceLow, RegQueueDeviceHigh:
			setHalf(&q.Device, off == RegQueueDeviceHigh, w)
		}
	}
}

// ready counts the ready queues.
func (t *Transport) ready() int {
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
		if !t.warned && t.Log != nil {
			t.Log(fmt.Sprintf("virtio-mmio: queue %d selected: beyond the %d Ferry records", t.queueSel, MaxQueues))
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
	s := t.state
	s.Queues = append([]Queue(nil), s.Queues...)
	return s
}

// Version is the version of State's encoding this package writes; it
// reads every version from Oldest.
const (
	Version = 1
	Oldest  = 1
)

// Encode returns the wire form: DriverFeatures u64 | Status u32 | count
// u32 | per queue: Num u32, Desc, Driver, Device u64, Ready u8.
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
	}
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("virtio-mmio: decode: %w", err)
	}
	return s, s.Validate()
}

// Validate checks what a device could be set up with: a status of known
// bits, and every ready queue of a size that is a power of two up to
// 32768 with its areas aligned as a split virtqueue's must be.
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
			continue
		}
		switch {
		case q.Num == 0 || q.Num&(q.Num-1) != 0 || q.Num > maxQueueNum:
			return fmt.Errorf("virtio-mmio: queue %d is ready with size %d (want a power of two up to %d)", i, q.Num, maxQueueNum)
		case q.Desc%alignDesc != 0 || q.Driver%alignDriver != 0 || q.Device%alignDevice != 0:
			return fmt.Errorf("virtio-mmio: queue %d areas %#x, %#x, %#x are not aligned to %d, %d, %d", i, q.Desc, q.Driver, q.Device, alignDesc, alignDriver, alignDevice)
		}
	}
	return nil
}
