package virtiommio

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/ferry-hv/ferry/mmio"
)

// setUp drives t as Linux's virtio_mmio and virtio_net do (4.2.3.1):
// reset, ACKNOWLEDGE | DRIVER, both feature words, FEATURES_OK, each
// queue's size, areas and readiness, DRIVER_OK.
func setUp(t *Transport, queues []Queue, features uint64) {
	w := func(off uint64, v uint32) { t.Write(off, 4, uint64(v)) }
	w(RegStatus, 0)
	w(RegStatus, StatusAcknowledge)
	w(RegStatus, StatusAcknowledge|StatusDriver)
	for sel := uint32(0); sel < 2; sel++ {
		w(RegDriverFeaturesSel, sel)
		w(RegDriverFeatures, uint32(features>>(32*sel)))
	}
	w(RegStatus, StatusAcknowledge|StatusDriver|StatusFeaturesOK)
	for i, q := range queues {
		w(RegQueueSel, uint32(i))
		w(RegQueueNum, q.Num)
		w(RegQueueDescLow, uint32(q.Desc))
		w(RegQueueDescHigh, uint32(q.Desc>>32))
		w(RegQueueDriverLow, uint32(q.Driver))
		w(RegQueueDriverHigh, uint32(q.Driver>>32))
		w(RegQueueDeviceLow, uint32(q.Device))
		w(RegQueueDeviceHigh, uint32(q.Device>>32))
		if q.Ready {
			w(RegQueueReady, 1)
		}
	}
	w(RegStatus, StatusAcknowledge|StatusDriver|StatusFeaturesOK|StatusDriverOK)
}

var netQueues = []Queue{
	{Num: 256, Desc: 0x4a10_0000, Driver: 0x4a10_1000, Device: 0x4a10_2000, Ready: true},      // rx
	{Num: 256, Desc: 0x4a20_0000, Driver: 0x4a20_1000, Device: 0x4a20_2000, Ready: true},      // tx
	{Num: 64, Desc: 0x1_0000_0000, Driver: 0x1_0000_0400, Device: 0x1_0000_0800, Ready: true}, // ctrl, above 4 GiB
}

func TestTransportRecords(t *testing.T) {
	dev := mmio.NewFake(Size)
	tr := New(dev)
	var ready []string
	tr.Log = func(s string) { ready = append(ready, s) }
	const features = 1<<32 | 1<<5 | 1<<16 | 1<<29 // VERSION_1, MAC, STATUS, EVENT_IDX
	setUp(tr, netQueues, features)
	if len(ready) != 1 || ready[0] != "driver ready: features 0x120010020, 3 queues" {
		t.Errorf("logged %q", ready)
	}
	tr.Log = nil
	want := State{DriverFeatures: features, Status: StatusAcknowledge | StatusDriver | StatusFeaturesOK | StatusDriverOK, Queues: netQueues}
	if got := tr.State(); !reflect.DeepEqual(got, want) {
		t.Fatalf("State = %+v\nwant %+v", got, want)
	}
	// Every access reached the device.
	if dev.Read(RegQueueDescHigh, 4) != 1 || dev.Read(RegStatus, 4) != uint64(want.Status) {
		t.Errorf("writes not performed on the device")
	}
	// A kick, an interrupt acknowledgement and the configuration space
	// change nothing recorded; a reset forgets everything.
	tr.Write(RegQueueNotify, 4, 1)
	tr.Write(RegInterruptACK, 4, 1)
	tr.Write(RegConfig, 1, 0x52)
	if got := tr.State(); !reflect.DeepEqual(got, want) {
		t.Fatalf("after a kick: %+v", got)
	}
	tr.Write(RegStatus, 4, 0)
	if got := tr.State(); got.Status != 0 || got.DriverFeatures != 0 || len(got.Queues) != 0 {
		t.Fatalf("after a reset: %+v", got)
	}
	// A queue beyond MaxQueues is forwarded, reported once, not recorded.
	var logged []string
	tr.Log = func(s string) { logged = append(logged, s) }
	tr.Write(RegQueueSel, 4, MaxQueues)
	tr.Write(RegQueueNum, 4, 8)
	tr.Write(RegQueueReady, 4, 1)
	if len(tr.State().Queues) != 0 || len(logged) != 1 || dev.Read(RegQueueReady, 4) != 1 {
		t.Fatalf("queue %d: state %+v, logged %q", MaxQueues, tr.State(), logged)
	}
}

func TestStateCodec(t *testing.T) {
	s := &State{DriverFeatures: 1<<32 | 1<<5, Status: StatusAcknowledge | StatusDriver | StatusFeaturesOK | StatusDriverOK, Queues: netQueues}
	b := s.Encode()
	got, err := Decode(Version, b)
	if err != nil || !reflect.DeepEqual(got, s) {
		t.Fatalf("Decode = %+v, %v", got, err)
	}
	for name, tc := range map[string]struct {
		b    []byte
		v    uint16
		want string
	}{
		"newer":     {b, Version + 1, "state version 2"},
		"truncated": {b[:len(b)-1], Version, "decode"},
		"trailing":  {append(bytes.Clone(b), 0), Version, "decode"},
		"too many":  {(&State{Queues: make([]Queue, MaxQueues+1)}).Encode(), Version, "at most 16"},
		"ready 2":   {append(b[:len(b)-1], 2), Version, "neither 0 nor 1"},
		"size":      {(&State{Queues: []Queue{{Num: 100, Ready: true}}}).Encode(), Version, "size 100"},
		"align":     {(&State{Queues: []Queue{{Num: 8, Desc: 8, Ready: true}}}).Encode(), Version, "not aligned"},
		"status":    {(&State{Status: 1 << 5}).Encode(), Version, "unknown bits"},
	} {
		if _, err := Decode(tc.v, tc.b); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
	// A queue not ready may hold anything the driver wrote before.
	if _, err := Decode(Version, (&State{Queues: []Queue{{Num: 3, Desc: 1}}}).Encode()); err != nil {
		t.Errorf("a queue not ready: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add((&State{DriverFeatures: 1 << 32, Status: 15, Queues: netQueues}).Encode())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Decode(Version, b)
		if err != nil {
			return
		}
		if !bytes.Equal(s.Encode(), b) {
			t.Fatal("accepted input does not re-encode to itself")
		}
	})
}
