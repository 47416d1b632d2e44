//go:build tamago && arm64

package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"runtime"
	"time"

	"github.com/ferry-hv/ferry/api"
	"github.com/ferry-hv/ferry/boot/guest"
	"github.com/ferry-hv/ferry/boot/virt"
	"github.com/ferry-hv/ferry/hyp"
	"github.com/ferry-hv/ferry/internal/pki"
	"github.com/ferry-hv/ferry/internal/tlsaccept"
	"github.com/ferry-hv/ferry/manage"
	"github.com/ferry-hv/ferry/migrate"
	"github.com/ferry-hv/ferry/net/mgmt"
)

const (
	// migrationTimeout bounds a whole migration requested through the API.
	migrationTimeout = 10 * time.Minute
	// idlePoll is how long the NIC poller sleeps when the link is quiet.
	idlePoll = 200 * time.Microsecond
	// stepTimeout is how long a migration waits for its peer to take or
	// give one record before it gives up: a dead destination costs the
	// paused guest at most this long before it resumes at the source.
	stepTimeout = 10 * time.Second
	// handshakeTimeout bounds an incoming connection's TLS handshake (and
	// its wait to be served): a peer without a key holds nothing longer.
	handshakeTimeout = 5 * time.Second
)

// services are what Ferry runs on its management network: the NIC
// poller, the HTTPS API and the migration listener, all mutual TLS.
type services struct {
	cfg  guest.Config
	net  *mgmt.Net
	keys *pki.Bundle
	m    *hyp.Machine
	opts pki.Options

	suite    uint16        // the migration stream's TLS suite (0: TLS 1.3's), measured at start
	measured chan struct{} // closed once suite is set
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
func keyBundle(cfg guest.Config) (*pki.Bundle, error) {
	if cfg.KeysSize == 0 {
		return nil, errors.New("ferry.ip without ferry.keys=<addr>,<size>: the management network needs this board's keys")
	}
	if cfg.KeysBase < virt.RAMBase || cfg.KeysBase+cfg.KeysSize > virt.GuestBase {
		return nil, fmt.Errorf("ferry.keys=%#x,%#x is not inside Ferry's memory [%#x, %#x)", cfg.KeysBase, cfg.KeysSize, uint64(virt.RAMBase), uint64(virt.GuestBase))
	}
	b, err := pki.LoadBundle(append([]byte(nil), mem(cfg.KeysBase, cfg.KeysSize)...))
	if err != nil {
		return nil, fmt.Errorf("keys at %#x: %w", cfg.KeysBase, err)
	}
	clear(mem(cfg.KeysBase, cfg.KeysSize)) // the private key lives on only in Go memory
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
	s.opts = pki.Options{Time: pki.BoardClock(time.Now)}
	s.measured = make(chan struct{})
	go s.measureSuite()
	go s.poll()
	apiL, err := s.net.Listen(api.APIPort)
	if err != nil {
		return err
	}
	migL, err := s.net.Listen(api.MigrationPort)
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
	go func() {
		err := srv.Serve(tlsaccept.New(apiL, tlsaccept.Config{TLS: s.keys.ServerConfig(s.opts),
			HandshakeTimeout: handshakeTimeout, MaxHandshakes: 4, MaxConns: 16, Log: quiet}))
		logf("management API stopped: %v", err)
	}()
	stream := s.opts
	stream.Suite = pki.StreamSuites[0] // any: the listener then takes every stream suite
	go s.receive(tlsaccept.New(migL, tlsaccept.Config{TLS: s.keys.ServerConfig(stream),
		HandshakeTimeout: handshakeTimeout, MaxHandshakes: 4, MaxConns: 4, Log: quiet}))
	logf("management network up: %s as %q, API on :%d, migrations on :%d", s.net, s.name(), api.APIPort, api.MigrationPort)
	return nil
}

// poll moves the NIC's frames whenever Ferry has the CPU.
func (s *services) poll() {
	for {
		if s.net.Poll() {
			runtime.Gosched()
		} else {
			time.Sleep(idlePoll)
		}
	}
}

// heapInUse is Ferry's Go heap in use.
func heapInUse() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// Status implements manage.Machine.
func (s *services) Status() api.Status {
	role := api.RoleRun
	if s.cfg.Receive() {
		role = api.RoleReceive
	}
	return api.Status{
		Board:   s.name(),
		Address: s.net.Addr().Addr().String(),
		Role:    role,
		Guest:   s.m.Ctl.State(),
		Uptime:  virt.Uptime(),
		Exits:   s.m.Exits(),
		Stopped: s.m.Ctl.Why(),
		Heap:    heapInUse(),

		ConsoleDropped: virt.ConsoleDropped(),
	}
}

// Migrate implements manage.Machine: it moves the guest, live, to the
// board listening at req.To, with req's settings.
func (s *services) Migrate(ctx context.Context, req api.MigrateRequest, progress func(api.Progress)) (api.Report, error) {
	to := req.To
	if st := s.m.Ctl.State(); st != api.GuestRunning {
		return api.Report{}, fmt.Errorf("no running guest to move (guest is %s)", st)
	}
	logf("migration to %s requested (downtime limit %v, bandwidth cap %d B/s, max time %v, auto-converge %v)",
		to, req.DowntimeLimit, req.Bandwidth, req.MaxTime, !req.NoAutoConverge)
	fail := func(err error) (api.Report, error) {
		logf("migration to %s failed, the guest runs on here: %v", to, err)
		return api.Report{From: s.net.Addr().Addr().String(), To: to, Error: err.Error()}, nil
	}
	dctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	c, err := s.net.Dial(dctx, to)
	if err != nil {
		return fail(fmt.Errorf("connecting to %s: %w", to, err))
	}
	defer c.Close()
	<-s.measured
	opts := s.opts
	opts.Suite = s.suite
	tc := tls.Client(c, s.keys.ClientConfig(opts))
	if err := tc.HandshakeContext(dctx); err != nil {
		return fail(fmt.Errorf("TLS with %s: %w", to, err))
	}
	rep, err := migrate.Send(ctx, tc, s.m.Source(), req, progress, migrate.WithTimeout(stepTimeout), migrate.WithYield(s.m.Yield))
	rep.From, rep.To = s.net.Addr().Addr().String(), to
	if err != nil {
		if rep.Error == "" {
			rep.Error = err.Error()
		}
		logf("migration to %s failed, the guest runs on here: %v", to, err)
		return rep, nil
	}
	logf("migration to %s (%s) committed: %d bytes, %d pages (%d zero), %d rounds (%s), total %v, downtime %v; the guest now runs there; this board gave it up and may take a guest again",
		to, pki.PeerName(tc.ConnectionState()), rep.Bytes, rep.Pages, rep.ZeroPages, len(rep.Rounds), rep.Switch, rep.Total, rep.Downtime)
	return rep, nil
}

// receive takes incoming migrations, one at a time, while this board has
// no guest.
func (s *services) receive(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			logf("migration listener stopped: %v", err)
			return
		}
		s.receiveOne(c.(*tls.Conn))
	}
}

func (s *services) receiveOne(c *tls.Conn) {
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), migrationTimeout)
	defer cancel()
	// The handshake is done (tlsaccept): the peer holds a key of the CA.
	peer := pki.PeerName(c.ConnectionState())
	if st := s.m.Ctl.State(); !s.m.Ctl.CanReceive() {
		logf("incoming migration from %s refused: this board already has a guest (%s)", peer, st)
		migrate.WriteRecord(c, migrate.Record{Type: migrate.TypeAbort, Version: migrate.TypeAbort.Version(),
			Payload: migrate.EncodeAbort("the destination already has a guest")})
		return
	}
	logf("incoming migration from %s (%s)", peer, c.RemoteAddr())
	rep, err := migrate.Receive(ctx, c, s.m.Sink(), migrate.WithTimeout(stepTimeout))
	if err != nil {
		logf("incoming migration from %s failed, nothing was started here: %v", peer, err)
		return
	}
	logf("guest received from %s: %d bytes, %d pages (%d zero), restored in %v; it runs here now",
		peer, rep.Bytes, rep.Pages, rep.ZeroPages, rep.RestoreTime)
}
