// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/ferry-hv/ferry/boot/config"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"time"

	"github.com/ferry-hv/ferry/api"
	"github.com/ferry-hv/ferry/hyp"
	"github.com/ferry-hv/ferry/internal/pki"
	"github.com/ferry-hv/ferry/internal/tlsaccept"
	"github.com/ferry-hv/ferry/manage"
	"github.com/ferry-hv/ferry/migrate"
	"github.com/ferry-hv/ferry/net/mgmt"
)

const (
	// migrationTimeout bounds a whole migration requested through the API,
	// at least (a longer max time extends it: manage.New); an incoming
	// one is bounded by the max time it was announced with (the ledger's
	// ExpectFor), every connection to the listener by receiveTimeout.
	migrationTimeout = 10 * time.Minute
	// receiveTimeout bounds one connection to the migration listener: the
	// longest migration the API takes, and its margin.
	receiveTimeout = manage.MaxMaxTime + manage.TimeoutMargin
	// exitWindow is the shortest interval Status measures exit rates over.
	exitWindow = time.Second
	// stepTimeout is how long a migration waits for its peer to take or
	// give one record before it gives up: a dead destination costs the
	// paused guest at most this long before it resumes at the source.
	stepTimeout = 10 * time.Second
	// handshakeTimeout bounds an incoming connection's TLS handshake (and
	// its wait to be served): a peer without a key holds nothing longer.
	// helloTimeout bounds its silence before the first bytes of its
	// ClientHello, which a real peer sends at once.
	handshakeTimeout = 5 * time.Second
	helloTimeout     = 2 * time.Second
	// Handshake slots (internal/tlsaccept) of each listener: for
	// addresses the board does not know, and kept for those it does
	// (peers heard from before, the other board of a migration).
	openHandshakes  = 4
	knownHandshakes = 4
	// Connections each listener keeps open after the handshake; the
	// migration listener serves at most migrationsPerPeer of them from one
	// board (the stream, a Commit resent, a stale one), so that another
	// board's key cannot hold it.
	apiConns          = 12
	migrationConns    = 8
	migrationsPerPeer = 3
	// apiReceiveBuffer and streamReceiveBuffer bound what one connection
	// to the API (small requests) or the migration listener (the stream:
	// a few milliseconds at its rate) holds of Ferry's heap, read or not.
	apiReceiveBuffer    = 64 << 10
	streamReceiveBuffer = 1 << 20
	// faultHold is how long a board holds at its ferry.fault= step, for a
	// test to cut its link or kill it there.
	faultHold = 3 * time.Second
)

// services are what Ferry runs on its management network: the management
// NIC's poller, the HTTPS API and the migration listener, all mutual TLS.
type services struct {
	cfg    config.Config
	net    *mgmt.Net
	keys   *pki.Bundle
	m      *hyp.Machine
	opts   pki.Options
	ledger *migrate.Ledger // this board's migrations: the commit protocol's record

	suite    uint16        // the migration stream's TLS suite (0: TLS 1.3's), measured at start
	measured chan struct{} // closed once suite is set

	poll  func()           // the management NIC's poller (hyp.Machine.ServeMgmtNIC)
	meter hyp.ExitMeter    // exit rates for Status
	known *tlsaccept.Known // addresses whose handshakes get the slots kept for known peers
}

// suiteProbe is how much each candidate cipher of the migration stream
// seals at start to find the fastest on this CPU.
const suiteProbe = 1 << 20

// measureSuite finds the stream's fastest TLS suite, once.
func (s *services) measureSuite() {
	best, rates, err := s.keys.FastestSuite(s.opts, suiteProbe)
	if err != nil {
		logf("measuring the migration stream's ciphers: %v; using TLS 1.3's choice", err)
		close(s.measured)
		return
	}
	var line string
	for _, id := range pki.StreamSuites {
		line += fmt.Sprintf(" %s %.1f MiB/s", tls.CipherSuiteName(id), rates[id]/(1<<20))
	}
	logf("migration stream cipher: %s (measured:%s)", tls.CipherSuiteName(best), line)
	s.suite = best
	close(s.measured)
}

// keyBundle reads the board's key bundle, which the loader put in Ferry's
// carve-out.
func keyBundle(cfg config.Config) (*pki.Bundle, error) {
	if cfg.KeysSize == 0 {
		return nil, errors.New("ferry.ip without ferry.keys=<addr>,<size>: the management network needs this board's keys")
	}
	if cfg.KeysBase < board.RAMBase || cfg.KeysBase+cfg.KeysSize > board.GuestBase {
		return nil, fmt.Errorf("ferry.keys=%#x,%#x is not inside Ferry's memory [%#x, %#x)", cfg.KeysBase, cfg.KeysSize, uint64(board.RAMBase), uint64(board.GuestBase))
	}
	b, err := pki.LoadBundle(append([]byte(nil), mem(cfg.KeysBase, cfg.KeysSize)...))
	if err != nil {
		return nil, fmt.Errorf("keys at %#x: %w", cfg.KeysBase, err)
	}
	clear(mem(cfg.KeysBase, cfg.KeysSize)) // the private key lives on only in Go memory
	if b.Role != pki.RoleBoard {
		return nil, fmt.Errorf("keys at %#x are %q's, an %s's: a board needs a board's key (ferryctl keys NAME=IP)", cfg.KeysBase, b.Name, b.Role)
	}
	return b, nil
}

func (s *services) name() string {
	if s.cfg.Name != "" {
		return s.cfg.Name
	}
	return s.keys.Name
}

// start runs the services in their own goroutines.
func (s *services) start() error {
	wall, ok := board.WallClock()
	if ok {
		logf("date %s (%s); certificates valid %s to %s", wall().UTC().Format(time.RFC3339), board.RTC,
			s.keys.Cert.NotBefore.Format(time.RFC3339), s.keys.Cert.NotAfter.Format(time.RFC3339))
	} else {
		logf("no real-time clock: certificates checked as of %s (the newest time this board knows has passed: its certificate's start, or its revocation list's issue), moving on as it runs and as it verifies newer ones",
			s.keys.Floor().Format(time.RFC3339))
	}
	// A clock that reads earlier than the newest time the board knows has
	// passed gives way to it (pki.Bundle.Clock): an expired certificate is
	// refused even without a real-time clock.
	s.opts = pki.Options{Time: s.keys.Clock(wall)}
	s.measured = make(chan struct{})
	s.meter.Window = exitWindow
	go s.measureSuite()
	go s.poll()
	apiL, err := s.net.Listen(api.APIPort, apiReceiveBuffer)
	if err != nil {
		return err
	}
	migL, err := s.net.Listen(api.MigrationPort, streamReceiveBuffer)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           manage.New(s, migrationTimeout).Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second, // a request and its small body; the answer may take a migration's time
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    8 << 10,
		ErrorLog:          log.New(os.Stdout, "ferry: api: ", 0),
	}
	quiet := func(string, ...any) {} // refused peers are normal traffic, not news
	// The API is the operators', the migration listener the boards'.
	operators := s.opts
	operators.PeerRole = pki.RoleOperator
	s.known = tlsaccept.NewKnown()
	accept := func(l net.Listener, tc *tls.Config, conns int) net.Listener {
		return tlsaccept.New(l, tlsaccept.Config{TLS: tc, HelloTimeout: helloTimeout, HandshakeTimeout: handshakeTimeout,
			MaxHandshakes: openHandshakes, MaxKnownHandshakes: knownHandshakes, MaxConns: conns, Known: s.known, Log: quiet})
	}
	go func() {
		err := srv.Serve(accept(apiL, s.keys.ServerConfig(operators), apiConns))
		logf("management API stopped: %v", err)
	}()
	stream := s.opts
	stream.Suite = pki.StreamSuites[0] // any: the listener then takes every stream suite
	stream.PeerRole = pki.RoleBoard
	go s.receive(accept(migL, s.keys.ServerConfig(stream), migrationConns))
	logf("management network up: %s as %q, API on :%d, migrations on :%d", s.net, s.name(), api.APIPort, api.MigrationPort)
	return nil
}

// heapInUse is Ferry's Go heap in use.
func heapInUse() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// Status implements manage.Machine.
func (s *services) Status() api.Status {
	cur, past := manage.Migration(s.ledger.Status())
	role := api.RoleRun
	if s.cfg.Receive() {
		role = api.RoleReceive
	}
	up := board.Uptime()
	causes := s.m.ExitCauses()
	rates, window := s.meter.Rates(up, causes)
	faults := s.m.VCPU.Faults()
	power := s.m.Ctl.Power()
	var powerAgo time.Duration
	if power.Last != "" {
		powerAgo = time.Since(power.At)
	}
	return api.Status{
		Board:   s.name(),
		Address: s.net.Addr().Addr().String(),
		Role:    role,
		Guest:   manage.Guest(s.m.Ctl.State()),
		Uptime:  up,
		Exits:   s.m.Exits(),
		Stopped: s.m.Ctl.Why(),
		Heap:    heapInUse(),

		GuestResets:   power.Resets,
		GuestPower:    power.Last,
		GuestPowerAgo: powerAgo,

		ExitCauses: causes,
		ExitNanos:  s.m.ExitTimes(),
		ExitRates:  rates,
		ExitWindow: window,
		VCPUs:      vcpus(s.m.VCPUs()),

		ConsoleDropped: board.ConsoleDropped(),
		NICFaults:      s.m.GuestNICFaults(),
		GuestAborts:    faults.Aborts,
		GuestUndefined: faults.Undefined,
		GuestFault:     faults.Last,
		NICHeld:        s.m.GuestNICHeld(),
		Migration:      cur,
		Decisions:      past,
		CRL:            crlStatus(s.keys.CRL()),
	}
}

// Resolve implements manage.Machine: the operator's verdict for a
// migration in doubt on this board.
func (s *services) Resolve(id migrate.ID, v migrate.Verdict) (migrate.Verdict, error) {
	got, err := s.ledger.Force(id, v)
	if err == nil {
		logf("migration %s resolved by the operator: %v", id, got)
	}
	return got, err
}

// SetCRL implements manage.Machine: the CA's new revocation list, in
// force for every handshake from now on.
func (s *services) SetCRL(pem []byte) (api.CRL, error) {
	info, err := s.keys.SetCRL(pem)
	if err != nil {
		return api.CRL{}, err
	}
	logf("revocation list %v in force: %d certificate(s) revoked", info.Number, info.Revoked)
	return crlStatus(info), nil
}

func crlStatus(info pki.CRLInfo) api.CRL {
	if info.Number == nil {
		return api.CRL{}
	}
	return api.CRL{Number: info.Number.String(), Revoked: info.Revoked}
}

// Expect implements manage.Machine: the operator announces an incoming
// migration.
func (s *services) Expect(id migrate.ID, from string, until time.Time, lasts time.Duration) error {
	if err := s.ledger.ExpectFor(id, from, until, lasts); err != nil {
		return err
	}
	logf("migration %s from %q announced, expected within %v, to reach its Ack within %v", id, from, time.Until(until).Round(time.Second), lasts)
	return nil
}

// KnowPeer implements manage.PeerBook: the source of an announced
// migration gets the handshake slots kept for known peers until the
// announcement expires.
func (s *services) KnowPeer(addr netip.Addr, until time.Time) { s.known.Tell(addr, until) }

var _ manage.PeerBook = (*services)(nil)

// dialBoard opens a mutual-TLS migration connection to the board at addr,
// which must present the certificate of want (if not empty), with the
// stream's suite.
func (s *services) dialBoard(ctx context.Context, addr, want string) (*tls.Conn, error) {
	c, err := s.net.Dial(ctx, addr)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", addr, err)
	}
	<-s.measured
	opts := s.opts
	opts.Suite, opts.PeerRole = s.suite, pki.RoleBoard
	tc := tls.Client(c, s.keys.ClientConfig(opts))
	if err := tc.HandshakeContext(ctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("TLS with %s: %w", addr, err)
	}
	if got := pki.PeerName(tc.ConnectionState()); want != "" && got != want {
		tc.Close()
		return nil, fmt.Errorf("%s is %q, not the board %q of this migration", addr, got, want)
	}
	return tc, nil
}

// fault holds at the migration step ferry.fault= names (a test's
// fault-injection point; no other step waits).
func (s *services) fault(step string) {
	if step == s.cfg.Fault {
		logf("fault point %s: holding for %v", step, faultHold)
		time.Sleep(faultHold)
	}
}

// redial is how the commit protocol reaches the other board of a
// migration again: its migration listener at addr, as the board named
// peer.
func (s *services) redial(addr, peer string) func(context.Context) (io.ReadWriteCloser, error) {
	return func(ctx context.Context) (io.ReadWriteCloser, error) { return s.dialBoard(ctx, addr, peer) }
}

// Migrate implements manage.Machine: it moves the guest, live, to the
// board listening at req.To, with req's settings.
func (s *services) Migrate(ctx context.Context, req api.MigrateRequest, progress func(api.Progress)) (api.Report, error) {
	to := req.To
	switch st := s.m.Ctl.State(); st {
	case hyp.GuestRunning:
	case hyp.GuestOff:
		return api.Report{}, fmt.Errorf("the guest powered itself off (%s): there is no running guest to move", s.m.Ctl.Power().Last)
	default:
		return api.Report{}, fmt.Errorf("no running guest to move (guest is %s)", st)
	}
	if req.ID == "" {
		req.ID = migrate.NewID().String()
	}
	if req.Board == "" {
		return api.Report{}, errors.New("the request names no destination board (its certificate's name): the guest goes only to the board the operator names")
	}
	logf("migration %s to %s requested (downtime limit %v, bandwidth cap %d B/s, max time %v, auto-converge %v, NIC reset %v)",
		req.ID, to, req.DowntimeLimit, req.Bandwidth, req.MaxTime, !req.NoAutoConverge, req.ResetNIC)
	fail := func(err error) (api.Report, error) {
		logf("migration %s to %s failed, the guest runs on here: %v", req.ID, to, err)
		return api.Report{ID: req.ID, From: s.net.Addr().Addr().String(), To: to, Error: err.Error()}, nil
	}
	if ap, err := netip.ParseAddrPort(to); err == nil {
		// The destination asks this board for the verdict if the stream
		// is lost: its connections get the slots kept for known peers.
		until, ok := ctx.Deadline()
		if !ok {
			until = time.Now().Add(migrationTimeout)
		}
		s.known.Tell(ap.Addr(), until)
	}
	dctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	tc, err := s.dialBoard(dctx, to, req.Board)
	if err != nil {
		return fail(err)
	}
	defer tc.Close()
	peer := pki.PeerName(tc.ConnectionState())
	rep, err := migrate.Send(ctx, tc, s.m.Source(req.ResetNIC), req, progress, migrate.WithTimeout(stepTimeout), migrate.WithYield(s.m.Yield),
		migrate.WithLedger(s.ledger), migrate.WithPeer(peer), migrate.WithDial(s.redial(to, peer)), migrate.WithFault(s.fault))
	rep.From, rep.To = s.net.Addr().Addr().String(), to
	if rep.Parts.Stop > 0 {
		p := rep.Parts
		logf("migration %s switchover: stop %v, last pages %v, state %v, ack %v (the destination's restore %v), commit %v; %s",
			rep.ID, p.Stop, p.Pages, p.State, p.Ack, p.Restore, p.Commit, s.m.Switchover())
		if rep.Overrun != "" {
			logf("migration %s: %s", rep.ID, rep.Overrun)
		}
	}
	switch {
	case err != nil:
		if rep.Error == "" {
			rep.Error = err.Error()
		}
		logf("migration %s to %s failed, the guest runs on here: %v", rep.ID, to, err)
	case rep.Confirmed:
		logf("migration %s to %s (%s) committed and confirmed: %d bytes, %d pages (%d zero), %d rounds (%s), total %v, downtime %v; the guest now runs there; this board gave it up and may take a guest again",
			rep.ID, to, peer, rep.Bytes, rep.Pages, rep.ZeroPages, len(rep.Rounds), rep.Switch, rep.Total, rep.Downtime)
	default:
		logf("migration %s to %s (%s) committed, unconfirmed: %s", rep.ID, to, peer, rep.InDoubt)
	}
	return rep, nil
}

// receive serves the migration listener, each connection in its own
// goroutine (migrate.Serve: a few at once, fewer from one board): an
// incoming guest (which the ledger takes only while this board has none
// and no migration is in progress), or the other board of a migration in
// doubt asking for, or telling, its verdict.
func (s *services) receive(l net.Listener) {
	err := migrate.Serve(l, migrate.ServeConfig{MaxConns: migrationConns, MaxPerPeer: migrationsPerPeer,
		Peer: func(c net.Conn) string { return pki.PeerName(c.(*tls.Conn).ConnectionState()) }},
		func(c net.Conn, _ string) { s.receiveOne(c.(*tls.Conn)) })
	logf("migration listener stopped: %v", err)
}

func (s *services) receiveOne(c *tls.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), receiveTimeout)
	defer cancel()
	// The handshake is done (tlsaccept): the peer holds a key of the CA.
	// The peer's migration listener is on the same address.
	peer := pki.PeerName(c.ConnectionState())
	ra := c.RemoteAddr() // nil once the peer has reset the connection (gVisor's gonet)
	if ra == nil {
		logf("migration listener: %s: gone before it was served", peer)
		c.Close()
		return
	}
	host, _, _ := net.SplitHostPort(ra.String())
	back := net.JoinHostPort(host, strconv.Itoa(api.MigrationPort))
	logf("migration listener: %s (%s) connected", peer, ra)
	rep, err := migrate.Receive(ctx, c, s.m.Sink(), migrate.WithTimeout(stepTimeout),
		migrate.WithLedger(s.ledger), migrate.WithPeer(peer), migrate.WithDial(s.redial(back, peer)), migrate.WithFault(s.fault))
	switch {
	case rep.Request != "migration":
		logf("%s from %s for migration %s: %s %v", rep.Request, peer, rep.ID, rep.Verdict, errOrNil(err))
	case errors.Is(err, migrate.ErrInDoubt):
		logf("incoming migration %s from %s is in doubt: %v", rep.ID, peer, err)
	case err != nil:
		logf("incoming migration %s from %s failed, nothing was started here: %v", rep.ID, peer, err)
	default:
		logf("guest received from %s (migration %s): %d bytes, %d pages (%d zero), restored in %v (%s); it runs here now",
			peer, rep.ID, rep.Bytes, rep.Pages, rep.ZeroPages, rep.RestoreTime, s.m.Switchover())
	}
}

func errOrNil(err error) string {
	if err == nil {
		return ""
	}
	return "(" + err.Error() + ")"
}

// vcpus are the guest's vCPUs as the API shows them.
func vcpus(vs []hyp.VCPUInfo) []api.VCPU {
	var out []api.VCPU
	for _, v := range vs {
		out = append(out, api.VCPU{MPIDR: v.MPIDR, Power: v.Power.String(), Exits: v.Exits})
	}
	return out
}
