//go:build tamago && arm64

package virt

import (
	"sync/atomic"
	"unsafe"
)

// PL011 registers (ARM PrimeCell UART (PL011) Technical Reference Manual,
// 3.2 "Summary of registers").
const (
	uartDR   = 0x00   // data register
	uartFR   = 0x18   // flag register
	uartTXFF = 1 << 5 // FR: transmit FIFO full
)

// pl011 is the polled PL011 transmitter Ferry prints its own messages on.
// The guest drives the same UART through its own driver; Ferry only writes
// whole bytes to the data register.
type pl011 struct{ base uintptr }

var console = pl011{base: earlyUART}

// txSpins bounds the wait for room in the transmit FIFO. The guest owns
// the UART too: one that disables it leaves TXFF set for ever, and Ferry's
// log must then be lost rather than wedge EL2 (and the management plane
// with it). Once a byte was dropped, later ones are dropped at once until
// the FIFO has room again.
const txSpins = 1 << 14

var (
	txStuck   atomic.Bool
	txDropped atomic.Uint64
)

//go:nosplit
func (u *pl011) tx(c byte) {
	fr := (*uint32)(unsafe.Pointer(u.base + uartFR))
	spins := txSpins
	if txStuck.Load() {
		spins = 1
	}
	for i := 0; atomic.LoadUint32(fr)&uartTXFF != 0; i++ {
		if i >= spins {
			txStuck.Store(true)
			txDropped.Add(1)
			return
		}
	}
	txStuck.Store(false)
	atomic.StoreUint32((*uint32)(unsafe.Pointer(u.base+uartDR)), uint32(c))
}

// ConsoleDropped is how many bytes of Ferry's log were dropped because
// the UART's transmit FIFO stayed full.
func ConsoleDropped() uint64 { return txDropped.Load() }
