// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/ferry-hv/ferry/api"
	"github.com/ferry-hv/ferry/internal/echostream"
	"github.com/ferry-hv/ferry/internal/hostnet"
	"github.com/ferry-hv/ferry/internal/l2switch"
	"github.com/ferry-hv/ferry/internal/pki"
	"github.com/ferry-hv/ferry/internal/qemu"
)

// The guest-network bench (-net): the guest's TCP echo service on its own
// NIC, measured by a client on the data segment (a userspace TCP stack on
// a switch on 127.0.0.1): round-trip latency (netPings sequential
// round trips of netPingSize bytes) and throughput (netMiB MiB streamed
// through the echo, both ways at once). Natively (the guest alone on the
// board), under Ferry before any migration (its NIC on Ferry's shadow
// rings, every kick and interrupt relayed), and on the destination after
// one (set up again there at the guest's ring positions).
const (
	netPings    = 1000
	netPingSize = 64
	netMiB      = 64
	netWarmMiB  = 1
	guestNetIP  = "10.88.0.10"
	guestNetMAC = "52:54:00:88:00:10"
	clientNetIP = "10.88.0.2/24"
)

// Network bench configurations.
const (
	netNative = "native"
	// netNoEventIdx is native with the device's VIRTIO_F_EVENT_IDX off:
	// what the event indices, which Ferry carries, are worth natively.
	netNoEventIdx = "native-no-event-idx"
	netFerry      = "ferry"
	netAfter      = "ferry-after-migration"
)

// NetRun is one measurement of the guest's network.
type NetRun struct {
	Config string  `json:"config"`
	Run    int     `json:"run"`
	MiBs   float64 `json:"mib_per_s"` // each way
	RTTMed float64 `json:"rtt_median_ms"`
	RTTP99 float64 `json:"rtt_p99_ms"`
	// ExitsPerMiB are the guest's exits to Ferry (MMIO traps: kicks and
	// interrupt handling) per MiB echoed in the throughput run; -1
	// natively.
	ExitsPerMiB float64 `json:"exits_per_mib"`
	// Exits are those of the throughput run by cause, per second.
	Exits Exits  `json:"exits"`
	Error string `json:"error,omitempty"`
}

// NetSummary is net.json.
type NetSummary struct {
	Setup
	Image string   `json:"image"`
	Runs  []NetRun `json:"runs"`
}

// netBench runs runs rounds of the three configurations and writes
// docs/bench/net.{md,json}.
func netBench(base qemu.Board, ferryctl, out string, runs int) error {
	s := NetSummary{Setup: setupOf(base), Image: imageID(base.Image)}
	keys, err := os.MkdirTemp("", "ferry-bench-keys")
	if err != nil {
		return err
	}
	defer os.RemoveAll(keys)
	if _, err := pki.Provision(keys, "ferry-bench", "a=10.77.0.11", "b=10.77.0.12", "operator:ctl"); err != nil {
		return err
	}
	for run := 1; run <= runs; run++ {
		time.Sleep(settle)
		s.Runs = append(s.Runs, netNativeRun(base, run, netNative, ""))
		time.Sleep(settle)
		s.Runs = append(s.Runs, netNativeRun(base, run, netNoEventIdx, ",event_idx=off"))
		time.Sleep(settle)
		s.Runs = append(s.Runs, netFerryRuns(base, ferryctl, keys, run)...)
		for _, r := range s.Runs[len(s.Runs)-4:] {
			if r.Error != "" {
				fmt.Printf("net %-22s run %d: FAILED: %s\n", r.Config, r.Run, r.Error)
				continue
			}
			fmt.Printf("net %-22s run %d: %.2f MiB/s each way, RTT median %.2f ms, p99 %.2f ms, exits/MiB %s\n", r.Config, r.Run, r.MiBs, r.RTTMed, r.RTTP99, exitsStr(r.ExitsPerMiB))
		}
		if err := writeNet(out, s); err != nil {
			return err
		}
	}
	return nil
}

// netGuest is the guest's command line: idle but for its echo service.
const netGuest = "console=ttyAMA0 quiet guest.mode=idle guest.ip=" + guestNetIP + "/24"

var echoUp = regexp.MustCompile(`^FERRY-ECHO up port=7`)

// netNativeRun measures the guest alone on a board, its NIC's device
// given opts.
func netNativeRun(base qemu.Board, run int, config, opts string) NetRun {
	r := NetRun{Config: config, Run: run}
	sw, swAddr, err := l2switch.Start()
	if err != nil {
		r.Error = err.Error()
		return r
	}
	defer sw.Close()
	b := base
	b.Image, b.Append, b.DataSwitch, b.DataMAC, b.DataOptions = "", netGuest, swAddr, guestNetMAC, opts
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	p, err := b.Start(ctx, nil)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	defer p.Kill()
	if _, _, err := p.Expect(echoUp, 0, 3*time.Minute); err != nil {
		r.Error = err.Error()
		return r
	}
	measureEcho(&r, swAddr, nil)
	return r
}

// netFerryRuns measures the guest under Ferry on a, migrates it to b and
// measures it there.
func netFerryRuns(base qemu.Board, ferryctl, keys string, run int) []NetRun {
	before, after := NetRun{Config: netFerry, Run: run}, NetRun{Config: netAfter, Run: run}
	fail := func(err error) []NetRun {
		if before.Error == "" && before.MiBs == 0 {
			before.Error = err.Error()
		}
		after.Error = err.Error()
		return []NetRun{before, after}
	}
	mgmt, mgmtAddr, err := l2switch.Start()
	if err != nil {
		return fail(err)
	}
	defer mgmt.Close()
	data, dataAddr, err := l2switch.Start()
	if err != nil {
		return fail(err)
	}
	defer data.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	base.DataSwitch, base.DataMAC, base.Append = dataAddr, guestNetMAC, netGuest
	ps, err := startPair(ctx, base, mgmtAddr, keys)
	defer killAll(ps[:])
	if err != nil {
		return fail(err)
	}
	if _, _, err := ps[0].Expect(echoUp, 0, 3*time.Minute); err != nil {
		return fail(err)
	}
	if _, _, err := ps[1].Expect(regexp.MustCompile(`ferry: management network up`), 0, time.Minute); err != nil {
		return fail(err)
	}
	ac, err := newAPIClient(mgmtAddr, keys)
	if err != nil {
		return fail(err)
	}
	defer ac.close()
	exits := func(addr string) func() (api.Status, error) {
		return func() (api.Status, error) {
			st, _, err := ac.status(addr)
			return st, err
		}
	}
	measureEcho(&before, dataAddr, exits("10.77.0.11"))
	mark := len(ps[1].Lines())
	args := []string{"-switch", mgmtAddr, "-keys", filepath.Join(keys, "ctl.pem"), "-mtu", "65510", "migrate", "-json", "10.77.0.11", "10.77.0.12"}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, ferryctl, args...)
	cmd.Stderr = &stderr
	outb, err := cmd.Output()
	var rep api.Report
	if jerr := json.Unmarshal(outb, &rep); jerr != nil || !rep.OK {
		return fail(fmt.Errorf("migration: %v %v %s: %s", err, jerr, rep.Error, tail(stderr.String(), 400)))
	}
	if _, _, err := ps[1].Expect(regexp.MustCompile(`ferry: guest NIC at \S+: announced`), mark, time.Minute); err != nil {
		return fail(err)
	}
	measureEcho(&after, dataAddr, exits("10.77.0.12"))
	return []NetRun{before, after}
}

// measureEcho fills r from a client on the data switch at swAddr: after a
// warm-up, the round trips, then the throughput, with the board's exits
// counted around it when exits is set.
func measureEcho(r *NetRun, swAddr string, exits func() (api.Status, error)) {
	r.ExitsPerMiB = -1
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	n, err := hostnet.Join(ctx, hostnet.Config{Switch: swAddr, Addr: netip.MustParsePrefix(clientNetIP), MTU: 1500,
		Logf: func(string, ...any) {}})
	if err != nil {
		r.Error = err.Error()
		return
	}
	defer n.Close()
	c, err := n.Dial(ctx, guestNetIP+":7")
	if err != nil {
		r.Error = err.Error()
		return
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(4 * time.Minute))
	if _, err := stream(c, netWarmMiB<<20); err != nil {
		r.Error = "warm-up: " + err.Error()
		return
	}
	rtts := make([]float64, 0, netPings)
	ping, back := make([]byte, netPingSize), make([]byte, netPingSize)
	for i := range netPings {
		ping[0] = byte(i)
		t := time.Now()
		if _, err := c.Write(ping); err != nil {
			r.Error = err.Error()
			return
		}
		if _, err := io.ReadFull(c, back); err != nil || back[0] != byte(i) {
			r.Error = fmt.Sprintf("round trip %d: %v", i, err)
			return
		}
		rtts = append(rtts, msOf(time.Since(t)))
	}
	sort.Float64s(rtts)
	r.RTTMed, r.RTTP99 = rtts[len(rtts)/2], rtts[len(rtts)*99/100]
	var e0 api.Status
	if exits != nil {
		if e0, err = exits(); err != nil {
			r.Error = err.Error()
			return
		}
	}
	d, err := stream(c, netMiB<<20)
	if err != nil {
		r.Error = err.Error()
		return
	}
	r.MiBs = float64(netMiB) / d.Seconds()
	if exits != nil {
		e1, err := exits()
		if err != nil {
			r.Error = err.Error()
			return
		}
		r.Exits = exitsBetween(e0, e1)
		r.ExitsPerMiB = float64(totalExits(e1)-totalExits(e0)) / netMiB
	}
}

// stream sends n bytes through the echo while reading them back, and
// returns how long until the last came back (checked).
func stream(c net.Conn, n int) (time.Duration, error) {
	want := make([]byte, n)
	for i := range want {
		want[i] = echostream.Byte(int64(i))
	}
	start := time.Now()
	werr := make(chan error, 1)
	go func() { _, err := c.Write(want); werr <- err }()
	got := make([]byte, n)
	if _, err := io.ReadFull(c, got); err != nil {
		return 0, err
	}
	d := time.Since(start)
	if err := <-werr; err != nil {
		return 0, err
	}
	if !bytes.Equal(got, want) {
		return 0, fmt.Errorf("the echo differs")
	}
	return d, nil
}

func exitsStr(v float64) string {
	if v < 0 {
		return ""
	}
	return fmt.Sprintf("%.0f", v)
}

func netMedian(runs []NetRun, config string, f func(NetRun) float64) (float64, int) {
	var v []float64
	for _, r := range runs {
		if r.Config == config && r.Error == "" {
			v = append(v, f(r))
		}
	}
	return medianF(v), len(v)
}

func writeNet(dir string, s NetSummary) error { return writeFigures(dir, "net", s, renderNet(s)) }

func renderNet(s NetSummary) string {
	var md strings.Builder
	fmt.Fprintf(&md, "# The guest's own network: natively, under Ferry, after a migration\n\n")
	fmt.Fprintf(&md, "Written by `make bench` (`go run ./cmd/ferry-bench -net`) on %s.\n\n", s.Date)
	fmt.Fprintf(&md, "Board: %s, `-M %s -cpu %s -m %s`, guest kernel %s, Ferry %s.\n", s.QEMU, s.Machine, s.CPU, s.Memory, s.Kernel, s.Image)
	fmt.Fprintf(&md, "The guest (`guest.mode=idle`, `guest.ip=`) runs its TCP echo service on its own virtio-net; a client on the data\n")
	fmt.Fprintf(&md, "segment (a userspace TCP stack on a switch on 127.0.0.1, MTU 1500) times %d sequential round trips of %d bytes,\n", netPings, netPingSize)
	fmt.Fprintf(&md, "then streams %d MiB through the echo (both ways at once), after a %d MiB warm-up. Natively the guest is alone on\n", netMiB, netWarmMiB)
	fmt.Fprintf(&md, "the board; under Ferry its NIC runs on Ferry's shadow rings (every kick and interrupt relayed, every buffer checked);\n")
	fmt.Fprintf(&md, "after a migration, on the destination's device set up at the guest's ring positions. Ferry carries VIRTIO_F_EVENT_IDX\n")
	fmt.Fprintf(&md, "between the rings (docs/decisions.md); %s is the guest alone with the device's event_idx off, for reference:\n", netNoEventIdx)
	fmt.Fprintf(&md, "what the event indices are worth natively.\n\n")
	fmt.Fprintf(&md, "| | throughput, MiB/s each way (median) | / native | RTT median, ms | / native | RTT p99, ms | runs |\n|---|---|---|---|---|---|---|\n")
	nt, _ := netMedian(s.Runs, netNative, func(r NetRun) float64 { return r.MiBs })
	nr, _ := netMedian(s.Runs, netNative, func(r NetRun) float64 { return r.RTTMed })
	for _, c := range []string{netNative, netNoEventIdx, netFerry, netAfter} {
		t, n := netMedian(s.Runs, c, func(r NetRun) float64 { return r.MiBs })
		rt, _ := netMedian(s.Runs, c, func(r NetRun) float64 { return r.RTTMed })
		p, _ := netMedian(s.Runs, c, func(r NetRun) float64 { return r.RTTP99 })
		fmt.Fprintf(&md, "| %s | %.2f | %s | %.2f | %s | %.2f | %d |\n", c, t, ratio(t, nt), rt, ratio(rt, nr), p, n)
	}
	ft, _ := netMedian(s.Runs, netFerry, func(r NetRun) float64 { return r.MiBs })
	at, _ := netMedian(s.Runs, netAfter, func(r NetRun) float64 { return r.MiBs })
	fr, _ := netMedian(s.Runs, netFerry, func(r NetRun) float64 { return r.RTTMed })
	ar, _ := netMedian(s.Runs, netAfter, func(r NetRun) float64 { return r.RTTMed })
	ok := nt > 0 && min(ft, at) >= 0.95*nt && max(fr, ar) <= 1.05*nr
	fmt.Fprintf(&md, "\nTarget: within 5%% of native throughput and latency when not migrating (before and after): %s.\n\n", map[bool]string{true: "**met**", false: "**not met**"}[ok])
	fmt.Fprintf(&md, "| run | config | MiB/s | RTT median ms | RTT p99 ms | exits per MiB | exits while streaming, by cause | error |\n|---|---|---|---|---|---|---|---|\n")
	for _, r := range s.Runs {
		fmt.Fprintf(&md, "| %d | %s | %.2f | %.2f | %.2f | %s | %s | %s |\n", r.Run, r.Config, r.MiBs, r.RTTMed, r.RTTP99, exitsStr(r.ExitsPerMiB), r.Exits, mdEscape(r.Error))
	}
	return md.String()
}
