// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package enet

// Register offsets of the ENET block (IMX8MPRM, chapter "Ethernet MAC
// (ENET)", section "ENET memory map"; the same block and offsets as the
// i.MX6SX and i.MX8MQ ENET, and as Linux's drivers/net/ethernet/freescale/
// fec.h). Every register is 32 bits wide and accessed 32 bits wide.
const (
	RegEIR  = 0x004 // Interrupt Event Register (write 1 to clear)
	RegEIMR = 0x008 // Interrupt Mask Register (1: enabled)
	RegRDAR = 0x010 // Receive Descriptor Active Register, ring 0
	RegTDAR = 0x014 // Transmit Descriptor Active Register, ring 0
	RegECR  = 0x024 // Ethernet Control Register
	RegMMFR = 0x040 // MII Management Frame Register
	RegMSCR = 0x044 // MII Speed Control Register
	RegMIBC = 0x064 // MIB Control Register
	RegRCR  = 0x084 // Receive Control Register
	RegTCR  = 0x0c4 // Transmit Control Register
	RegPALR = 0x0e4 // Physical Address Lower Register: MAC bytes 0-3
	RegPAUR = 0x0e8 // Physical Address Upper Register: MAC bytes 4-5 in [31:16]
	RegTXIC = 0x0f0 // Transmit Interrupt Coalescing, ring 0
	RegRXIC = 0x100 // Receive Interrupt Coalescing, ring 0
	RegIAUR = 0x118 // Descriptor Individual Upper Address (unicast hash)
	RegIALR = 0x11c // Descriptor Individual Lower Address
	RegGAUR = 0x120 // Descriptor Group Upper Address (multicast hash)
	RegGALR = 0x124 // Descriptor Group Lower Address
	RegTFWR = 0x144 // Transmit FIFO Watermark Register
	RegRDSR = 0x180 // Receive Descriptor Ring 0 Start Register
	RegTDSR = 0x184 // Transmit Descriptor Ring 0 Start Register
	RegMRBR = 0x188 // Maximum Receive Buffer Size Register, ring 0
	RegFTRL = 0x1b0 // Frame Truncation Length
	RegRACC = 0x1c4 // Receive Accelerator Function Configuration

	// RegsSize is the register window the driver needs (the DTB gives
	// the ENET 64 KiB).
	RegsSize = 0x400
)

// EIR and EIMR bits (ENET_EIR "Interrupt Event Register").
const (
	EventBABR  = 1 << 30 // babbling receive error
	EventBABT  = 1 << 29 // babbling transmit error
	EventGRA   = 1 << 28 // graceful stop complete
	EventTXF   = 1 << 27 // transmit frame interrupt, ring 0
	EventTXB   = 1 << 26 // transmit buffer interrupt, ring 0
	EventRXF   = 1 << 25 // receive frame interrupt, ring 0
	EventRXB   = 1 << 24 // receive buffer interrupt, ring 0
	EventMII   = 1 << 23 // MII management frame completed
	EventEBERR = 1 << 22 // Ethernet bus error: the DMA stopped
)

// RDAR and TDAR: any write sets the ACTIVE bit (the ring has descriptors
// for the MAC); the MAC clears it when it finds none.
const DescriptorActive = 1 << 24

// ECR bits (ENET_ECR "Ethernet Control Register").
const (
	ECRReset   = 1 << 0 // soft reset (Linux disables instead on the AVB ENETs: ECR = 0)
	ECREtherEn = 1 << 1 // MAC and its DMA enabled
	ECREN1588  = 1 << 4 // enhanced descriptors (clear: legacy 8-byte descriptors)
	ECRSpeed   = 1 << 5 // 1000 Mbit/s (clear: 10/100, RCR.RMII_10T chooses)
	ECRDBSWP   = 1 << 8 // descriptors little-endian (the only setting for an arm64 CPU)
)

// RCR bits and fields (ENET_RCR "Receive Control Register").
const (
	RCRLoop     = 1 << 0  // internal loopback
	RCRDRT      = 1 << 1  // disable receive on transmit (half duplex)
	RCRMIIMode  = 1 << 2  // must be 1 (MII or RMII/RGMII signalling)
	RCRProm     = 1 << 3  // promiscuous
	RCRFCE      = 1 << 5  // flow control (PAUSE frames)
	RCRRGMII    = 1 << 6  // RGMII
	RCRRMII     = 1 << 8  // RMII
	RCRRMII10T  = 1 << 9  // 10 Mbit/s (with ECR.SPEED clear)
	RCRCRCFwd   = 1 << 14 // strip the received CRC
	RCRMaxFLPos = 16      // MAX_FL [29:16]: the longest frame, CRC included
	RCRMaxFLMax = 0x3fff
)

// TCR bits (ENET_TCR "Transmit Control Register").
const TCRFDEN = 1 << 2 // full duplex

// TFWR bits (ENET_TFWR "Transmit FIFO Watermark Register").
const TFWRStrFwd = 1 << 8 // store and forward: a frame is sent once wholly in the FIFO

// MSCR fields (ENET_MSCR "MII Speed Control Register"): MDC is the IPG
// clock / ((MII_SPEED + 1) * 2).
const (
	MSCRSpeedPos    = 1 // MII_SPEED [6:1]
	MSCRSpeedMax    = 0x3f
	MSCRHoldTimePos = 8 // HOLDTIME [10:8]: IPG cycles of MDIO hold, minus one
)

// MMFR fields (ENET_MMFR "MII Management Frame Register"): an IEEE 802.3
// Clause 22 management frame. Writing it starts the frame; EIR.MII says
// it is done, and the read data is in DATA.
const (
	MMFRST      = 0b01 << 30 // start of frame (Clause 22)
	MMFROpWrite = 0b01 << 28
	MMFROpRead  = 0b10 << 28
	MMFRPAPos   = 23         // PHY address [27:23]
	MMFRRAPos   = 18         // register address [22:18]
	MMFRTA      = 0b10 << 16 // turnaround
	MMFRData    = 0xffff     // DATA [15:0]
)
