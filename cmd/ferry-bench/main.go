// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

// Command ferry-bench measures how thin Ferry is: it boots the same guest on
// the same board natively and under Ferry, alternately, runs the guest's CPU
// and memory benchmark (guest.mode=bench: a busybox arithmetic loop and
// md5sum over a tmpfs file), and writes the figures and the ratio
// native/Ferry to docs/bench/thin.md and thin.json; with -smp 2, on a board
// with two CPUs, a copy of the benchmark on each (docs/bench/thin-smp2.md).
//
// With -idle (the default) it measures idle boards: the host CPU of an idle
// guest's board natively and under Ferry (with and without its management
// NIC), the exits per second by cause and the API's answer time, and a
// receive-role board's CPU, to docs/bench/idle.{md,json}.
//
// With -migration (the default) it first compares live migration by Ferry
// with QEMU's own over a matrix of guest sizes and dirty rates, measures the
// raw management link (cmd/ferry-nettest), and writes
// docs/bench/migration.{md,json,png}.
//
// With -net (the default) it measures the guest's own network: a client on
// the data segment times round trips and streams through the guest's TCP
// echo service natively, under Ferry and after a migration, to
// docs/bench/net.{md,json}.
//
//	go run ./cmd/ferry-bench [-runs 3] [-out docs/bench] [-thin=false] [-migration=false] [-idle=false] [-net=false]
//	go run ./cmd/ferry-bench -thin=false -idle=false -migration=false -net-runs 3  # the guest network only
//	go run ./cmd/ferry-bench -migration=false -thin=false -idle-runs 3  # the idle boards only
//	go run ./cmd/ferry-bench -thin=false -quick                 # 512 MiB, idle and 8 MiB/s
//	go run ./cmd/ferry-bench -thin=false -sizes 512 -rates 0 -systems qemu,qemu-30ms
//	go run ./cmd/ferry-bench -thin=false -systems ferry -keep  # re-run Ferry, keep QEMU's figures
//	go run ./cmd/ferry-bench -render                           # re-draw migration.md/png from the json
//	go run ./cmd/ferry-bench -migration=false -idle=false -net=false -smp 2  # thin-ness on two CPUs
//
// docs/bench/README.md says how each figure is measured.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ferry-hv/ferry/api"
	"github.com/ferry-hv/ferry/internal/l2switch"
	"github.com/ferry-hv/ferry/internal/pki"
	"github.com/ferry-hv/ferry/internal/qemu"
)

// Run is one boot of the benchmark guest.
type Run struct {
	Ferry   bool    `json:"ferry"`
	BootS   float64 `json:"boot_to_userspace_s"` // host time, QEMU start to the guest's marker
	LoopMS  int     `json:"loop_ms"`             // guest-measured
	MD5MS   int     `json:"md5_ms"`              // guest-measured
	TotalMS int     `json:"total_ms"`            // guest-measured
	HostS   float64 `json:"bench_host_s"`        // host time from "FERRY-BENCH start" to "done"
	Check   string  `json:"check"`               // the guest's result line: must agree across runs
	// Exits are Ferry's over the benchmark, from its API (Ferry runs
	// with their management NIC only).
	Exits *Exits `json:"exits,omitempty"`
	// With several CPUs: the pipe ping-pong between CPU 0 and CPU 1 (its
	// round trips and the guest-measured time), and vCPU 0's exits over it.
	PingPongN  int    `json:"pingpong_round_trips,omitempty"`
	PingPongMS int    `json:"pingpong_ms,omitempty"`
	PingExits  *Exits `json:"pingpong_exits,omitempty"`
}

// Summary is what thin.json holds.
type Summary struct {
	Setup
	Runs        []Run   `json:"runs"`
	NativeMS    float64 `json:"native_median_total_ms"`
	FerryMS     float64 `json:"ferry_median_total_ms"`
	Ratio       float64 `json:"ratio_native_over_ferry"` // >= 0.99 is the target
	NativeHostS float64 `json:"native_median_bench_host_s"`
	FerryHostS  float64 `json:"ferry_median_bench_host_s"`
	HostRatio   float64 `json:"host_ratio_native_over_ferry"`
	NativeBootS float64 `json:"native_median_boot_s"`
	FerryBootS  float64 `json:"ferry_median_boot_s"`
	FerryExits  float64 `json:"ferry_median_exits_per_s"`
	// With several CPUs: the ping-pong's round trips per second, and
	// vCPU 0's exits per second over it (medians).
	NativePingPS   float64 `json:"native_median_pingpong_round_trips_per_s,omitempty"`
	FerryPingPS    float64 `json:"ferry_median_pingpong_round_trips_per_s,omitempty"`
	PingRatio      float64 `json:"pingpong_ratio_ferry_over_native,omitempty"`
	FerryPingExits float64 `json:"ferry_median_pingpong_vcpu0_exits_per_s,omitempty"`
}

// settle is the pause between two boots, so that one board's teardown does
// not run beside the next one's benchmark on a 2-core machine.
const settle = 3 * time.Second

var (
	figures  = regexp.MustCompile(`^FERRY-BENCH loop_ms=(\d+) md5_ms=(\d+) total_ms=(\d+)`)
	pingpong = regexp.MustCompile(`^FERRY-BENCH pingpong n=(\d+) ms=(\d+)`)
	check    = regexp.MustCompile(`^FERRY-BENCH check (.*)`)
)

func main() {
	runs := flag.Int("runs", 3, "boots of each configuration")
	out := flag.String("out", "docs/bench", "directory for the figures (thin, idle, migration, net: .md and .json)")
	b := qemu.Board{QEMU: "qemu-system-aarch64"}
	flag.StringVar(&b.CPU, "cpu", "max,pauth-impdef=on", "QEMU -cpu")
	flag.StringVar(&b.Memory, "m", "1G", "board RAM")
	flag.StringVar(&b.Image, "image", "build/ferry.img", "Ferry's arm64 Image (or its ELF with -insecure)")
	flag.BoolVar(&b.Insecure, "insecure", false, "boards without the GIC's security states or EL3 (secure=off), natively and under Ferry")
	flag.StringVar(&b.Kernel, "kernel", "build/guest/Image", "guest kernel")
	flag.StringVar(&b.Initrd, "initrd", "build/guest/initrd.cpio.gz", "guest initramfs")
	thin := flag.Bool("thin", true, "measure thin-ness (native vs Ferry)")
	smp := flag.Int("smp", 1, "thin-ness on a board with this many CPUs, the benchmark on each at once (Ferry with ferry.cpus=all; figures to thin-smp<n>.md)")
	idle := flag.Bool("idle", true, "measure idle boards: host CPU and exits of an idle guest natively and under Ferry, and of a receive-role board")
	idleRuns := flag.Int("idle-runs", 3, "boots of each idle configuration")
	idleGuests := flag.String("idle-guests", "counter,idle", "guest.mode of the idle guests")
	flag.DurationVar(&idleWindow, "idle-window", idleWindow, "how long each idle board's host CPU is measured")
	migration := flag.Bool("migration", true, "measure migration (Ferry and QEMU's own) over the matrix -sizes x -rates x -systems")
	sizes := flag.String("sizes", "256,512,1024", "guest sizes to migrate, MiB")
	rates := flag.String("rates", "0,8,32,max", "guest dirty rates, MiB/s (0: idle, max: as fast as the guest can)")
	systems := flag.String("systems", "ferry,qemu,qemu-30ms", "what migrates: ferry, qemu (QEMU's defaults), qemu-30ms (downtime-limit 30 ms, auto-converge)")
	dirtyMiB := flag.Int("dirty-mb", 32, "size of the guest's dirtied region, MiB")
	migrationRuns := flag.Int("migration-runs", 1, "migrations of each cell and system")
	quick := flag.Bool("quick", false, "a quick matrix: 512 MiB, idle and 8 MiB/s, Ferry and QEMU (overrides -sizes, -rates, -systems)")
	ferryctl := flag.String("ferryctl", "build/ferryctl", "ferryctl binary")
	downtime := flag.Duration("downtime", api.DefaultDowntimeLimit, "Ferry's downtime limit (ferryctl migrate -downtime, when it has the flag)")
	maxTime := flag.Duration("max-time", time.Minute, "Ferry's max migration time (ferryctl migrate -max-time, when it has the flag)")
	bandwidth := flag.Uint64("bandwidth", 0, "Ferry's bandwidth cap, bytes/s (0: none)")
	noConverge := flag.Bool("no-auto-converge", false, "turn Ferry's auto-converge off")
	qemuTimeout := flag.Duration("qemu-timeout", time.Minute, "cancel a QEMU migration that has not converged by then")
	nettest := flag.String("nettest", "build/nettest.elf", "cmd/ferry-nettest image for the raw link throughput (\"\": skip)")
	linkMiB := flag.Int("link-mib", 256, "MiB the raw link test sends")
	keep := flag.Bool("keep", false, "keep the results of the existing migration.json that this run does not measure (e.g. QEMU's while Ferry's are re-run)")
	netb := flag.Bool("net", true, "measure the guest's own network (TCP throughput and round trips to a client) natively, under Ferry and after a migration")
	netRuns := flag.Int("net-runs", 3, "rounds of the network bench")
	tcgInsns := flag.Bool("tcg-insns", false, "count each board's instructions in the network bench with a TCG plugin (scripts/tcg-insns, built with gcc)")
	flag.StringVar(&logDir, "logs", logDir, "directory for the consoles of failed migrations (\"\": none)")
	render := flag.Bool("render", false, "only re-render migration.md and migration.png from the migration.json in -out")
	flag.Parse()
	if *render {
		s, err := readSummary(filepath.Join(*out, "migration.json"))
		if err == nil {
			err = writeMigration(*out, s)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "ferry-bench:", err)
			os.Exit(1)
		}
		return
	}
	if *migration {
		m := Matrix{DirtyMiB: *dirtyMiB, Runs: *migrationRuns, Downtime: *downtime, MaxTime: *maxTime,
			Bandwidth: *bandwidth, NoAutoConverge: *noConverge, QEMUTimeout: *qemuTimeout}
		if *quick {
			*sizes, *rates, *systems = "512", "0,8", "ferry,qemu"
		}
		var err error
		if m.Sizes, err = parseSizes(*sizes); err == nil {
			if m.Rates, err = parseRates(*rates); err == nil {
				m.Systems, err = parseSystems(*systems)
			}
		}
		if err == nil {
			link := LinkResult{Error: "skipped (-nettest \"\")"}
			if *nettest != "" {
				link = measureLink(b, *nettest, *linkMiB)
				if link.Error != "" {
					fmt.Println("raw link: not measured:", link.Error)
				} else {
					fmt.Printf("raw link: %.1f MiB/s (MTU %d, %d MiB)\n", link.MiBs, link.MTU, link.MiB)
				}
			}
			err = migrationBench(b, *ferryctl, *out, m, link, "go run ./cmd/ferry-bench "+strings.Join(os.Args[1:], " "), *keep)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "ferry-bench:", err)
			os.Exit(1)
		}
	}
	if *netb {
		if err := netBench(b, *ferryctl, *out, *netRuns, *tcgInsns); err != nil {
			fmt.Fprintln(os.Stderr, "ferry-bench:", err)
			os.Exit(1)
		}
	}
	if *idle {
		if err := idleBench(b, *out, *idleRuns, strings.Split(*idleGuests, ",")); err != nil {
			fmt.Fprintln(os.Stderr, "ferry-bench:", err)
			os.Exit(1)
		}
	}
	if !*thin {
		return
	}
	// The wait lets the harness take Ferry's exit counts before the
	// benchmark starts; native runs wait the same.
	b.Append = fmt.Sprintf("console=ttyAMA0 quiet guest.mode=bench guest.bench_wait=%d", int(benchWait.Seconds()))
	name := "thin"
	if *smp > 1 {
		// QEMU's built-in PSCI starts CPUs without SVE, SME and pointer
		// authentication at EL3 (docs/smp.md): the native board gets the
		// same CPU.
		b.SMP, b.CPU = *smp, smpCPU
		b.Words = strings.TrimSpace(b.Words + " ferry.cpus=all")
		b.Append += fmt.Sprintf(" guest.bench_cpus=%d", *smp)
		name = fmt.Sprintf("thin-smp%d", *smp)
	}
	keys, err := os.MkdirTemp("", "ferry-bench-thin-keys")
	if err != nil {
		fmt.Fprintln(os.Stderr, "ferry-bench:", err)
		os.Exit(1)
	}
	defer os.RemoveAll(keys)
	if _, err := pki.Provision(keys, "ferry-bench", "a=10.77.0.11", "operator:ctl"); err != nil {
		fmt.Fprintln(os.Stderr, "ferry-bench:", err)
		os.Exit(1)
	}

	s := Summary{Setup: setupOf(b)}
	for i := 0; i < *runs; i++ {
		for _, ferry := range []bool{false, true} {
			time.Sleep(settle) // let the previous board's QEMU finish exiting
			r, err := run(b, ferry, keys)
			if err != nil {
				fmt.Fprintf(os.Stderr, "ferry-bench: run %d (ferry=%v): %v\n", i+1, ferry, err)
				os.Exit(1)
			}
			fmt.Printf("run %d ferry=%-5v boot %.2fs loop %dms md5 %dms total %dms (host %.2fs)",
				i+1, ferry, r.BootS, r.LoopMS, r.MD5MS, r.TotalMS, r.HostS)
			if r.PingPongN > 0 {
				fmt.Printf(", ping-pong %d in %dms", r.PingPongN, r.PingPongMS)
			}
			if r.Exits != nil {
				fmt.Printf(", %.1f exits/s (%v)", r.Exits.PerSecond, r.Exits)
			}
			fmt.Println()
			s.Runs = append(s.Runs, r)
		}
	}
	for _, r := range s.Runs[1:] {
		if r.Check != s.Runs[0].Check {
			fmt.Fprintf(os.Stderr, "ferry-bench: results differ between runs: %q vs %q\n", r.Check, s.Runs[0].Check)
			os.Exit(1)
		}
	}
	s.NativeMS = median(s.Runs, false, func(r Run) float64 { return float64(r.TotalMS) })
	s.FerryMS = median(s.Runs, true, func(r Run) float64 { return float64(r.TotalMS) })
	s.NativeHostS = median(s.Runs, false, func(r Run) float64 { return r.HostS })
	s.FerryHostS = median(s.Runs, true, func(r Run) float64 { return r.HostS })
	s.NativeBootS = median(s.Runs, false, func(r Run) float64 { return r.BootS })
	s.FerryBootS = median(s.Runs, true, func(r Run) float64 { return r.BootS })
	s.FerryExits = median(s.Runs, true, func(r Run) float64 {
		if r.Exits == nil {
			return 0
		}
		return r.Exits.PerSecond
	})
	s.Ratio = s.NativeMS / s.FerryMS
	if *smp > 1 {
		perS := func(r Run) float64 { return float64(r.PingPongN) / (float64(r.PingPongMS) / 1000) }
		s.NativePingPS, s.FerryPingPS = median(s.Runs, false, perS), median(s.Runs, true, perS)
		s.PingRatio = s.FerryPingPS / s.NativePingPS
		s.FerryPingExits = median(s.Runs, true, func(r Run) float64 {
			if r.PingExits == nil {
				return 0
			}
			return r.PingExits.PerSecond
		})
	}
	s.HostRatio = s.NativeHostS / s.FerryHostS
	if err := write(*out, name, s); err != nil {
		fmt.Fprintln(os.Stderr, "ferry-bench:", err)
		os.Exit(1)
	}
	fmt.Printf("ratio native/Ferry: %.4f (guest clock), %.4f (host clock); boot to userspace: native %.2fs, Ferry %.2fs\n",
		s.Ratio, s.HostRatio, s.NativeBootS, s.FerryBootS)
}

// benchWait is how long the benchmark guest waits before it starts.
const benchWait = 5 * time.Second

// run boots the benchmark guest once, natively or under Ferry; Ferry
// with its management NIC on a switch of its own, its exits taken from
// its API before and after the benchmark.
func run(b qemu.Board, ferry bool, keys string) (Run, error) {
	var c *apiClient
	if !ferry {
		b.Image = ""
	} else {
		sw, swAddr, err := l2switch.Start()
		if err != nil {
			return Run{}, err
		}
		defer sw.Close()
		b.Switch, b.Name, b.IP, b.MAC, b.Keys = swAddr, "a", "10.77.0.11/24", "52:54:00:77:00:11", filepath.Join(keys, "a.pem")
		if c, err = newAPIClient(swAddr, keys); err != nil {
			return Run{}, err
		}
		defer c.close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	p, err := b.Start(ctx, nil)
	if err != nil {
		return Run{}, err
	}
	defer p.Kill()
	r := Run{Ferry: ferry}
	up, i, err := p.Expect(regexp.MustCompile(`^FERRY-GUEST: userspace up`), 0, 3*time.Minute)
	if err != nil {
		return r, err
	}
	r.BootS = up.At.Sub(p.Started()).Seconds()
	var before api.Status
	var asked time.Time
	if c != nil {
		if before, _, err = c.status("10.77.0.11"); err != nil {
			return r, fmt.Errorf("Ferry's status before the benchmark: %w", err)
		}
		asked = time.Now()
	}
	start, i, err := p.Expect(regexp.MustCompile(`^FERRY-BENCH start`), i, time.Minute)
	if err != nil {
		return r, err
	}
	if c != nil && start.At.Before(asked) {
		return r, fmt.Errorf("the benchmark started before Ferry's status was in (guest.bench_wait=%v is too short)", benchWait)
	}
	l, i, err := p.Expect(figures, i, 5*time.Minute)
	if err != nil {
		return r, err
	}
	var after api.Status
	if c != nil {
		if after, _, err = c.status("10.77.0.11"); err != nil {
			return r, fmt.Errorf("Ferry's status after the benchmark: %w", err)
		}
		e := exitsBetween(before, after)
		r.Exits = &e
	}
	m := figures.FindStringSubmatch(l.Text)
	r.LoopMS, _ = strconv.Atoi(m[1])
	r.MD5MS, _ = strconv.Atoi(m[2])
	r.TotalMS, _ = strconv.Atoi(m[3])
	cl, i, err := p.Expect(check, i, time.Minute)
	if err != nil {
		return r, err
	}
	r.Check = check.FindStringSubmatch(cl.Text)[1]
	if b.SMP > 1 {
		pl, j, err := p.Expect(pingpong, i, 5*time.Minute)
		if err != nil {
			return r, err
		}
		i = j
		pm := pingpong.FindStringSubmatch(pl.Text)
		r.PingPongN, _ = strconv.Atoi(pm[1])
		r.PingPongMS, _ = strconv.Atoi(pm[2])
		if c != nil {
			end, _, err := c.status("10.77.0.11")
			if err != nil {
				return r, fmt.Errorf("Ferry's status after the ping-pong: %w", err)
			}
			e := exitsBetween(after, end)
			r.PingExits = &e
		}
	}
	done, _, err := p.Expect(regexp.MustCompile(`^FERRY-BENCH done`), i, time.Minute)
	if err != nil {
		return r, err
	}
	r.HostS = done.At.Sub(start.At).Seconds()
	if ferry {
		// The guest's SYSTEM_OFF stops the guest; Ferry, its API and the
		// board stay up.
		return r, nil
	}
	if err := p.Wait(time.Minute); err != nil {
		return r, fmt.Errorf("board did not power off cleanly: %w", err)
	}
	return r, nil
}

func median(runs []Run, ferry bool, f func(Run) float64) float64 {
	var v []float64
	for _, r := range runs {
		if r.Ferry == ferry {
			v = append(v, f(r))
		}
	}
	sort.Float64s(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// Setup is what every report says of the boards it ran.
type Setup struct {
	Date    string `json:"date"`
	QEMU    string `json:"qemu"`
	CPU     string `json:"cpu"`
	Machine string `json:"machine"`
	Memory  string `json:"memory"`
	SMP     int    `json:"smp"`
	Kernel  string `json:"kernel"`
}

// setupOf is b's Setup, now.
func setupOf(b qemu.Board) Setup {
	return Setup{Date: time.Now().UTC().Format(time.RFC3339), QEMU: qemuVersion(b.QEMU), CPU: b.CPU, Machine: b.Machine(),
		Memory: b.Memory, SMP: max(b.SMP, 1), Kernel: kernelVersion(b.Kernel)}
}

func qemuVersion(bin string) string {
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		return "unknown"
	}
	return strings.SplitN(string(out), "\n", 2)[0]
}

// smpCPU is the -cpu of a board with several CPUs: QEMU's built-in PSCI
// starts a CPU that traps SVE, SME and pointer authentication to EL3.
const smpCPU = "max,pauth=off,sve=off,sme=off"

func write(dir, name string, s Summary) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	j, _ := json.MarshalIndent(s, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, name+".json"), append(j, '\n'), 0o644); err != nil {
		return err
	}
	var md strings.Builder
	fmt.Fprintf(&md, "# Thin-ness: the guest benchmark natively and under Ferry\n\n")
	if s.SMP > 1 {
		fmt.Fprintf(&md, "On %d CPUs: a copy of the benchmark pinned to each at once (`guest.bench_cpus=%d`), the slowest copy's figures, the wall time as total; Ferry with `ferry.cpus=all`, a vCPU on each CPU.\n\n", s.SMP, s.SMP)
	}
	fmt.Fprintf(&md, "Written by `make bench` (`go run ./cmd/ferry-bench`) on %s.\n\n", s.Date)
	fmt.Fprintf(&md, "Board: %s, `-M %s -cpu %s -m %s`, guest kernel %s,\n", s.QEMU, s.Machine, s.CPU, s.Memory, s.Kernel)
	fmt.Fprintf(&md, "`guest.mode=bench` (busybox arithmetic loop, then md5sum of a tmpfs file); native and Ferry boots alternate.\n")
	fmt.Fprintf(&md, "Ferry runs with its management NIC and API up; its exits over the benchmark come from its status before and after\n")
	fmt.Fprintf(&md, "(per second by cause, and the mean time Ferry took to handle one: from the exit to the end of its handling).\n\n")
	fmt.Fprintf(&md, "| | native (kernel at EL2) | under Ferry (kernel at EL1) | native / Ferry |\n|---|---|---|---|\n")
	fmt.Fprintf(&md, "| benchmark, guest clock (median ms) | %.0f | %.0f | **%.4f** |\n", s.NativeMS, s.FerryMS, s.Ratio)
	fmt.Fprintf(&md, "| benchmark, host clock (median s) | %.2f | %.2f | %.4f |\n", s.NativeHostS, s.FerryHostS, s.HostRatio)
	fmt.Fprintf(&md, "| boot to userspace, host clock (median s) | %.2f | %.2f | |\n", s.NativeBootS, s.FerryBootS)
	fmt.Fprintf(&md, "| exits per second over the benchmark (median) | | %.1f | |\n", s.FerryExits)
	if s.SMP > 1 {
		fmt.Fprintf(&md, "| pipe ping-pong CPU 0 <-> CPU 1, round trips/s (median) | %.0f | %.0f | %.4f (Ferry / native) |\n", s.NativePingPS, s.FerryPingPS, s.PingRatio)
		fmt.Fprintf(&md, "| vCPU 0's exits per second over the ping-pong (median) | | %.1f | |\n", s.FerryPingExits)
	}
	fmt.Fprintf(&md, "\n")
	fmt.Fprintf(&md, "Target: native / Ferry >= 0.99.\n\n| run | config | boot s | loop ms | md5 ms | total ms | host s | exits/s | by cause |\n|---|---|---|---|---|---|---|---|---|\n")
	for i, r := range s.Runs {
		cfg := "native"
		if r.Ferry {
			cfg = "Ferry"
		}
		ex, by := "", ""
		if r.Exits != nil {
			ex, by = fmt.Sprintf("%.1f", r.Exits.PerSecond), r.Exits.String()
		}
		fmt.Fprintf(&md, "| %d | %s | %.2f | %d | %d | %d | %.2f | %s | %s |\n", i/2+1, cfg, r.BootS, r.LoopMS, r.MD5MS, r.TotalMS, r.HostS, ex, by)
	}
	return os.WriteFile(filepath.Join(dir, name+".md"), []byte(md.String()), 0o644)
}
