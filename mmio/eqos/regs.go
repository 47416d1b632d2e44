// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package eqos

// The EQOS's DMA registers (Synopsys DWC Ethernet QoS 5.10a databook,
// "DMA Registers"; IMX8MPRM, chapter "Ethernet QoS with TSN (ENET_QOS)",
// register map; cross-checked against Linux's dwmac4_dma.h). Offsets are
// from the block's base (0x30bf0000 on the i.MX8M Plus); every register is
// 32 bits wide. All of them sit in one 4 KiB page of the block, the one at
// Page: the page Ferry traps. The MAC and MTL registers (the page below)
// and the rest of the block hold no memory address and are the guest's.
const (
	// Page is the offset of the trapped page in the block: offsets given
	// to the model (mmio.Device) are from here.
	Page = 0x1000
	// PageSize is its size.
	PageSize = 0x1000

	// DMA_Mode: SWR (software reset of the whole block, self-clearing).
	RegMode = 0x1000
	// DMA_SysBus_Mode: EAME, the enhanced (40- or 48-bit) address mode,
	// which decides how the descriptors' address words read.
	RegSysBusMode = 0x1004
	// DMA_Interrupt_Status: which channel (and the MAC, the MTL) has an
	// event; read by the guest's interrupt handler.
	RegIntStatus = 0x1008
	// DMA_Debug_Status0: each channel's transmit and receive process
	// state (TPS0, RPS0 for channel 0).
	RegDebugStatus0 = 0x100c
	// commonEnd is the end of the registers common to the channels.
	commonEnd = 0x1100

	// Channel registers: channel c's at ChanBase + c*ChanStride, each
	// at the offset below within its block.
	ChanBase   = 0x1100
	ChanStride = 0x80
	// NumChannels is how many channels the i.MX8M Plus's EQOS has (five
	// transmit and five receive queues, one DMA channel each). Ferry
	// relays channel 0 alone.
	NumChannels = 5
	chanEnd     = ChanBase + NumChannels*ChanStride

	ChControl     = 0x00 // DMA_CH0_Control: PBLx8, DSL, SPH
	ChTxControl   = 0x04 // DMA_CH0_Tx_Control: ST, OSF, TSE, TxPBL, EDSE
	ChRxControl   = 0x08 // DMA_CH0_Rx_Control: SR, RBSZ, RxPBL, RPF
	ChTxBaseHi    = 0x10 // DMA_CH0_TxDesc_List_HAddress
	ChTxBase      = 0x14 // DMA_CH0_TxDesc_List_Address
	ChRxBaseHi    = 0x18 // DMA_CH0_RxDesc_List_HAddress
	ChRxBase      = 0x1c // DMA_CH0_RxDesc_List_Address
	ChTxTail      = 0x20 // DMA_CH0_TxDesc_Tail_Pointer
	ChRxTail      = 0x28 // DMA_CH0_RxDesc_Tail_Pointer
	ChTxRingLen   = 0x2c // DMA_CH0_TxDesc_Ring_Length: descriptors - 1
	ChRxRingLen   = 0x30 // DMA_CH0_RxDesc_Ring_Length: descriptors - 1
	ChIntEnable   = 0x34 // DMA_CH0_Interrupt_Enable
	ChRxWatchdog  = 0x38 // DMA_CH0_Rx_Interrupt_Watchdog_Timer
	ChSlotControl = 0x3c // DMA_CH0_Slot_Function_Control_Status
	ChCurTxDesc   = 0x44 // DMA_CH0_Current_App_TxDesc (read-only)
	ChCurRxDesc   = 0x4c // DMA_CH0_Current_App_RxDesc (read-only)
	ChStatus      = 0x60 // DMA_CH0_Status: write 1 to clear

	// DMA_Mode.
	ModeSWR = 1 << 0
	// DMA_SysBus_Mode.
	SysBusEAME = 1 << 11
	// DMA_Debug_Status0: channel 0's receive (RPS0) and transmit (TPS0)
	// process states; 0 is Stopped.
	DebugRPS0Shift = 8
	DebugTPS0Shift = 12
	debugPSMask    = 0xf

	// DMA_CH0_Control: DSL, the descriptor skip length (in bus beats
	// between descriptors), and SPH, split header.
	ControlDSLShift = 18
	ControlDSLMask  = 0x7 << ControlDSLShift
	ControlSPH      = 1 << 24
	// DMA_CH0_Tx_Control: ST starts the transmit DMA; EDSE makes its
	// descriptors enhanced (32 bytes).
	TxControlST   = 1 << 0
	TxControlEDSE = 1 << 28
	// DMA_CH0_Rx_Control: SR starts the receive DMA; RBSZ is the size of
	// each receive buffer, in bytes.
	RxControlSR        = 1 << 0
	RxControlRBSZShift = 1
	RxControlRBSZMask  = 0x3fff << RxControlRBSZShift
	// Ring length registers: 10 bits, the descriptors less one.
	RingLenMask = 0x3ff

	// DMA_CH0_Status bits the relay names (the rest pass as they are).
	StatusTI  = 1 << 0  // transmit interrupt
	StatusTPS = 1 << 1  // transmit process stopped
	StatusTBU = 1 << 2  // transmit buffer unavailable
	StatusRI  = 1 << 6  // receive interrupt
	StatusRBU = 1 << 7  // receive buffer unavailable
	StatusRPS = 1 << 8  // receive process stopped
	StatusFBE = 1 << 12 // fatal bus error
	StatusAIS = 1 << 14 // abnormal interrupt summary
	StatusNIS = 1 << 15 // normal interrupt summary
)

// chanReg is the channel and the offset within its block of a register
// offset off (from the block's base), ok false outside the channel
// registers.
func chanReg(off uint64) (ch int, reg uint64, ok bool) {
	if off < ChanBase || off >= chanEnd {
		return 0, 0, false
	}
	return int((off - ChanBase) / ChanStride), (off - ChanBase) % ChanStride, true
}
