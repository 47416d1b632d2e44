package manage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-hv/ferry/api"
)

type fakeMachine struct {
	mu      sync.Mutex
	to      string
	release chan struct{}
	err     error
	report  api.Report
}

func (f *fakeMachine) Status() api.Status {
	return api.Status{Board: "a", Role: api.RoleRun, Guest: api.GuestRunning}
}

func (f *fakeMachine) Migrate(ctx context.Context, to string, progress func(api.Progress)) (api.Report, error) {
	f.mu.Lock()
	f.to = to
	f.mu.Unlock()
	if f.err != nil {
		return api.Report{}, f.err
	}
	progress(api.Progress{Phase: "copying", PagesSent: 5, PagesTotal: 10})
	if f.release != nil {
		select {
		case <-f.release:
		case <-ctx.Done():
			return api.Report{Error: ctx.Err().Error()}, nil
		}
	}
	return f.report, nil
}

func post(t *testing.T, h http.Handler, body string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", api.PathMigrate, strings.NewReader(body)))
	return rec
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
	rec := post(t, h, `{"to":"10.77.0.12"}`)
	var rep api.Report
	if err := json.NewDecoder(rec.Body).Decode(&rep); err != nil || rec.Code != 200 || !rep.OK || rep.Pages != 10 {
		t.Fatalf("%d %+v %v", rec.Code, rep, err)
	}
	if m.to != "10.77.0.12:7001" {
		t.Fatalf("destination %q: the migration port must be added", m.to)
	}
	var p api.Progress
	get(t, h, api.PathMigration, &p)
	if p.Phase != "done" || p.PagesSent != 5 {
		t.Fatalf("progress after success: %+v", p)
	}
}

func TestMigrateRejects(t *testing.T) {
	h := New(&fakeMachine{}, time.Minute).Handler()
	for body, want := range map[string]string{
		``:                          "bad request",
		`{"to":""}`:                 "no destination",
		`{"to":"board-b"}`:          "IPv4",
		`{"to":"10.77.0.12:99999"}`: "bad port",
		`{"to":"10.77.0.12","x":1}`: "unknown field",
		`{"to":"` + strings.Repeat("1", 5000) + `"}`: "too large",
	} {
		rec := post(t, h, body)
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), want) {
			t.Errorf("%.40q: %d %s, want 400 with %q", body, rec.Code, rec.Body, want)
		}
	}
	h = New(&fakeMachine{err: errors.New("no guest to move")}, time.Minute).Handler()
	if rec := post(t, h, `{"to":"10.77.0.12"}`); rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), "no guest") {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}

func TestOneMigrationAtATime(t *testing.T) {
	m := &fakeMachine{release: make(chan struct{}), report: api.Report{OK: true}}
	h := New(m, time.Minute).Handler()
	done := make(chan *httptest.ResponseRecorder)
	go func() { done <- post(t, h, `{"to":"10.77.0.12"}`) }()
	// Wait until the first is running, then a second must be refused.
	deadline := time.Now().Add(5 * time.Second)
	for {
		var p api.Progress
		get(t, h, api.PathMigration, &p)
		if p.Phase == "copying" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("first migration never started")
		}
		time.Sleep(time.Millisecond)
	}
	if rec := post(t, h, `{"to":"10.77.0.13"}`); rec.Code != http.StatusConflict {
		t.Fatalf("second migration: %d %s", rec.Code, rec.Body)
	}
	close(m.release)
	if rec := <-done; rec.Code != 200 {
		t.Fatalf("first migration: %d", rec.Code)
	}
}

func TestMigrationTimeout(t *testing.T) {
	m := &fakeMachine{release: make(chan struct{})}
	rec := post(t, New(m, 50*time.Millisecond).Handler(), `{"to":"10.77.0.12"}`)
	var rep api.Report
	json.NewDecoder(bytes.NewReader(rec.Body.Bytes())).Decode(&rep)
	if rep.OK || !strings.Contains(rep.Error, "deadline") {
		t.Fatalf("%+v", rep)
	}
}
