//go:build tamago && arm64

package virt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/ferry-hv/ferry/phys"
	"unsafe"

	"github.com/ferry-hv/ferry/boot/dtb"
	"github.com/ferry-hv/ferry/cpu"
)

// fdtMagic and fdtMaxSize bound what is accepted at DTBAddr (Devicetree
// Specification 5.2, "Header").
const (
	fdtMagic   = 0xd00dfeed
	fdtMaxSize = 2 << 20
)

var (
	firmwareDTB []byte
	board       *dtb.Board
)

// FirmwareDTB is a copy of the DTB QEMU generated for this board.
func FirmwareDTB() []byte { return firmwareDTB }

// Board is the machine as the firmware's DTB describes it.
func Board() *dtb.Board { return board }

func readBoard() error {
	hdr := unsafe.Slice((*byte)(unsafe.Pointer(uintptr(DTBAddr))), 8)
	if m := binary.BigEndian.Uint32(hdr); m != fdtMagic {
		return fmt.Errorf("no device tree at %#x (magic %#x): start Ferry as an ELF -kernel so QEMU places its DTB there", DTBAddr, m)
	}
	size := binary.BigEndian.Uint32(hdr[4:])
	if size > fdtMaxSize {
		return fmt.Errorf("device tree at %#x claims %d bytes (limit %d)", DTBAddr, size, fdtMaxSize)
	}
	firmwareDTB = make([]byte, size)
	copy(firmwareDTB, unsafe.Slice((*byte)(unsafe.Pointer(uintptr(DTBAddr))), size))
	b, err := dtb.Parse(firmwareDTB)
	if err != nil {
		return fmt.Errorf("firmware device tree: %w", err)
	}
	if len(b.Memory) == 0 || b.Memory[0].Base != RAMBase {
		return errors.New("firmware device tree: RAM does not start at 0x40000000")
	}
	board = b
	console.base = uintptr(b.UART.Base)
	var ram []phys.Range
	for _, r := range b.Memory {
		ram = append(ram, phys.Range{Base: r.Base, Size: r.Size})
	}
	mapRAM(ram)
	seedRNG(b.RNGSeed)
	return nil
}

// PSCI function IDs Ferry issues itself (Arm DEN 0022 PSCI, 5.1).
const (
	psciSystemOff   = 0x84000008
	psciSystemReset = 0x84000009
)

// PowerOff asks the firmware to turn the board off (QEMU exits). It spins if
// the firmware returns.
func PowerOff() {
	cpu.SMC([8]uint64{psciSystemOff})
	for {
		cpu.WaitForInterrupt()
	}
}
