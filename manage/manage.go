// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

// Package manage is Ferry's management API: the HTTP handlers ferryctl talks
// to over mutual TLS on the management network (see package api for the
// contract). It knows the API's rules -- one migration at a time, a request
// must name a destination and sane settings (defaults filled in here), the
// operator may cancel a running migration, progress is readable while a
// migration runs -- and nothing of how a machine is moved: that is the
// Machine's business.
//
// A migration belongs to the board, not to the connection that asked for
// it: a client that goes away (ferryctl interrupted, the link lost) does not
// stop it. POST api.PathCancel does, or its time running out. POST
// api.PathResolve is the operator's verdict for a migration in doubt.
package manage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ferry-hv/ferry/api"
	"github.com/ferry-hv/ferry/migrate"
)

// Machine is the board as the API sees it.
type Machine interface {
	Status() api.Status
	// Migrate moves the guest to the board at req.To (host:port of its
	// migration listener) with req's settings, defaults filled in, calling
	// progress as it goes, and reports how it ended. It returns an error,
	// without trying, when there is nothing to move. The operator's cancel
	// ends ctx with the cause ErrCancelled (errors.Is(context.Cause(ctx),
	// ErrCancelled)); the machine then stops before its commit, if it can.
	Migrate(ctx context.Context, req api.MigrateRequest, progress func(api.Progress)) (api.Report, error)
	// Resolve is the operator's verdict for a migration in doubt here (see
	// migrate.Ledger.Force); it returns the verdict that holds.
	Resolve(id migrate.ID, v migrate.Verdict) (migrate.Verdict, error)
	// Expect announces an incoming migration that may take lasts from its
	// Hello to its Ack (see migrate.Ledger.ExpectFor).
	Expect(id migrate.ID, from string, until time.Time, lasts time.Duration) error
	// SetCRL takes the CA's new revocation list (PEM).
	SetCRL(pem []byte) (api.CRL, error)
}

// PeerBook is a Machine that keeps handshake slots for the addresses of
// peers it was told of (internal/tlsaccept.Known): an announcement that
// gives the source's address (api.ExpectRequest.Address) puts it there
// until the announcement expires, so that the source gets through to the
// migration listener whatever a station without a key does meanwhile.
type PeerBook interface {
	KnowPeer(addr netip.Addr, until time.Time)
}

// ErrCancelled is the cause of a migration's context when the operator
// cancels it (POST api.PathCancel).
var ErrCancelled = errors.New("cancelled by the operator")

// Limits of a migration's settings.
const (
	MaxDowntimeLimit = 10 * time.Second
	MaxMaxTime       = time.Hour
	// MinBandwidth is the lowest bandwidth cap taken: below it not even
	// 4 GiB move in MaxMaxTime.
	MinBandwidth = 1 << 20
)

// TimeoutMargin is how long a migration may run past its MaxTime -- to
// give up, or to finish a switchover begun just before it -- before the
// server abandons it.
const TimeoutMargin = time.Minute

// maxBody bounds a request body.
const maxBody = 4096

// Server serves the API for one machine.
type Server struct {
	m       Machine
	timeout time.Duration
	margin  time.Duration // TimeoutMargin; tests shorten it

	mu       sync.Mutex
	busy     bool
	gen      int                     // counts migrations; a stale progress call is dropped
	cancel   context.CancelCauseFunc // of the running migration
	progress api.Progress
}

// New returns the API of m. A migration is abandoned after timeout, or
// TimeoutMargin after its MaxTime if that is later.
func New(m Machine, timeout time.Duration) *Server {
	return &Server{m: m, timeout: timeout, margin: TimeoutMargin, progress: api.Progress{Phase: "idle"}}
}

// Handler routes the API's paths.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+api.PathStatus, func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, s.m.Status())
	})
	mux.HandleFunc("GET "+api.PathMigration, func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		p := s.progress
		s.mu.Unlock()
		reply(w, http.StatusOK, p)
	})
	mux.HandleFunc("POST "+api.PathMigrate, s.migrate)
	mux.HandleFunc("POST "+api.PathCancel, s.cancelMigration)
	mux.HandleFunc("POST "+api.PathResolve, s.resolve)
	mux.HandleFunc("POST "+api.PathExpect, s.expect)
	mux.HandleFunc("POST "+api.PathCRL, s.crl)
	return mux
}

// maxCRL bounds a revocation list's request: a few hundred entries.
const maxCRL = 64 << 10

// crl takes the CA's new revocation list.
func (s *Server) crl(w http.ResponseWriter, r *http.Request) {
	var req api.CRLRequest
	if err := decodeLimit(w, r, &req, false, maxCRL); err != nil {
		reply(w, http.StatusBadRequest, apiError{err.Error()})
		return
	}
	got, err := s.m.SetCRL([]byte(req.PEM))
	if err != nil {
		reply(w, http.StatusConflict, apiError{err.Error()})
		return
	}
	reply(w, http.StatusOK, got)
}

// MaxExpect is the longest an announced migration waits to start: the
// longest migration and its margin (ferryctl announces a migration for its
// max time and TimeoutMargin).
const MaxExpect = MaxMaxTime + TimeoutMargin

// expect announces an incoming migration.
func (s *Server) expect(w http.ResponseWriter, r *http.Request) {
	var req api.ExpectRequest
	if err := decode(w, r, &req, false); err != nil {
		reply(w, http.StatusBadRequest, apiError{err.Error()})
		return
	}
	id, err := migrate.ParseID(req.ID)
	if err == nil && req.From == "" {
		err = errors.New(`no source board: want {"id": ..., "from": "<board name>", "within_ns": ...}`)
	}
	if err == nil && (req.Within <= 0 || req.Within > MaxExpect) {
		err = fmt.Errorf("within %v: want more than 0 up to %v", req.Within, MaxExpect)
	}
	if err == nil && (req.MaxTime < 0 || req.MaxTime > MaxMaxTime) {
		err = fmt.Errorf("max time %v: want 0 (the default, %v) up to %v", req.MaxTime, api.DefaultMaxTime, MaxMaxTime)
	}
	var addr netip.Addr
	if err == nil && req.Address != "" {
		if addr, err = netip.ParseAddr(req.Address); err != nil {
			err = fmt.Errorf("the source's address %q: want an IP address", req.Address)
		}
	}
	if err != nil {
		reply(w, http.StatusBadRequest, apiError{err.Error()})
		return
	}
	if req.MaxTime == 0 {
		req.MaxTime = api.DefaultMaxTime
	}
	// The destination's bound follows the source's: its max time, and the
	// margin the source itself is given to end.
	if err := s.crlCurrent(req.CRL); err != nil {
		reply(w, http.StatusConflict, apiError{err.Error()})
		return
	}
	until := time.Now().Add(req.Within)
	if err := s.m.Expect(id, req.From, until, req.MaxTime+s.margin); err != nil {
		reply(w, http.StatusConflict, apiError{err.Error()})
		return
	}
	if b, ok := s.m.(PeerBook); ok && addr.IsValid() {
		b.KnowPeer(addr, until)
	}
	reply(w, http.StatusOK, req)
}

// crlCurrent refuses a migration while this board's revocation list is
// older than want, the newest the operator has (a decimal number; "": the
// operator has none): a board forgets a pushed list when it restarts, and
// must not move a guest to or from a key withdrawn meanwhile.
func (s *Server) crlCurrent(want string) error {
	if want == "" {
		return nil
	}
	n, ok := new(big.Int).SetString(want, 10)
	if !ok || n.Sign() < 0 {
		return fmt.Errorf("crl %q: want the number of the operator's newest revocation list", want)
	}
	have := s.m.Status().CRL.Number
	if h, ok := new(big.Int).SetString(have, 10); ok && h.Cmp(n) >= 0 {
		return nil
	}
	if have == "" {
		have = "none"
	}
	return fmt.Errorf("this board's revocation list is %s, older than the operator's %s (it restarted?): push it first (ferryctl crl)", have, n)
}

// resolve takes the operator's verdict for a migration in doubt.
func (s *Server) resolve(w http.ResponseWriter, r *http.Request) {
	var req api.ResolveRequest
	if err := decode(w, r, &req, false); err != nil {
		reply(w, http.StatusBadRequest, apiError{err.Error()})
		return
	}
	id, err := migrate.ParseID(req.ID)
	if err != nil {
		reply(w, http.StatusBadRequest, apiError{err.Error()})
		return
	}
	var v migrate.Verdict
	switch req.Verdict {
	case migrate.Committed.String():
		v = migrate.Committed
	case migrate.Aborted.String():
		v = migrate.Aborted
	default:
		reply(w, http.StatusBadRequest, apiError{fmt.Sprintf("verdict %q: want %q or %q", req.Verdict, migrate.Committed, migrate.Aborted)})
		return
	}
	got, err := s.m.Resolve(id, v)
	if err != nil {
		reply(w, http.StatusConflict, apiError{err.Error()})
		return
	}
	reply(w, http.StatusOK, api.ResolveRequest{ID: id.String(), Verdict: got.String()})
}

type apiError struct {
	Error string `json:"error"`
}

// CancelReply is the answer to POST api.PathCancel (202 Accepted).
type CancelReply struct {
	Cancelling bool `json:"cancelling"`
}

func reply(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// decode reads a JSON body of at most maxBody bytes into v, refusing
// unknown fields. An empty body is an error unless emptyOK.
func decode(w http.ResponseWriter, r *http.Request, v any, emptyOK bool) error {
	return decodeLimit(w, r, v, emptyOK, maxBody)
}

// decodeLimit is decode with a body of at most limit bytes.
func decodeLimit(w http.ResponseWriter, r *http.Request, v any, emptyOK bool, limit int64) error {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		return fmt.Errorf("bad request: %v", err)
	}
	if emptyOK && strings.TrimSpace(string(data)) == "" {
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("bad request: %v", err)
	}
	return nil
}

func (s *Server) migrate(w http.ResponseWriter, r *http.Request) {
	var req api.MigrateRequest
	if err := decode(w, r, &req, false); err != nil {
		reply(w, http.StatusBadRequest, apiError{err.Error()})
		return
	}
	req, err := Settings(req)
	if err != nil {
		reply(w, http.StatusBadRequest, apiError{err.Error()})
		return
	}
	if err := s.crlCurrent(req.CRL); err != nil {
		reply(w, http.StatusConflict, apiError{err.Error()})
		return
	}
	// Not r.Context(): the client going away does not stop a migration.
	ctx, cancel := context.WithCancelCause(context.WithoutCancel(r.Context()))
	defer cancel(nil)
	ctx, stop := context.WithTimeout(ctx, max(s.timeout, req.MaxTime+s.margin))
	defer stop()

	s.mu.Lock()
	if s.busy {
		s.mu.Unlock()
		reply(w, http.StatusConflict, apiError{"a migration is already running"})
		return
	}
	s.busy, s.cancel = true, cancel
	s.gen++
	gen := s.gen
	s.progress = api.Progress{Phase: "handshake"}
	s.mu.Unlock()

	rep, err := s.m.Migrate(ctx, req, func(p api.Progress) {
		s.mu.Lock()
		if s.gen == gen && s.busy {
			s.progress = p
		}
		s.mu.Unlock()
	})

	s.mu.Lock()
	s.busy, s.cancel = false, nil
	cancelled := errors.Is(context.Cause(ctx), ErrCancelled) && !rep.OK
	switch {
	case cancelled:
		s.progress.Phase, s.progress.Error = "cancelled", ErrCancelled.Error()
		if err != nil {
			s.progress.Error = err.Error()
		} else if rep.Error != "" {
			s.progress.Error = rep.Error
		}
	case err != nil:
		s.progress = api.Progress{Phase: "idle", Error: err.Error()}
	case rep.OK:
		s.progress.Phase, s.progress.Error = "done", ""
	default:
		s.progress.Phase, s.progress.Error = "failed", rep.Error
	}
	s.mu.Unlock()
	if err != nil {
		reply(w, http.StatusConflict, apiError{err.Error()})
		return
	}
	reply(w, http.StatusOK, rep)
}

// cancelMigration ends the running migration's context with ErrCancelled.
// The body, if any, must be an empty JSON object.
func (s *Server) cancelMigration(w http.ResponseWriter, r *http.Request) {
	var none struct{}
	if err := decode(w, r, &none, true); err != nil {
		reply(w, http.StatusBadRequest, apiError{err.Error()})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case !s.busy:
		reply(w, http.StatusConflict, apiError{"no migration is running"})
	case s.progress.Phase == "committing" || s.progress.Phase == "done":
		reply(w, http.StatusConflict, apiError{"the migration is " + s.progress.Phase + ": too late to cancel"})
	default:
		s.cancel(ErrCancelled)
		reply(w, http.StatusAccepted, CancelReply{Cancelling: true})
	}
}

// Settings checks a migration request -- its destination (see
// Destination) and settings against the limits above -- and returns it
// with the destination's port added and zero settings given their
// defaults.
func Settings(req api.MigrateRequest) (api.MigrateRequest, error) {
	to, err := Destination(req.To)
	if err != nil {
		return req, err
	}
	req.To = to
	if req.ID != "" {
		if _, err := migrate.ParseID(req.ID); err != nil {
			return req, err
		}
	}
	switch {
	case req.DowntimeLimit < 0 || req.DowntimeLimit > MaxDowntimeLimit:
		return req, fmt.Errorf("downtime limit %v: want 0 (the default, %v) up to %v", req.DowntimeLimit, api.DefaultDowntimeLimit, MaxDowntimeLimit)
	case req.MaxTime < 0 || req.MaxTime > MaxMaxTime:
		return req, fmt.Errorf("max time %v: want 0 (the default, %v) up to %v", req.MaxTime, api.DefaultMaxTime, MaxMaxTime)
	case req.Bandwidth != 0 && req.Bandwidth < MinBandwidth:
		return req, fmt.Errorf("bandwidth %d bytes/s: want 0 (no cap) or at least %d (1 MiB/s)", req.Bandwidth, MinBandwidth)
	}
	if req.DowntimeLimit == 0 {
		req.DowntimeLimit = api.DefaultDowntimeLimit
	}
	if req.MaxTime == 0 {
		req.MaxTime = api.DefaultMaxTime
	}
	if req.DowntimeLimit >= req.MaxTime {
		return req, fmt.Errorf("downtime limit %v: want less than the max time, %v", req.DowntimeLimit, req.MaxTime)
	}
	return req, nil
}

// Destination checks a migration target and adds the migration port when
// it has none.
func Destination(to string) (string, error) {
	if to == "" {
		return "", fmt.Errorf("no destination: want {\"to\": \"<address>[:port]\"}")
	}
	host, port, err := net.SplitHostPort(to)
	if err != nil {
		host, port = to, strconv.Itoa(api.MigrationPort)
	}
	if ip := net.ParseIP(host); ip == nil || ip.To4() == nil {
		return "", fmt.Errorf("destination %q: want an IPv4 address on the management network", to)
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
		return "", fmt.Errorf("destination %q: bad port", to)
	}
	return net.JoinHostPort(host, port), nil
}
