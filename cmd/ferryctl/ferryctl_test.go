// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-hv/ferry/api"
	"github.com/ferry-hv/ferry/internal/hostnet"
	"github.com/ferry-hv/ferry/internal/l2switch"
	"github.com/ferry-hv/ferry/internal/pki"
	"github.com/ferry-hv/ferry/manage"
	"github.com/ferry-hv/ferry/migrate"
)

// lockedBuffer is a bytes.Buffer safe for concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startSwitch runs an in-process switch on 127.0.0.1.
func startSwitch(t *testing.T) string {
	t.Helper()
	sw := l2switch.New(l2switch.Config{Logf: func(string, ...any) {}})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go sw.Serve(l)
	t.Cleanup(func() { sw.Close() })
	return l.Addr().String()
}

// makeKeys runs "ferryctl keys" into a temporary directory.
func makeKeys(t *testing.T, ca string) string {
	t.Helper()
	dir := t.TempDir()
	code, out, errOut := ferryctl(t, "keys", "-out", dir, "-ca", ca, "board1=10.77.0.11", "board2=10.77.0.12", "operator:ctl")
	if code != 0 {
		t.Fatalf("keys: exit %d\n%s%s", code, out, errOut)
	}
	return dir
}

func loadBundle(t *testing.T, dir, name string) *pki.Bundle {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, name+".pem"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := pki.LoadBundle(data)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ferryctl runs the command line and returns its exit status and output.
func ferryctl(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut lockedBuffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := run(ctx, args, &out, &errOut)
	t.Logf("ferryctl %s: exit %d\nstdout:\n%sstderr:\n%s", strings.Join(args, " "), code, out.String(), errOut.String())
	return code, out.String(), errOut.String()
}

// board is a fake board: the management API over HTTPS with mutual TLS on a
// hostnet stack joined to the switch.
type board struct {
	net    *hostnet.Net
	srv    *http.Server
	errLog *lockedBuffer // the server's log: TLS handshake errors
}

func startBoard(t *testing.T, sw, ip string, b *pki.Bundle, h http.Handler) *board {
	t.Helper()
	bd, err := tryBoard(t, sw, ip, b, h)
	if err != nil {
		t.Fatal(err)
	}
	return bd
}

// tryBoard is startBoard for a goroutine other than the test's, which
// must not call t.Fatal: it returns the error.
func tryBoard(t *testing.T, sw, ip string, b *pki.Bundle, h http.Handler) (*board, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, err := hostnet.Join(ctx, hostnet.Config{Switch: sw, Addr: netip.MustParsePrefix(ip + "/24"), Logf: t.Logf})
	if err != nil {
		return nil, err
	}
	l, err := n.Listen(api.APIPort)
	if err != nil {
		n.Close()
		return nil, err
	}
	bd := &board{net: n, errLog: &lockedBuffer{}}
	bd.srv = &http.Server{
		Handler:   h,
		TLSConfig: b.ServerConfig(pki.Options{}),
		ErrorLog:  log.New(bd.errLog, "", 0),
	}
	go bd.srv.Serve(tls.NewListener(l, bd.srv.TLSConfig))
	t.Cleanup(func() {
		bd.srv.Close()
		n.Close()
	})
	return bd, nil
}

func statusHandler(calls *int, mu *sync.Mutex) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+api.PathStatus, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		*calls++
		mu.Unlock()
		json.NewEncoder(w).Encode(api.Status{
			Board: "board1", Address: "10.77.0.11",
			Role: api.RoleRun, Guest: api.GuestRunning, Uptime: 90 * time.Second, Exits: 1234,
			ExitCauses: map[string]uint64{"mmio": 1200, "nic": 34}, ExitNanos: map[string]uint64{"mmio": 1200 * 8500}, ExitRates: map[string]float64{"nic": 0.5}, ExitWindow: 2 * time.Second,
			GuestAborts: 2, GuestFault: "external abort: read at IPA 0xb000000",
			NICFaults: []string{"0xa003c00: queue 1 stopped: virtq: a buffer outside guest RAM: [0x40000000+0x1000]"},
			NICHeld:   []string{"0xa003c00: queue 0: the device holds a request (the chain at 3) for 12.5s, 9 chain(s) in all"},
			VCPUs:     []api.VCPU{{MPIDR: 0, Power: "on", Exits: 1234}, {MPIDR: 1, Power: "off", Exits: 56}},
		})
	})
	return mux
}

func TestKeys(t *testing.T) {
	dir := makeKeys(t, "test CA")
	ca, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"board1", "board2", "ctl"} {
		b := loadBundle(t, dir, name)
		if b.Name != name || b.CA.Subject.CommonName != "test CA" {
			t.Errorf("%s.pem: name %q, CA %q", name, b.Name, b.CA.Subject.CommonName)
		}
		data, _ := os.ReadFile(filepath.Join(dir, name+".pem"))
		if !bytes.HasPrefix(data, ca) {
			t.Errorf("%s.pem does not start with ca.pem", name)
		}
		if fi, _ := os.Stat(filepath.Join(dir, name+".pem")); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s.pem mode %v, want 0600", name, fi.Mode().Perm())
		}
	}
	if ips := loadBundle(t, dir, "board1").Cert.IPAddresses; len(ips) != 1 || ips[0].String() != "10.77.0.11" {
		t.Errorf("board1 IP SANs %v", ips)
	}

	code, _, errOut := ferryctl(t, "keys", "-out", dir, "-ca", "other", "ctl")
	if code != 1 || !strings.Contains(errOut, "exists") {
		t.Errorf("keys over existing keys: exit %d, %q; want a refusal", code, errOut)
	}
	if code, _, _ := ferryctl(t, "keys", "-out", dir, "-ca", "other", "-force", "ctl"); code != 0 {
		t.Errorf("keys -force: exit %d", code)
	}
	if b := loadBundle(t, dir, "ctl"); b.CA.Subject.CommonName != "other" {
		t.Errorf("keys -force did not replace ctl.pem")
	}
	if code, _, _ := ferryctl(t, "keys", "-out", dir, "-ca", "x", "../evil"); code != 2 {
		t.Errorf("keys with a bad name: exit %d, want 2", code)
	}
}

func TestStatus(t *testing.T) {
	sw := startSwitch(t)
	keys := makeKeys(t, "test CA")
	var calls int
	var mu sync.Mutex
	startBoard(t, sw, "10.77.0.11", loadBundle(t, keys, "board1"), statusHandler(&calls, &mu))
	ctl := filepath.Join(keys, "ctl.pem")

	code, out, _ := ferryctl(t, "-switch", sw, "-keys", ctl, "status", "10.77.0.11")
	if code != 0 {
		t.Fatalf("status: exit %d", code)
	}
	for _, want := range []string{"board        board1", "role         run", "guest        running", "uptime       1m30s", "exits        1234 (mmio 1200 at 8.5µs, nic 34; per second over 2s: nic 0.5)",
		"nic fault    0xa003c00: queue 1 stopped: virtq: a buffer outside guest RAM: [0x40000000+0x1000]",
		"vcpus        0 on (MPIDR 0x0, 1234 exits), 1 off (MPIDR 0x1, 56 exits)",
		"guest faults 2 external abort(s), 0 undefined instruction(s) given to the guest; newest: external abort: read at IPA 0xb000000",
		"nic held     0xa003c00: queue 0: the device holds a request (the chain at 3) for 12.5s, 9 chain(s) in all (a migration's pause fails; migrate -reset-nic gives the requests back to the guest unused)"} {
		if !strings.Contains(strings.Join(strings.Fields(out), " "), strings.Join(strings.Fields(want), " ")) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}

	// Global flags after the command name, an explicit port, JSON output,
	// and a larger MTU on ferryctl's side.
	code, out, _ = ferryctl(t, "status", "-switch", sw, "-keys", ctl, "-mtu", "9000", "-json", "10.77.0.11:7000")
	var st api.Status
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || st.Exits != 1234 {
		t.Errorf("status -json: exit %d, %q", code, out)
	}
	mu.Lock()
	defer mu.Unlock()
	if calls != 2 {
		t.Errorf("board served %d status requests, want 2", calls)
	}
}

// A client whose certificate comes from another CA is refused by the board
// during the handshake; the handler never runs.
func TestForeignClientRefused(t *testing.T) {
	sw := startSwitch(t)
	keys, evil := makeKeys(t, "test CA"), makeKeys(t, "evil CA")
	var calls int
	var mu sync.Mutex
	bd := startBoard(t, sw, "10.77.0.11", loadBundle(t, keys, "board1"), statusHandler(&calls, &mu))

	// The rogue trusts the board's CA but holds a certificate of another.
	good, bad := loadBundle(t, keys, "ctl"), loadBundle(t, evil, "ctl")
	rogue := &pki.Bundle{CA: good.CA, Cert: bad.Cert, Key: bad.Key, Name: bad.Name}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := hostnet.Join(ctx, hostnet.Config{Switch: sw, Addr: netip.MustParsePrefix("10.77.0.2/24"), Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(n, rogue)
	_, _, err = c.status(ctx, "10.77.0.11:7000")
	c.close()
	n.Close()
	if err == nil || !strings.Contains(err.Error(), "remote error: tls: unknown certificate authority") {
		t.Errorf("rogue client: %v; want the board's unknown-CA alert", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(bd.errLog.String(), "certificate signed by unknown authority") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if log := bd.errLog.String(); !strings.Contains(log, "TLS handshake error") || !strings.Contains(log, "certificate signed by unknown authority") {
		t.Errorf("board's log does not show the refused handshake:\n%s", log)
	}

	// ferryctl with the whole foreign bundle fails too (exit 1).
	code, _, errOut := ferryctl(t, "-switch", sw, "-keys", filepath.Join(evil, "ctl.pem"), "status", "10.77.0.11")
	if code != 1 || !strings.Contains(errOut, "unknown authority") {
		t.Errorf("ferryctl with foreign keys: exit %d, %q", code, errOut)
	}
	mu.Lock()
	defer mu.Unlock()
	if calls != 0 {
		t.Errorf("the handler ran %d times for refused clients", calls)
	}
}

// A board whose certificate comes from another CA is refused by ferryctl.
func TestForeignServerRefused(t *testing.T) {
	sw := startSwitch(t)
	keys, evil := makeKeys(t, "test CA"), makeKeys(t, "evil CA")
	var calls int
	var mu sync.Mutex
	bd := startBoard(t, sw, "10.77.0.11", loadBundle(t, evil, "board1"), statusHandler(&calls, &mu))
	code, _, errOut := ferryctl(t, "-switch", sw, "-keys", filepath.Join(keys, "ctl.pem"), "status", "10.77.0.11")
	if code != 1 || !strings.Contains(errOut, "tls: failed to verify certificate: x509: certificate signed by unknown authority") {
		t.Errorf("status of a foreign board: exit %d, %q; want a verification error", code, errOut)
	}
	mu.Lock()
	defer mu.Unlock()
	if calls != 0 {
		t.Errorf("the foreign board served %d requests", calls)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(bd.errLog.String(), "bad certificate") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if log := bd.errLog.String(); !strings.Contains(log, "remote error: tls: bad certificate") {
		t.Errorf("board's log does not show ferryctl's refusal:\n%s", log)
	}
}

// fakeMachine is a source board behind the real management API (package
// manage): its Migrate goes through the phases and rounds of script, one
// step every 100 ms, and ends with report (or err).
type fakeMachine struct {
	report api.Report
	err    error // Migrate refuses with this
	script []api.Progress
	hang   bool // Migrate runs until its context ends
	stop   chan struct{}
	polls  func() int // the progress polls begun so far (nil: not counted)

	ledger *migrate.Ledger // Status shows it, Resolve decides on it
	keys   *pki.Bundle     // SetCRL takes lists into it
	guest  string          // the guest's state Status shows (api.GuestRunning if empty)

	mu       sync.Mutex
	req      api.MigrateRequest // what it was asked
	cause    error              // why its context ended (hang)
	expected []string           // "id from name" announcements
	lasts    []time.Duration    // each announcement's bound on the destination
}

func (m *fakeMachine) Status() api.Status {
	st := api.Status{Board: "board1", Address: "10.77.0.11", Role: api.RoleRun, Guest: api.GuestRunning}
	if m.guest != "" {
		st.Guest, st.GuestPower = m.guest, "SYSTEM_OFF"
	}
	if m.ledger != nil {
		st.Migration, st.Decisions = manage.Migration(m.ledger.Status())
	}
	if m.keys != nil {
		if info := m.keys.CRL(); info.Number != nil {
			st.CRL = api.CRL{Number: info.Number.String(), Revoked: info.Revoked}
		}
	}
	return st
}

func (m *fakeMachine) SetCRL(pem []byte) (api.CRL, error) {
	if m.keys == nil {
		return api.CRL{}, errors.New("no keys")
	}
	info, err := m.keys.SetCRL(pem)
	if err != nil {
		return api.CRL{}, err
	}
	return api.CRL{Number: info.Number.String(), Revoked: info.Revoked}, nil
}

func (m *fakeMachine) Expect(id migrate.ID, from string, until time.Time, lasts time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expected = append(m.expected, id.String()+" from "+from)
	m.lasts = append(m.lasts, lasts)
	return nil
}

func (m *fakeMachine) Resolve(id migrate.ID, v migrate.Verdict) (migrate.Verdict, error) {
	if m.ledger == nil {
		return migrate.Unknown, migrate.ErrUnknown
	}
	return m.ledger.Force(id, v)
}

func (m *fakeMachine) Migrate(ctx context.Context, req api.MigrateRequest, progress func(api.Progress)) (api.Report, error) {
	m.mu.Lock()
	m.req = req
	m.mu.Unlock()
	if m.err != nil {
		return api.Report{}, m.err
	}
	if m.hang {
		progress(api.Progress{Phase: "precopy", PagesTotal: 1000, PagesLeft: 1000})
		select {
		case <-ctx.Done():
		case <-m.stop: // the test is over
		}
		m.mu.Lock()
		m.cause = context.Cause(ctx)
		m.mu.Unlock()
		return api.Report{From: "10.77.0.11", To: req.To, Error: fmt.Sprint(context.Cause(ctx)), Settings: req}, nil
	}
	for _, p := range m.script {
		progress(p)
		time.Sleep(100 * time.Millisecond)
		if m.polls != nil {
			// Until a poll that began after this step has been served
			// (on a loaded machine 100 ms may pass without one), for at
			// most 10 s.
			for n, end := m.polls(), time.Now().Add(10*time.Second); m.polls() < n+2 && time.Now().Before(end); {
				time.Sleep(5 * time.Millisecond)
			}
		}
	}
	return m.report, nil
}

func (m *fakeMachine) got() (api.MigrateRequest, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.req, m.cause
}

// rounds is a migration of 1000 pages in three rounds, the last stopped.
var rounds = []api.Progress{
	{Phase: "handshake", PagesTotal: 1000},
	{Phase: "precopy", Round: 0, PagesTotal: 1000, PagesLeft: 1000},
	{Phase: "precopy", Round: 0, PagesSent: 500, PagesTotal: 1000, PagesLeft: 500, BytesSent: 500 * 4096},
	{Phase: "precopy", Round: 1, PagesSent: 1000, PagesTotal: 1000, PagesLeft: 200, BytesSent: 1000 * 4096,
		DirtyRate: 8 << 20, Bandwidth: 100 << 20, CPUShare: 0.12, Throttle: 0.2, ExpectedDowntime: 25 * time.Millisecond},
	{Phase: "precopy", Round: 1, PagesSent: 1100, PagesTotal: 1000, PagesLeft: 100, BytesSent: 1100 * 4096},
	{Phase: "stopped", Round: 2, PagesSent: 1200, PagesTotal: 1000, PagesLeft: 20, BytesSent: 1200 * 4096},
	{Phase: "committing", Round: 2, PagesSent: 1220, PagesTotal: 1000, BytesSent: 1220 * 4096},
}

// connLog records which connection (remote address) each request came on,
// and the body of each POST.
type connLog struct {
	mu     sync.Mutex
	conns  map[string]map[string]bool // "METHOD path" -> remote addresses
	bodies map[string][]string        // "POST path" -> bodies
	n      map[string]int             // "METHOD path" -> requests begun
}

// count is how many requests for "METHOD path" have begun.
func (l *connLog) count(k string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n[k]
}

func (l *connLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body []byte
		if r.Method == http.MethodPost {
			body, _ = io.ReadAll(io.LimitReader(r.Body, 1<<16))
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		l.mu.Lock()
		if l.conns == nil {
			l.conns, l.bodies, l.n = map[string]map[string]bool{}, map[string][]string{}, map[string]int{}
		}
		k := r.Method + " " + r.URL.Path
		if l.conns[k] == nil {
			l.conns[k] = map[string]bool{}
		}
		l.conns[k][r.RemoteAddr] = true
		l.n[k]++
		if body != nil {
			l.bodies[k] = append(l.bodies[k], string(body))
		}
		l.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

func (l *connLog) posts(path string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.bodies["POST "+path]...)
}

func migrateRig(t *testing.T, m *fakeMachine) ([]string, *connLog) {
	sw := startSwitch(t)
	keys := makeKeys(t, "test CA")
	cl := &connLog{}
	m.stop = make(chan struct{})
	m.polls = func() int { return cl.count("GET " + api.PathMigration) }
	t.Cleanup(func() { close(m.stop) })
	startBoard(t, sw, "10.77.0.11", loadBundle(t, keys, "board1"), cl.wrap(manage.New(m, time.Minute).Handler()))
	startBoard(t, sw, "10.77.0.12", loadBundle(t, keys, "board2"), manage.New(m, time.Minute).Handler())
	return []string{"-switch", sw, "-keys", filepath.Join(keys, "ctl.pem"), "-journal", filepath.Join(t.TempDir(), "journal.jsonl")}, cl
}

var okReport = api.Report{
	OK: true, Confirmed: true, ID: "0123456789abcdef0123456789abcdef", From: "10.77.0.11", To: "10.77.0.12",
	Bytes: 130 << 20, Pages: 262144, ZeroPages: 230000, DataPages: 32144,
	Total: 2500 * time.Millisecond, Downtime: 900 * time.Millisecond, RestoreTime: 120 * time.Millisecond,
	Settings: api.MigrateRequest{To: "10.77.0.12:7001", DowntimeLimit: 30 * time.Millisecond, MaxTime: 5 * time.Minute},
	Rounds: []api.Round{
		{N: 0, Pages: 262144, ZeroPages: 230000, Bytes: 126 << 20, Duration: 1200 * time.Millisecond, DirtyRate: 8 << 20, CPUShare: 0.15},
		{N: 1, Pages: 900, Bytes: 3600 << 10, Duration: 40 * time.Millisecond, DirtyRate: 2 << 20, CPUShare: 0.12, Throttle: 0.2},
		{N: 2, Pages: 30, Bytes: 120 << 10, Duration: 2 * time.Millisecond, Stopped: true},
	},
	Parts: api.Downtime{Stop: 3 * time.Millisecond, Pages: 2 * time.Millisecond, State: 5 * time.Millisecond,
		Restore: 120 * time.Millisecond, Ack: 130 * time.Millisecond, Commit: 760 * time.Millisecond},
	Switch: "fits", Throttle: 0.2, Tracking: 15 * time.Millisecond, Untrack: 4 * time.Millisecond, Faults: 1234, FaultNS: 2500, GuestCPU: 0.8,
}

func TestMigrate(t *testing.T) {
	m := &fakeMachine{report: okReport, script: rounds}
	args, cl := migrateRig(t, m)
	code, out, errOut := ferryctl(t, append(args, "migrate", "-poll", "20ms", "10.77.0.11", "10.77.0.12")...)
	if code != 0 {
		t.Fatalf("migrate: exit %d", code)
	}
	flat := strings.Join(strings.Fields(out), " ")
	for _, want := range []string{
		"migration ok", "from 10.77.0.11", "to 10.77.0.12",
		"settings downtime limit 30ms, bandwidth no cap, max time 5m0s, auto-converge on",
		"bytes 130.0 MiB (136314880 bytes)", "pages 262144 (zero 230000, non-zero 32144)", "total time 2.5s", "downtime 900ms",
		"switch fits: the rest fit the downtime limit", "dirty faults 1234",
	} {
		if !strings.Contains(flat, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	// A plain line per phase or round (stderr is not a terminal).
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	var seen []string
	for _, l := range lines {
		if f := strings.Fields(l); len(f) > 0 {
			seen = append(seen, strings.Join(f[:min(3, len(f))], " "))
		}
	}
	want := []string{"handshake after 0s:", "precopy round 0:", "precopy round 1:", "stopped round 2:", "committing after 0s:"}
	if strings.Join(seen, "|") != strings.Join(want, "|") {
		t.Errorf("progress lines:\n%s\nwant one starting with each of %q", errOut, want)
	}
	if want := "precopy round 1: 200 pages left, dirty 8.0 MiB/s, bandwidth 100.0 MiB/s, cpu 12%, throttle 20%, downtime ~25ms (1000 pages sent in all, of 1000 in RAM; 3.9 MiB)"; !strings.Contains(errOut, want+"\n") {
		t.Errorf("progress lacks %q:\n%s", want, errOut)
	}
	// The request carries a new migration ID and the settings, their
	// defaults spelt out; the journal has the ID, asked for and reported.
	req, _ := m.got()
	if got := cl.posts(api.PathMigrate); len(got) != 1 || got[0] != `{"to":"10.77.0.12","id":"`+req.ID+`","board":"board2","downtime_limit_ns":30000000,"max_time_ns":300000000000}` {
		t.Errorf("request bodies %q", got)
	}
	// The destination was told to expect it, from the source by name.
	m.mu.Lock()
	if len(m.expected) != 1 || m.expected[0] != req.ID+" from board1" {
		t.Errorf("announcements %q", m.expected)
	}
	m.mu.Unlock()
	if _, err := migrate.ParseID(req.ID); err != nil || req.To != "10.77.0.12:7001" {
		t.Errorf("board was asked to migrate to %q as %q: %v", req.To, req.ID, err)
	}
	journal(t, args, req.ID, "requested", "report committed confirmed")
	cl.mu.Lock()
	defer cl.mu.Unlock()
	posts, polls := cl.conns["POST "+api.PathMigrate], cl.conns["GET "+api.PathMigration]
	if len(posts) != 1 || len(polls) == 0 {
		t.Fatalf("connections: POST %v, GET %v", posts, polls)
	}
	for p := range posts {
		if polls[p] {
			t.Errorf("progress polled on the POST's connection %s", p)
		}
	}
}

// journal checks the journal's entries for id: "event [verdict [confirmed]]".
func journal(t *testing.T, args []string, id string, want ...string) {
	t.Helper()
	data, err := os.ReadFile(args[len(args)-1])
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var j journalEntry
		if err := json.Unmarshal([]byte(line), &j); err != nil {
			t.Fatalf("journal line %q: %v", line, err)
		}
		if j.ID == id {
			e := strings.TrimSpace(j.Event + " " + j.Verdict)
			if j.Confirmed {
				e += " confirmed"
			}
			got = append(got, e)
		}
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("journal for %s: %q, want %q", id, got, want)
	}
}

func TestMigrateSettings(t *testing.T) {
	m := &fakeMachine{report: okReport}
	args, cl := migrateRig(t, m)
	code, _, _ := ferryctl(t, append(args, "migrate", "-downtime", "200ms", "-bandwidth", "50MiB", "-max-time", "2m",
		"-no-auto-converge", "-json", "10.77.0.11", "10.77.0.12:7100")...)
	if code != 0 {
		t.Fatalf("migrate: exit %d", code)
	}
	req, _ := m.got()
	body := `{"to":"10.77.0.12:7100","id":"` + req.ID + `","board":"board2","downtime_limit_ns":200000000,"bandwidth_bps":52428800,"max_time_ns":120000000000,"no_auto_converge":true}`
	if got := cl.posts(api.PathMigrate); len(got) != 1 || got[0] != body {
		t.Errorf("request bodies %q\nwant %q", got, body)
	}
	want := api.MigrateRequest{To: "10.77.0.12:7100", ID: req.ID, Board: "board2", DowntimeLimit: 200 * time.Millisecond, Bandwidth: 50 << 20, MaxTime: 2 * time.Minute, NoAutoConverge: true}
	if req != want {
		t.Errorf("board got %+v, want %+v", req, want)
	}

	// Settings the board would refuse are refused before the link (no
	// switch is needed), with the board's reasons.
	for _, tc := range []struct {
		flags []string
		want  string
	}{
		{[]string{"-bandwidth", "50MB"}, `invalid value "50MB" for flag -bandwidth: "50MB": want a binary unit, KiB, MiB or GiB`},
		{[]string{"-bandwidth", "fast"}, `invalid value "fast" for flag -bandwidth`},
		{[]string{"-bandwidth", "1000"}, "bandwidth 1000 bytes/s: want 0 (no cap) or at least 1048576"},
		{[]string{"-downtime", "20s"}, "downtime limit 20s: want 0 (the default, 30ms) up to 10s"},
		{[]string{"-downtime", "-1ms"}, "downtime limit -1ms"},
		{[]string{"-max-time", "2h"}, "max time 2h0m0s: want 0 (the default, 5m0s) up to 1h0m0s"},
		{[]string{"-max-time", "10ms", "-downtime", "20ms"}, "want less than the max time"},
	} {
		code, _, errOut := ferryctl(t, append(append([]string{"-switch", "127.0.0.1:1", "migrate"}, tc.flags...), "10.77.0.11", "10.77.0.12")...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("migrate %q: exit %d, %q; want 2 and %q", tc.flags, code, errOut, tc.want)
		}
	}
	if got := cl.posts(api.PathMigrate); len(got) != 1 {
		t.Errorf("refused settings reached the board: %q", got)
	}
}

// Every max time ferryctl takes works: the destination is announced the
// migration for its max time (up to the hour) and bounds it by that and
// the margin, not by a fixed time of its own.
func TestMigrateMaxTimeRange(t *testing.T) {
	m := &fakeMachine{report: okReport}
	args, _ := migrateRig(t, m)
	for _, maxTime := range []time.Duration{time.Hour, 59 * time.Minute, 10 * time.Minute, time.Minute} {
		code, _, errOut := ferryctl(t, append(args, "migrate", "-max-time", maxTime.String(), "-timeout", "30s", "10.77.0.11", "10.77.0.12")...)
		if code != 0 {
			t.Errorf("-max-time %v: exit %d %s", maxTime, code, errOut)
			continue
		}
		m.mu.Lock()
		got := m.lasts[len(m.lasts)-1]
		m.mu.Unlock()
		if got != maxTime+manage.TimeoutMargin {
			t.Errorf("-max-time %v: the destination's bound is %v, want %v", maxTime, got, maxTime+manage.TimeoutMargin)
		}
	}
}

func TestMigrateFailureReport(t *testing.T) {
	rep := okReport
	rep.OK, rep.Error, rep.Switch, rep.Rounds = false, "destination refused: Hello: MIDR 0x410fd083 != 0x411fd070", "", nil
	m := &fakeMachine{report: rep, script: rounds[:1]}
	args, _ := migrateRig(t, m)
	code, out, errOut := ferryctl(t, append(args, "migrate", "10.77.0.11", "10.77.0.12")...)
	if code != 1 {
		t.Errorf("failed migration: exit %d, want 1", code)
	}
	if !strings.Contains(errOut, "migration from 10.77.0.11 to 10.77.0.12 failed: "+rep.Error) {
		t.Errorf("stderr lacks the error:\n%s", errOut)
	}
	flat := strings.Join(strings.Fields(out), " ")
	for _, want := range []string{"migration FAILED", "error " + rep.Error, "switch never (the migration ended before its switchover)", "rounds none"} {
		if !strings.Contains(flat, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

func TestMigrateRefused(t *testing.T) {
	m := &fakeMachine{err: errors.New("nothing to migrate: no guest on this board")}
	args, _ := migrateRig(t, m)
	code, _, errOut := ferryctl(t, append(args, "migrate", "10.77.0.11", "10.77.0.12")...)
	if code != 1 || !strings.Contains(errOut, "409 Conflict: nothing to migrate: no guest on this board") {
		t.Errorf("refused migration: exit %d, %q", code, errOut)
	}
	code, _, errOut = ferryctl(t, append(args, "migrate", "10.77.0.11", "10.77.0.12:99999")...)
	if code != 2 {
		t.Errorf("bad destination: exit %d, %q", code, errOut)
	}
}

// A source whose guest powered itself off is refused before anything is
// announced: there is nothing to move.
func TestMigrateGuestOff(t *testing.T) {
	m := &fakeMachine{guest: api.GuestOff, report: okReport}
	args, _ := migrateRig(t, m)
	code, _, errOut := ferryctl(t, append(args, "migrate", "10.77.0.11", "10.77.0.12")...)
	if code != 1 || !strings.Contains(errOut, "the source's guest powered itself off (SYSTEM_OFF): there is nothing to move") {
		t.Errorf("migration of a guest that is off: exit %d, %q", code, errOut)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.expected) != 0 || m.req.To != "" {
		t.Errorf("announced %v, asked to migrate %+v", m.expected, m.req)
	}
}

// A second migrate while one runs is refused by the board; the first one
// (a concurrent ferryctl, on the next free address) is not disturbed.
func TestMigrateTwice(t *testing.T) {
	m := &fakeMachine{report: okReport, script: append(rounds, rounds...)}
	args, _ := migrateRig(t, m)
	first := make(chan int, 1)
	go func() {
		code, _, _ := ferryctl(t, append(args, "migrate", "-poll", "20ms", "10.77.0.11", "10.77.0.12")...)
		first <- code
	}()
	time.Sleep(400 * time.Millisecond)
	code, _, errOut := ferryctl(t, append(args, "migrate", "10.77.0.11", "10.77.0.12")...)
	if code != 1 || !strings.Contains(errOut, "409 Conflict: a migration is already running") {
		t.Errorf("second migrate: exit %d, %q", code, errOut)
	}
	if code := <-first; code != 0 {
		t.Errorf("first migrate: exit %d", code)
	}
}

func TestMigrateTimeout(t *testing.T) {
	m := &fakeMachine{hang: true}
	args, _ := migrateRig(t, m)
	start := time.Now()
	code, _, errOut := ferryctl(t, append(args, "migrate", "-timeout", "1s", "10.77.0.11", "10.77.0.12")...)
	if code != 1 || !strings.Contains(errOut, "may still be running on the board; stop it with: ferryctl cancel 10.77.0.11; see where it stands with: ferryctl status 10.77.0.11)") {
		t.Errorf("hung migration: exit %d, %q", code, errOut)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("gave up after %v", d)
	}
	// ferryctl giving up does not stop the board's migration.
	if _, cause := m.got(); cause != nil {
		t.Errorf("the board's migration ended: %v", cause)
	}
	if d := defaultTimeout(api.DefaultMaxTime); d < api.DefaultMaxTime+manage.TimeoutMargin {
		t.Errorf("default -timeout %v does not cover the board's deadline", d)
	}
}

// Interrupting ferryctl migrate (Ctrl-C) stops ferryctl only; it says how
// to stop the migration.
func TestMigrateInterrupted(t *testing.T) {
	m := &fakeMachine{hang: true}
	args, _ := migrateRig(t, m)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { // Ctrl-C once the board runs the migration
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if req, _ := m.got(); req.To != "" {
				break
			}
		}
		cancel()
	}()
	var out, errOut lockedBuffer
	code := run(ctx, append(args, "migrate", "10.77.0.11", "10.77.0.12"), &out, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), "may still be running on the board; stop it with: ferryctl cancel 10.77.0.11") {
		t.Errorf("interrupted migrate: exit %d, %q", code, errOut.String())
	}
	time.Sleep(100 * time.Millisecond)
	if req, cause := m.got(); req.To == "" || cause != nil {
		t.Errorf("the board's migration: asked %+v, ended %v; want it asked and running", req, cause)
	}
}

// ferryctl cancel stops a running migration: the machine's context ends
// with manage.ErrCancelled, the watching ferryctl migrate prints the
// report and fails; with nothing running, cancel says so.
func TestCancel(t *testing.T) {
	m := &fakeMachine{hang: true}
	args, cl := migrateRig(t, m)
	type result struct {
		code        int
		out, errOut string
	}
	migrating := make(chan result, 1)
	go func() {
		code, out, errOut := ferryctl(t, append(args, "migrate", "-poll", "20ms", "10.77.0.11", "10.77.0.12")...)
		migrating <- result{code, out, errOut}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for req, _ := m.got(); req.To == ""; req, _ = m.got() {
		if time.Now().After(deadline) {
			t.Fatal("the migration never started")
		}
		time.Sleep(10 * time.Millisecond)
	}
	code, out, _ := ferryctl(t, append(args, "cancel", "10.77.0.11")...)
	if code != 0 || out != "10.77.0.11:7000 is cancelling its migration\nmigration cancelled after 0s: cancelled by the operator; the guest runs on at 10.77.0.11\n" {
		t.Errorf("cancel: exit %d, %q", code, out)
	}
	r := <-migrating
	if r.code != 1 || !strings.Contains(r.errOut, "migration from 10.77.0.11 to 10.77.0.12:7001 was cancelled; the guest runs on at the source: cancelled by the operator") {
		t.Errorf("migrate after the cancel: exit %d, %q", r.code, r.errOut)
	}
	if !strings.Contains(r.out, "migration") || !strings.Contains(r.out, "FAILED") {
		t.Errorf("no report after the cancel:\n%s", r.out)
	}
	if _, cause := m.got(); !errors.Is(cause, manage.ErrCancelled) {
		t.Errorf("the machine's context ended with %v, want manage.ErrCancelled", cause)
	}
	if got := cl.posts(api.PathCancel); len(got) != 1 || got[0] != "{}" {
		t.Errorf("cancel bodies %q", got)
	}

	code, out, errOut := ferryctl(t, append(args, "cancel", "10.77.0.11")...)
	if code != 1 || out != "" || !strings.Contains(errOut, "ferryctl cancel: 10.77.0.11:7000: no migration is running") {
		t.Errorf("cancel with nothing running: exit %d, %q, %q", code, out, errOut)
	}
	if code, _, errOut := ferryctl(t, append(args, "cancel")...); code != 2 || !strings.Contains(errOut, "want the source board's address") {
		t.Errorf("cancel without an address: exit %d, %q", code, errOut)
	}
}

func TestWait(t *testing.T) {
	sw := startSwitch(t)
	keys := makeKeys(t, "test CA")
	args := []string{"-switch", sw, "-keys", filepath.Join(keys, "ctl.pem")}

	code, _, errOut := ferryctl(t, append(args, "wait", "-timeout", "1500ms", "-every", "200ms", "10.77.0.11")...)
	if code != 1 || !strings.Contains(errOut, "did not answer in time") {
		t.Errorf("wait for an absent board: exit %d, %q", code, errOut)
	}

	var calls int
	var mu sync.Mutex
	bundle := loadBundle(t, keys, "board1")
	started := make(chan error, 1)
	go func() {
		time.Sleep(time.Second)
		_, err := tryBoard(t, sw, "10.77.0.11", bundle, statusHandler(&calls, &mu))
		started <- err
	}()
	code, out, _ := ferryctl(t, append(args, "wait", "-timeout", "30s", "-every", "200ms", "10.77.0.11")...)
	if err := <-started; err != nil {
		t.Fatalf("the board did not start: %v", err)
	}
	if code != 0 || !strings.Contains(out, "board1") {
		t.Errorf("wait for a board coming up: exit %d, %q", code, out)
	}
}

func TestUsageAndSetupErrors(t *testing.T) {
	keys := makeKeys(t, "test CA")
	ctl := filepath.Join(keys, "ctl.pem")
	free := func() string { // a loopback port nobody listens on
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}()
	for _, tc := range []struct {
		code int
		want string
		args []string
	}{
		{2, "usage", nil},
		{2, "unknown command", []string{"frobnicate"}},
		{2, "want one board address", []string{"status"}},
		{2, "want a board's IPv4 address", []string{"status", "board1"}},
		{2, "-ip", []string{"-ip", "nonsense", "-keys", ctl, "status", "10.77.0.11"}},
		{2, "want the source and the destination", []string{"migrate", "10.77.0.11"}},
		{1, "is not 127.0.0.1", []string{"-switch", "10.77.0.1:7777", "-keys", ctl, "status", "10.77.0.11"}},
		{1, "cannot reach the management switch", []string{"-switch", free, "-keys", ctl, "status", "10.77.0.11"}},
		{1, "-keys", []string{"-switch", free, "-keys", filepath.Join(keys, "nope.pem"), "status", "10.77.0.11"}},
		{1, "-keys", []string{"-switch", free, "-keys", filepath.Join(keys, "ca.pem"), "status", "10.77.0.11"}},
	} {
		code, _, errOut := ferryctl(t, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("ferryctl %q: exit %d, stderr %q; want %d and %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
}

// Two ferryctl runs at once (a status during a migrate) do not fight over
// 10.77.0.2: the second takes the next free address, unless -ip says which.
func TestConcurrentRuns(t *testing.T) {
	sw := startSwitch(t)
	keys := makeKeys(t, "test CA")
	var calls int
	var mu sync.Mutex
	startBoard(t, sw, "10.77.0.11", loadBundle(t, keys, "board1"), statusHandler(&calls, &mu))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	first, err := hostnet.Join(ctx, hostnet.Config{Switch: sw, Addr: netip.MustParsePrefix("10.77.0.2/24"), Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	args := []string{"-switch", sw, "-keys", filepath.Join(keys, "ctl.pem")}
	if code, out, _ := ferryctl(t, append(args, "status", "10.77.0.11")...); code != 0 || !strings.Contains(out, "board1") {
		t.Errorf("status next to another ferryctl: exit %d", code)
	}
	code, _, errOut := ferryctl(t, append(args, "-ip", "10.77.0.2/24", "status", "10.77.0.11")...)
	if code != 1 || !strings.Contains(errOut, "address already in use") {
		t.Errorf("status with a taken -ip: exit %d, %q", code, errOut)
	}
}

// inDoubt gives a source and a destination ledger the same migration,
// committed by the source and prepared on the destination, as a partition
// right after the Ack leaves it; the counters say what became of the guest.
type inDoubt struct {
	id                                 migrate.ID
	src, dst                           *migrate.Ledger
	giveUps, takeBacks, resumes, drops int
}

func newInDoubt(t *testing.T) *inDoubt {
	d := &inDoubt{id: migrate.NewID(), src: migrate.NewLedger(migrate.NewGuest()), dst: migrate.NewLedger(nil)}
	sess, err := d.src.BeginSend(d.id, "board2")
	if err != nil {
		t.Fatal(err)
	}
	d.src.Decide(d.id, migrate.Committed, "", func() { d.giveUps++ }, func() { d.takeBacks++ })
	d.src.Doubt(d.id, "no answer from the destination")
	if err := d.dst.BeginReceive(sess, "board1", func() { d.drops++ }); err != nil {
		t.Fatal(err)
	}
	d.dst.Prepare(d.id, func() error { d.resumes++; return nil })
	d.dst.Doubt(d.id, "no verdict from the source")
	return d
}

// resolveRig runs the boards of d that are up (a source at 10.77.0.11, a
// destination at 10.77.0.12) and returns ferryctl's flags.
func resolveRig(t *testing.T, d *inDoubt, srcUp, dstUp bool) []string {
	sw := startSwitch(t)
	keys := makeKeys(t, "test CA")
	if srcUp {
		startBoard(t, sw, "10.77.0.11", loadBundle(t, keys, "board1"), manage.New(&fakeMachine{ledger: d.src}, time.Minute).Handler())
	}
	if dstUp {
		startBoard(t, sw, "10.77.0.12", loadBundle(t, keys, "board2"), manage.New(&fakeMachine{ledger: d.dst}, time.Minute).Handler())
	}
	return []string{"-switch", sw, "-keys", filepath.Join(keys, "ctl.pem"), "-journal", filepath.Join(t.TempDir(), "journal.jsonl")}
}

// Both boards answer: the source's verdict (committed) goes to the
// destination, which resumes the guest; then the source lets it go.
func TestResolveBothBoards(t *testing.T) {
	d := newInDoubt(t)
	args := resolveRig(t, d, true, true)
	code, out, _ := ferryctl(t, append(args, "status", "10.77.0.12")...)
	if code != 0 || !strings.Contains(out, "destination, prepared with \"board1\"") || !strings.Contains(out, "in doubt") {
		t.Fatalf("status: exit %d\n%s", code, out)
	}
	code, out, _ = ferryctl(t, append(args, "resolve", "10.77.0.11", "10.77.0.12")...)
	if code != 0 || !strings.Contains(out, "committed (the source (10.77.0.11:7000) is committing)") {
		t.Fatalf("resolve: exit %d\n%s", code, out)
	}
	if d.resumes != 1 || d.giveUps != 1 || d.drops+d.takeBacks != 0 {
		t.Fatalf("%+v", d)
	}
	journal(t, args, d.id.String(), "resolved committed")
}

// The source does not answer: without a verdict from it or the journal,
// resolve refuses to guess; the journal's report decides.
func TestResolveSourceUnreachable(t *testing.T) {
	d := newInDoubt(t)
	args := resolveRig(t, d, false, true)
	code, _, errOut := ferryctl(t, append(args, "resolve", "-timeout", "1s", "10.77.0.11", "10.77.0.12")...)
	if code != 1 || !strings.Contains(errOut, "give -gone SOURCE") || d.resumes+d.drops != 0 {
		t.Fatalf("resolve with no verdict: exit %d %q %+v", code, errOut, d)
	}
	code, _, errOut = ferryctl(t, append(args, "resolve", "-timeout", "1s", "-id", "nonsense", "10.77.0.12")...)
	if code != 2 {
		t.Fatalf("bad id: exit %d %q", code, errOut)
	}
	code, _, errOut = ferryctl(t, append(args, "resolve", "-timeout", "1s", "-gone", "10.77.0.13", "10.77.0.11", "10.77.0.12")...)
	if code != 2 || !strings.Contains(errOut, "not one of the boards") {
		t.Fatalf("-gone elsewhere: exit %d %q", code, errOut)
	}
	env := &env{g: globals{journal: args[len(args)-1]}}
	env.record(journalEntry{ID: d.id.String(), Event: "report", Verdict: "aborted"})
	code, out, _ := ferryctl(t, append(args, "resolve", "-timeout", "1s", "10.77.0.11", "10.77.0.12")...)
	if code != 0 || !strings.Contains(out, "(ferryctl's journal") || d.resumes != 0 || d.drops != 1 {
		t.Fatalf("resolve by the journal: exit %d\n%s\n%+v", code, out, d)
	}
}

// The source is down for good: the destination, holding the only copy,
// resumes the guest.
func TestResolveSourceGone(t *testing.T) {
	d := newInDoubt(t)
	args := resolveRig(t, d, false, true)
	code, out, _ := ferryctl(t, append(args, "resolve", "-timeout", "1s", "-gone", "10.77.0.11", "10.77.0.11", "10.77.0.12")...)
	if code != 0 || !strings.Contains(out, "the destination holds the only copy") || d.resumes != 1 || d.drops != 0 {
		t.Fatalf("resolve -gone source: exit %d\n%s\n%+v", code, out, d)
	}
	journal(t, args, d.id.String(), "resolved committed")
}

// A board told a verdict checks it with its peer first, which may take
// migrate.MaxCheck (a dead peer's dial runs out): resolve waits that long
// more than -timeout for the answer (it gave up after -timeout, and the
// fault tests' resolve -gone of a dead source failed).
func TestResolveWaitsForTheBoardsCheck(t *testing.T) {
	d := newInDoubt(t)
	sw := startSwitch(t)
	keys := makeKeys(t, "test CA")
	h := manage.New(&fakeMachine{ledger: d.dst}, time.Minute).Handler()
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == api.PathResolve {
			time.Sleep(1500 * time.Millisecond) // the board asking its dead peer
		}
		h.ServeHTTP(w, r)
	})
	startBoard(t, sw, "10.77.0.12", loadBundle(t, keys, "board2"), slow)
	args := []string{"-switch", sw, "-keys", filepath.Join(keys, "ctl.pem"), "-journal", filepath.Join(t.TempDir(), "journal.jsonl")}
	code, out, _ := ferryctl(t, append(args, "resolve", "-timeout", "1s", "-gone", "10.77.0.11", "10.77.0.11", "10.77.0.12")...)
	if code != 0 || d.resumes != 1 {
		t.Fatalf("resolve -gone source with a board that checks first: exit %d\n%s\n%+v", code, out, d)
	}
}

// The destination does not answer: the source keeps the guest parked
// until the operator says the destination is down for good; then it
// resumes it.
func TestResolveDestinationGone(t *testing.T) {
	d := newInDoubt(t)
	args := resolveRig(t, d, true, false)
	code, _, errOut := ferryctl(t, append(args, "resolve", "-timeout", "1s", "10.77.0.11", "10.77.0.12")...)
	if code != 1 || !strings.Contains(errOut, "keeps the guest parked") || d.takeBacks+d.giveUps != 0 {
		t.Fatalf("resolve: exit %d %q %+v", code, errOut, d)
	}
	code, out, _ := ferryctl(t, append(args, "resolve", "-timeout", "1s", "-gone", "10.77.0.12", "10.77.0.11", "10.77.0.12")...)
	if code != 0 || d.takeBacks != 1 || d.giveUps != 0 || !strings.Contains(out, "the source resumed it") {
		t.Fatalf("resolve -gone destination: exit %d\n%s\n%+v", code, out, d)
	}
	journal(t, args, d.id.String(), "resolved aborted")
}

// Both boards are up and the destination runs the guest (Commit arrived,
// its Resumed was lost); the operator says the destination is gone.
// ferryctl asks it first: it answers, so -gone is refused, with what it
// said, and the source keeps the guest parked rather than resume a second
// copy. (-gone made the source take the guest back: it ran twice.)
func TestResolveGoneButAnswering(t *testing.T) {
	d := newInDoubt(t)
	if v, err := d.dst.Resolve(d.id, migrate.Committed, "board1", "Commit arrived, Resumed lost"); v != migrate.Committed || err != nil {
		t.Fatal(v, err)
	}
	args := resolveRig(t, d, true, true)
	code, _, errOut := ferryctl(t, append(args, "resolve", "-timeout", "2s", "-gone", "10.77.0.12", "10.77.0.11", "10.77.0.12")...)
	if code != 1 || !strings.Contains(errOut, "-gone 10.77.0.12:7000: the board answers") || !strings.Contains(errOut, "destination, committed") {
		t.Fatalf("resolve -gone with the destination up: exit %d %q", code, errOut)
	}
	if d.takeBacks != 0 || d.resumes != 1 {
		t.Fatalf("the guest runs twice: %+v", d)
	}
	// A destination that restarted answers without knowing the migration:
	// it holds no copy, and -gone it is.
	r := newInDoubt(t)
	r.dst = migrate.NewLedger(nil)
	rargs := resolveRig(t, r, true, true)
	code, out, _ := ferryctl(t, append(rargs, "resolve", "-timeout", "2s", "-gone", "10.77.0.12", "10.77.0.11", "10.77.0.12")...)
	if code != 0 || !strings.Contains(out, "does not know migration") || r.takeBacks != 1 || r.giveUps != 0 {
		t.Fatalf("resolve -gone, the destination restarted: exit %d\n%s\n%+v", code, out, r)
	}
	// Without -gone the source's verdict stands and it lets go.
	code, out, _ = ferryctl(t, append(args, "resolve", "-timeout", "2s", "10.77.0.11", "10.77.0.12")...)
	if code != 0 || d.giveUps != 1 || d.takeBacks != 0 || d.resumes != 1 {
		t.Fatalf("resolve: exit %d\n%s\n%+v", code, out, d)
	}
}

// ferryctl speaks for an operator: a board's key is refused before the
// link, and a board that presents an operator's certificate is not a
// board.
func TestOperatorKeysOnly(t *testing.T) {
	keys := makeKeys(t, "test CA")
	code, _, errOut := ferryctl(t, "-switch", "127.0.0.1:1", "-keys", filepath.Join(keys, "board1.pem"), "status", "10.77.0.11")
	if code != 1 || !strings.Contains(errOut, `"board1" is a board's key; ferryctl needs an operator's`) {
		t.Fatalf("board key: exit %d, %q", code, errOut)
	}
	sw := startSwitch(t)
	startBoard(t, sw, "10.77.0.11", loadBundle(t, keys, "board1"), statusHandler(new(int), new(sync.Mutex)))
	// A station presenting ctl's own certificate as a board's.
	startBoard(t, sw, "10.77.0.12", loadBundle(t, keys, "ctl"), statusHandler(new(int), new(sync.Mutex)))
	code, _, errOut = ferryctl(t, "-switch", sw, "-keys", filepath.Join(keys, "ctl.pem"), "status", "10.77.0.12")
	if code != 1 || !strings.Contains(errOut, "certificate") {
		t.Fatalf("operator certificate serving: exit %d, %q", code, errOut)
	}
	if code, _, _ = ferryctl(t, "-switch", sw, "-keys", filepath.Join(keys, "ctl.pem"), "status", "10.77.0.11"); code != 0 {
		t.Fatalf("the real board: exit %d", code)
	}
}

// A lost key is revoked and the list pushed: the board then refuses it,
// and takes the operator's other keys as before.
func TestRevokeAndPush(t *testing.T) {
	sw := startSwitch(t)
	dir := t.TempDir()
	if code, _, _ := ferryctl(t, "keys", "-out", dir, "-ca", "CA", "board1=10.77.0.11", "operator:ctl", "operator:lost"); code != 0 {
		t.Fatal("keys")
	}
	b := loadBundle(t, dir, "board1")
	m := &fakeMachine{keys: b, stop: make(chan struct{})}
	defer close(m.stop)
	startBoard(t, sw, "10.77.0.11", b, manage.New(m, time.Minute).Handler())
	as := func(key string, args ...string) (int, string, string) {
		return ferryctl(t, append([]string{"-switch", sw, "-keys", filepath.Join(dir, key+".pem")}, args...)...)
	}
	if code, _, _ := as("lost", "status", "10.77.0.11"); code != 0 {
		t.Fatal("the key before its revocation")
	}
	code, out, _ := as("ctl", "revoke", "-dir", dir, "lost")
	if code != 0 || !strings.Contains(out, "revocation list 1, 1 certificate(s) revoked") {
		t.Fatalf("revoke: %d %s", code, out)
	}
	if code, out, _ := as("ctl", "crl", "-crl", filepath.Join(dir, "crl.pem"), "10.77.0.11"); code != 0 || !strings.Contains(out, "revocation list 1 in force, 1 revoked") {
		t.Fatalf("crl: %d %s", code, out)
	}
	if code, _, errOut := as("lost", "status", "10.77.0.11"); code == 0 {
		t.Fatalf("a revoked key still opens the API: %s", errOut)
	}
	code, out, _ = as("ctl", "status", "10.77.0.11")
	if code != 0 || !strings.Contains(out, "revocation list  1 (1 revoked)") {
		t.Fatalf("status with the list: %d\n%s", code, out)
	}
	if code, out, _ := as("ctl", "crl", "-crl", filepath.Join(dir, "crl.pem"), "10.77.0.11"); code != 1 || !strings.Contains(out, "not newer") {
		t.Fatalf("the same list twice: %d %s", code, out)
	}
}

// A board that restarted has forgotten the revocation list pushed to it
// (the withdrawn key opened its API again). ferryctl keeps the newest list
// beside its keys and gives it back to a board whose status shows an
// older one before it asks it to move a guest; the request names the list
// so the board refuses it without.
func TestCRLAfterRestart(t *testing.T) {
	sw := startSwitch(t)
	dir := t.TempDir()
	if code, _, _ := ferryctl(t, "keys", "-out", dir, "-ca", "CA", "board1=10.77.0.11", "board2=10.77.0.12", "operator:ctl", "operator:lost"); code != 0 {
		t.Fatal("keys")
	}
	if code, _, _ := ferryctl(t, "revoke", "-dir", dir, "lost"); code != 0 {
		t.Fatal("revoke")
	}
	// Both boards just restarted: their bundles have no list.
	m := &fakeMachine{report: okReport, keys: loadBundle(t, dir, "board1"), stop: make(chan struct{})}
	defer close(m.stop)
	startBoard(t, sw, "10.77.0.11", m.keys, manage.New(m, time.Minute).Handler())
	m2 := &fakeMachine{keys: loadBundle(t, dir, "board2"), stop: make(chan struct{})}
	defer close(m2.stop)
	startBoard(t, sw, "10.77.0.12", m2.keys, manage.New(m2, time.Minute).Handler())
	as := func(key string, args ...string) (int, string, string) {
		return ferryctl(t, append([]string{"-switch", sw, "-keys", filepath.Join(dir, key+".pem"), "-journal", filepath.Join(dir, "journal.jsonl")}, args...)...)
	}
	if code, _, _ := as("lost", "status", "10.77.0.11"); code != 0 {
		t.Fatal("the withdrawn key is refused by a board without the list: the test shows nothing")
	}
	code, _, errOut := as("ctl", "migrate", "10.77.0.11", "10.77.0.12")
	if code != 0 || !strings.Contains(errOut, "10.77.0.11:7000: had revocation list none; pushed 1") || !strings.Contains(errOut, "10.77.0.12:7000: had revocation list none; pushed 1") {
		t.Fatalf("migrate: exit %d\n%s", code, errOut)
	}
	if req, _ := m.got(); req.CRL != "1" {
		t.Errorf("the request names list %q, want 1", req.CRL)
	}
	for _, b := range []*pki.Bundle{m.keys, m2.keys} {
		if n := b.CRL().Number; n == nil || n.Int64() != 1 {
			t.Errorf("board %s has list %v", b.Name, n)
		}
	}
	if code, _, _ := as("lost", "status", "10.77.0.11"); code == 0 {
		t.Fatal("the withdrawn key still opens the API")
	}
	// Up to date: nothing is pushed again.
	code, _, errOut = as("ctl", "migrate", "10.77.0.11", "10.77.0.12")
	if code != 0 || strings.Contains(errOut, "pushed") {
		t.Fatalf("second migrate: exit %d\n%s", code, errOut)
	}
	// A fresh list, nothing more revoked, goes out with the next resolve
	// or migrate the same way.
	if code, out, _ := as("ctl", "revoke", "-dir", dir); code != 0 || !strings.Contains(out, "revocation list 2, 1 certificate(s) revoked") {
		t.Fatalf("a fresh list: exit %d %s", code, out)
	}
}
