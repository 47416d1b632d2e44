// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ferry-hv/ferry/api"
	"github.com/ferry-hv/ferry/internal/hostnet"
	"github.com/ferry-hv/ferry/internal/l2switch"
	"github.com/ferry-hv/ferry/internal/pki"
	"github.com/ferry-hv/ferry/internal/qemu"
)

// The idle bench: a board whose guest does nothing, natively and under
// Ferry (with and without its management NIC), and a board in the receive
// role with no guest at all. Each is measured by the host CPU its QEMU
// process uses over idleWindow, after idleSettle for the boot to calm
// down; Ferry boards with a NIC also by their exits per second by cause
// (the management API's status, before and after the window) and by how
// fast the API answers.
const idleSettle = 8 * time.Second

// idleWindow is how long the host CPU is measured (-idle-window): /proc
// counts in 10 ms ticks, so 10 s resolve 0.1 % of a core.
var idleWindow = 10 * time.Second

const (
	// apiProbes status requests are timed after the window, apiGap apart,
	// on one kept-alive connection (its handshake timed apart).
	apiProbes = 10
	apiGap    = 200 * time.Millisecond
)

// Idle configurations.
const (
	idleNative  = "native"
	idleFerry   = "ferry"
	idleNIC     = "ferry+nic"
	idleReceive = "receive"
)

// IdleRun is one boot of the idle bench.
type IdleRun struct {
	Config    string    `json:"config"`
	Guest     string    `json:"guest"` // guest.mode, "" for the receive role
	CPU       float64   `json:"cpu_core_fraction"`
	WindowS   float64   `json:"window_s"`
	Exits     float64   `json:"exits_per_s"` // Ferry with its NIC only: -1 when not measured
	ByCause   Exits     `json:"exits"`
	APIms     []float64 `json:"api_ms,omitempty"` // status answers on a kept-alive connection
	Handshake float64   `json:"api_handshake_ms,omitempty"`
	Error     string    `json:"error,omitempty"`
}

// IdleSummary is idle.json.
type IdleSummary struct {
	Setup
	Image string    `json:"image"`
	Runs  []IdleRun `json:"runs"`
}

// cpuTicks is a process's user+system time in clock ticks (proc(5):
// fields 14 and 15 of /proc/<pid>/stat, after the parenthesised name).
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatTicks(string(b))
}

func parseStatTicks(stat string) (int64, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc stat without a name: %q", stat)
	}
	f := strings.Fields(stat[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc stat with %d fields after the name", len(f))
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc stat utime %q stime %q", f[11], f[12])
	}
	return u + s, nil
}

// clkTck is sysconf(_SC_CLK_TCK): 100 on every Linux architecture Go
// supports (USER_HZ is fixed at 100 for the /proc interface).
const clkTck = 100

// cpuOver measures p's CPU use over d as a fraction of one core.
func cpuOver(p *qemu.Process, d time.Duration) (float64, time.Duration, error) {
	t0, err := cpuTicks(p.Pid())
	if err != nil {
		return 0, 0, err
	}
	start := time.Now()
	time.Sleep(d)
	t1, err := cpuTicks(p.Pid())
	if err != nil {
		return 0, 0, err
	}
	dt := time.Since(start)
	return float64(t1-t0) / clkTck / dt.Seconds(), dt, nil
}

// apiClient is ferry-bench on the management link as an operator.
type apiClient struct {
	net *hostnet.Net
	hc  *http.Client
	tr  *http.Transport
}

func newAPIClient(swAddr, keys string) (*apiClient, error) {
	data, err := os.ReadFile(filepath.Join(keys, "ctl.pem"))
	if err != nil {
		return nil, err
	}
	b, err := pki.LoadBundle(data)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := hostnet.Join(ctx, hostnet.Config{Switch: swAddr, Addr: netip.MustParsePrefix("10.77.0.90/24"), MTU: 1500,
		Logf: func(string, ...any) {}})
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{DialContext: n.DialContext, TLSClientConfig: b.ClientConfig(pki.Options{PeerRole: pki.RoleBoard}),
		MaxIdleConnsPerHost: 1, IdleConnTimeout: time.Minute, DisableCompression: true}
	return &apiClient{net: n, tr: tr, hc: &http.Client{Transport: tr, Timeout: 10 * time.Second}}, nil
}

func (c *apiClient) close() { c.tr.CloseIdleConnections(); c.net.Close() }

// status asks addr for its status and says how long the answer took.
func (c *apiClient) status(addr string) (api.Status, time.Duration, error) {
	start := time.Now()
	resp, err := c.hc.Get("https://" + addr + ":" + strconv.Itoa(api.APIPort) + api.PathStatus)
	if err != nil {
		return api.Status{}, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	took := time.Since(start)
	if err != nil || resp.StatusCode != http.StatusOK {
		return api.Status{}, took, fmt.Errorf("status: %v %s", err, resp.Status)
	}
	var st api.Status
	return st, took, json.Unmarshal(body, &st)
}

var (
	idleReady    = regexp.MustCompile(`^FERRY-GUEST: boot_id=`)
	receiveReady = regexp.MustCompile(`ferry: management network up`)
)

// idleRun boots one board and measures it.
func idleRun(base qemu.Board, keys, config, mode string) (r IdleRun) {
	r = IdleRun{Config: config, Guest: mode, Exits: -1}
	fail := func(err error) IdleRun { r.Error = err.Error(); return r }
	b := base
	b.Append = "console=ttyAMA0 quiet guest.mode=" + mode
	if config == idleNative {
		b.Image = ""
	}
	var c *apiClient
	if config == idleNIC || config == idleReceive {
		sw, swAddr, err := l2switch.Start()
		if err != nil {
			return fail(err)
		}
		defer sw.Close()
		b.Switch, b.Name, b.IP, b.MAC = swAddr, "a", "10.77.0.11/24", "52:54:00:77:00:11"
		b.Keys = filepath.Join(keys, "a.pem")
		if config == idleReceive {
			b.Kernel, b.Initrd, b.Append, r.Guest = "", "", "", ""
		}
		if c, err = newAPIClient(swAddr, keys); err != nil {
			return fail(err)
		}
		defer c.close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	p, err := b.Start(ctx, nil)
	if err != nil {
		return fail(err)
	}
	defer p.Kill()
	ready := idleReady
	if config == idleReceive {
		ready = receiveReady
	}
	if _, _, err := p.Expect(ready, 0, 3*time.Minute); err != nil {
		return fail(err)
	}
	var before api.Status
	if c != nil {
		// The handshake (and the board's cipher measurement at start) out
		// of the way before the window.
		time.Sleep(idleSettle / 2)
		start := time.Now()
		if before, _, err = c.status("10.77.0.11"); err != nil {
			return fail(err)
		}
		r.Handshake = msOf(time.Since(start))
		time.Sleep(idleSettle / 2)
		if before, _, err = c.status("10.77.0.11"); err != nil {
			return fail(err)
		}
	} else {
		time.Sleep(idleSettle)
	}
	cpu, dt, err := cpuOver(p, idleWindow)
	if err != nil {
		return fail(err)
	}
	r.CPU, r.WindowS = cpu, dt.Seconds()
	if c == nil {
		return r
	}
	after, _, err := c.status("10.77.0.11")
	if err != nil {
		return fail(err)
	}
	r.ByCause = exitsBetween(before, after)
	r.Exits = r.ByCause.PerSecond
	for range apiProbes {
		time.Sleep(apiGap)
		_, took, err := c.status("10.77.0.11")
		if err != nil {
			return fail(err)
		}
		r.APIms = append(r.APIms, msOf(took))
	}
	return r
}

func msOf(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// idleBench runs every configuration runs times, alternating, and writes
// idle.md and idle.json.
func idleBench(base qemu.Board, out string, runs int, modes []string) error {
	keys, err := os.MkdirTemp("", "ferry-bench-idle-keys")
	if err != nil {
		return err
	}
	defer os.RemoveAll(keys)
	if _, err := pki.Provision(keys, "ferry-bench", "a=10.77.0.11", "operator:ctl"); err != nil {
		return err
	}
	s := IdleSummary{Setup: setupOf(base), Image: imageID(base.Image)}
	type cfg struct{ config, mode string }
	var cfgs []cfg
	for _, m := range modes {
		for _, c := range []string{idleNative, idleFerry, idleNIC} {
			cfgs = append(cfgs, cfg{c, m})
		}
	}
	cfgs = append(cfgs, cfg{idleReceive, ""})
	for i := range runs {
		for _, c := range cfgs {
			time.Sleep(settle)
			r := idleRun(base, keys, c.config, c.mode)
			fmt.Printf("idle run %d %-9s %-7s cpu %5.1f%% of a core", i+1, r.Config, r.Guest, 100*r.CPU)
			if r.Exits >= 0 {
				fmt.Printf(", %.2f exits/s (%v), API %v ms", r.Exits, r.ByCause, r.APIms)
			}
			if r.Error != "" {
				fmt.Printf(" ERROR %s", r.Error)
			}
			fmt.Println()
			s.Runs = append(s.Runs, r)
			if err := writeIdle(out, s); err != nil {
				return err
			}
		}
	}
	return nil
}

// idleMedian is the median of f over the error-free runs of config and
// mode, and how many there were.
func idleMedian(runs []IdleRun, config, mode string, f func(IdleRun) float64) (float64, int) {
	var v []float64
	for _, r := range runs {
		if r.Config == config && r.Guest == mode && r.Error == "" {
			v = append(v, f(r))
		}
	}
	if len(v) == 0 {
		return 0, 0
	}
	sort.Float64s(v)
	if len(v)%2 == 1 {
		return v[len(v)/2], len(v)
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2, len(v)
}

// maxAPI is the slowest API answer over the error-free runs of config.
func maxAPI(runs []IdleRun, config string) float64 {
	m := 0.0
	for _, r := range runs {
		if r.Config == config && r.Error == "" {
			for _, v := range r.APIms {
				m = max(m, v)
			}
		}
	}
	return m
}

func writeIdle(dir string, s IdleSummary) error { return writeFigures(dir, "idle", s, renderIdle(s)) }

// writeFigures writes a bench's figures into dir: v as name.json, md as
// name.md.
func writeFigures(dir, name string, v any, md string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	j, _ := json.MarshalIndent(v, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, name+".json"), append(j, '\n'), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, name+".md"), []byte(md), 0o644)
}

func renderIdle(s IdleSummary) string {
	var md strings.Builder
	fmt.Fprintf(&md, "# Thin when idle: host CPU and exits of an idle board\n\n")
	fmt.Fprintf(&md, "Written by `make bench` (`go run ./cmd/ferry-bench`) on %s, image %s.\n\n", s.Date, s.Image)
	fmt.Fprintf(&md, "Board: %s, `-M %s -cpu %s -m %s`, guest kernel %s. ", s.QEMU, s.Machine, s.CPU, s.Memory, s.Kernel)
	fmt.Fprintf(&md, "Each boot waits %v after the guest's userspace (or the receive board's network) is up, then the QEMU process's "+
		"user+system time over %v (/proc/<pid>/stat) is its host CPU; configurations alternate. ", idleSettle, idleWindow)
	fmt.Fprintf(&md, "`ferry+nic` is Ferry with its management NIC and API on an in-process switch; its exits per second come from "+
		"the API's status (exit causes) before and after the window, and the API's answer time from %d status requests %v apart on "+
		"one kept-alive TLS connection after it. Guests: `counter` prints a line a second, `idle` wakes once a second and prints "+
		"nothing. Medians over the runs.\n\n", apiProbes, apiGap)
	fmt.Fprintf(&md, "| guest | native CPU | Ferry CPU | Ferry / native | Ferry+NIC CPU | Ferry+NIC / native | Ferry+NIC exits/s | runs |\n")
	fmt.Fprintf(&md, "|---|---|---|---|---|---|---|---|\n")
	modes := []string{}
	for _, r := range s.Runs {
		if r.Guest != "" && !contains(modes, r.Guest) {
			modes = append(modes, r.Guest)
		}
	}
	cpu := func(r IdleRun) float64 { return 100 * r.CPU }
	for _, m := range modes {
		n, k := idleMedian(s.Runs, idleNative, m, cpu)
		f, _ := idleMedian(s.Runs, idleFerry, m, cpu)
		x, _ := idleMedian(s.Runs, idleNIC, m, cpu)
		e, _ := idleMedian(s.Runs, idleNIC, m, func(r IdleRun) float64 { return r.Exits })
		fmt.Fprintf(&md, "| %s | %.2f%% | %.2f%% | %s | %.2f%% | %s | %.2f | %d |\n", m, n, f, ratio(f, n), x, ratio(x, n), e, k)
	}
	rc, k := idleMedian(s.Runs, idleReceive, "", cpu)
	re, _ := idleMedian(s.Runs, idleReceive, "", func(r IdleRun) float64 { return r.Exits })
	fmt.Fprintf(&md, "\nReceive role, no guest: **%.2f%%** of a core (median of %d; exits/s %.2f, none possible without a guest).\n\n", rc, k, re)
	fmt.Fprintf(&md, "Management API: slowest status answer %.1f ms (Ferry+NIC), %.1f ms (receive role).\n\n",
		maxAPI(s.Runs, idleNIC), maxAPI(s.Runs, idleReceive))
	fmt.Fprintf(&md, "Targets: idle guest under Ferry (with its NIC) within 10%% of native host CPU; receive-role board below 2%% of a core; "+
		"the API answers within 50 ms.\n\n")
	fmt.Fprintf(&md, "| run | config | guest | CPU %% | exits/s | by cause | API ms | handshake ms |\n|---|---|---|---|---|---|---|---|\n")
	for i, r := range s.Runs {
		ex, by := "", ""
		if r.Exits >= 0 {
			ex, by = fmt.Sprintf("%.2f", r.Exits), r.ByCause.String()
		}
		var apis []string
		for _, v := range r.APIms {
			apis = append(apis, fmt.Sprintf("%.0f", v))
		}
		cpu := fmt.Sprintf("%.2f", 100*r.CPU)
		if r.Error != "" {
			cpu = "error: " + r.Error
		}
		hs := ""
		if r.Handshake > 0 {
			hs = fmt.Sprintf("%.0f", r.Handshake)
		}
		fmt.Fprintf(&md, "| %d | %s | %s | %s | %s | %s | %s | %s |\n", i+1, r.Config, r.Guest, cpu, ex, by, strings.Join(apis, " "), hs)
	}
	return md.String()
}

func ratio(a, b float64) string {
	if b <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", a/b)
}

func contains(v []string, s string) bool {
	for _, x := range v {
		if x == s {
			return true
		}
	}
	return false
}

func sortedKeys(m map[string]float64) []string {
	var k []string
	for x := range m {
		k = append(k, x)
	}
	sort.Strings(k)
	return k
}
