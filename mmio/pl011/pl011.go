// Package pl011 is the model of the guest's console UART, an ARM PrimeCell
// UART (PL011), on its trapped 4 KiB page: every access to a known
// register is performed on the real UART, and the configuration the guest
// writes is recorded so that it can be migrated (State) and replayed on
// the destination's UART in the order the TRM requires (State.Replay).
//
// The FIFOs, the data in flight and the raw interrupt status are the
// device's own and are not migrated.
package pl011

import (
	"fmt"
	"sync"

	"github.com/ferry-hv/ferry/mmio"
)

// Registers, offsets from the UART's base (ARM PrimeCell UART (PL011)
// Technical Reference Manual, DDI 0183, 3.2 "Summary of registers",
// Table 3-1; each register's description in 3.3).
const (
	UARTDR    = 0x000 // 3.3.1 Data Register
	UARTRSR   = 0x004 // 3.3.2 Receive Status Register / Error Clear Register (UARTECR on write)
	UARTFR    = 0x018 // 3.3.3 Flag Register
	UARTILPR  = 0x020 // 3.3.4 IrDA Low-Power Counter Register
	UARTIBRD  = 0x024 // 3.3.5 Integer Baud Rate Register, 16 bits
	UARTFBRD  = 0x028 // 3.3.6 Fractional Baud Rate Register, 6 bits
	UARTLCR_H = 0x02C // 3.3.7 Line Control Register, 8 bits
	UARTCR    = 0x030 // 3.3.8 Control Register, 16 bits
	UARTIFLS  = 0x034 // 3.3.9 Interrupt FIFO Level Select Register, 6 bits
	UARTIMSC  = 0x038 // 3.3.10 Interrupt Mask Set/Clear Register, 11 bits
	UARTRIS   = 0x03C // 3.3.11 Raw Interrupt Status Register
	UARTMIS   = 0x040 // 3.3.12 Masked Interrupt Status Register
	UARTICR   = 0x044 // 3.3.13 Interrupt Clear Register
	UARTDMACR = 0x048 // 3.3.14 DMA Control Register, 3 bits

	UARTPeriphID0 = 0xFE0 // 3.3.15-18 Peripheral Identification Registers 0-3 (0xFE0-0xFEC)
	UARTPCellID0  = 0xFF0 // 3.3.19-22 PrimeCell Identification Registers 0-3 (0xFF0-0xFFC)
)

// Register fields used by Replay.
const (
	CR_UARTEN = 1 << 0 // UARTCR: UART enable (3.3.8)
	LCRH_FEN  = 1 << 4 // UARTLCR_H: FIFOs enabled (3.3.7)
	FR_BUSY   = 1 << 3 // UARTFR: transmitting (3.3.3)

	pageSize = 4096
)

// register is one entry of the model's table.
type register struct {
	name  string
	field *uint32 // where the guest's configuration is recorded; nil: forwarded only
	mask  uint32  // the register's defined bits
}

// UART is the trapped PL011 page: an mmio.Device.
type UART struct {
	// Log, if set, receives a line the first time each unknown or
	// unsupported access is seen.
	Log func(string)

	mu     sync.Mutex
	dev    mmio.Device
	state  State
	table  map[uint64]register
	logged map[uint64]bool
}

// New returns the model over the real UART dev. The recorded configuration
// starts as the UART's current one (what firmware left), read from dev.
func New(dev mmio.Device) *UART {
	u := &UART{dev: dev, state: State{Version: Version}, logged: map[uint64]bool{}}
	s := &u.state
	u.table = map[uint64]register{
		UARTDR: {"UARTDR", nil, 0}, UARTRSR: {"UARTRSR/ECR", nil, 0}, UARTFR: {"UARTFR", nil, 0},
		UARTILPR: {"UARTILPR", nil, 0}, UARTRIS: {"UARTRIS", nil, 0}, UARTMIS: {"UARTMIS", nil, 0},
		UARTICR:   {"UARTICR", nil, 0},
		UARTIBRD:  {"UARTIBRD", &s.IBRD, maskIBRD},
		UARTFBRD:  {"UARTFBRD", &s.FBRD, maskFBRD},
		UARTLCR_H: {"UARTLCR_H", &s.LCRH, maskLCRH},
		UARTCR:    {"UARTCR", &s.CR, maskCR},
		UARTIFLS:  {"UARTIFLS", &s.IFLS, maskIFLS},
		UARTIMSC:  {"UARTIMSC", &s.IMSC, maskIMSC},
		UARTDMACR: {"UARTDMACR", &s.DMACR, maskDMACR},
	}
	for i := range uint64(4) {
		u.table[UARTPeriphID0+4*i] = register{fmt.Sprintf("UARTPeriphID%d", i), nil, 0}
		u.table[UARTPCellID0+4*i] = register{fmt.Sprintf("UARTPCellID%d", i), nil, 0}
	}
	for _, off := range []uint64{UARTIBRD, UARTFBRD, UARTLCR_H, UARTCR, UARTIFLS, UARTIMSC, UARTDMACR} {
		r := u.table[off]
		*r.field = uint32(dev.Read(off, 4)) & r.mask
	}
	return u
}

// known reports whether every byte of the access lies in registers of the
// table, and the access is naturally aligned inside the page.
func (u *UART) known(off uint64, size int) bool {
	n := uint64(size)
	if (n != 1 && n != 2 && n != 4 && n != 8) || off%n != 0 || off >= pageSize || pageSize-off < n {
		return false
	}
	for b := off &^ 3; b < off+n; b += 4 {
		if _, ok := u.table[b]; !ok {
			return false
		}
	}
	return true
}

func (u *UART) warn(off uint64, size int, write bool) {
	key := off<<8 | uint64(size)<<1
	if write {
		key |= 1
	}
	if u.logged[key] || u.Log == nil {
		return
	}
	u.logged[key] = true
	u.Log(fmt.Sprintf("pl011: guest %d-byte %s at offset %#x: no such register, %s (reported once)",
		size, map[bool]string{false: "read", true: "write"}[write], off,
		map[bool]string{false: "reads as zero", true: "ignored"}[write]))
}

// Read forwards a guest load to the UART.
func (u *UART) Read(off uint64, size int) uint64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	if !u.known(off, size) {
		u.warn(off, size, false)
		return 0
	}
	return u.dev.Read(off, size)
}

// Write forwards a guest store to the UART and records the bytes that land
// in configuration registers.
func (u *UART) Write(off uint64, size int, v uint64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if !u.known(off, size) {
		u.warn(off, size, true)
		return
	}
	u.dev.Write(off, size, v)
	for i := range uint64(size) {
		o := off + i
		r := u.table[o&^3]
		if r.field == nil {
			continue
		}
		shift := 8 * (o & 3)
		b := uint32(v>>(8*i)) & 0xff
		*r.field = (*r.field&^(0xff<<shift) | b<<shift) & r.mask
	}
}

// State returns the configuration the guest last wrote.
func (u *UART) State() *State {
	u.mu.Lock()
	defer u.mu.Unlock()
	s := u.state
	return &s
}

// Restore replays s on the UART (State.Replay) and makes it the recorded
// configuration: on the destination, after migration.
func (u *UART) Restore(s *State) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if err := s.Validate(); err != nil {
		return err
	}
	err := s.Replay(u.dev) // programs the UART even when it reports BUSY
	u.state = *s
	return err
}
