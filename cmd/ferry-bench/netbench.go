// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package main

import (
	"bytes"
	"context"
	"debug/elf"
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
// a switch on 127.0.0.1): round-trip latency (sequential round trips of
// netPingSize bytes) and throughput (MiB streamed through the echo, both
// ways at once). Natively (the guest alone on the board), under Ferry
// before any migration (its NIC on Ferry's shadow rings, every kick and
// interrupt relayed), and on the destination after one (set up again
// there at the guest's ring positions).
//
// The configurations run side by side and are measured in turn, in
// segments of netSegMiB (and netSegPings round trips), netSegs segments
// each, the order reversed every other segment: this host's speed drifts
// by 2x within a minute (docs/bench/README.md), so a configuration is
// compared only with the native board measured in the same seconds, and
// a round's ratio is its totals' (paired). Ferry's guest is measured
// twice per round, before and after its migration, each time against the
// native boards measured alongside.
const (
	netSegs      = 8
	netSegMiB    = 8
	netSegPings  = 125
	netPingSize  = 64
	netWarmMiB   = 1
	guestNetIP   = "10.88.0.10"
	guestNetMAC  = "52:54:00:88:00:10"
	clientNetIP  = "10.88.0.2/24"
	phaseBefore  = "before"
	phaseAfter   = "after"
	netBootLimit = 10 * time.Minute
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

// NetRun is one configuration's measurement in one round and phase.
type NetRun struct {
	Config string `json:"config"`
	Run    int    `json:"run"`
	// Phase is the part of the round it was measured in, alongside the
	// others: before Ferry's guest migrated, or after.
	Phase  string  `json:"phase"`
	MiBs   float64 `json:"mib_per_s"` // each way, over its segments
	RTTMed float64 `json:"rtt_median_ms"`
	RTTP99 float64 `json:"rtt_p99_ms"`
	// ExitsPerMiB are the guest's exits to Ferry per MiB echoed in its
	// segments; -1 natively.
	ExitsPerMiB float64 `json:"exits_per_mib"`
	// Exits are those of its segments by cause, per second.
	Exits Exits `json:"exits"`
	// Insns are the instructions its streams executed (-tcg-insns).
	Insns *InsnCount `json:"insns,omitempty"`
	Error string     `json:"error,omitempty"`
}

// NetSummary is net.json.
type NetSummary struct {
	Setup
	Image string   `json:"image"`
	Runs  []NetRun `json:"runs"`
}

// netBench runs runs rounds and writes docs/bench/net.{md,json}.
// With insns, the TCG plugin counts instructions on every board.
func netBench(base qemu.Board, ferryctl, out string, runs int, insns bool) error {
	s := NetSummary{Setup: setupOf(base), Image: imageID(base.Image)}
	var in *insnSetup
	if insns {
		var err error
		if in, err = newInsnSetup(base.Image); err != nil {
			return err
		}
		defer os.RemoveAll(in.dir)
	}
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
		rs := netRound(base, ferryctl, keys, run, in)
		s.Runs = append(s.Runs, rs...)
		for _, r := range rs {
			if r.Error != "" {
				fmt.Printf("net %-22s run %d %-6s: FAILED: %s\n", r.Config, r.Run, r.Phase, r.Error)
				continue
			}
			fmt.Printf("net %-22s run %d %-6s: %.2f MiB/s each way, RTT median %.2f ms, p99 %.2f ms, exits/MiB %s\n", r.Config, r.Run, r.Phase, r.MiBs, r.RTTMed, r.RTTP99, exitsStr(r.ExitsPerMiB))
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

// echoTarget is one configuration's guest, reached through the echo, and
// what its segments measured.
type echoTarget struct {
	run   NetRun
	c     net.Conn
	exits func() (api.Status, error) // nil natively
	bytes float64                    // MiB streamed
	secs  float64
	rtts  []float64
	ex    api.Status // the exits of its segments, summed (uptime: their time)
	probe *insnProbe // -tcg-insns
	syms  []elf.Symbol
}

// netRound boots the two native boards and a Ferry pair side by side,
// measures them in turn, migrates Ferry's guest, and measures them in
// turn again.
func netRound(base qemu.Board, ferryctl, keys string, run int, in *insnSetup) []NetRun {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	var cleanup []func()
	defer func() {
		for i := len(cleanup) - 1; i >= 0; i-- {
			cleanup[i]()
		}
	}()
	failAll := func(err error) []NetRun {
		var out []NetRun
		for _, ph := range []string{phaseBefore, phaseAfter} {
			for _, c := range []string{netNative, netNoEventIdx, map[string]string{phaseBefore: netFerry, phaseAfter: netAfter}[ph]} {
				out = append(out, NetRun{Config: c, Run: run, Phase: ph, Error: err.Error()})
			}
		}
		return out
	}
	switchOf := func() (string, error) {
		sw, addr, err := l2switch.Start()
		if err != nil {
			return "", err
		}
		cleanup = append(cleanup, func() { sw.Close() })
		return addr, nil
	}
	// The native boards.
	nativeAddrs, probes := map[string]string{}, map[string]*insnProbe{}
	withProbe := func(b *qemu.Board, name string, ferry bool) {
		if in != nil {
			p, args := in.probe(fmt.Sprintf("run%d-%s", run, name), ferry)
			b.Extra, probes[name] = append(append([]string(nil), b.Extra...), args...), p
		}
	}
	var procs []*qemu.Process
	for _, nc := range []struct{ config, opts string }{{netNative, ""}, {netNoEventIdx, ",event_idx=off"}} {
		addr, err := switchOf()
		if err != nil {
			return failAll(err)
		}
		b := base
		b.Image, b.Append, b.DataSwitch, b.DataMAC, b.DataOptions = "", netGuest, addr, guestNetMAC, nc.opts
		withProbe(&b, nc.config, false)
		p, err := b.Start(ctx, nil)
		if err != nil {
			return failAll(err)
		}
		cleanup = append(cleanup, p.Kill)
		procs, nativeAddrs[nc.config] = append(procs, p), addr
	}
	// Ferry's pair.
	mgmtAddr, err := switchOf()
	if err != nil {
		return failAll(err)
	}
	dataAddr, err := switchOf()
	if err != nil {
		return failAll(err)
	}
	fb := base
	fb.DataSwitch, fb.DataMAC, fb.Append = dataAddr, guestNetMAC, netGuest
	extra := map[string][]string{}
	for _, name := range []string{"a", "b"} {
		b := qemu.Board{}
		withProbe(&b, name, true)
		extra[name] = b.Extra
	}
	ps, err := startPair(ctx, fb, mgmtAddr, keys, extra)
	cleanup = append(cleanup, func() { killAll(ps[:]) })
	if err != nil {
		return failAll(err)
	}
	for _, p := range append(procs, ps[0]) {
		if _, _, err := p.Expect(echoUp, 0, netBootLimit); err != nil {
			return failAll(err)
		}
	}
	if _, _, err := ps[1].Expect(regexp.MustCompile(`ferry: management network up`), 0, time.Minute); err != nil {
		return failAll(err)
	}
	ac, err := newAPIClient(mgmtAddr, keys)
	if err != nil {
		return failAll(err)
	}
	defer ac.close()
	exits := func(addr string) func() (api.Status, error) {
		return func() (api.Status, error) {
			st, _, err := ac.status(addr)
			return st, err
		}
	}
	connect := func(swAddr string) (net.Conn, error) {
		n, err := hostnet.Join(ctx, hostnet.Config{Switch: swAddr, Addr: netip.MustParsePrefix(clientNetIP), MTU: 1500,
			Logf: func(string, ...any) {}})
		if err != nil {
			return nil, err
		}
		cleanup = append(cleanup, func() { n.Close() })
		c, err := n.Dial(ctx, guestNetIP+":7")
		if err != nil {
			return nil, err
		}
		cleanup = append(cleanup, func() { c.Close() })
		c.SetDeadline(time.Now().Add(20 * time.Minute))
		if _, err := stream(c, netWarmMiB<<20); err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
		return c, nil
	}
	conns := map[string]net.Conn{}
	for _, k := range []string{netNative, netNoEventIdx, netFerry} {
		addr := nativeAddrs[k]
		if k == netFerry {
			addr = dataAddr
		}
		if conns[k], err = connect(addr); err != nil {
			return failAll(fmt.Errorf("%s: %w", k, err))
		}
	}
	phase := func(ph, ferryConfig, ferryAddr, board string) []NetRun {
		ts := []*echoTarget{
			{run: NetRun{Config: netNative, Run: run, Phase: ph}, c: conns[netNative], probe: probes[netNative]},
			{run: NetRun{Config: netNoEventIdx, Run: run, Phase: ph}, c: conns[netNoEventIdx], probe: probes[netNoEventIdx]},
			{run: NetRun{Config: ferryConfig, Run: run, Phase: ph}, c: conns[netFerry], exits: exits(ferryAddr), probe: probes[board]},
		}
		for _, t := range ts {
			if t.probe != nil {
				t.probe.reset()
				t.syms = in.syms
			}
		}
		interleave(ts)
		var out []NetRun
		for _, t := range ts {
			out = append(out, t.result())
		}
		return out
	}
	rs := phase(phaseBefore, netFerry, "10.77.0.11", "a")
	mark := len(ps[1].Lines())
	args := []string{"-switch", mgmtAddr, "-keys", filepath.Join(keys, "ctl.pem"), "-mtu", "65510", "migrate", "-json", "10.77.0.11", "10.77.0.12"}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, ferryctl, args...)
	cmd.Stderr = &stderr
	outb, err := cmd.Output()
	var rep api.Report
	if jerr := json.Unmarshal(outb, &rep); jerr != nil || !rep.OK {
		return append(rs, failAll(fmt.Errorf("migration: %v %v %s: %s", err, jerr, rep.Error, tail(stderr.String(), 400)))[3:]...)
	}
	if _, _, err := ps[1].Expect(regexp.MustCompile(`ferry: guest NIC at \S+: announced`), mark, time.Minute); err != nil {
		return append(rs, failAll(err)[3:]...)
	}
	// The client's connection to the guest carries on: the guest's TCP
	// state moved with it.
	return append(rs, phase(phaseAfter, netAfter, "10.77.0.12", "b")...)
}

// interleave measures the targets in turn, netSegs segments each, the
// order reversed every other segment; a target that fails stops being
// measured.
func interleave(ts []*echoTarget) {
	for seg := range netSegs {
		for k := range ts {
			t := ts[k]
			if seg%2 == 1 {
				t = ts[len(ts)-1-k]
			}
			if t.run.Error == "" {
				if err := t.segment(); err != nil {
					t.run.Error = fmt.Sprintf("segment %d: %v", seg, err)
				}
			}
		}
	}
}

// segment is one segment of t: its round trips, then its stream, with
// the board's exits counted around the stream.
func (t *echoTarget) segment() error {
	ping, back := make([]byte, netPingSize), make([]byte, netPingSize)
	for i := range netSegPings {
		ping[0] = byte(i)
		start := time.Now()
		if _, err := t.c.Write(ping); err != nil {
			return err
		}
		if _, err := io.ReadFull(t.c, back); err != nil || back[0] != byte(i) {
			return fmt.Errorf("round trip %d: %v", i, err)
		}
		t.rtts = append(t.rtts, msOf(time.Since(start)))
	}
	var e0 api.Status
	if t.exits != nil {
		var err error
		if e0, err = t.exits(); err != nil {
			return err
		}
	}
	var i0 insnDump
	if t.probe != nil {
		var err error
		if i0, err = t.probe.dump(); err != nil {
			return err
		}
	}
	d, err := stream(t.c, netSegMiB<<20)
	if err != nil {
		return err
	}
	if t.probe != nil {
		i1, err := t.probe.dump()
		if err != nil {
			return err
		}
		t.probe.add(i0, i1)
	}
	t.bytes += netSegMiB
	t.secs += d.Seconds()
	if t.exits != nil {
		e1, err := t.exits()
		if err != nil {
			return err
		}
		addExits(&t.ex, e0, e1)
	}
	return nil
}

// addExits adds the exits from a to b, and the time between, to sum.
func addExits(sum *api.Status, a, b api.Status) {
	if sum.ExitCauses == nil {
		sum.ExitCauses, sum.ExitNanos = map[string]uint64{}, map[string]uint64{}
	}
	sum.Uptime += b.Uptime - a.Uptime
	for k, n := range b.ExitCauses {
		if n > a.ExitCauses[k] {
			sum.ExitCauses[k] += n - a.ExitCauses[k]
		}
	}
	for k, n := range b.ExitNanos {
		if n > a.ExitNanos[k] {
			sum.ExitNanos[k] += n - a.ExitNanos[k]
		}
	}
}

// result is what t's segments measured.
func (t *echoTarget) result() NetRun {
	r := t.run
	r.ExitsPerMiB = -1
	if r.Error != "" || t.secs == 0 {
		return r
	}
	r.MiBs = t.bytes / t.secs
	sort.Float64s(t.rtts)
	r.RTTMed, r.RTTP99 = t.rtts[len(t.rtts)/2], t.rtts[len(t.rtts)*99/100]
	if t.probe != nil {
		r.Insns = t.probe.count(t.bytes, t.syms)
	}
	if t.exits != nil {
		r.Exits = exitsBetween(api.Status{}, t.ex)
		r.ExitsPerMiB = float64(totalExits(t.ex)) / t.bytes
	}
	return r
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

// netMedian is the median of f over the runs of config in phase that
// did not fail, and how many there were.
func netMedian(runs []NetRun, config, phase string, f func(NetRun) float64) (float64, int) {
	var v []float64
	for _, r := range runs {
		if r.Config == config && r.Phase == phase && r.Error == "" {
			v = append(v, f(r))
		}
	}
	return medianF(v), len(v)
}

// netPaired is the median over rounds of config's f in phase divided by
// the native board's f measured alongside it (0: none).
func netPaired(runs []NetRun, config, phase string, f func(NetRun) float64) float64 {
	native := map[int]float64{}
	for _, r := range runs {
		if r.Config == netNative && r.Phase == phase && r.Error == "" && f(r) > 0 {
			native[r.Run] = f(r)
		}
	}
	var v []float64
	for _, r := range runs {
		if n, ok := native[r.Run]; ok && r.Config == config && r.Phase == phase && r.Error == "" {
			v = append(v, f(r)/n)
		}
	}
	return medianF(v)
}

func writeNet(dir string, s NetSummary) error { return writeFigures(dir, "net", s, renderNet(s)) }

// The bars the guest network is held to (issue 17: "today 0.76 and
// 1.22x; do not make them worse"), and the product's aim (within 5 %).
const (
	netBarThroughput = 0.76
	netBarRTT        = 1.22
)

func renderNet(s NetSummary) string {
	var md strings.Builder
	fmt.Fprintf(&md, "# The guest's own network: natively, under Ferry, after a migration\n\n")
	fmt.Fprintf(&md, "Written by `make bench` (`go run ./cmd/ferry-bench -net`) on %s.\n\n", s.Date)
	fmt.Fprintf(&md, "Board: %s, `-M %s -cpu %s -m %s`, guest kernel %s, Ferry %s.\n", s.QEMU, s.Machine, s.CPU, s.Memory, s.Kernel, s.Image)
	fmt.Fprintf(&md, "The guest (`guest.mode=idle`, `guest.ip=`) runs its TCP echo service on its own virtio-net; a client on the data\n")
	fmt.Fprintf(&md, "segment (a userspace TCP stack on a switch on 127.0.0.1, MTU 1500) measures round trips of %d bytes and the\n", netPingSize)
	fmt.Fprintf(&md, "throughput of a stream through the echo (both ways at once). Each round boots the configurations side by side --\n")
	fmt.Fprintf(&md, "the guest alone on a board (native), the same with the device's event_idx off (%s, for reference:\n", netNoEventIdx)
	fmt.Fprintf(&md, "what the event indices, which Ferry carries between its shadow rings, are worth natively), and a Ferry pair -- and\n")
	fmt.Fprintf(&md, "measures them in turn, %d segments each of %d round trips and %d MiB, the order reversed every other segment;\n", netSegs, netSegPings, netSegMiB)
	fmt.Fprintf(&md, "then Ferry's guest migrates (its client's connection carries on) and the round goes on after the migration.\n")
	fmt.Fprintf(&md, "A configuration's ratio is taken against the native board measured in the same seconds (this host's speed drifts\n")
	fmt.Fprintf(&md, "by 2x within a minute), per round, and the median over rounds is shown.\n\n")
	fmt.Fprintf(&md, "| config | phase | throughput, MiB/s each way (median) | / native (paired) | RTT median, ms | / native (paired) | RTT p99, ms | runs |\n|---|---|---|---|---|---|---|---|\n")
	tput := func(r NetRun) float64 { return r.MiBs }
	rtt := func(r NetRun) float64 { return r.RTTMed }
	p99 := func(r NetRun) float64 { return r.RTTP99 }
	rows := []netRow{{netNative, phaseBefore}, {netNoEventIdx, phaseBefore}, {netFerry, phaseBefore}, {netNative, phaseAfter}, {netNoEventIdx, phaseAfter}, {netAfter, phaseAfter}}
	for _, x := range rows {
		t, n := netMedian(s.Runs, x.config, x.phase, tput)
		rt, _ := netMedian(s.Runs, x.config, x.phase, rtt)
		p, _ := netMedian(s.Runs, x.config, x.phase, p99)
		fmt.Fprintf(&md, "| %s | %s | %.2f | %.2f | %.2f | %.2fx | %.2f | %d |\n", x.config, x.phase, t, netPaired(s.Runs, x.config, x.phase, tput), rt, netPaired(s.Runs, x.config, x.phase, rtt), p, n)
	}
	ft, at := netPaired(s.Runs, netFerry, phaseBefore, tput), netPaired(s.Runs, netAfter, phaseAfter, tput)
	fr, ar := netPaired(s.Runs, netFerry, phaseBefore, rtt), netPaired(s.Runs, netAfter, phaseAfter, rtt)
	verdict := func(ok bool) string { return map[bool]string{true: "**met**", false: "**not met**"}[ok] }
	fmt.Fprintf(&md, "\nThe bar (issue 17): throughput at least %.2f of native and round trip at most %.2fx, before and after a migration: %s.\n", netBarThroughput, netBarRTT,
		verdict(ft > 0 && at > 0 && min(ft, at) >= netBarThroughput && max(fr, ar) <= netBarRTT))
	fmt.Fprintf(&md, "The aim: within 5%% of native throughput and latency: %s.\n\n", verdict(ft > 0 && at > 0 && min(ft, at) >= 0.95 && max(fr, ar) <= 1.05))
	renderInsns(&md, s.Runs, rows)
	fmt.Fprintf(&md, "| run | phase | config | MiB/s | RTT median ms | RTT p99 ms | exits per MiB | exits while streaming, by cause | error |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range s.Runs {
		fmt.Fprintf(&md, "| %d | %s | %s | %.2f | %.2f | %.2f | %s | %s | %s |\n", r.Run, r.Phase, r.Config, r.MiBs, r.RTTMed, r.RTTP99, exitsStr(r.ExitsPerMiB), r.Exits, mdEscape(r.Error))
	}
	return md.String()
}

// netRow is a configuration in a phase.
type netRow struct{ config, phase string }

// renderInsns writes the instruction counts (-tcg-insns), if any: per MiB
// echoed, the medians over rounds, and Ferry's functions in the last
// round before its guest migrated.
func renderInsns(md *strings.Builder, runs []NetRun, rows []netRow) {
	var last *InsnCount
	for _, r := range runs {
		if r.Insns != nil && r.Config == netFerry {
			last = r.Insns
		}
	}
	if last == nil {
		return
	}
	fmt.Fprintf(md, "Instructions per MiB echoed, counted by a TCG plugin on every board (`-tcg-insns`, scripts/tcg-insns), medians over rounds, millions:\n\n")
	fmt.Fprintf(md, "| config | phase | guest kernel | guest user | Ferry | all / native's |\n|---|---|---|---|---|---|\n")
	all := func(c *InsnCount) float64 { return c.KernPerMiB + c.UserPerMiB + c.FerryPerMiB }
	med := func(x netRow, f func(*InsnCount) float64) float64 {
		v, _ := netMedian(runs, x.config, x.phase, func(r NetRun) float64 {
			if r.Insns == nil {
				return 0
			}
			return f(r.Insns)
		})
		return v
	}
	for _, x := range rows {
		native := med(netRow{netNative, x.phase}, all)
		fmt.Fprintf(md, "| %s | %s | %.2f | %.2f | %.2f | %s |\n", x.config, x.phase,
			med(x, func(c *InsnCount) float64 { return c.KernPerMiB })/1e6, med(x, func(c *InsnCount) float64 { return c.UserPerMiB })/1e6,
			med(x, func(c *InsnCount) float64 { return c.FerryPerMiB })/1e6, ratio(med(x, all), native))
	}
	fmt.Fprintf(md, "\nFerry's functions, before the migration, last round: instructions per MiB echoed and per call (executions of the function's first block).\n\n")
	fmt.Fprintf(md, "| function | per MiB | per call |\n|---|---|---|\n")
	for _, f := range last.Top {
		name, call := strings.TrimPrefix(f.Name, "github.com/ferry-hv/ferry/"), "-"
		if i := strings.IndexByte(name, '['); i > 0 {
			name = name[:i] + "[...]" // a generic's shape
		}
		if f.PerCall > 0 {
			call = fmt.Sprintf("%.0f", f.PerCall)
		}
		fmt.Fprintf(md, "| `%s` | %.0f | %s |\n", name, f.PerMiB, call)
	}
	fmt.Fprintf(md, "\n")
}
