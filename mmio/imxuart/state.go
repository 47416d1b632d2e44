// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package imxuart

import (
	"fmt"

	"github.com/ferry-hv/ferry/mmio"
	"github.com/ferry-hv/ferry/mmio/regfile"
)

// Version is the version of State's encoding this package writes; it
// reads every version from Oldest.
const (
	Version = 1
	Oldest  = 1
)

// The defined bits of each register (IMX8MPRM, the UART register
// descriptions). UTS keeps only its configuration bits -- FRCPERR, LOOP,
// DBGEN, LOOPIR, RXDBG [13:9] -- not the FIFO status (TXEMPTY, RXEMPTY,
// TXFULL, RXFULL) or SOFTRST, which the device sets.
const (
	mask16   = 0xffff
	maskUESC = 0xff  // ESC_CHAR [7:0]
	maskUTIM = 0xfff // TIM [11:0]
	maskUTS  = 0x3e00
)

// State is the UART's configuration: the registers the guest programs.
type State struct {
	UCR1, UCR2, UCR3, UCR4, UFCR, UESC, UTIM, UBIR, UBMR, UTS uint32
}

// EncodedSize is the size of an encoded State.
const EncodedSize = 10 * 4

// fields lists the registers in wire order, which is Replay's order
// before the control registers: UFCR, UESC, UTIM, UBIR, UBMR, UTS, then
// UCR1 to UCR4 (imx_uart_restore_context).
func (s *State) fields() []regfile.Field {
	return []regfile.Field{
		{"UFCR", UFCR, mask16, &s.UFCR}, {"UESC", UESC, maskUESC, &s.UESC}, {"UTIM", UTIM, maskUTIM, &s.UTIM},
		{"UBIR", UBIR, mask16, &s.UBIR}, {"UBMR", UBMR, mask16, &s.UBMR}, {"UTS", UTS, maskUTS, &s.UTS},
		{"UCR1", UCR1, mask16, &s.UCR1}, {"UCR2", UCR2, mask16, &s.UCR2}, {"UCR3", UCR3, mask16, &s.UCR3},
		{"UCR4", UCR4, mask16, &s.UCR4},
	}
}

// Capture reads the UART's configuration from the device, as
// imx_uart_save_context does: each register reads back what was written.
func Capture(dev mmio.Device) *State {
	s := &State{}
	regfile.Capture(dev, s.fields())
	return s
}

// Encode returns the wire form: the registers in fields' order, u32
// little-endian.
func (s *State) Encode() []byte { return regfile.Encode(s.fields()) }

// Decode reads a state of a version from Oldest to Version, as Encode
// writes it, and validates it.
func Decode(version uint16, b []byte) (*State, error) {
	if err := regfile.CheckVersion("imxuart", version, Oldest, Version); err != nil {
		return nil, err
	}
	s := &State{}
	if err := regfile.Decode("imxuart", b, s.fields()); err != nil {
		return nil, err
	}
	return s, nil
}

// Validate checks that no register has bits outside its defined fields.
func (s *State) Validate() error { return regfile.Validate("imxuart", s.fields()) }

// txPolls bounds the wait for the destination's UART to finish what it
// is sending (Ferry's own log) before it is reprogrammed.
const txPolls = 100_000

// Replay programs the configuration into a UART: it waits (bounded) for
// USR2.TXDC, then writes the registers in imx_uart_restore_context's
// order, UCR2 with SRST set so that the write does not reset the UART. A
// UART that never completes its transmission is reported, with the
// configuration programmed anyway.
func (s *State) Replay(dev mmio.Device) error {
	if err := s.Validate(); err != nil {
		return err
	}
	var err error
	done := false
	for range txPolls {
		if dev.Read(USR2, 4)&USR2_TXDC != 0 {
			done = true
			break
		}
	}
	if !done {
		err = fmt.Errorf("imxuart: USR2.TXDC still clear after %d reads", txPolls)
	}
	for _, f := range s.fields() {
		v := *f.P
		if f.Off == UCR2 {
			v |= UCR2_SRST
		}
		dev.Write(f.Off, 4, uint64(v))
	}
	return err
}
