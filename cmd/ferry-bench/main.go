// Command ferry-bench measures how thin Ferry is: it boots the same guest on
// the same board natively and under Ferry, alternately, runs the guest's CPU
// and memory benchmark (guest.mode=bench: a busybox arithmetic loop and
// md5sum over a tmpfs file), and writes the figures and the ratio
// native/Ferry to docs/bench/thin.md and thin.json.
//
// With -migration it also moves a guest of each -sizes between two boards
// and writes docs/bench/migration.md and migration.json.
//
//	go run ./cmd/ferry-bench [-runs 3] [-out docs/bench] [-thin] [-migration]
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
}

// Summary is what thin.json holds.
type Summary struct {
	Date        string  `json:"date"`
	QEMU        string  `json:"qemu"`
	CPU         string  `json:"cpu"`
	Memory      string  `json:"memory"`
	Kernel      string  `json:"kernel"`
	Runs        []Run   `json:"runs"`
	NativeMS    float64 `json:"native_median_total_ms"`
	FerryMS     float64 `json:"ferry_median_total_ms"`
	Ratio       float64 `json:"ratio_native_over_ferry"` // >= 0.99 is the target
	NativeHostS float64 `json:"native_median_bench_host_s"`
	FerryHostS  float64 `json:"ferry_median_bench_host_s"`
	HostRatio   float64 `json:"host_ratio_native_over_ferry"`
	NativeBootS float64 `json:"native_median_boot_s"`
	FerryBootS  float64 `json:"ferry_median_boot_s"`
}

// settle is the pause between two boots, so that one board's teardown does
// not run beside the next one's benchmark on a 2-core machine.
const settle = 3 * time.Second

var (
	figures = regexp.MustCompile(`^FERRY-BENCH loop_ms=(\d+) md5_ms=(\d+) total_ms=(\d+)`)
	check   = regexp.MustCompile(`^FERRY-BENCH check (.*)`)
)

func main() {
	runs := flag.Int("runs", 3, "boots of each configuration")
	out := flag.String("out", "docs/bench", "directory for thin.md and thin.json")
	b := qemu.Board{QEMU: "qemu-system-aarch64"}
	flag.StringVar(&b.CPU, "cpu", "max,pauth-impdef=on", "QEMU -cpu")
	flag.StringVar(&b.Memory, "m", "1G", "board RAM")
	flag.StringVar(&b.Image, "image", "build/ferry.elf", "Ferry image")
	flag.StringVar(&b.Kernel, "kernel", "build/guest/Image", "guest kernel")
	flag.StringVar(&b.Initrd, "initrd", "build/guest/initrd.cpio.gz", "guest initramfs")
	thin := flag.Bool("thin", true, "measure thin-ness (native vs Ferry)")
	migration := flag.Bool("migration", true, "measure migration between two boards")
	sizes := flag.String("sizes", "512,1024", "guest sizes to migrate, MiB")
	migrationRuns := flag.Int("migration-runs", 3, "migrations of each guest size")
	ferryctl := flag.String("ferryctl", "build/ferryctl", "ferryctl binary")
	flag.Parse()
	if *migration {
		sz, err := parseSizes(*sizes)
		if err == nil {
			m := b
			err = migrationBench(m, *ferryctl, *out, sz, *migrationRuns)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "ferry-bench:", err)
			os.Exit(1)
		}
	}
	if !*thin {
		return
	}
	b.Append = "console=ttyAMA0 quiet guest.mode=bench"

	s := Summary{Date: time.Now().UTC().Format(time.RFC3339), CPU: b.CPU, Memory: b.Memory, QEMU: qemuVersion(b.QEMU)}
	if v, err := os.ReadFile(filepath.Join(filepath.Dir(b.Kernel), "kernel.version")); err == nil {
		s.Kernel = strings.TrimSpace(string(v))
	}
	for i := 0; i < *runs; i++ {
		for _, ferry := range []bool{false, true} {
			time.Sleep(settle) // let the previous board's QEMU finish exiting
			r, err := run(b, ferry)
			if err != nil {
				fmt.Fprintf(os.Stderr, "ferry-bench: run %d (ferry=%v): %v\n", i+1, ferry, err)
				os.Exit(1)
			}
			fmt.Printf("run %d ferry=%-5v boot %.2fs loop %dms md5 %dms total %dms (host %.2fs)\n",
				i+1, ferry, r.BootS, r.LoopMS, r.MD5MS, r.TotalMS, r.HostS)
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
	s.Ratio = s.NativeMS / s.FerryMS
	s.HostRatio = s.NativeHostS / s.FerryHostS
	if err := write(*out, s); err != nil {
		fmt.Fprintln(os.Stderr, "ferry-bench:", err)
		os.Exit(1)
	}
	fmt.Printf("ratio native/Ferry: %.4f (guest clock), %.4f (host clock); boot to userspace: native %.2fs, Ferry %.2fs\n",
		s.Ratio, s.HostRatio, s.NativeBootS, s.FerryBootS)
}

func run(b qemu.Board, ferry bool) (Run, error) {
	if !ferry {
		b.Image = ""
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
	start, i, err := p.Expect(regexp.MustCompile(`^FERRY-BENCH start`), i, time.Minute)
	if err != nil {
		return r, err
	}
	l, i, err := p.Expect(figures, i, 5*time.Minute)
	if err != nil {
		return r, err
	}
	m := figures.FindStringSubmatch(l.Text)
	r.LoopMS, _ = strconv.Atoi(m[1])
	r.MD5MS, _ = strconv.Atoi(m[2])
	r.TotalMS, _ = strconv.Atoi(m[3])
	c, i, err := p.Expect(check, i, time.Minute)
	if err != nil {
		return r, err
	}
	r.Check = check.FindStringSubmatch(c.Text)[1]
	done, _, err := p.Expect(regexp.MustCompile(`^FERRY-BENCH done`), i, time.Minute)
	if err != nil {
		return r, err
	}
	r.HostS = done.At.Sub(start.At).Seconds()
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

func qemuVersion(bin string) string {
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		return "unknown"
	}
	return strings.SplitN(string(out), "\n", 2)[0]
}

func write(dir string, s Summary) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	j, _ := json.MarshalIndent(s, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "thin.json"), append(j, '\n'), 0o644); err != nil {
		return err
	}
	var md strings.Builder
	fmt.Fprintf(&md, "# Thin-ness: the guest benchmark natively and under Ferry\n\n")
	fmt.Fprintf(&md, "Written by `make bench` (`go run ./cmd/ferry-bench`) on %s.\n\n", s.Date)
	fmt.Fprintf(&md, "Board: %s, `-M virt,virtualization=on,gic-version=3 -cpu %s -m %s`, guest kernel %s,\n", s.QEMU, s.CPU, s.Memory, s.Kernel)
	fmt.Fprintf(&md, "`guest.mode=bench` (busybox arithmetic loop, then md5sum of a tmpfs file); native and Ferry boots alternate.\n\n")
	fmt.Fprintf(&md, "| | native (kernel at EL2) | under Ferry (kernel at EL1) | native / Ferry |\n|---|---|---|---|\n")
	fmt.Fprintf(&md, "| benchmark, guest clock (median ms) | %.0f | %.0f | **%.4f** |\n", s.NativeMS, s.FerryMS, s.Ratio)
	fmt.Fprintf(&md, "| benchmark, host clock (median s) | %.2f | %.2f | %.4f |\n", s.NativeHostS, s.FerryHostS, s.HostRatio)
	fmt.Fprintf(&md, "| boot to userspace, host clock (median s) | %.2f | %.2f | |\n\n", s.NativeBootS, s.FerryBootS)
	fmt.Fprintf(&md, "Target: native / Ferry >= 0.99.\n\n| run | config | boot s | loop ms | md5 ms | total ms | host s |\n|---|---|---|---|---|---|---|\n")
	for i, r := range s.Runs {
		cfg := "native"
		if r.Ferry {
			cfg = "Ferry"
		}
		fmt.Fprintf(&md, "| %d | %s | %.2f | %d | %d | %d | %.2f |\n", i/2+1, cfg, r.BootS, r.LoopMS, r.MD5MS, r.TotalMS, r.HostS)
	}
	return os.WriteFile(filepath.Join(dir, "thin.md"), []byte(md.String()), 0o644)
}
