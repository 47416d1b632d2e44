package pl011

import (
	"errors"
	"fmt"

	"github.com/ferry-hv/ferry/internal/wire"
	"github.com/ferry-hv/ferry/mmio"
)

// Version is the version of State's encoding this package writes; it
// reads every version from Oldest. Version 2 dropped the magic and version
// the payload carried (the migration record's state version is the one).
const (
	Version = 2
	Oldest  = 2
)

// The defined bits of each configuration register (PL011 TRM 3.3.5-3.3.10,
// 3.3.14).
const (
	maskIBRD  = 0xffff // BAUD DIVINT [15:0]
	maskFBRD  = 0x3f   // BAUD DIVFRAC [5:0]
	maskLCRH  = 0xff   // SPS, WLEN, FEN, STP2, EPS, PEN, BRK [7:0]
	maskCR    = 0xff87 // CTSEn, RTSEn, Out2, Out1, RTS, DTR, RXE, TXE, LBE [15:7]; SIRLP, SIREN, UARTEN [2:0]
	maskIFLS  = 0x3f   // RXIFLSEL [5:3], TXIFLSEL [2:0]
	maskIMSC  = 0x7ff  // OEIM ... RIMIM [10:0]
	maskDMACR = 0x7    // DMAONERR, TXDMAE, RXDMAE [2:0]
)

// State is the UART's configuration: the registers the guest programs.
type State struct {
	IBRD, FBRD, LCRH, CR, IFLS, IMSC, DMACR uint32
}

// EncodedSize is the size of an encoded State.
const EncodedSize = 7 * 4

// ErrSize is Decode's error for a payload of the wrong size.
var ErrSize = errors.New("pl011: bad state size")

// Capture reads the UART's configuration from the device: each register
// reads back what was last written to it (TRM 3.3.5-3.3.10, 3.3.14).
func Capture(dev mmio.Device) *State {
	s := &State{}
	for _, f := range s.fields() {
		*f.p = uint32(dev.Read(f.off, 4)) & f.mask
	}
	return s
}

// fields lists the registers in wire order, with names for errors.
func (s *State) fields() []struct {
	name string
	off  uint64
	p    *uint32
	mask uint32
} {
	return []struct {
		name string
		off  uint64
		p    *uint32
		mask uint32
	}{
		{"IBRD", UARTIBRD, &s.IBRD, maskIBRD}, {"FBRD", UARTFBRD, &s.FBRD, maskFBRD}, {"LCRH", UARTLCR_H, &s.LCRH, maskLCRH},
		{"CR", UARTCR, &s.CR, maskCR}, {"IFLS", UARTIFLS, &s.IFLS, maskIFLS}, {"IMSC", UARTIMSC, &s.IMSC, maskIMSC},
		{"DMACR", UARTDMACR, &s.DMACR, maskDMACR},
	}
}

// Encode returns the wire form: IBRD, FBRD, LCRH, CR, IFLS, IMSC, DMACR
// u32 (little-endian, package wire).
func (s *State) Encode() []byte {
	var w wire.Writer
	for _, f := range s.fields() {
		w.U32(*f.p)
	}
	return w.Bytes()
}

// Decode reads a state of a version from Oldest to Version, as Encode
// writes it, and validates it.
func Decode(version uint16, b []byte) (*State, error) {
	if version < Oldest || version > Version {
		return nil, fmt.Errorf("pl011: state version %d; this Ferry reads %d to %d", version, Oldest, Version)
	}
	if len(b) != EncodedSize {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrSize, len(b), EncodedSize)
	}
	r := wire.NewReader(b)
	s := &State{}
	for _, f := range s.fields() {
		*f.p = r.U32()
	}
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("pl011: decode: %w", err)
	}
	return s, s.Validate()
}

// Validate checks that no register has bits outside its defined fields.
func (s *State) Validate() error {
	for _, f := range s.fields() {
		if *f.p&^f.mask != 0 {
			return fmt.Errorf("pl011: %s is %#x: bits outside %#x", f.name, *f.p, f.mask)
		}
	}
	return nil
}

// busyPolls bounds the wait for the UART to finish the current character.
const busyPolls = 100_000

// Replay programs the configuration into a UART, in the order the PL011
// TRM requires:
//
//  1. disable the UART (UARTCR = 0) and wait for the end of the current
//     character (UARTFR.BUSY clear; bounded), then flush the transmit
//     FIFO by clearing UARTLCR_H.FEN (3.3.8, the note on reprogramming
//     UARTCR);
//  2. program UARTIBRD and UARTFBRD, then UARTLCR_H: the three form one
//     30-bit register updated by the UARTLCR_H write, which must come
//     last (3.3.7), and the divisors must not change while the UART is
//     enabled (3.3.6);
//  3. UARTIFLS, UARTIMSC, UARTDMACR;
//  4. UARTCR, which enables the UART if the guest had.
//
// A UART that stays busy is reported, with the configuration programmed
// anyway.
func (s *State) Replay(dev mmio.Device) error {
	if err := s.Validate(); err != nil {
		return err
	}
	dev.Write(UARTCR, 4, 0)
	var err error
	busy := true
	for range busyPolls {
		if dev.Read(UARTFR, 4)&FR_BUSY == 0 {
			busy = false
			break
		}
	}
	if busy {
		err = fmt.Errorf("pl011: UARTFR.BUSY still set after %d reads with the UART disabled", busyPolls)
	}
	dev.Write(UARTLCR_H, 4, uint64(s.LCRH&^LCRH_FEN))
	dev.Write(UARTIBRD, 4, uint64(s.IBRD))
	dev.Write(UARTFBRD, 4, uint64(s.FBRD))
	dev.Write(UARTLCR_H, 4, uint64(s.LCRH))
	dev.Write(UARTIFLS, 4, uint64(s.IFLS))
	dev.Write(UARTIMSC, 4, uint64(s.IMSC))
	dev.Write(UARTDMACR, 4, uint64(s.DMACR))
	dev.Write(UARTCR, 4, uint64(s.CR))
	return err
}
