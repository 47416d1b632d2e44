//go:build tamago && arm64

package imx8mp

import (
	"sync/atomic"
	"unsafe"
)

// i.MX UART registers Ferry's console writes use (IMX8MPRM, the UART
// chapter's "UART Memory Map/Register Definition"; the configuration
// registers the guest programs are package mmio/imxuart's).
const (
	uartUTXD   = 0x40   // UART Transmitter Register
	uartUTS    = 0xB4   // UART Test Register
	uartTXFULL = 1 << 4 // UTS: the transmit FIFO is full
)

// imxUART is the polled transmitter Ferry prints its own messages on. The
// guest drives the same UART through its own driver; Ferry only writes
// whole bytes to UTXD.
type imxUART struct{ base uintptr }

var console = imxUART{base: earlyUART}

// txSpins bounds the wait for room in the transmit FIFO: a guest that
// disables the UART leaves TXFULL set for ever, and Ferry's log must then
// be lost rather than wedge EL2. Once a byte was dropped, later ones are
// dropped at once until the FIFO has room again (as on boot/virt).
const txSpins = 1 << 14

var (
	txStuck   atomic.Bool
	txDropped atomic.Uint64
)

//go:nosplit
func (u *imxUART) tx(c byte) {
	uts := (*uint32)(unsafe.Pointer(u.base + uartUTS))
	spins := txSpins
	if txStuck.Load() {
		spins = 1
	}
	for i := 0; atomic.LoadUint32(uts)&uartTXFULL != 0; i++ {
		if i >= spins {
			txStuck.Store(true)
			txDropped.Add(1)
			return
		}
	}
	txStuck.Store(false)
	atomic.StoreUint32((*uint32)(unsafe.Pointer(u.base+uartUTXD)), uint32(c))
}

// ConsoleDropped is how many bytes of Ferry's log were dropped because
// the UART's transmit FIFO stayed full.
func ConsoleDropped() uint64 { return txDropped.Load() }
