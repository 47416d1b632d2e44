// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

package virtionet

import (
	"fmt"
	vm "github.com/ferry-hv/ferry/mmio/virtiommio"
	"github.com/ferry-hv/ferry/phys"
	"net"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/ferry-hv/ferry/boot/dtb"
)

// mmio is a transport's register file at its physical address, which the
// EL2 identity map makes its virtual address (Device memory: accesses are
// neither merged, reordered nor cached).
type mmio struct{ base unsafe.Pointer }

func (m mmio) Read32(off uint32) uint32 {
	return atomic.LoadUint32((*uint32)(unsafe.Add(m.base, off)))
}

func (m mmio) Write32(off uint32, v uint32) {
	atomic.StoreUint32((*uint32)(unsafe.Add(m.base, off)), v)
}

//go:noinline
func (m mmio) Read8(off uint32) uint8 {
	return *(*uint8)(unsafe.Add(m.base, off))
}

// transportSize is the register window every virtio-mmio transport must
// have: control registers and at least the network configuration's MAC.
const transportSize = vm.RegConfig + macLen

// regsAt is the register file at r (a physical address outside the Go
// heap, so the conversion from an integer is sound).
func regsAt(r phys.Range) Regs { return mmio{unsafe.Pointer(uintptr(r.Base))} }

// heapDMA allocates DMA memory from the Go heap. Ferry's carve-out is
// identity-mapped Normal cacheable memory at EL2 and QEMU's virtio-mmio
// transports are DMA-coherent, so a heap address is the bus address; the
// Go collector never moves objects, and every allocation is kept in
// pinned so it is never freed.
type heapDMA struct{}

var (
	pinnedMu sync.Mutex
	pinned   [][]byte
)

func (heapDMA) Alloc(size, align int) ([]byte, uint64, error) {
	if size <= 0 || align <= 0 || align&(align-1) != 0 {
		return nil, 0, fmt.Errorf("dma: bad request: %d bytes aligned to %d", size, align)
	}
	raw := make([]byte, size+align-1)
	pa := uintptr(unsafe.Pointer(&raw[0]))
	off := int((uintptr(align) - pa%uintptr(align)) % uintptr(align))
	buf := raw[off : off+size : off+size]
	pinnedMu.Lock()
	pinned = append(pinned, raw)
	pinnedMu.Unlock()
	return buf, uint64(pa) + uint64(off), nil
}

// Find returns the virtio-mmio transport of the network device Ferry takes
// (see FindWith): the first -device virtio-net-device on QEMU's command
// line, or the one with MAC address mac when mac is not nil.
func Find(transports []dtb.VirtioMMIO, mac net.HardwareAddr) (dtb.VirtioMMIO, error) {
	for _, t := range transports {
		if t.Reg.Size < transportSize {
			return dtb.VirtioMMIO{}, fmt.Errorf("virtio-net: %s: register window %v is smaller than %#x bytes", t.Path, t.Reg, transportSize)
		}
	}
	return FindWith(transports, regsAt, mac)
}

// Devices returns every transport of the board that carries a device
// (see DevicesWith).
func Devices(transports []dtb.VirtioMMIO) []Found {
	var ok []dtb.VirtioMMIO
	for _, t := range transports {
		if t.Reg.Size >= transportSize {
			ok = append(ok, t)
		}
	}
	return DevicesWith(ok, regsAt)
}

// Open initialises the network device behind transport t with buffers from
// the Go heap.
func Open(t dtb.VirtioMMIO, opt Options) (*Device, error) {
	return New(regsAt(t.Reg), t.Reg.Base, heapDMA{}, opt)
}
