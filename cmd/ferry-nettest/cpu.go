//go:build tamago && arm64

package main

import (
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/checksum"
)

// cpuBench prints what the per-byte work of the data path costs on this
// CPU (under QEMU: the emulated one): copying and the Internet checksum,
// over 64 KiB frames.
func cpuBench() {
	const frame, total = 64 << 10, 256 << 20
	src, dst := make([]byte, frame), make([]byte, frame)
	for i := range src {
		src[i] = byte(i)
	}
	start := time.Now()
	for n := 0; n < total; n += frame {
		copy(dst, src)
	}
	logf("cpu: copy %s", mibps(total, time.Since(start)))
	start = time.Now()
	var sum uint16
	for n := 0; n < total; n += frame {
		sum += checksum.Checksum(src, 0)
	}
	logf("cpu: checksum %s (%#x)", mibps(total, time.Since(start)), sum)
}
