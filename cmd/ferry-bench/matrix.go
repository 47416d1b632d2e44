// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ferry-hv/ferry/api"
)

// Systems the migration bench compares.
const (
	sysFerry    = "ferry"     // Ferry, its defaults (30 ms downtime limit, auto-converge)
	sysQEMU     = "qemu"      // QEMU's own migration, its defaults (300 ms, 128 MiB/s, no auto-converge)
	sysQEMU30ms = "qemu-30ms" // QEMU with downtime-limit 30 ms and auto-converge, as Ferry's defaults
)

// maxRate is the dirty rate asked for "as fast as the guest can": more
// than the guest reaches under TCG (about 40-60 MiB/s) and than Ferry sends.
const maxRate = 512

// Cell is one configuration of the matrix.
type Cell struct {
	GuestMiB int `json:"guest_mib"`
	DirtyMiB int `json:"dirty_mib"`        // size of the guest's dirtied region; 0: idle
	RateMiB  int `json:"dirty_rate_mib_s"` // the rate asked of the guest; 0: idle
}

// Workload names the cell's workload: "idle", "8 MiB/s", "max".
func (c Cell) Workload() string {
	switch {
	case c.RateMiB == 0 || c.DirtyMiB == 0:
		return "idle"
	case c.RateMiB >= maxRate:
		return "max"
	}
	return fmt.Sprintf("%d MiB/s", c.RateMiB)
}

// GuestArgs is the guest's command line for the cell (guest/README.md).
func (c Cell) GuestArgs() string {
	s := "console=ttyAMA0 quiet guest.mode=migrate guest.pattern_mb=64 guest.hb=1"
	if c.RateMiB > 0 && c.DirtyMiB > 0 {
		s += fmt.Sprintf(" guest.dirty_mb=%d guest.dirty_rate=%d", c.DirtyMiB, c.RateMiB)
	}
	return s
}

// Matrix is what the migration bench runs: every system on every cell,
// Runs times.
type Matrix struct {
	Sizes    []int    `json:"sizes_mib"`
	Rates    []int    `json:"rates_mib_s"` // 0: idle; maxRate: flat out
	Systems  []string `json:"systems"`
	DirtyMiB int      `json:"dirty_mib"`
	Runs     int      `json:"runs"`

	// Ferry's settings, passed to ferryctl migrate when it has the flags.
	Downtime       time.Duration `json:"ferry_downtime_limit_ns,omitempty"`
	MaxTime        time.Duration `json:"ferry_max_time_ns,omitempty"`
	Bandwidth      uint64        `json:"ferry_bandwidth_bps,omitempty"`
	NoAutoConverge bool          `json:"ferry_no_auto_converge,omitempty"`
	// QEMUTimeout cancels a QEMU migration that has not converged by then.
	QEMUTimeout time.Duration `json:"qemu_timeout_ns"`
}

// Cells lists the matrix's configurations, sizes outermost.
func (m Matrix) Cells() []Cell {
	var out []Cell
	for _, s := range m.Sizes {
		for _, r := range m.Rates {
			c := Cell{GuestMiB: s, RateMiB: r}
			if r > 0 {
				c.DirtyMiB = m.DirtyMiB
			}
			out = append(out, c)
		}
	}
	return out
}

// parseRates reads "0,8,32,max" (idle, 8, 32 MiB/s, flat out).
func parseRates(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		switch f {
		case "idle", "0":
			out = append(out, 0)
			continue
		case "max":
			out = append(out, maxRate)
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("dirty rate %q: want MiB/s, 0/idle or max", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func parseSystems(s string) ([]string, error) {
	var out []string
	for _, f := range strings.Split(s, ",") {
		switch f = strings.TrimSpace(f); f {
		case sysFerry, sysQEMU, sysQEMU30ms:
			out = append(out, f)
		default:
			return nil, fmt.Errorf("system %q: want %s, %s or %s", f, sysFerry, sysQEMU, sysQEMU30ms)
		}
	}
	return out, nil
}

func (m Matrix) has(sys string) bool {
	for _, s := range m.Systems {
		if s == sys {
			return true
		}
	}
	return false
}

// Result is one migration of one cell by one system.
type Result struct {
	System string `json:"system"`
	Cell
	Workload string `json:"workload"`
	Run      int    `json:"run"`
	OK       bool   `json:"ok"`
	Error    string `json:"error,omitempty"`

	TotalS         float64 `json:"total_s"`
	DowntimeS      float64 `json:"downtime_s"`        // as the migrating side measures it
	GuestGapS      float64 `json:"guest_gap_s"`       // largest heartbeat gap around the migration, host clock
	SwitchGapS     float64 `json:"switch_gap_s"`      // last heartbeat at the source to the first at the destination
	GuestClockGapS float64 `json:"guest_clock_gap_s"` // the same two heartbeats on the guest's clock (-1: none)
	Bytes          uint64  `json:"bytes"`             // stream bytes sent
	TouchedBytes   uint64  `json:"touched_bytes"`     // non-zero guest memory sent once (see migration.md)
	Rounds         int     `json:"rounds"`            // Ferry: pre-copy rounds incl. the stopped one; QEMU: dirty-sync-count
	StreamMiBs     float64 `json:"stream_mib_s"`      // bytes over the time spent sending

	DirtyBefore float64  `json:"dirty_before_mib_s"` // guest's dirtying progress before the migration
	DirtyDuring float64  `json:"dirty_during_mib_s"` // ... across it, downtime included
	HBBefore    float64  `json:"hb_before_per_s"`
	HBDuring    float64  `json:"hb_during_per_s"`
	Progress    float64  `json:"guest_progress"`    // during / before (dirty rate, else heartbeat rate); 1: not slowed
	ProgressBy  string   `json:"guest_progress_by"` // "dirty" or "heartbeat"
	Bad         []string `json:"bad_checks,omitempty"`
	DstOK       int      `json:"dst_checks_ok"` // pattern and dirty-region checks that said OK on the destination
	HostLoad    float64  `json:"host_load_1m"`  // the host's 1-minute load average just after (2 cores; others' work included)

	Ferry *FerryDetail `json:"ferry,omitempty"`
	QEMU  *QEMUDetail  `json:"qemu,omitempty"`
}

// FerryDetail is what Ferry's report adds.
type FerryDetail struct {
	Settings  api.MigrateRequest `json:"settings"`
	Rounds    []api.Round        `json:"rounds,omitempty"`
	Parts     api.Downtime       `json:"downtime_parts"`
	Switch    string             `json:"switch,omitempty"`
	Throttle  float64            `json:"throttle"`
	GuestCPU  float64            `json:"guest_cpu"`
	Tracking  time.Duration      `json:"tracking_ns"`
	Untrack   time.Duration      `json:"untrack_ns"`
	Faults    uint64             `json:"dirty_faults"`
	Pages     uint64             `json:"pages"`
	ZeroPages uint64             `json:"zero_pages"`
	DataPages uint64             `json:"data_pages"`
	RestoreS  float64            `json:"restore_s"`
	Flags     []string           `json:"ferryctl_flags,omitempty"`
}

// QEMUDetail is what QEMU's query-migrate said at the end.
type QEMUDetail struct {
	DowntimeLimitMS int         `json:"downtime_limit_ms"` // 0: QEMU's default (300)
	AutoConverge    bool        `json:"auto_converge"`
	MaxThrottle     int         `json:"max_cpu_throttle_pct"`
	Final           MigrateInfo `json:"final"`
}

// settle finishes the figures derived from the measured ones.
func (r *Result) settle() {
	r.Workload = r.Cell.Workload()
	r.Progress, r.ProgressBy = 0, ""
	switch {
	case r.DirtyBefore > 0 && r.DirtyDuring > 0:
		r.Progress, r.ProgressBy = r.DirtyDuring/r.DirtyBefore, "dirty"
	case r.HBBefore > 0:
		// Idle, or no dirtying line on the destination in time: heartbeats.
		r.Progress, r.ProgressBy = r.HBDuring/r.HBBefore, "heartbeat"
	}
}
