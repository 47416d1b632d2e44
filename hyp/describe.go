// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package hyp

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ferry-hv/ferry/boot/dtb"
	"github.com/ferry-hv/ferry/cpu"
	"github.com/ferry-hv/ferry/gic"
	"github.com/ferry-hv/ferry/mmio"
	"github.com/ferry-hv/ferry/mmio/eqos"
	"github.com/ferry-hv/ferry/mmu"
	"github.com/ferry-hv/ferry/phys"
)

const (
	// ipaBits is the guest's intermediate physical address size: 40 bits
	// reach every device QEMU's virt board places (PCIe MMIO up to 1 TiB).
	// The stage-2 tables' size is the description's (Stage2Pages).
	ipaBits = 40
)

// Treatment is how Ferry treats one device of the board. The rule
// (docs/decisions.md, "One machine description"): pass a device through
// unless Ferry must keep something of it; trap only what cannot be read
// back at the pause or what would let the guest take Ferry's own.
type Treatment uint8

const (
	// PassThrough: mapped at stage 2, the guest drives it. Its state, if
	// it has any to move, is read from the device at the pause (the
	// PL011's configuration registers read back).
	PassThrough Treatment = iota
	// Trapped: the device stays the guest's, but some of its pages (Traps)
	// are unmapped and every access to them goes through a model. The
	// GIC's control pages: the guard keeps Ferry's interrupts Ferry's.
	Trapped
	// Hidden: unmapped and removed from the guest's device tree. The GIC
	// ITS (its tables in guest memory are not migratable state) and the
	// devices that DMA unchecked which the guest does not need (fw-cfg).
	Hidden
	// Own: Ferry's own device (its management NIC): unmapped and removed
	// from the guest's device tree. Where it shares a page with a device
	// the guest keeps, that page traps and the guest's part is forwarded.
	Own
)

func (t Treatment) String() string {
	switch t {
	case PassThrough:
		return "passed through"
	case Trapped:
		return "trapped"
	case Hidden:
		return "hidden"
	case Own:
		return "Ferry's"
	}
	return fmt.Sprintf("Treatment(%d)", t)
}

// Device is one device of the board's DTB and how Ferry treats it.
type Device struct {
	dtb.Device
	Treat Treatment
	// Traps are the pages of a Trapped device that go through a model;
	// Parts the ranges within pages it shares (a guest's virtio-mmio
	// transport).
	Traps []Port
	Parts []Part
	// Unmapped are ranges of a Trapped device that no model serves: not
	// mapped, the guest's access to them is its own external abort (the
	// other cores' redistributors).
	Unmapped []phys.Range
	// Why is the rule that decided the treatment, for logs and docs.
	Why string
}

// Model names what serves a trapped page on the MMIO bus.
type Model uint8

const (
	// ModelGICD is the distributor's control page (gic.Guard.DistPage).
	ModelGICD Model = iota + 1
	// ModelGICRD is the redistributor's RD_base page (gic.Guard.RDPage).
	ModelGICRD
	// ModelGICSGI is the redistributor's SGI_base page (gic.Guard.SGIPage).
	ModelGICSGI
	// ModelGICRoute is a distributor page holding the GICD_IROUTER<n> of
	// an SPI Ferry owns (gic.Guard.RoutePages).
	ModelGICRoute
	// ModelPage is a page part of which is kept (Port.Parts, each served by
	// its part's model); the rest is performed on the page.
	ModelPage
	// ModelHole is a part of a page that reads as zero and ignores writes:
	// a device Ferry keeps, on a page the guest shares.
	ModelHole
	// ModelVirtio is a part of a page that goes to the model of the
	// guest's virtio-mmio transport (virtiommio.Transport), which records
	// the driver's set-up.
	ModelVirtio
	// ModelEQOS is the DMA page of an EQOS Ferry relays (eqos.Model):
	// its descriptor rings run on shadow rings in Ferry's memory.
	ModelEQOS
)

func (m Model) String() string {
	switch m {
	case ModelGICD:
		return "GIC distributor guard"
	case ModelGICRD:
		return "GIC redistributor (RD_base) guard"
	case ModelGICSGI:
		return "GIC redistributor (SGI_base) guard"
	case ModelGICRoute:
		return "GIC distributor (IROUTER) guard"
	case ModelPage:
		return "page with kept parts"
	case ModelHole:
		return "hole"
	case ModelVirtio:
		return "virtio-mmio transport model"
	case ModelEQOS:
		return "EQOS DMA relay"
	}
	return fmt.Sprintf("Model(%d)", m)
}

// Port is one page range on the MMIO bus and what serves it.
type Port struct {
	phys.Range
	Model Model
	Parts []Part // ModelPage: the kept ranges, in address order
	// Frame is, for ModelGICRD and ModelGICSGI, the redistributor's frame
	// in its region: the vCPU's index.
	Frame int
}

// Part is a range of a ModelPage port (absolute addresses) and its model.
type Part struct {
	phys.Range
	Model Model
}

// Mapping is one stage-2 mapping, identity (IPA == PA).
type Mapping struct {
	phys.Range
	Device bool // Device-nGnRE, not executable; else Normal write-back RAM
}

// Options are what Describe needs beside the board's DTB.
type Options struct {
	// GuestBase is the end of Ferry's carve-out: guest RAM is the board's
	// RAM above it.
	GuestBase uint64
	// MgmtNIC is the node path of Ferry's management NIC ("" if none): a
	// virtio-mmio transport (QEMU's board) or an Ethernet MAC with GIC
	// SPIs (the i.MX8M Plus's FEC), whose first interrupt is Ferry's.
	MgmtNIC string
	// TickINTID is the PPI of Ferry's EL2 timer.
	TickINTID uint32
	// Kick is the SGI (0-15) by which Ferry's other CPUs wake the boot
	// CPU (boot/el2's Wake), 0 for none (Ferry on one CPU).
	Kick uint32
	// VCPUs are the affinities (MPIDR_EL1) of the CPUs the guest gets a
	// vCPU on, the boot CPU's first, in the order of their redistributor
	// frames; empty: the boot CPU alone (Route's).
	VCPUs []uint64
	// MaintINTID is the PPI of the GIC's virtual-CPU-interface maintenance
	// interrupt (the interrupts property of the DTB's GIC node): the
	// guest's interrupts go through the virtual CPU interface, and Ferry
	// keeps this one with its own. Required.
	MaintINTID uint32
	// GuestNICs are the node paths of the virtio-mmio transports with a
	// network device that is the guest's (found by probing at boot): their
	// registers go to a model that records the driver's set-up.
	GuestNICs []string
	// Unrelayed are the node paths of the virtio-mmio transports with
	// another device (not a virtio-net on a virtio 1.x transport, which
	// alone the guest's model relays): hidden, for the guest would program
	// its DMA unchecked.
	Unrelayed []string
	// Route is the GICD_IROUTER<n> value that targets Ferry's CPU
	// (gic.RouteTo of its MPIDR_EL1): where the management NIC's SPI goes.
	Route uint64
	// RelayDMA is Ferry's memory for the shadow rings of the bus masters
	// it relays (relayed; the i.MX8M Plus's EQOS), which the devices reach
	// by DMA: Non-cacheable where they do not snoop the CPU's caches,
	// below 4 GiB. Each relayed device takes eqos.ShadowSize of it; one
	// that finds none left, or a board without it, is hidden as the
	// other bus masters are.
	RelayDMA phys.Range
}

// Relayed is a bus master Ferry relays: its node, the base of its
// registers, and its part of Options.RelayDMA.
type Relayed struct {
	Path   string
	Base   uint64
	Shadow phys.Range
}

// Description is the machine Ferry gives its guest, derived from the
// board's DTB in one place: each device's treatment, and from them the
// stage-2 map, the guest's DTB patch, the MMIO bus and the interrupts
// Ferry keeps.
type Description struct {
	RAM     []phys.Range // the guest's RAM: the board's above GuestBase
	Devices []Device     // every device of the DTB, in tree order
	Stage2  []Mapping    // the guest's IPA space, sorted
	Ports   []Port       // the trapped pages, sorted
	// Patch removes the Hidden and Own devices from the guest's DTB and
	// gives it RAM; a boot adds the kernel's part (guest.Layout).
	Patch dtb.Patch
	// Owned are the interrupts Ferry keeps (the GIC guard enforces them):
	// Tick, its EL2 timer's PPI, MgmtNIC, its management NIC's SPI (an
	// INTID; 0 without one), and Maint, the virtual CPU interface's
	// maintenance PPI, which Ferry takes itself as Non-secure Group 1
	// IRQs; the guest's go through the virtual CPU interface.
	// Kick, if not 0, is the SGI by which Ferry's other CPUs wake this
	// one (Options.Kick).
	Owned   gic.Owned
	Tick    uint32
	MgmtNIC uint32
	Maint   uint32
	Kick    uint32
	// VCPUs are the guest's vCPUs' affinities (Options.VCPUs), vCPU i on
	// redistributor frame i; at least the boot CPU's.
	VCPUs []uint64
	// GICD and GICR are the GIC's distributor and first redistributor
	// region.
	GICD, GICR phys.Range
	// UART is the console the guest drives (passed through), Console its
	// kind.
	UART    phys.Range
	Console Console
	// GuestNICs are the guest's NICs' transports (Options.GuestNICs),
	// with their interrupts: a transport set up again after a migration
	// makes its interrupt pending.
	GuestNICs []dtb.VirtioMMIO
	// Relayed are the bus masters Ferry relays (the EQOS).
	Relayed []Relayed
}

// Console is the kind of the console UART. The guest drives it, passed
// through; its configuration registers read back, and the kind decides
// which component reads them at the pause and replays them on the
// destination (components.go).
type Console uint8

const (
	// ConsolePL011 is an ARM PrimeCell UART (PL011): package mmio/pl011.
	ConsolePL011 Console = iota + 1
	// ConsoleIMX is the i.MX UART of the i.MX6 to i.MX8M SoCs:
	// package mmio/imxuart.
	ConsoleIMX
)

// consoles are the UARTs Ferry supports as the console, by the
// compatible string their devicetree bindings require.
var consoles = []struct {
	compat string
	kind   Console
}{{"arm,pl011", ConsolePL011}, {"fsl,imx6q-uart", ConsoleIMX}}

func (c Console) String() string {
	for _, k := range consoles {
		if k.kind == c {
			return k.compat
		}
	}
	return fmt.Sprintf("Console(%d)", c)
}

// console returns the kind of b's console, or an error naming it.
func console(b *dtb.Board) (Console, error) {
	for _, k := range consoles {
		if slices.Contains(b.UARTCompatible, k.compat) {
			return k.kind, nil
		}
	}
	var names []string
	for _, k := range consoles {
		names = append(names, k.compat)
	}
	return 0, fmt.Errorf("machine: console %s (%s) is not a UART Ferry supports (%s)",
		b.UARTPath, strings.Join(b.UARTCompatible, ", "), strings.Join(names, ", "))
}

// busMasters are the devices that read and write memory by themselves
// (DMA, bus mastering) at physical addresses the guest programs, by
// compatible string, each with what masters the bus. No board Ferry plans
// has an IOMMU Ferry programs between them and memory, so a guest given
// one could point it at Ferry's carve-out -- its stage-2 tables, its keys
// -- and what one wrote during a migration's pre-copy would not be
// tracked. Each is hidden, unless it is Ferry's own (its management NIC)
// or one Ferry relays (compatEQOS, through mmio/eqos, as the guest's
// virtio-net is through mmio/virtq). A device inside a hidden one goes
// with it. docs/dma.md has the table, and what relaying each would take.
var busMasters = []struct{ compat, dma string }{
	{"qemu,fw-cfg-mmio", "QEMU's fw-cfg: its DMA register takes a physical address"},
	// PCIe host bridges: every device behind one masters the bus.
	{"fsl,imx8mq-pcie", "PCIe host bridge: every device behind it masters the bus, and MSIs are writes to an address the guest programs"},
	{"fsl,imx8mm-pcie", "PCIe host bridge: every device behind it masters the bus, and MSIs are writes to an address the guest programs"},
	{"fsl,imx8mp-pcie", "PCIe host bridge: every device behind it masters the bus, and MSIs are writes to an address the guest programs"},
	{"fsl,lx2160a-pcie", "PCIe host bridge: every device behind it masters the bus"},
	// i.MX8M (Quad, Mini, Nano, Plus).
	{"fsl,imx7d-usdhc", "SD/eMMC host (uSDHC): ADMA2 descriptor tables and data at physical addresses"},
	{"fsl,imx8mq-sdma", "Smart DMA engine (SDMA): a RISC core running scripts from memory, moving any buffer"},
	{"fsl,imx28-dma-apbh", "APBH DMA (the NAND's): command chains and data in memory"},
	{"fsl,imx7d-gpmi-nand", "NAND controller (GPMI) and its BCH engine: data and ECC at physical addresses"},
	{"fsl,imx6sx-fec", "Ethernet (FEC/ENET): descriptor rings and buffers"},
	{"snps,dwmac-5.10a", "Ethernet (EQOS, Synopsys DWMAC): descriptor rings and buffers"},
	{"snps,dwc3", "USB 3 controller (DWC3, xHCI): rings, contexts and buffers"},
	{"fsl,imx7d-usb", "USB 2 controller (ChipIdea): queue heads, descriptors and buffers"},
	{"vivante,gc", "GPU (Vivante GC): command buffers, and its MMU's tables, at physical addresses"},
	{"nxp,imx8mq-vpu-g1", "video decoder (Hantro G1): bitstreams and frames"},
	{"nxp,imx8mq-vpu-g2", "video decoder (Hantro G2): bitstreams and frames"},
	{"nxp,imx8mm-vpu-g1", "video decoder (Hantro G1): bitstreams and frames"},
	{"fsl,imx28-lcdif", "display controller (LCDIF): reads its framebuffer wherever the guest puts it"},
	{"fsl,imx7-csi", "camera interface (CSI): writes frames"},
	{"fsl,imx8mp-dsp", "HiFi4 DSP: a processor of its own, running from DRAM and reaching all of it"},
	{"fsl,sec-v4.0", "crypto engine (CAAM): job rings, descriptors and data at physical addresses"},
	// Layerscape LX2160A (its SMMU is not Ferry's: the guest's or the firmware's).
	{"fsl,esdhc", "SD/eMMC host (eSDHC): DMA descriptors and data"},
	{"fsl,lx2160a-ahci", "SATA (AHCI): command lists, tables and data"},
	{"fsl,qoriq-mc", "DPAA2 management complex: network and DMA objects over all of memory"},
	{"pci-host-ecam-generic", "PCIe host bridge: every device behind it masters the bus"},
}

// busMaster returns what of dev masters the bus, "" if it does not.
func busMaster(dev dtb.Device) string {
	for _, m := range busMasters {
		if dev.Is(m.compat) {
			return m.dma
		}
	}
	return ""
}

// Compatible strings the description acts on.
const (
	compatGICv3 = "arm,gic-v3"
	compatITS   = "arm,gic-v3-its"
	// compatEQOS is the i.MX8M Plus's EQOS, which Ferry relays (package
	// mmio/eqos: channel 0, normal descriptors, the SoC's 40-bit mode).
	// Another SoC's DWMAC stays hidden.
	compatEQOS = "nxp,imx8mp-dwmac-eqos"
)

// relayEQOS says whether dev, an EQOS, can be relayed with what is left
// of the relay window, and takes its shadow memory from it if so.
func relayEQOS(dev dtb.Device, window *phys.Range) (Relayed, bool) {
	if len(dev.Regs) == 0 || dev.Regs[0].Size < eqos.Page+eqos.PageSize || window.Size < eqos.ShadowSize ||
		window.Base%mmu.PageSize != 0 || window.Base+eqos.ShadowSize > 1<<32 {
		return Relayed{}, false
	}
	x := Relayed{Path: dev.Path, Base: dev.Regs[0].Base, Shadow: phys.Range{Base: window.Base, Size: eqos.ShadowSize}}
	window.Base += eqos.ShadowSize
	window.Size -= eqos.ShadowSize
	return x, true
}

// mgmtNICSPI is the SPI of the management NIC at path: a virtio-mmio
// transport's, or an Ethernet MAC's first (dtb.Ethernet).
func mgmtNICSPI(b *dtb.Board, path string) (uint32, error) {
	if i := slices.IndexFunc(b.Virtio, func(v dtb.VirtioMMIO) bool { return v.Path == path }); i >= 0 {
		return b.Virtio[i].SPI, nil
	}
	if i := slices.IndexFunc(b.Ethernet, func(e dtb.Ethernet) bool { return e.Path == path }); i >= 0 && len(b.Ethernet[i].SPIs) > 0 {
		return b.Ethernet[i].SPIs[0], nil
	}
	return 0, fmt.Errorf("machine: management NIC %s is not a virtio-mmio transport of the board, nor an Ethernet MAC with GIC SPIs", path)
}

// Describe classifies every device of the board and derives the machine.
// A board whose console is not a UART Ferry supports, or without RAM
// above GuestBase, is refused (dtb.Parse already refused a board without
// a GICv3 or a console, naming what is missing).
func Describe(b *dtb.Board, o Options) (*Description, error) {
	kind, err := console(b)
	if err != nil {
		return nil, err
	}
	if b.PSCIMethod != "smc" {
		// Ferry asks the firmware for PSCI and SMCCC over SMC at boot and
		// forwards the guest's calls it serves: without firmware that
		// answers (no /psci, as QEMU leaves it under a -bios at EL3 such
		// as U-Boot without its own PSCI), its first SMC would be an
		// undefined instruction at EL2.
		method := "no /psci node"
		if b.PSCIMethod != "" {
			method = fmt.Sprintf("/psci method %q", b.PSCIMethod)
		}
		return nil, fmt.Errorf("machine: the DTB has %s: Ferry needs the firmware's PSCI over SMC (TF-A, or QEMU's own with -kernel)", method)
	}
	d := &Description{GICD: b.GICD, GICR: b.GICR, UART: b.UART, Console: kind}
	for _, v := range b.Virtio {
		if slices.Contains(o.GuestNICs, v.Path) {
			d.GuestNICs = append(d.GuestNICs, v)
		}
	}
	for _, r := range b.Memory {
		switch {
		case r.End() <= o.GuestBase:
		case r.Base < o.GuestBase:
			d.RAM = append(d.RAM, phys.Range{Base: o.GuestBase, Size: r.End() - o.GuestBase})
		default:
			d.RAM = append(d.RAM, r)
		}
	}
	// Firmware's no-map regions are not the guest's: not mapped at stage
	// 2, never read or written by a migration (a secure OS's memory would
	// abort the access). The guest's DTB keeps its /reserved-memory.
	for _, r := range b.NoMap {
		d.RAM = phys.Subtract(d.RAM, r.RoundOut(mmu.PageSize))
	}
	if len(d.RAM) == 0 {
		return nil, fmt.Errorf("machine: the board's RAM %v leaves nothing above Ferry's carve-out ending at %#x", b.Memory, o.GuestBase)
	}
	for _, r := range d.RAM {
		if r.Base%mmu.PageSize != 0 || r.Size%mmu.PageSize != 0 {
			return nil, fmt.Errorf("machine: guest RAM %v is not page-aligned", r)
		}
	}
	if o.MaintINTID == 0 {
		return nil, fmt.Errorf("machine: no maintenance interrupt for the GIC's virtual CPU interface (Options.MaintINTID), which the guest's interrupts go through")
	}
	d.Owned = gic.Owned{PPIs: []uint32{o.TickINTID, o.MaintINTID}, Route: o.Route}
	d.Tick, d.Maint = o.TickINTID, o.MaintINTID
	if o.Kick != 0 {
		d.Owned.SGIs, d.Kick = []uint32{o.Kick}, o.Kick
	}
	d.VCPUs = o.VCPUs
	if len(d.VCPUs) == 0 {
		d.VCPUs = []uint64{o.Route & cpu.MPIDRAffinity}
	}
	if d.VCPUs[0] != o.Route&cpu.MPIDRAffinity {
		return nil, fmt.Errorf("machine: vCPU 0 has affinity %#x, not the boot CPU's %#x", d.VCPUs[0], o.Route&cpu.MPIDRAffinity)
	}
	for i, a := range d.VCPUs {
		if slices.Contains(d.VCPUs[:i], a) {
			return nil, fmt.Errorf("machine: vCPUs %d and %d both have affinity %#x", slices.Index(d.VCPUs, a), i, a)
		}
	}
	if n := uint64(len(d.VCPUs)); n*gic.GICR_FrameSize > b.GICR.Size {
		return nil, fmt.Errorf("machine: %d vCPUs, but the redistributor region %v holds %d frames", n, b.GICR, b.GICR.Size/gic.GICR_FrameSize)
	}
	d.Patch.RemoveNodes = append(d.Patch.RemoveNodes, otherCPUs(b, d.VCPUs)...)
	if o.MgmtNIC != "" {
		spi, err := mgmtNICSPI(b, o.MgmtNIC)
		if err != nil {
			return nil, err
		}
		d.MgmtNIC = spi + gic.FirstSPI
		d.Owned.SPIs = []uint32{d.MgmtNIC}
	}

	window := o.RelayDMA
	for _, dev := range b.Devices {
		x := Device{Device: dev}
		var relayed Relayed
		relay := false
		if dev.Is(compatEQOS) && dev.Path != o.MgmtNIC {
			relayed, relay = relayEQOS(dev, &window)
		}
		switch {
		case dev.Is(compatGICv3):
			x.Treat, x.Why = Trapped, "its control pages trap to the guard, which keeps Ferry's interrupts Ferry's; the rest is passed through"
			x.Traps = []Port{{Range: phys.Range{Base: b.GICD.Base, Size: mmu.PageSize}, Model: ModelGICD}}
			for k := range d.VCPUs {
				rd := b.GICR.Base + uint64(k)*gic.GICR_FrameSize
				x.Traps = append(x.Traps,
					Port{Range: phys.Range{Base: rd, Size: mmu.PageSize}, Model: ModelGICRD, Frame: k},
					Port{Range: phys.Range{Base: rd + gic.GICR_SGIBase, Size: mmu.PageSize}, Model: ModelGICSGI, Frame: k})
			}
			for _, id := range d.Owned.SPIs {
				x.Traps = append(x.Traps, Port{Range: phys.Range{Base: b.GICD.Base + gic.RoutePage(id), Size: mmu.PageSize}, Model: ModelGICRoute})
			}
			// The redistributors of cores that are no vCPU's are not the
			// guest's: their RD_base would take the LPI tables' addresses
			// from it (GICR_PROPBASER, GICR_PENDBASER) and read and write
			// there, past stage 2. Unmapped; the last vCPU's says it is
			// the last (the guard's GICR_TYPER.Last), so the guest never
			// looks.
			if used := uint64(len(d.VCPUs)) * gic.GICR_FrameSize; b.GICR.Size > used {
				x.Unmapped = []phys.Range{{Base: b.GICR.Base + used, Size: b.GICR.Size - used}}
			}
		case dev.Is(compatITS):
			x.Treat, x.Why = Hidden, "its tables live in guest memory and its caches cannot be read back: not migratable, so the guest gets no LPIs"
		case o.MgmtNIC != "" && dev.Path == o.MgmtNIC:
			x.Treat, x.Why = Own, "Ferry's management NIC"
		case relay:
			x.Treat, x.Why = Trapped, "a bus master Ferry relays: its DMA page traps to a model that runs its descriptor rings on shadow rings in Ferry's memory, every buffer checked against guest RAM (mmio/eqos); the rest is passed through, and the guest's DTB says one queue each way"
			x.Traps = []Port{{Range: phys.Range{Base: relayed.Base + eqos.Page, Size: eqos.PageSize}, Model: ModelEQOS}}
			d.Relayed = append(d.Relayed, relayed)
			// Without its MTL configuration, Linux's stmmac takes one
			// transmit and one receive queue: DMA channel 0, the one
			// relayed (the others take no write).
			d.Patch.RemoveProps = append(d.Patch.RemoveProps, dtb.NodeProp{Path: dev.Path, Name: "snps,mtl-rx-config"}, dtb.NodeProp{Path: dev.Path, Name: "snps,mtl-tx-config"})
		case busMaster(dev) != "":
			x.Treat, x.Why = Hidden, "a bus master: "+busMaster(dev)+"; unchecked without an IOMMU, and not relayed (docs/dma.md)"
		case slices.Contains(o.Unrelayed, dev.Path):
			x.Treat, x.Why = Hidden, "a virtio device Ferry does not relay (only a virtio-net on a virtio 1.x transport): its DMA would go unchecked, without an IOMMU (docs/dma.md)"
		case slices.Contains(o.GuestNICs, dev.Path):
			x.Treat, x.Why = Trapped, "the guest's NIC: its transport's set-up is write-only, so a model records it for a migration"
			for _, r := range dev.Regs {
				x.Parts = append(x.Parts, Part{Range: r, Model: ModelVirtio})
			}
		default:
			x.Treat, x.Why = PassThrough, "nothing of it is Ferry's, and its state reads back"
		}
		d.Devices = append(d.Devices, x)
	}
	// A device inside a hidden one goes with it: a node below it (removed
	// with it), or one whose registers all lie in its (the LX2160A's DPAA2
	// console, in its management complex's). Tree order: ancestors first.
	for i := range d.Devices {
		x := &d.Devices[i]
		if x.Treat == Hidden || x.Treat == Own {
			continue
		}
		for _, y := range d.Devices {
			if (y.Treat == Hidden || y.Treat == Own) && y.Path != x.Path && (strings.HasPrefix(x.Path, y.Path+"/") || within(x.Regs, y.Regs)) {
				x.Treat, x.Why, x.Traps, x.Parts = Hidden, "inside "+y.Path+", hidden with it", nil, nil
				break
			}
		}
	}
	if err := d.derive(); err != nil {
		return nil, err
	}
	return d, nil
}

// derive computes the stage-2 map, the bus ports and the DTB patch from
// the devices' treatments.
func (d *Description) derive() error {
	// Every page any device has registers in, and the pages Ferry keeps.
	var all, kept []phys.Range
	pages := map[uint64]*Port{} // the ModelPage ports, by page
	part := func(x Device, p Part) error {
		page := p.RoundOut(mmu.PageSize)
		if page.Size != mmu.PageSize {
			return fmt.Errorf("machine: %s %v is kept in part, and spans more than one page", x.Path, p.Range)
		}
		port := pages[page.Base]
		if port == nil {
			port = &Port{Range: page, Model: ModelPage}
			pages[page.Base] = port
			kept = append(kept, page)
		}
		port.Parts = append(port.Parts, p)
		return nil
	}
	for _, x := range d.Devices {
		for _, r := range x.Regs {
			all = append(all, r.RoundOut(mmu.PageSize))
		}
		switch x.Treat {
		case Trapped:
			kept = append(kept, x.Unmapped...)
			for _, p := range x.Traps {
				kept = append(kept, p.Range)
				d.Ports = append(d.Ports, p)
			}
			for _, p := range x.Parts {
				if err := part(x, p); err != nil {
					return err
				}
			}
		case Hidden, Own:
			d.Patch.RemoveNodes = append(d.Patch.RemoveNodes, x.Path)
			for _, r := range x.Regs {
				// Another device the guest keeps in the same pages: the
				// page traps, and all but r is the guest's.
				if d.shares(x, r.RoundOut(mmu.PageSize)) {
					if err := part(x, Part{Range: r, Model: ModelHole}); err != nil {
						return err
					}
					continue
				}
				kept = append(kept, r.RoundOut(mmu.PageSize))
			}
		}
	}
	for _, p := range pages {
		slices.SortFunc(p.Parts, func(a, b Part) int { return phys.Compare(a.Range, b.Range) })
		d.Ports = append(d.Ports, *p)
	}
	slices.SortFunc(d.Ports, func(a, b Port) int { return phys.Compare(a.Range, b.Range) })
	for i := 1; i < len(d.Ports); i++ {
		if d.Ports[i].Overlaps(d.Ports[i-1].Range) {
			return fmt.Errorf("machine: page %v is kept twice (%v and %v)", d.Ports[i].Range, d.Ports[i-1].Model, d.Ports[i].Model)
		}
	}
	for _, p := range d.Ports {
		for i := 1; i < len(p.Parts); i++ {
			if p.Parts[i].Overlaps(p.Parts[i-1].Range) {
				return fmt.Errorf("machine: %v and %v overlap in page %v", p.Parts[i-1].Range, p.Parts[i].Range, p.Range)
			}
		}
	}
	for _, r := range d.RAM {
		if slices.ContainsFunc(all, r.Overlaps) {
			return fmt.Errorf("machine: guest RAM %v overlaps a device's registers", r)
		}
		d.Stage2 = append(d.Stage2, Mapping{Range: r})
	}
	devs := phys.Merge(all)
	for _, k := range kept {
		devs = phys.Subtract(devs, k)
	}
	for _, r := range phys.Merge(devs) {
		d.Stage2 = append(d.Stage2, Mapping{Range: r, Device: true})
	}
	slices.SortFunc(d.Stage2, func(a, b Mapping) int { return phys.Compare(a.Range, b.Range) })
	d.Patch.Memory = d.RAM
	return nil
}

// otherCPUs are the guest DTB's nodes of the CPUs that are no vCPU's
// (vcpus, the first the boot CPU's): the guest would ask PSCI to start
// them. The topology (cpu-map) names them, and goes too. None if the DTB
// does not list the boot CPU.
func otherCPUs(b *dtb.Board, vcpus []uint64) []string {
	if _, ok := b.CPUOf(vcpus[0]); !ok {
		return nil
	}
	var paths []string
	for _, c := range b.CPUs {
		if !slices.Contains(vcpus, c.MPIDR) {
			paths = append(paths, c.Path)
		}
	}
	if b.CPUMap != "" && len(paths) > 0 {
		paths = append(paths, b.CPUMap)
	}
	return paths
}

// within reports whether every range of rs lies in one of in (false for
// none).
func within(rs, in []phys.Range) bool {
	for _, r := range rs {
		if !slices.ContainsFunc(in, func(o phys.Range) bool { return o.Contains(r) }) {
			return false
		}
	}
	return len(rs) > 0
}

// shares reports whether a device other than x that the guest keeps has
// registers in pages. A bus x is on does not count: its reg is the window
// its devices are decoded in (the i.MX AIPS buses'), and x's part of it is
// x's.
func (d *Description) shares(x Device, pages phys.Range) bool {
	for _, y := range d.Devices {
		if y.Path == x.Path || y.Treat == Hidden || y.Treat == Own || strings.HasPrefix(x.Path, y.Path+"/") {
			continue
		}
		if slices.ContainsFunc(y.Regs, pages.Overlaps) {
			return true
		}
	}
	return false
}

// Visible lists the devices the guest sees, for the migration fingerprint
// ("arm,pl011@0x9000000:passthrough"): a destination must give the guest
// the same ones, treated the same way.
func (d *Description) Visible() []string {
	var out []string
	for _, x := range d.Devices {
		if x.Treat == Hidden || x.Treat == Own {
			continue
		}
		name := "node"
		if len(x.Compatible) > 0 {
			name = x.Compatible[0]
		}
		treat := "passthrough"
		if x.Treat == Trapped {
			treat = "trapped"
		}
		out = append(out, fmt.Sprintf("%s@%#x:%s", name, x.Regs[0].Base, treat))
	}
	return out
}

// MapStage2 maps the description's stage-2 map into s.
func (d *Description) MapStage2(s *mmu.Stage2) error {
	for _, m := range d.Stage2 {
		attr := mmu.S2Normal
		if m.Device {
			attr = mmu.S2Device
		}
		if err := s.Map(m.Base, m.Base, m.Size, attr); err != nil {
			return fmt.Errorf("stage 2: %v: %w", m.Range, err)
		}
	}
	return nil
}

// GICPages are the guard's pages a bus is built from.
// GICPages are a GIC guard's pages (gic.Guard): the distributor's, and
// those of one redistributor frame.
type GICPages interface {
	DistPage() mmio.Device
	RDPage() mmio.Device
	SGIPage() mmio.Device
	RoutePages() map[uint64]mmio.Device // by offset in the distributor frame
}

// Bus puts every trapped page of the description on b: the GIC's behind
// g, a page with kept parts behind forward (the real device page at a
// base) with each part's model: a hole, or virtio(r), the model of the
// guest's transport at r; a relayed EQOS's DMA page behind relay(x), the
// model of x's.
func (d *Description) Bus(b *mmio.Bus, guards []GICPages, forward func(base, size uint64) mmio.Device, virtio func(r phys.Range) mmio.Device, relay func(x Relayed) (mmio.Device, error)) error {
	g := guards[0]
	for _, p := range d.Ports {
		var dev mmio.Device
		switch p.Model {
		case ModelEQOS:
			i := slices.IndexFunc(d.Relayed, func(x Relayed) bool { return x.Base+eqos.Page == p.Base })
			if i < 0 || relay == nil {
				return fmt.Errorf("machine: port %v: no relayed device there", p.Range)
			}
			var err error
			if dev, err = relay(d.Relayed[i]); err != nil {
				return fmt.Errorf("machine: %s: %w", d.Relayed[i].Path, err)
			}
		case ModelGICD:
			dev = g.DistPage()
		case ModelGICRD, ModelGICSGI:
			if p.Frame < 0 || p.Frame >= len(guards) {
				return fmt.Errorf("machine: port %v: no guard for redistributor frame %d", p.Range, p.Frame)
			}
			if p.Model == ModelGICRD {
				dev = guards[p.Frame].RDPage()
			} else {
				dev = guards[p.Frame].SGIPage()
			}
		case ModelGICRoute:
			if dev = g.RoutePages()[p.Base-d.GICD.Base]; dev == nil {
				return fmt.Errorf("machine: port %v: the GIC guard keeps no route there", p.Range)
			}
		case ModelPage:
			page := mmio.Page{Rest: forward(p.Base, p.Size)}
			for _, x := range p.Parts {
				mp := mmio.Part{Off: x.Base - p.Base, Size: x.Size}
				switch x.Model {
				case ModelHole:
				case ModelVirtio:
					mp.D = virtio(x.Range)
				default:
					return fmt.Errorf("machine: part %v: no model %v", x.Range, x.Model)
				}
				page.Parts = append(page.Parts, mp)
			}
			dev = page
		default:
			return fmt.Errorf("machine: port %v: no model %v", p.Range, p.Model)
		}
		if err := b.Add(p.Base, p.Size, dev); err != nil {
			return err
		}
	}
	return nil
}
