package guest

import (
	"fmt"
	"github.com/ferry-hv/ferry/phys"
	"sort"

	"github.com/ferry-hv/ferry/boot/dtb"
)

const (
	pageSize  = 4096
	blockSize = 2 << 20 // the arm64 kernel's base must be 2 MiB aligned
	// DTBMaxSize is the largest DTB the arm64 boot protocol allows.
	DTBMaxSize = 2 << 20
)

// Mapping is one stage-2 mapping, identity (IPA == PA).
type Mapping struct {
	phys.Range
	Device bool // Device-nGnRE, not executable; else Normal write-back RAM
}

// Layout is where everything the guest starts with lives, and what it may
// touch.
type Layout struct {
	RAM       []phys.Range // the guest's RAM: the board's RAM minus Ferry's carve-out
	DTB       uint64       // the patched DTB goes here, at the start of guest RAM
	Kernel    uint64       // the kernel Image's first byte: the entry point
	KernelEnd uint64       // Kernel + image_size
	Initrd    phys.Range   // zero Size: no initramfs
	Stage2    []Mapping    // the guest's whole IPA space, sorted
	Patch     dtb.Patch    // how the firmware's DTB becomes the guest's
}

// Owned is a device page range Ferry keeps for itself: its registers are
// not mapped at stage 2. A device with a Path is Ferry's alone and its node
// is removed from the guest's DTB; one without (a trapped page of the GIC or
// the UART) stays in the guest's DTB and its accesses fault into Ferry.
type Owned struct {
	Path string
	Reg  phys.Range
}

// Plan lays the guest out in the board's RAM above guestBase (the end of
// Ferry's carve-out) and checks that what the loader placed fits.
func Plan(b *dtb.Board, cfg Config, hdr ImageHeader, guestBase uint64, owned []Owned) (*Layout, error) {
	l, err := PlanMachine(b, guestBase, owned)
	if err != nil {
		return nil, err
	}
	l.Kernel, l.KernelEnd = cfg.Kernel, cfg.Kernel+hdr.ImageSize
	if (cfg.Kernel-hdr.TextOffset)%blockSize != 0 {
		return nil, fmt.Errorf("plan: kernel at %#x: Image minus text_offset %#x must be 2 MiB aligned", cfg.Kernel, hdr.TextOffset)
	}
	dtbArea := phys.Range{Base: l.DTB, Size: DTBMaxSize}
	kernel := phys.Range{Base: cfg.Kernel, Size: hdr.ImageSize}
	if err := l.check("kernel", kernel, dtbArea); err != nil {
		return nil, err
	}
	if cfg.InitrdSize > 0 {
		l.Initrd = phys.Range{Base: cfg.InitrdBase, Size: cfg.InitrdSize}
		if err := l.check("initramfs", l.Initrd, dtbArea, kernel); err != nil {
			return nil, err
		}
	}
	l.Patch.InitrdStart, l.Patch.InitrdEnd = l.Initrd.Base, l.Initrd.End()
	l.Patch.Bootargs = cfg.Guest
	return l, nil
}

// PlanMachine lays out the guest's machine without a guest to boot in it:
// its RAM above guestBase, its stage-2 map and the DTB patch minus what
// only a boot needs. A board that receives a migrated guest uses it as is.
func PlanMachine(b *dtb.Board, guestBase uint64, owned []Owned) (*Layout, error) {
	l := &Layout{DTB: guestBase}
	for _, r := range b.Memory {
		switch {
		case r.End() <= guestBase:
		case r.Base < guestBase:
			l.RAM = append(l.RAM, phys.Range{Base: guestBase, Size: r.End() - guestBase})
		default:
			l.RAM = append(l.RAM, r)
		}
	}
	if len(l.RAM) == 0 || l.RAM[0].Base != guestBase || l.RAM[0].Size < 2*DTBMaxSize {
		return nil, fmt.Errorf("plan: the board's RAM %v leaves no guest RAM above Ferry's carve-out ending at %#x", b.Memory, guestBase)
	}
	l.Stage2 = stage2(l.RAM, b.Devices, owned)
	l.Patch.Memory = l.RAM
	for _, o := range owned {
		if o.Path != "" {
			l.Patch.RemoveNodes = append(l.Patch.RemoveNodes, o.Path)
		}
	}
	return l, nil
}

// check makes sure r lies in guest RAM and overlaps none of others.
func (l *Layout) check(what string, r phys.Range, others ...phys.Range) error {
	in := false
	for _, m := range l.RAM {
		in = in || (r.Base >= m.Base && r.End() <= m.End())
	}
	if !in {
		return fmt.Errorf("plan: %s [%#x, %#x) is not inside guest RAM %v", what, r.Base, r.End(), l.RAM)
	}
	for _, o := range others {
		if r.Base < o.End() && o.Base < r.End() {
			return fmt.Errorf("plan: %s [%#x, %#x) overlaps [%#x, %#x)", what, r.Base, r.End(), o.Base, o.End())
		}
	}
	return nil
}

// stage2 maps guest RAM as Normal memory and every device the DTB lists as
// Device memory, rounded out to pages, minus the devices Ferry owns.
func stage2(ram, devices []phys.Range, owned []Owned) []Mapping {
	var ms []Mapping
	for _, r := range ram {
		ms = append(ms, Mapping{Range: r})
	}
	var devs []phys.Range
	for _, d := range devices {
		base := d.Base &^ (pageSize - 1)
		end := (d.End() + pageSize - 1) &^ (pageSize - 1)
		devs = append(devs, phys.Range{Base: base, Size: end - base})
	}
	for _, o := range owned {
		base := o.Reg.Base &^ (pageSize - 1)
		end := (o.Reg.End() + pageSize - 1) &^ (pageSize - 1)
		devs = phys.Subtract(devs, phys.Range{Base: base, Size: end - base})
	}
	for _, d := range phys.Merge(devs) {
		ms = append(ms, Mapping{Range: d, Device: true})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Base < ms[j].Base })
	return ms
}
