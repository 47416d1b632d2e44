package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ferry-hv/ferry/api"
	"github.com/ferry-hv/ferry/internal/l2switch"
	"github.com/ferry-hv/ferry/internal/pki"
	"github.com/ferry-hv/ferry/internal/qemu"
)

// MigrationRun is one measured migration.
type MigrationRun struct {
	GuestMiB      int     `json:"guest_mib"`
	BoardMemory   string  `json:"board_memory"`
	Bytes         uint64  `json:"bytes"`
	Pages         uint64  `json:"pages"`
	ZeroPages     uint64  `json:"zero_pages"`
	DataPages     uint64  `json:"data_pages"`
	TotalS        float64 `json:"total_s"`
	DowntimeS     float64 `json:"downtime_s"`       // as Ferry measures it
	RestoreS      float64 `json:"restore_s"`        // the destination's part of it
	GuestGapS     float64 `json:"guest_observed_s"` // last heartbeat on a to first on b, host clock
	MaxHBGapS     float64 `json:"max_heartbeat_gap_s"`
	ThroughputMiB float64 `json:"throughput_mib_s"` // bytes / downtime
}

var hbLine = regexp.MustCompile(`^FERRY-HB \d+`)

// migrationBench moves a guest of each size between two boards runs times
// and writes docs/bench/migration.{md,json}.
func migrationBench(base qemu.Board, ferryctl, out string, sizes []int, runs int) error {
	keys, err := os.MkdirTemp("", "ferry-bench-keys")
	if err != nil {
		return err
	}
	defer os.RemoveAll(keys)
	if _, err := pki.Provision(keys, "ferry-bench", "a=10.77.0.11", "b=10.77.0.12", "ctl"); err != nil {
		return err
	}
	var all []MigrationRun
	for _, mib := range sizes {
		for i := 0; i < runs; i++ {
			r, err := migrateOnce(base, ferryctl, keys, mib)
			if err != nil {
				return fmt.Errorf("%d MiB guest, run %d: %w", mib, i+1, err)
			}
			fmt.Printf("migration %4d MiB guest: %6.1f MiB sent, total %.2fs, downtime %.2fs (guest saw %.2fs), %.1f MiB/s\n",
				mib, float64(r.Bytes)/(1<<20), r.TotalS, r.DowntimeS, r.GuestGapS, r.ThroughputMiB)
			all = append(all, r)
		}
	}
	return writeMigration(out, base, all)
}

func migrateOnce(base qemu.Board, ferryctl, keys string, mib int) (MigrationRun, error) {
	r := MigrationRun{GuestMiB: mib, BoardMemory: fmt.Sprintf("%dM", mib+128)}
	sw := l2switch.New(l2switch.Config{Logf: func(string, ...any) {}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return r, err
	}
	go sw.Serve(ln)
	defer sw.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	var ps [2]*qemu.Process
	for i, name := range []string{"a", "b"} {
		b := base
		b.Memory = r.BoardMemory
		b.Switch, b.Name = ln.Addr().String(), name
		b.IP, b.MAC = fmt.Sprintf("10.77.0.%d/24", 11+i), fmt.Sprintf("52:54:00:77:00:%02x", 0x11+i)
		b.Keys = filepath.Join(keys, name+".pem")
		if name == "a" {
			b.Append = "console=ttyAMA0 quiet guest.mode=migrate guest.pattern_mb=64 guest.hb=1"
		} else {
			b.Kernel, b.Initrd, b.Append = "", "", ""
		}
		p, err := b.Start(ctx, nil)
		if err != nil {
			return r, err
		}
		defer p.Kill()
		ps[i] = p
	}
	if _, _, err := ps[0].Expect(regexp.MustCompile(`^FERRY-PATTERN-CHECK .* OK`), 0, 5*time.Minute); err != nil {
		return r, err
	}
	if _, _, err := ps[1].Expect(regexp.MustCompile(`ferry: management network up`), 0, time.Minute); err != nil {
		return r, err
	}
	cmd := exec.CommandContext(ctx, ferryctl, "-switch", ln.Addr().String(), "-keys", filepath.Join(keys, "ctl.pem"),
		"-mtu", "65510", "migrate", "-json", "10.77.0.11", "10.77.0.12")
	outb, err := cmd.Output()
	if err != nil {
		return r, fmt.Errorf("ferryctl: %v: %s", err, outb)
	}
	var rep api.Report
	if err := json.Unmarshal(outb, &rep); err != nil {
		return r, fmt.Errorf("ferryctl -json: %v: %s", err, outb)
	}
	if !rep.OK {
		return r, fmt.Errorf("migration failed: %s", rep.Error)
	}
	// Let the guest print on b for a while, then measure the heartbeat.
	if _, _, err := ps[1].Expect(regexp.MustCompile(`^FERRY-PATTERN-CHECK .* OK`), 0, time.Minute); err != nil {
		return r, err
	}
	r.Bytes, r.Pages, r.ZeroPages, r.DataPages = rep.Bytes, rep.Pages, rep.ZeroPages, rep.DataPages
	r.TotalS, r.DowntimeS, r.RestoreS = rep.Total.Seconds(), rep.Downtime.Seconds(), rep.RestoreTime.Seconds()
	r.ThroughputMiB = float64(rep.Bytes) / (1 << 20) / rep.Downtime.Seconds()
	r.GuestGapS, r.MaxHBGapS = heartbeatGaps(ps[0].Lines(), ps[1].Lines())
	return r, nil
}

// heartbeatGaps returns the gap between the last heartbeat on a and the
// first on b, and the largest gap between consecutive heartbeats overall.
func heartbeatGaps(a, b []qemu.Line) (switchGap, maxGap float64) {
	var at []time.Time
	var lastA, firstB time.Time
	for _, l := range a {
		if hbLine.MatchString(l.Text) {
			at, lastA = append(at, l.At), l.At
		}
	}
	for _, l := range b {
		if hbLine.MatchString(l.Text) {
			if firstB.IsZero() {
				firstB = l.At
			}
			at = append(at, l.At)
		}
	}
	for i := 1; i < len(at); i++ {
		if g := at[i].Sub(at[i-1]).Seconds(); g > maxGap {
			maxGap = g
		}
	}
	if !lastA.IsZero() && !firstB.IsZero() {
		switchGap = firstB.Sub(lastA).Seconds()
	}
	return switchGap, maxGap
}

func writeMigration(dir string, base qemu.Board, runs []MigrationRun) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	j, _ := json.MarshalIndent(struct {
		Date string         `json:"date"`
		QEMU string         `json:"qemu"`
		CPU  string         `json:"cpu"`
		Runs []MigrationRun `json:"runs"`
	}{time.Now().UTC().Format(time.RFC3339), qemuVersion(base.QEMU), base.CPU, runs}, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "migration.json"), append(j, '\n'), 0o644); err != nil {
		return err
	}
	var md strings.Builder
	fmt.Fprintf(&md, "# Migration: stop-and-copy between two boards\n\n")
	fmt.Fprintf(&md, "Written by `make bench` (`go run ./cmd/ferry-bench -migration`) on %s.\n\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(&md, "Two QEMU virt boards (%s, `-cpu %s`, TCG) on a loopback management link (ferry-switch, MTU 65510),\n", qemuVersion(base.QEMU), base.CPU)
	fmt.Fprintf(&md, "mutual TLS 1.3. The guest runs `guest.mode=migrate guest.pattern_mb=64 guest.hb=1` (a counter, a 64 MiB tmpfs\n")
	fmt.Fprintf(&md, "pattern checked every 5 s, a heartbeat line every ~10 ms). The board has 128 MiB more RAM than the guest (Ferry's carve-out).\n\n")
	fmt.Fprintf(&md, "Downtime is measured two ways: by Ferry (the guest stopped on the source to running on the destination), and as the guest\n")
	fmt.Fprintf(&md, "observes it: the gap between the host arrival times of the last heartbeat on the first board's console and the first on the second's.\n\n")
	fmt.Fprintf(&md, "| guest | sent | pages (zero / data) | total | downtime (Ferry) | downtime (guest) | restore | MiB/s |\n|---|---|---|---|---|---|---|---|\n")
	for _, r := range runs {
		fmt.Fprintf(&md, "| %d MiB | %.1f MiB | %d (%d / %d) | %.2f s | %.2f s | %.2f s | %.0f ms | %.1f |\n",
			r.GuestMiB, float64(r.Bytes)/(1<<20), r.Pages, r.ZeroPages, r.DataPages, r.TotalS, r.DowntimeS, r.GuestGapS, r.RestoreS*1000, r.ThroughputMiB)
	}
	return os.WriteFile(filepath.Join(dir, "migration.md"), []byte(md.String()), 0o644)
}

func parseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 64 {
			return nil, fmt.Errorf("guest size %q: want MiB, at least 64", f)
		}
		out = append(out, n)
	}
	return out, nil
}
