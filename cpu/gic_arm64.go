// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package cpu

func isb()

// ISB is an instruction synchronization barrier (ARM ARM C6.2.113 ISB):
// a system-register write (a list register, ICH_HCR_EL2) is in effect for
// the instructions after it.
func ISB() { isb() }

// AckGroup1 acknowledges the highest-priority pending Group 1 interrupt
// at EL2 (ICC_IAR1_EL1; HCR_EL2.IMO takes every physical IRQ there) and
// returns its INTID, 1020-1023 when none is.
func AckGroup1() uint32 { return uint32(ReadICC_IAR1_EL1() & 0xffffff) }

// DropGroup1 is the priority drop of an interrupt AckGroup1 returned
// (ICC_EOIR1_EL1 with ICC_CTLR_EL1.EOImode = 1: it stays active).
func DropGroup1(id uint32) { WriteICC_EOIR1_EL1(uint64(id)) }

// DeactivateInterrupt deactivates an interrupt (ICC_DIR_EL1): Ferry's own,
// or the guest's that the guest will not end.
func DeactivateInterrupt(id uint32) { WriteICC_DIR_EL1(uint64(id)) }
