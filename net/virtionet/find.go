package virtionet

import (
	"bytes"
	"fmt"
	vm "github.com/ferry-hv/ferry/mmio/virtiommio"
	"github.com/ferry-hv/ferry/phys"
	"net"

	"github.com/ferry-hv/ferry/boot/dtb"
)

// FindWith returns the transport carrying the network device Ferry takes,
// reading each transport's registers through regs. It reads only the
// identification registers (and, to match mac, the device's configuration
// space), so probing disturbs no device.
//
// Transports are tried from the highest address down: QEMU's virt board
// plugs each -device virtio-net-device into the highest free transport,
// so the first network device on QEMU's command line is found first. With
// mac set, the network device with that MAC address is taken instead.
func FindWith(transports []dtb.VirtioMMIO, regs func(phys.Range) Regs, mac net.HardwareAddr) (dtb.VirtioMMIO, error) {
	var seen []string
	for i := len(transports) - 1; i >= 0; i-- {
		tr := transports[i]
		t := NewTransport(regs(tr.Reg), tr.Reg.Base)
		version, id, ok := t.Probe()
		if !ok || id != DeviceIDNetwork {
			continue
		}
		if mac == nil {
			return tr, nil
		}
		if version != vm.VersionModern {
			seen = append(seen, fmt.Sprintf("%#x (legacy, MAC unread)", tr.Reg.Base))
			continue
		}
		got, err := t.ReadConfig(configOffMAC, macLen)
		if err != nil {
			return dtb.VirtioMMIO{}, err
		}
		if bytes.Equal(got, mac) {
			return tr, nil
		}
		seen = append(seen, fmt.Sprintf("%#x (%v)", tr.Reg.Base, net.HardwareAddr(got)))
	}
	if mac != nil {
		return dtb.VirtioMMIO{}, fmt.Errorf("virtio-net: no network device with MAC %v among %d virtio-mmio transports (network devices: %v)", mac, len(transports), seen)
	}
	return dtb.VirtioMMIO{}, fmt.Errorf("virtio-net: no network device among %d virtio-mmio transports (QEMU: -device virtio-net-device,netdev=...)", len(transports))
}

// NetworksWith returns every transport that carries a network device, in
// address order, reading only their identification registers through
// regs: Ferry's own NIC among them, and the guest's.
func NetworksWith(transports []dtb.VirtioMMIO, regs func(phys.Range) Regs) []dtb.VirtioMMIO {
	var out []dtb.VirtioMMIO
	for _, tr := range transports {
		if _, id, ok := NewTransport(regs(tr.Reg), tr.Reg.Base).Probe(); ok && id == DeviceIDNetwork {
			out = append(out, tr)
		}
	}
	return out
}
