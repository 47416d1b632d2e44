// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package pl011

import (
	"fmt"

	"github.com/ferry-hv/ferry/mmio"
	"github.com/ferry-hv/ferry/mmio/regfile"
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

// Capture reads the UART's configuration from the device: each register
// reads back what was last written to it (TRM 3.3.5-3.3.10, 3.3.14).
func Capture(dev mmio.Device) *State {
	s := &State{}
	regfile.Capture(dev, s.fields())
	return s
}

// fields lists the registers in wire order.
func (s *State) fields() []regfile.Field {
	return []regfile.Field{
		{"IBRD", UARTIBRD, maskIBRD, &s.IBRD}, {"FBRD", UARTFBRD, maskFBRD, &s.FBRD}, {"LCRH", UARTLCR_H, maskLCRH, &s.LCRH},
		{"CR", UARTCR, maskCR, &s.CR}, {"IFLS", UARTIFLS, maskIFLS, &s.IFLS}, {"IMSC", UARTIMSC, maskIMSC, &s.IMSC},
		{"DMACR", UARTDMACR, maskDMACR, &s.DMACR},
	}
}

// Encode returns the wire form: IBRD, FBRD, LCRH, CR, IFLS, IMSC, DMACR
// u32 (little-endian, package wire).
func (s *State) Encode() []byte { return regfile.Encode(s.fields()) }

// Decode reads a state of a version from Oldest to Version, as Encode
// writes it, and validates it.
func Decode(version uint16, b []byte) (*State, error) {
	if err := regfile.CheckVersion("pl011", version, Oldest, Version); err != nil {
		return nil, err
	}
	s := &State{}
	if err := regfile.Decode("pl011", b, s.fields()); err != nil {
		return nil, err
	}
	return s, nil
}

// Validate checks that no register has bits outside its defined fields.
func (s *State) Validate() error { return regfile.Validate("pl011", s.fields()) }

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
