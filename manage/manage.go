// Package manage is Ferry's management API: the HTTP handlers ferryctl talks
// to over mutual TLS on the management network (see package api for the
// contract). It knows the API's rules -- one migration at a time, a request
// must name a destination, progress is readable while a migration runs --
// and nothing of how a machine is moved: that is the Machine's business.
package manage

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/ferry-hv/ferry/api"
)

// Machine is the board as the API sees it.
type Machine interface {
	Status() api.Status
	// Migrate moves the guest to the board at to (host:port of its
	// migration listener), calling progress as it goes, and reports how it
	// ended. It returns an error, without trying, when there is nothing to
	// move.
	Migrate(ctx context.Context, to string, progress func(api.Progress)) (api.Report, error)
}

// maxBody bounds a request body.
const maxBody = 4096

// Server serves the API for one machine.
type Server struct {
	m       Machine
	timeout time.Duration

	mu       sync.Mutex
	busy     bool
	progress api.Progress
}

// New returns the API of m; a migration is abandoned after timeout.
func New(m Machine, timeout time.Duration) *Server {
	return &Server{m: m, timeout: timeout, progress: api.Progress{Phase: "idle"}}
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
	return mux
}

type apiError struct {
	Error string `json:"error"`
}

func reply(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func (s *Server) migrate(w http.ResponseWriter, r *http.Request) {
	var req api.MigrateRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		reply(w, http.StatusBadRequest, apiError{"bad request: " + err.Error()})
		return
	}
	to, err := Destination(req.To)
	if err != nil {
		reply(w, http.StatusBadRequest, apiError{err.Error()})
		return
	}
	s.mu.Lock()
	if s.busy {
		s.mu.Unlock()
		reply(w, http.StatusConflict, apiError{"a migration is already running"})
		return
	}
	s.busy = true
	s.progress = api.Progress{Phase: "handshake"}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.busy = false
		s.mu.Unlock()
	}()

	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	rep, err := s.m.Migrate(ctx, to, func(p api.Progress) {
		s.mu.Lock()
		s.progress = p
		s.mu.Unlock()
	})
	s.mu.Lock()
	switch {
	case err != nil:
		s.progress = api.Progress{Phase: "idle", Error: err.Error()}
	case rep.OK:
		s.progress.Phase = "done"
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
	if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
		return "", fmt.Errorf("destination %q: bad port", to)
	}
	return net.JoinHostPort(host, port), nil
}
