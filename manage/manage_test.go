// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package manage

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-hv/ferry/api"
	"github.com/ferry-hv/ferry/internal/pki"
	"github.com/ferry-hv/ferry/migrate"
)

// fakeMachine records what Migrate was given. With release set it runs
// until release is closed or its context ends, and reports the context's
// cause then.
type fakeMachine struct {
	release chan struct{}
	started chan struct{} // closed when Migrate has reported progress
	err     error
	report  api.Report
	ledger  *migrate.Ledger
	keys    *pki.Bundle

	mu       sync.Mutex
	req      api.MigrateRequest
	calls    int
	deadline time.Duration // the context's deadline, from the call
	cause    error         // context.Cause when it ended
	lasts    time.Duration // the last announcement's bound (Expect)
}

func (f *fakeMachine) Status() api.Status {
	st := api.Status{Board: "a", Role: api.RoleRun, Guest: api.GuestRunning}
	if f.keys != nil {
		if info := f.keys.CRL(); info.Number != nil {
			st.CRL = api.CRL{Number: info.Number.String(), Revoked: info.Revoked}
		}
	}
	return st
}

func (f *fakeMachine) Migrate(ctx context.Context, req api.MigrateRequest, progress func(api.Progress)) (api.Report, error) {
	f.mu.Lock()
	f.req = req
	f.calls++
	if d, ok := ctx.Deadline(); ok {
		f.deadline = time.Until(d)
	}
	f.mu.Unlock()
	if f.err != nil {
		return api.Report{}, f.err
	}
	progress(api.Progress{Phase: "precopy", Round: 1, PagesSent: 5, PagesTotal: 10, PagesLeft: 3})
	if f.started != nil {
		close(f.started)
	}
	if f.release != nil {
		select {
		case <-f.release:
		case <-ctx.Done():
			f.mu.Lock()
			f.cause = context.Cause(ctx)
			f.mu.Unlock()
			return api.Report{Error: context.Cause(ctx).Error()}, nil
		}
	}
	return f.report, nil
}

// SetCRL takes the list into the machine's bundle, if it has one.
func (f *fakeMachine) SetCRL(pem []byte) (api.CRL, error) {
	if f.keys == nil {
		return api.CRL{}, errors.New("no keys")
	}
	info, err := f.keys.SetCRL(pem)
	if err != nil {
		return api.CRL{}, err
	}
	return api.CRL{Number: info.Number.String(), Revoked: info.Revoked}, nil
}

// Expect announces on the machine's ledger, if it has one.
func (f *fakeMachine) Expect(id migrate.ID, from string, until time.Time, lasts time.Duration) error {
	if f.ledger == nil {
		return errors.New("no ledger")
	}
	f.lasts = lasts
	return f.ledger.ExpectFor(id, from, until, lasts)
}

// Resolve decides on the machine's ledger, if it has one.
func (f *fakeMachine) Resolve(id migrate.ID, v migrate.Verdict) (migrate.Verdict, error) {
	if f.ledger == nil {
		return migrate.Unknown, migrate.ErrUnknown
	}
	return f.ledger.Force(id, v)
}

func (f *fakeMachine) got() (api.MigrateRequest, time.Duration, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.req, f.deadline, f.cause
}

func request(t *testing.T, h http.Handler, method, path, body string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader(body)))
	return rec
}

func post(t *testing.T, h http.Handler, body string) *httptest.ResponseRecorder {
	t.Helper()
	return request(t, h, "POST", api.PathMigrate, body)
}

func get(t *testing.T, h http.Handler, path string, v any) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
	}
	if err := json.NewDecoder(rec.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

func progressOf(t *testing.T, h http.Handler) api.Progress {
	t.Helper()
	var p api.Progress
	get(t, h, api.PathMigration, &p)
	return p
}

// start runs a migration in the background and waits until the machine
// runs it; the result arrives on the channel.
func start(t *testing.T, h http.Handler, m *fakeMachine, body string) chan *httptest.ResponseRecorder {
	t.Helper()
	m.started = make(chan struct{})
	done := make(chan *httptest.ResponseRecorder, 1)
	go func() { done <- post(t, h, body) }()
	select {
	case <-m.started:
	case <-time.After(5 * time.Second):
		t.Fatal("the migration never started")
	}
	return done
}

func wait(t *testing.T, done chan *httptest.ResponseRecorder) *httptest.ResponseRecorder {
	t.Helper()
	select {
	case rec := <-done:
		return rec
	case <-time.After(5 * time.Second):
		t.Fatal("the migration did not end")
		return nil
	}
}

func TestStatus(t *testing.T) {
	var st api.Status
	get(t, New(&fakeMachine{}, time.Minute).Handler(), api.PathStatus, &st)
	if st.Board != "a" || st.Guest != api.GuestRunning {
		t.Fatalf("%+v", st)
	}
}

func TestMigrate(t *testing.T) {
	m := &fakeMachine{report: api.Report{OK: true, Pages: 10}}
	h := New(m, time.Minute).Handler()
	if p := progressOf(t, h); p.Phase != "idle" {
		t.Fatalf("progress before any migration: %+v", p)
	}
	rec := post(t, h, `{"to":"10.77.0.12"}`)
	var rep api.Report
	if err := json.NewDecoder(rec.Body).Decode(&rep); err != nil || rec.Code != 200 || !rep.OK || rep.Pages != 10 {
		t.Fatalf("%d %+v %v", rec.Code, rep, err)
	}
	req, _, _ := m.got()
	if req.To != "10.77.0.12:7001" {
		t.Fatalf("destination %q: the migration port must be added", req.To)
	}
	if p := progressOf(t, h); p.Phase != "done" || p.PagesSent != 5 || p.Round != 1 {
		t.Fatalf("progress after success: %+v", p)
	}
}

// Zero settings reach the machine as their defaults; given ones as given.
func TestSettingsDefaults(t *testing.T) {
	m := &fakeMachine{report: api.Report{OK: true}}
	h := New(m, time.Minute).Handler()
	post(t, h, `{"to":"10.77.0.12"}`)
	req, _, _ := m.got()
	want := api.MigrateRequest{To: "10.77.0.12:7001", DowntimeLimit: api.DefaultDowntimeLimit, MaxTime: api.DefaultMaxTime}
	if req != want {
		t.Errorf("defaults: machine got %+v, want %+v", req, want)
	}
	post(t, h, `{"to":"10.77.0.12:7100","downtime_limit_ns":200000000,"bandwidth_bps":52428800,"max_time_ns":120000000000,"no_auto_converge":true}`)
	req, _, _ = m.got()
	want = api.MigrateRequest{To: "10.77.0.12:7100", DowntimeLimit: 200 * time.Millisecond, Bandwidth: 50 << 20, MaxTime: 2 * time.Minute, NoAutoConverge: true}
	if req != want {
		t.Errorf("settings: machine got %+v, want %+v", req, want)
	}
}

func TestSettingsRejected(t *testing.T) {
	m := &fakeMachine{}
	h := New(m, time.Minute).Handler()
	for body, want := range map[string]string{
		``:                               "bad request: EOF",
		`{"to":""}`:                      "no destination",
		`{"to":"board-b"}`:               "IPv4",
		`{"to":"10.77.0.12:99999"}`:      "bad port",
		`{"to":"10.77.0.12","x":1}`:      "unknown field",
		`{"to":"10.77.0.12","id":"abc"}`: "want 32 hex digits",
		`{"to":"10.77.0.12","id":"00000000000000000000000000000000"}`:                 "all zero",
		`{"to":"` + strings.Repeat("1", 5000) + `"}`:                                  "too large",
		`{"to":"10.77.0.12","downtime_limit_ns":-1}`:                                  "downtime limit -1ns: want 0 (the default, 30ms) up to 10s",
		`{"to":"10.77.0.12","downtime_limit_ns":10000000001}`:                         "downtime limit 10.000000001s: want 0",
		`{"to":"10.77.0.12","max_time_ns":-5}`:                                        "max time -5ns: want 0 (the default, 5m0s) up to 1h0m0s",
		`{"to":"10.77.0.12","max_time_ns":3600000000001}`:                             "max time 1h0m0.000000001s",
		`{"to":"10.77.0.12","bandwidth_bps":1000}`:                                    "bandwidth 1000 bytes/s: want 0 (no cap) or at least 1048576",
		`{"to":"10.77.0.12","bandwidth_bps":-1}`:                                      "bad request",
		`{"to":"10.77.0.12","downtime_limit_ns":"30ms"}`:                              "bad request",
		`{"to":"10.77.0.12","max_time_ns":1000000}`:                                   "downtime limit 30ms: want less than the max time, 1ms",
		`{"to":"10.77.0.12","downtime_limit_ns":2000000000,"max_time_ns":1000000000}`: "want less than the max time",
	} {
		rec := post(t, h, body)
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), want) {
			t.Errorf("%.60q: %d %s, want 400 with %q", body, rec.Code, rec.Body, want)
		}
	}
	// The limits themselves are taken.
	if rec := post(t, h, `{"to":"10.77.0.12","downtime_limit_ns":10000000000,"max_time_ns":3600000000000,"bandwidth_bps":1048576}`); rec.Code != 200 {
		t.Errorf("settings at their limits: %d %s", rec.Code, rec.Body)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.calls != 1 {
		t.Errorf("the machine was called %d times, want once (refused requests never reach it)", m.calls)
	}
	h = New(&fakeMachine{err: errors.New("no guest to move")}, time.Minute).Handler()
	if rec := post(t, h, `{"to":"10.77.0.12"}`); rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), "no guest") {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if p := progressOf(t, h); p.Phase != "idle" || p.Error != "no guest to move" {
		t.Errorf("progress after a refusal: %+v", p)
	}
}

func TestOneMigrationAtATime(t *testing.T) {
	m := &fakeMachine{release: make(chan struct{}), report: api.Report{OK: true}}
	h := New(m, time.Minute).Handler()
	done := start(t, h, m, `{"to":"10.77.0.12"}`)
	// Progress is readable while it runs.
	if p := progressOf(t, h); p.Phase != "precopy" || p.PagesLeft != 3 {
		t.Fatalf("progress while running: %+v", p)
	}
	if rec := post(t, h, `{"to":"10.77.0.13"}`); rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), "already running") {
		t.Fatalf("second migration: %d %s", rec.Code, rec.Body)
	}
	close(m.release)
	if rec := wait(t, done); rec.Code != 200 {
		t.Fatalf("first migration: %d", rec.Code)
	}
	if req, _, _ := m.got(); req.To != "10.77.0.12:7001" {
		t.Errorf("the refused second request reached the machine: %+v", req)
	}
	// Once it is over another may start.
	m.release, m.started = nil, nil
	if rec := post(t, h, `{"to":"10.77.0.13"}`); rec.Code != 200 {
		t.Fatalf("migration after the first: %d %s", rec.Code, rec.Body)
	}
}

func TestCancel(t *testing.T) {
	m := &fakeMachine{release: make(chan struct{})}
	h := New(m, time.Minute).Handler()
	done := start(t, h, m, `{"to":"10.77.0.12"}`)
	rec := request(t, h, "POST", api.PathCancel, "")
	if rec.Code != http.StatusAccepted || strings.TrimSpace(rec.Body.String()) != `{"cancelling":true}` {
		t.Fatalf("cancel: %d %s", rec.Code, rec.Body)
	}
	rec = wait(t, done)
	var rep api.Report
	if err := json.NewDecoder(rec.Body).Decode(&rep); err != nil || rec.Code != 200 || rep.OK || rep.Error != "cancelled by the operator" {
		t.Fatalf("report of a cancelled migration: %d %+v %v", rec.Code, rep, err)
	}
	if _, _, cause := m.got(); !errors.Is(cause, ErrCancelled) {
		t.Errorf("the machine's context ended with %v, want ErrCancelled", cause)
	}
	if p := progressOf(t, h); p.Phase != "cancelled" || p.Error != "cancelled by the operator" || p.PagesSent != 5 {
		t.Errorf("progress after the cancel: %+v", p)
	}
	// Nothing runs now.
	if rec := request(t, h, "POST", api.PathCancel, "{}"); rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), `{"error":"no migration is running"}`) {
		t.Errorf("second cancel: %d %s", rec.Code, rec.Body)
	}
}

func TestCancelNothingRunning(t *testing.T) {
	h := New(&fakeMachine{}, time.Minute).Handler()
	rec := request(t, h, "POST", api.PathCancel, "")
	if rec.Code != http.StatusConflict || strings.TrimSpace(rec.Body.String()) != `{"error":"no migration is running"}` {
		t.Errorf("cancel with nothing running: %d %s", rec.Code, rec.Body)
	}
	if p := progressOf(t, h); p.Phase != "idle" {
		t.Errorf("progress: %+v", p)
	}
	for body, want := range map[string]string{
		`{"now":true}`:                   "unknown field",
		`nonsense`:                       "bad request",
		strings.Repeat(" ", 5000) + "{}": "too large",
	} {
		if rec := request(t, h, "POST", api.PathCancel, body); rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), want) {
			t.Errorf("cancel with body %.30q: %d %s, want 400 with %q", body, rec.Code, rec.Body, want)
		}
	}
	if rec := request(t, h, "GET", api.PathCancel, ""); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET cancel: %d", rec.Code)
	}
}

// A cancel arriving once the machine says it commits is refused; the
// migration goes on.
func TestCancelTooLate(t *testing.T) {
	m := &committing{fakeMachine{release: make(chan struct{}), report: api.Report{OK: true}}}
	h := New(m, time.Minute).Handler()
	done := start(t, h, &m.fakeMachine, `{"to":"10.77.0.12"}`)
	if rec := request(t, h, "POST", api.PathCancel, ""); rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), "committing: too late") {
		t.Errorf("cancel while committing: %d %s", rec.Code, rec.Body)
	}
	close(m.release)
	if rec := wait(t, done); rec.Code != 200 || !strings.Contains(rec.Body.String(), `"ok":true`) {
		t.Errorf("migration: %d %s", rec.Code, rec.Body)
	}
	if _, _, cause := m.got(); cause != nil {
		t.Errorf("context ended: %v", cause)
	}
}

type committing struct{ fakeMachine }

func (c *committing) Migrate(ctx context.Context, req api.MigrateRequest, progress func(api.Progress)) (api.Report, error) {
	return c.fakeMachine.Migrate(ctx, req, func(p api.Progress) {
		p.Phase = "committing"
		progress(p)
	})
}

// The client going away (ferryctl interrupted) does not stop the migration.
func TestClientGoneMigrationGoesOn(t *testing.T) {
	m := &fakeMachine{release: make(chan struct{}), report: api.Report{OK: true}, started: make(chan struct{})}
	h := New(m, time.Minute).Handler()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		r := httptest.NewRequest("POST", api.PathMigrate, strings.NewReader(`{"to":"10.77.0.12"}`)).WithContext(ctx)
		h.ServeHTTP(httptest.NewRecorder(), r)
		close(done)
	}()
	<-m.started
	cancel()
	time.Sleep(50 * time.Millisecond)
	if p := progressOf(t, h); p.Phase != "precopy" {
		t.Errorf("progress after the client left: %+v", p)
	}
	close(m.release)
	<-done
	if _, _, cause := m.got(); cause != nil {
		t.Errorf("the machine's context ended with %v", cause)
	}
	if p := progressOf(t, h); p.Phase != "done" {
		t.Errorf("progress: %+v", p)
	}
}

// The server's deadline covers the migration's max time and a margin.
func TestTimeoutCoversMaxTime(t *testing.T) {
	for _, tc := range []struct {
		timeout time.Duration
		body    string
		want    time.Duration
	}{
		{time.Minute, `{"to":"10.77.0.12"}`, api.DefaultMaxTime + TimeoutMargin},
		{time.Minute, `{"to":"10.77.0.12","max_time_ns":1800000000000}`, 30*time.Minute + TimeoutMargin},
		{2 * time.Hour, `{"to":"10.77.0.12","max_time_ns":60000000000}`, 2 * time.Hour},
	} {
		m := &fakeMachine{report: api.Report{OK: true}}
		post(t, New(m, tc.timeout).Handler(), tc.body)
		if _, d, _ := m.got(); d > tc.want || d < tc.want-5*time.Second {
			t.Errorf("timeout %v, %s: machine's deadline in %v, want %v", tc.timeout, tc.body, d, tc.want)
		}
	}
}

func TestMigrationTimeout(t *testing.T) {
	m := &fakeMachine{release: make(chan struct{})}
	s := New(m, 10*time.Millisecond)
	s.margin = 0
	h := s.Handler()
	rec := post(t, h, `{"to":"10.77.0.12","downtime_limit_ns":1000000,"max_time_ns":50000000}`)
	var rep api.Report
	json.NewDecoder(rec.Body).Decode(&rep)
	if rep.OK || !strings.Contains(rep.Error, "deadline") {
		t.Fatalf("%+v", rep)
	}
	if _, _, cause := m.got(); !errors.Is(cause, context.DeadlineExceeded) {
		t.Errorf("cause %v", cause)
	}
	if p := progressOf(t, h); p.Phase != "failed" || !strings.Contains(p.Error, "deadline") {
		t.Errorf("progress after a timeout: %+v", p)
	}
}

func TestResolve(t *testing.T) {
	l := migrate.NewLedger(nil)
	h := New(&fakeMachine{ledger: l}, time.Minute).Handler()
	sess := migrate.Session{ID: migrate.NewID(), Guest: migrate.NewID()}
	resumed := 0
	l.BeginReceive(sess, "a", func() {})
	l.Prepare(sess.ID, func() error { resumed++; return nil })
	for body, code := range map[string]int{
		``:                                    http.StatusBadRequest,
		`{"id": "x", "verdict": "committed"}`: http.StatusBadRequest,
		`{"id": "` + sess.ID.String() + `", "verdict": "maybe"}`:                    http.StatusBadRequest,
		`{"id": "` + sess.ID.String() + `", "verdict": "committed", "force": true}`: http.StatusBadRequest,
		`{"id": "` + migrate.NewID().String() + `", "verdict": "aborted"}`:          http.StatusConflict,
	} {
		if rec := request(t, h, "POST", api.PathResolve, body); rec.Code != code || resumed != 0 {
			t.Errorf("%s: %d %s, want %d", body, rec.Code, rec.Body, code)
		}
	}
	rec := request(t, h, "POST", api.PathResolve, `{"id": "`+sess.ID.String()+`", "verdict": "committed"}`)
	var got api.ResolveRequest
	if rec.Code != http.StatusOK || json.NewDecoder(rec.Body).Decode(&got) != nil || got.Verdict != "committed" || resumed != 1 {
		t.Fatalf("%d %+v, %d resumes", rec.Code, got, resumed)
	}
	rec = request(t, h, "POST", api.PathResolve, `{"id": "`+sess.ID.String()+`", "verdict": "aborted"}`)
	if rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), "already committed") {
		t.Fatalf("contrary verdict: %d %s", rec.Code, rec.Body)
	}
}

func TestExpect(t *testing.T) {
	l := migrate.NewLedger(nil)
	l.Strict = true
	m := &fakeMachine{ledger: l}
	h := New(m, time.Minute).Handler()
	id := migrate.NewID().String()
	for body, code := range map[string]int{
		``:                                  http.StatusBadRequest,
		`{"id": "` + id + `"}`:              http.StatusBadRequest,
		`{"id": "` + id + `", "from": "a"}`: http.StatusBadRequest,
		`{"id": "` + id + `", "from": "a", "within_ns": 4000000000000}`: http.StatusBadRequest,
		`{"id": "nope", "from": "a", "within_ns": 1000000000}`:          http.StatusBadRequest,
	} {
		if rec := request(t, h, "POST", api.PathExpect, body); rec.Code != code {
			t.Errorf("%s: %d %s, want %d", body, rec.Code, rec.Body, code)
		}
	}
	if rec := request(t, h, "POST", api.PathExpect, `{"id": "`+id+`", "from": "a", "within_ns": 60000000000}`); rec.Code != http.StatusOK {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	sid, _ := migrate.ParseID(id)
	if m.lasts != api.DefaultMaxTime+TimeoutMargin {
		t.Errorf("announced without a max time: the destination's bound is %v, want the default max time and the margin", m.lasts)
	}
	if err := l.BeginReceive(migrate.Session{ID: sid, Guest: migrate.NewID()}, "a", func() {}); err != nil {
		t.Fatalf("the announced migration was refused: %v", err)
	}
}

// The destination's bound follows the announced max time, over the whole
// range a migration may have: an hour (announced for an hour and its
// margin) is taken and bounds the destination at an hour and a minute;
// past the range is refused.
func TestExpectMaxTime(t *testing.T) {
	for _, c := range []struct {
		maxTime, within time.Duration
		code            int
	}{
		{time.Hour, time.Hour + TimeoutMargin, http.StatusOK},
		{59 * time.Minute, 59*time.Minute + TimeoutMargin, http.StatusOK},
		{time.Minute, 2 * time.Minute, http.StatusOK},
		{time.Millisecond, time.Second, http.StatusOK},
		{time.Hour + 1, time.Hour, http.StatusBadRequest},
		{-1, time.Hour, http.StatusBadRequest},
		{time.Hour, time.Hour + TimeoutMargin + 1, http.StatusBadRequest},
	} {
		l := migrate.NewLedger(nil)
		l.Strict = true
		m := &fakeMachine{ledger: l}
		h := New(m, time.Minute).Handler()
		body, _ := json.Marshal(api.ExpectRequest{ID: migrate.NewID().String(), From: "a", Within: c.within, MaxTime: c.maxTime})
		rec := request(t, h, "POST", api.PathExpect, string(body))
		if rec.Code != c.code {
			t.Errorf("max time %v within %v: %d %s, want %d", c.maxTime, c.within, rec.Code, rec.Body, c.code)
			continue
		}
		if c.code == http.StatusOK && m.lasts != c.maxTime+TimeoutMargin {
			t.Errorf("max time %v: the destination's bound is %v, want %v", c.maxTime, m.lasts, c.maxTime+TimeoutMargin)
		}
	}
}

func TestCRL(t *testing.T) {
	dir := t.TempDir()
	if _, err := pki.Provision(dir, "CA", "board1", "operator:lost"); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, "board1.pem"))
	keys, _ := pki.LoadBundle(data)
	h := New(&fakeMachine{keys: keys}, time.Minute).Handler()
	if _, err := pki.Revoke(dir, []string{"lost"}, rand.Reader); err != nil {
		t.Fatal(err)
	}
	crl, _ := os.ReadFile(filepath.Join(dir, "crl.pem"))
	body, _ := json.Marshal(api.CRLRequest{PEM: string(crl)})
	rec := request(t, h, "POST", api.PathCRL, string(body))
	var got api.CRL
	if rec.Code != http.StatusOK || json.NewDecoder(rec.Body).Decode(&got) != nil || got.Number != "1" || got.Revoked != 1 {
		t.Fatalf("%d %+v", rec.Code, got)
	}
	if rec := request(t, h, "POST", api.PathCRL, string(body)); rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), "not newer") {
		t.Fatalf("the same list again: %d %s", rec.Code, rec.Body)
	}
	if rec := request(t, h, "POST", api.PathCRL, `{"pem": "junk"}`); rec.Code != http.StatusConflict {
		t.Fatalf("junk: %d %s", rec.Code, rec.Body)
	}
	if rec := request(t, h, "POST", api.PathCRL, `{"pem": "`+strings.Repeat("x", maxCRL)+`"}`); rec.Code != http.StatusBadRequest {
		t.Fatalf("too large: %d", rec.Code)
	}
}

// A board that restarted has forgotten the list pushed to it: it refuses
// a migration, either way, whose request names a newer list than its own,
// until the list is pushed again.
func TestCRLGate(t *testing.T) {
	dir := t.TempDir()
	if _, err := pki.Provision(dir, "CA", "board1", "operator:lost"); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, "board1.pem"))
	keys, _ := pki.LoadBundle(data) // as after a restart: no list
	l := migrate.NewLedger(nil)
	l.Strict = true
	m := &fakeMachine{keys: keys, ledger: l, report: api.Report{OK: true}}
	h := New(m, time.Minute).Handler()
	if _, err := pki.Revoke(dir, []string{"lost"}, rand.Reader); err != nil {
		t.Fatal(err)
	}
	id := migrate.NewID().String()
	expect := `{"id": "` + id + `", "from": "b", "within_ns": 60000000000, "crl": "1"}`
	move := `{"to": "10.77.0.12", "board": "b", "crl": "1"}`
	for path, body := range map[string]string{api.PathExpect: expect, api.PathMigrate: move} {
		rec := request(t, h, "POST", path, body)
		if rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), "revocation list is none, older than the operator's 1") {
			t.Fatalf("%s without the list: %d %s", path, rec.Code, rec.Body)
		}
	}
	if m.calls != 0 {
		t.Fatal("a migration started without the list")
	}
	crl, _ := os.ReadFile(filepath.Join(dir, "crl.pem"))
	body, _ := json.Marshal(api.CRLRequest{PEM: string(crl)})
	if rec := request(t, h, "POST", api.PathCRL, string(body)); rec.Code != http.StatusOK {
		t.Fatalf("push: %d %s", rec.Code, rec.Body)
	}
	for path, body := range map[string]string{api.PathExpect: expect, api.PathMigrate: move} {
		if rec := request(t, h, "POST", path, body); rec.Code != http.StatusOK {
			t.Fatalf("%s with the list: %d %s", path, rec.Code, rec.Body)
		}
	}
	if rec := request(t, h, "POST", api.PathMigrate, `{"to": "10.77.0.12", "crl": "x"}`); rec.Code != http.StatusConflict {
		t.Fatalf("a bad number: %d %s", rec.Code, rec.Body)
	}
}

// FuzzAPI posts arbitrary bodies to every path: the server answers each
// with a status, never panics, and starts no migration from a body it
// refuses.
func FuzzAPI(f *testing.F) {
	for _, s := range []string{`{"to":"10.77.0.12"}`, `{"id":"` + migrate.NewID().String() + `","verdict":"committed"}`,
		`{"id":"` + migrate.NewID().String() + `","from":"a","within_ns":1000}`, `{"pem":"x"}`, `{}`, ``} {
		f.Add(s, uint8(0))
	}
	paths := []string{api.PathMigrate, api.PathCancel, api.PathResolve, api.PathExpect, api.PathCRL}
	f.Fuzz(func(t *testing.T, body string, which uint8) {
		m := &fakeMachine{ledger: migrate.NewLedger(nil), err: errors.New("no guest")}
		h := New(m, time.Minute).Handler()
		rec := request(t, h, "POST", paths[int(which)%len(paths)], body)
		if rec.Code < 200 || rec.Code >= 500 {
			t.Fatalf("%s %q: %d", paths[int(which)%len(paths)], body, rec.Code)
		}
		if rec.Code == http.StatusBadRequest && m.calls != 0 {
			t.Fatalf("a refused body reached the machine: %q", body)
		}
	})
}

// booked is a machine that keeps slots for the peers it is told of.
type booked struct {
	*fakeMachine
	told []netip.Addr
}

func (b *booked) KnowPeer(a netip.Addr, until time.Time) {
	if time.Until(until) > 0 {
		b.told = append(b.told, a)
	}
}

// An announcement that gives the source's address has the board keep
// handshake slots for it; a bad address is refused, and so is nothing.
func TestExpectAddress(t *testing.T) {
	m := &booked{fakeMachine: &fakeMachine{ledger: migrate.NewLedger(nil)}}
	h := New(m, time.Minute).Handler()
	body := func(addr string) string {
		return `{"id": "` + migrate.NewID().String() + `", "from": "a", "within_ns": 60000000000, "address": "` + addr + `"}`
	}
	if rec := request(t, h, "POST", api.PathExpect, body("10.77.0.11")); rec.Code != http.StatusOK {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if rec := request(t, h, "POST", api.PathExpect, body("10.77.0.11:7001")); rec.Code != http.StatusBadRequest {
		t.Fatalf("an address with a port: %d %s", rec.Code, rec.Body)
	}
	if rec := request(t, h, "POST", api.PathExpect, body("")); rec.Code != http.StatusOK {
		t.Fatalf("no address: %d %s", rec.Code, rec.Body)
	}
	if len(m.told) != 1 || m.told[0] != netip.MustParseAddr("10.77.0.11") {
		t.Fatalf("told %v", m.told)
	}
}
