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

//go:nosplit
func (u *pl011) tx(c byte) {
	for atomic.LoadUint32((*uint32)(unsafe.Pointer(u.base+uartFR)))&uartTXFF != 0 {
	}
	atomic.StoreUint32((*uint32)(unsafe.Pointer(u.base+uartDR)), uint32(c))
}
