//go:build tamago && arm64

package imx8mp

import (
	"fmt"
	"slices"

	"github.com/ferry-hv/ferry/boot/dtb"
	"github.com/ferry-hv/ferry/boot/el2"
	"github.com/ferry-hv/ferry/cpu"
)

var (
	firmwareDTB []byte
	board       *dtb.Board
)

// FirmwareDTB is a copy of the DTB U-Boot passed.
func FirmwareDTB() []byte { return firmwareDTB }

// Board is the machine as the firmware's DTB describes it.
func Board() *dtb.Board { return board }

func readBoard() error {
	blob, b, err := el2.ReadDTB(uintptr(dtbAddr), "U-Boot passes the DTB's address in x0 (booti, bootm); put it below the image (fdt_addr_r=0x40000000)")
	if err != nil {
		return err
	}
	if len(b.Memory) == 0 || b.Memory[0].Base != RAMBase {
		return fmt.Errorf("firmware device tree: RAM %v does not start at %#x", b.Memory, RAMBase)
	}
	if !slices.Contains(b.UARTCompatible, consoleCompatible) {
		return fmt.Errorf("firmware device tree: console %s (%v) is not an i.MX UART (%s)", b.UARTPath, b.UARTCompatible, consoleCompatible)
	}
	firmwareDTB, board = blob, b
	console.Base = uintptr(b.UART.Base)
	el2.MapRAM(b.Memory)
	el2.SeedRNG(b.RNGSeed)
	return nil
}

// psciSystemOff is PSCI SYSTEM_OFF (Arm DEN 0022 PSCI, 5.1), which TF-A
// implements on the i.MX8M Plus (plat/imx/imx8m: the SNVS turns the PMIC
// off).
const psciSystemOff = 0x84000008

// PowerOff asks the firmware (TF-A, through an SMC) to turn the board off.
// It spins if the firmware returns.
func PowerOff() {
	cpu.SMC([8]uint64{psciSystemOff})
	for {
		cpu.WaitForInterrupt()
	}
}
