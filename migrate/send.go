// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package migrate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ferry-hv/ferry/api"
	"github.com/ferry-hv/ferry/dirty"
	"github.com/ferry-hv/ferry/migrate/converge"
)

// Source is the machine side of Send: the running guest to move away.
type Source interface {
	Fingerprint() Fingerprint
	PageViewer // guest pages, read in place (the guest running or not)

	// Track starts dirty tracking: guest RAM write-protected page by page,
	// and the CPU shared with the guest in slices (Send's yields give it
	// back). An error means tracking is off (Send then does not call
	// Untrack).
	Track() error
	// Harvest returns the pages the guest wrote since Track or the last
	// Harvest, numbered from the base of the first RAM range, and
	// write-protects them again.
	Harvest() (*dirty.Bitmap, error)
	// Untrack ends dirty tracking: RAM on 2 MiB blocks again, the guest at
	// full speed. Send calls it once after a successful Track, however the
	// migration ends.
	Untrack()
	// Throttle sets auto-converge's cut of the guest's CPU time, 0 to
	// converge.ThrottleMax.
	Throttle(t float64)
	// CPU is how long the guest and Ferry have had the CPU since Track,
	// and Faults how many dirty faults the guest has taken.
	CPU() (guest, ferry time.Duration)
	Faults() (n uint64, handling time.Duration)

	// Pause stops the guest and returns once it is stopped. An error means
	// the guest was not stopped (Send then does not call Resume).
	Pause() error
	// Resume lets the guest run again, after a failure before the commit.
	Resume()
	// States captures the machine state records, the guest paused.
	States() ([]State, error)
	// GiveUp parks the guest for good: it now runs on the destination.
	GiveUp()
}

// Progress phases reported by Send.
const (
	PhaseHandshake  = "handshake"
	PhasePrecopy    = "precopy"
	PhaseStopped    = "stopped"
	PhaseCommitting = "committing"
	PhaseDone       = "done"
	PhaseFailed     = "failed"
)

// Switchover estimates: the bytes of a dirty page on the wire (the page and
// its address) and the part of the downtime no page causes (the machine
// state, the destination's check and restore, Ack and Commit).
const (
	dirtyPageBytes = PageSize + 8
	fixedDowntime  = 12 * time.Millisecond
)

// Send moves src's guest to the destination at the other end of conn, live
// (pre-copy): Hello and the destination's answer; dirty tracking on; round
// 0, every page of RAM, while the guest runs; then rounds of the pages the
// guest dirtied during the round before, until the policy of package
// converge says the rest fits set.DowntimeLimit (or rounds stopped
// shrinking); then, the guest stopped, the last dirty pages, the machine
// state and End; on the destination's Ack it decides Committed (in the
// ledger, WithLedger), sends Commit and, once the destination says the
// guest runs there, gives the guest up (see commit for when it does not
// hear). set.ID names the migration (a random ID if empty). progress (may
// be nil) is told how it goes, on Send's goroutine; it must not block.
//
// Any failure before Ack -- the destination refused or aborted, a read or
// write failed or timed out, ctx was done (a cancel), the migration did not
// converge within set.MaxTime, a protocol error -- records the abort, ends
// dirty tracking, resumes the guest on the source if it was stopped,
// tells the destination (Abort, best effort) and returns an error saying
// which step failed; the Report then has OK false. Once Ack has arrived
// the migration is committed: the guest is never resumed here unless the
// destination says it discarded it, or the operator decides so.
//
// In the Report, Total runs from the call to Commit sent; Downtime from
// the guest stopped to Commit sent, plus the destination's
// Commit-to-resumed time that Resumed reports; Parts splits it up. A
// failed attempt reports its Total and, if the guest was stopped, how long.
// From and To are left for the caller.
func Send(ctx context.Context, conn io.ReadWriter, src Source, set api.MigrateRequest, progress func(api.Progress), opts ...Option) (api.Report, error) {
	if set.DowntimeLimit <= 0 {
		set.DowntimeLimit = api.DefaultDowntimeLimit
	}
	if set.MaxTime <= 0 {
		set.MaxTime = api.DefaultMaxTime
	}
	opts = append(opts, WithBandwidth(set.Bandwidth))
	cfg := newConfig(opts)
	s := &sender{
		src:      src,
		set:      set,
		progress: progress,
		start:    time.Now(),
		st:       newStream(ctx, conn, cfg),
		l:        cfg.ledger,
		peer:     cfg.peer,
		dial:     cfg.dial,
		at:       cfg.at,
	}
	if s.l == nil {
		s.l = NewLedger(NewGuest())
	}
	s.rep.Settings = set
	defer s.st.close()
	err := s.run()
	s.rep.Bytes = s.st.sent.n
	s.rep.Costs = s.st.costs
	s.rep.Costs.Guest = s.st.sent.yielded
	if err != nil {
		s.rep.OK, s.rep.Error = false, err.Error()
		// How long the attempt took, and how long the guest was stopped
		// before it was resumed here.
		s.rep.Total = time.Since(s.start)
		if !s.paused.IsZero() && s.rep.Downtime == 0 {
			s.rep.Downtime = time.Since(s.paused)
		}
		s.report(PhaseFailed, err)
		return s.rep, err
	}
	s.rep.OK = true
	s.rep.Overrun = overrun(s.rep, s.set.DowntimeLimit, s.expected, fixedDowntime)
	s.report(PhaseDone, nil)
	return s.rep, nil
}

// overrun says, for a downtime past limit, by how much and which part
// overran what the switch expected: the last pages (the expected downtime
// less the fixed estimate), or the rest -- stop, state, ack and commit --
// against the fixed estimate. Empty when the downtime was within limit.
func overrun(rep api.Report, limit, expected, fixed time.Duration) string {
	if rep.Downtime <= limit {
		return ""
	}
	p := rep.Parts
	ms := func(d time.Duration) string { return d.Round(10 * time.Microsecond).String() }
	out := fmt.Sprintf("downtime %s, %s over the %s limit (expected %s)", ms(rep.Downtime), ms(rep.Downtime-limit), ms(limit), ms(expected))
	if pages := max(expected-fixed, 0); p.Pages > pages {
		out += fmt.Sprintf("; the last pages took %s, %s more than expected", ms(p.Pages), ms(p.Pages-pages))
	}
	if rest := rep.Downtime - p.Pages; rest > fixed {
		out += fmt.Sprintf("; stop, state, ack and commit took %s, %s more than the %s expected (stop %s, state %s, ack %s with the destination's restore %s, commit %s)",
			ms(rest), ms(rest-fixed), ms(fixed), ms(p.Stop), ms(p.State), ms(p.Ack), ms(p.Restore), ms(p.Commit))
	}
	return out
}

type sender struct {
	l        *Ledger
	sess     Session
	peer     string
	dial     func(context.Context) (io.ReadWriteCloser, error)
	at       func(step string) // WithFault's hook
	src      Source
	set      api.MigrateRequest
	progress func(api.Progress)
	st       *stream
	rep      api.Report
	start    time.Time
	paused   time.Time
	fp       Fingerprint
	total    uint64 // pages of RAM

	tracking bool
	sent     uint64        // pages sent, all rounds
	left     uint64        // pages still to send in the current round
	round    api.Round     // the round being sent
	pending  *dirty.Bitmap // harvested, not yet sent, when the switch came
	policy   converge.State
	bw       float64 // bytes/s with the guest stopped, measured
	wall     float64 // bytes/s of wall-clock time, measured
	expected time.Duration
}

func (s *sender) report(phase string, err error) {
	if s.progress == nil {
		return
	}
	p := api.Progress{
		Phase:            phase,
		Round:            s.round.N,
		PagesSent:        s.sent,
		PagesTotal:       s.total,
		PagesLeft:        s.left,
		BytesSent:        s.st.sent.n,
		Bandwidth:        s.wall,
		Throttle:         s.policy.Throttle,
		ExpectedDowntime: s.expected,
		Elapsed:          time.Since(s.start),
	}
	if n := len(s.rep.Rounds); n > 0 {
		p.DirtyRate = s.rep.Rounds[n-1].DirtyRate
	}
	if s.tracking {
		if g, f := s.src.CPU(); g+f > 0 {
			p.CPUShare = float64(f) / float64(g+f)
		}
	}
	if err != nil {
		p.Error = err.Error()
	}
	s.progress(p)
}

// run is Send up to its report; on any error before the commit point it
// has recorded the abort, ended tracking and resumed the guest.
func (s *sender) run() error {
	s.fp = s.src.Fingerprint()
	s.fp.Protocol = ProtocolVersion
	s.total = s.fp.Pages()
	s.rep.Pages = s.total
	id := NewID()
	if s.set.ID != "" {
		var err error
		if id, err = ParseID(s.set.ID); err != nil {
			return err
		}
	}
	s.rep.ID = id.String()
	sess, err := s.l.BeginSend(id, s.peer)
	if err != nil {
		return err
	}
	if s.dial != nil {
		s.l.reach(id, s.dial, s.st.timeout)
	}
	s.sess = sess
	s.report(PhaseHandshake, nil)
	if err := s.hello(); err != nil {
		return s.abort(err)
	}
	s.at("hello")
	if err := s.st.ctx.Err(); err != nil {
		return s.abort(fmt.Errorf("before starting: %w", s.st.done()))
	}
	t := time.Now()
	if err := s.src.Track(); err != nil {
		return s.abort(fmt.Errorf("starting dirty tracking: %w", err))
	}
	s.tracking = true
	s.rep.Tracking = time.Since(t)
	s.at("round0")
	if err := s.precopy(); err != nil {
		return s.abort(err)
	}
	release := holdGC() // no collection inside the switchover
	defer release()
	t = time.Now()
	if err := s.src.Pause(); err != nil {
		// Not stopped: nothing to resume (a Resume here could wait for a
		// vCPU that is not parked).
		return s.abort(fmt.Errorf("stopping the guest: %w", err))
	}
	s.paused = time.Now()
	s.rep.Parts.Stop = s.paused.Sub(t)
	s.at("stopped")
	if err := s.stopAndCopy(); err != nil {
		return s.abort(err)
	}
	if s.l.Decide(id, Committed, "", s.src.GiveUp, s.src.Resume) != Committed {
		return s.abort(errors.New("the destination asked for the verdict before its Ack arrived: the migration was aborted then"))
	}
	s.at("acked")
	err = s.commit()
	release()
	s.untrack()
	return err
}

// abort ends a migration that failed before its commit: the abort is
// recorded (a late Ack, or the destination's Query, is then answered with
// it), tracking ends, the guest is resumed if it was stopped, and the
// destination is told (unless it refused or aborted).
func (s *sender) abort(err error) error {
	s.l.Decide(s.sess.ID, Aborted, err.Error(), nil, nil)
	s.untrack()
	if !s.paused.IsZero() {
		s.src.Resume()
	}
	if !errors.Is(err, ErrRefused) && !errors.Is(err, ErrAborted) {
		s.st.abort(err.Error())
	}
	return err
}

func (s *sender) untrack() {
	if !s.tracking {
		return
	}
	t := time.Now()
	g, f := s.src.CPU()
	if g+f > 0 {
		s.rep.GuestCPU = float64(g) / float64(g+f)
	}
	var spent time.Duration
	s.rep.Faults, spent = s.src.Faults()
	if s.rep.Faults > 0 {
		s.rep.FaultNS = float64(spent) / float64(s.rep.Faults)
	}
	s.src.Untrack()
	s.tracking = false
	s.rep.Untrack = time.Since(t)
}

// hello offers the fingerprint; an error means the guest was never paused.
func (s *sender) hello() error {
	p, err := EncodeHello(s.fp, s.sess)
	if err != nil {
		return fmt.Errorf("hello: %w", err)
	}
	if s.fp.PageSize != PageSize {
		return fmt.Errorf("hello: %w: page size %d, this protocol moves %d-byte pages", ErrInvalid, s.fp.PageSize, PageSize)
	}
	if err := s.st.send(TypeHello, p); err != nil {
		return fmt.Errorf("sending hello: %w", err)
	}
	r, err := s.st.read(s.st.timeout)
	if err != nil {
		return fmt.Errorf("waiting for the hello reply: %w", err)
	}
	if r.Type != TypeHelloReply {
		return fmt.Errorf("waiting for the hello reply: %w", unexpected(r, "HelloReply"))
	}
	ok, why, err := DecodeHelloReply(r.Payload)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: %s", ErrRefused, why)
	}
	return nil
}

// roundStart is where a round's measurements begin.
type roundStart struct {
	at         time.Time
	bytes      uint64
	guest, cpu time.Duration
}

func (s *sender) begin(n int, pages uint64, stopped bool) roundStart {
	s.round = api.Round{N: n, Stopped: stopped, Throttle: s.policy.Throttle}
	s.left = pages
	g, f := s.src.CPU()
	return roundStart{at: time.Now(), bytes: s.st.sent.n, guest: g, cpu: f}
}

// end closes the round begun at b; dirtied is what the guest dirtied
// meanwhile (the next round's size).
func (s *sender) end(b roundStart, dirtied uint64) {
	r := &s.round
	r.Duration = time.Since(b.at)
	r.Bytes = s.st.sent.n - b.bytes
	g, f := s.src.CPU()
	g, f = g-b.guest, f-b.cpu
	if g+f > 0 {
		r.CPUShare = float64(f) / float64(g+f)
	}
	if secs := r.Duration.Seconds(); secs > 0 {
		r.DirtyRate = float64(dirtied*PageSize) / secs
	}
	s.rep.Rounds = append(s.rep.Rounds, *r)
	if r.Stopped {
		return
	}
	s.policy.Rounds = append(s.policy.Rounds, converge.Round{Sent: r.Bytes, Dirtied: dirtied})
	// The bandwidth the stream has when Ferry has the CPU: what it will
	// have with the guest stopped (Ferry's share of the wall clock, where
	// the machine measures it; the wall clock otherwise).
	var bytes uint64
	var wall, ferry time.Duration
	for _, x := range s.rep.Rounds {
		bytes += x.Bytes
		wall += x.Duration
		if x.CPUShare > 0 {
			ferry += time.Duration(x.CPUShare * float64(x.Duration))
		} else {
			ferry += x.Duration
		}
	}
	if wall > 0 {
		s.wall = float64(bytes) / wall.Seconds()
	}
	if ferry > 0 {
		s.bw = float64(bytes) / ferry.Seconds()
	}
	if s.set.Bandwidth > 0 {
		s.bw = min(s.bw, float64(s.set.Bandwidth))
	}
}

// overTime fails a pre-copy that ran past MaxTime.
func (s *sender) overTime() error {
	if e := time.Since(s.start); e > s.set.MaxTime {
		return fmt.Errorf("pre-copy did not converge within the maximum time of %v (round %d, %d pages left in it)", s.set.MaxTime, s.round.N, s.left)
	}
	return nil
}

// precopy sends round 0 and the rounds after it, the guest running, until
// the policy switches (leaving the last harvest in s.pending) or gives up.
func (s *sender) precopy() error {
	b := s.begin(0, s.total, false)
	s.report(PhasePrecopy, nil)
	buf := make([]byte, 0, maxPages)
	for _, r := range s.fp.RAM {
		for off := uint64(0); off < r.Size; off += PagesPerRecord * PageSize {
			n := int(min((r.Size-off)/PageSize, PagesPerRecord))
			t := time.Now()
			p, zero, err := EncodePagesView(buf[:0], r.Base+off, n, s.src)
			s.st.costs.Encode += time.Since(t)
			if err != nil {
				return fmt.Errorf("encoding pages at %#x: %w", r.Base+off, err)
			}
			if err := s.st.write(TypePages, p); err != nil {
				return fmt.Errorf("round 0: sending pages at %#x: %w", r.Base+off, err)
			}
			s.pages(uint64(n), uint64(zero))
			if err := s.overTime(); err != nil {
				return err
			}
			s.st.pause()
		}
	}
	if err := s.st.flush(); err != nil {
		return fmt.Errorf("round 0: %w", err)
	}
	set := converge.Settings{
		DowntimeLimit: s.set.DowntimeLimit,
		MaxTime:       s.set.MaxTime,
		AutoConverge:  !s.set.NoAutoConverge,
		Fixed:         fixedDowntime,
	}
	for n := 1; ; n++ {
		t := time.Now()
		bm, err := s.src.Harvest()
		if err != nil {
			return fmt.Errorf("round %d: harvesting dirty pages: %w", n, err)
		}
		harvest := time.Since(t)
		dirtied := bm.Count()
		s.end(b, dirtied)
		s.policy.Elapsed = time.Since(s.start)
		s.policy.Bandwidth = s.bw
		s.policy.PageBytes = dirtyPageBytes
		d := converge.Next(set, s.policy)
		s.expected = d.Expected
		switch d.Action {
		case converge.Switch:
			s.rep.Switch = d.Reason
			s.pending = bm
			return s.sync()
		case converge.GiveUp:
			return errors.New(d.Reason)
		}
		if d.Throttle != s.policy.Throttle {
			s.policy.Throttle, s.policy.Stepped = d.Throttle, len(s.policy.Rounds)
			s.rep.Throttle = d.Throttle
			s.src.Throttle(d.Throttle)
		}
		if n == 1 {
			s.at("round1")
		}
		b = s.begin(n, dirtied, false)
		s.round.Harvest = harvest
		s.report(PhasePrecopy, nil)
		if err := s.dirtyRound(n, bm, false); err != nil {
			return err
		}
		if err := s.st.flush(); err != nil {
			return fmt.Errorf("round %d: %w", n, err)
		}
	}
}

// sync waits, the guest still running, until the destination has written
// everything sent so far: what the rounds left in the connection's buffers
// would otherwise cross with the guest stopped.
func (s *sender) sync() error {
	t := time.Now()
	if err := s.st.send(TypeSync, nil); err != nil {
		return fmt.Errorf("before stopping the guest: sending sync: %w", err)
	}
	r, err := s.st.read(s.st.timeout)
	if err != nil {
		return fmt.Errorf("before stopping the guest: waiting for the destination to catch up: %w", err)
	}
	if r.Type != TypeSynced {
		return fmt.Errorf("before stopping the guest: %w", unexpected(r, "Synced"))
	}
	s.rep.Sync = time.Since(t)
	return nil
}

func (s *sender) pages(n, zero uint64) {
	s.round.Pages += n
	s.round.ZeroPages += zero
	s.sent += n
	s.left -= min(n, s.left)
	s.rep.ZeroPages += zero
	s.rep.DataPages += n - zero
	s.report(s.phase(), nil)
}

func (s *sender) phase() string {
	if s.round.Stopped {
		return PhaseStopped
	}
	return PhasePrecopy
}

// dirtyRound sends round n: its Round record, then the pages of bm in
// Dirty records.
func (s *sender) dirtyRound(n int, bm *dirty.Bitmap, stopped bool) error {
	count := bm.Count()
	h := RoundHeader{N: uint32(n), Pages: count, Stopped: stopped}
	if err := s.st.write(TypeRound, h.Encode()); err != nil {
		return fmt.Errorf("round %d: sending its header: %w", n, err)
	}
	base := s.fp.RAM[0].Base
	ipas := make([]uint64, 0, DirtyPerRecord)
	buf := make([]byte, 0, maxDirty)
	var err error
	flush := func() {
		if err != nil || len(ipas) == 0 {
			return
		}
		var p []byte
		var zero int
		t := time.Now()
		p, zero, err = EncodeDirty(buf[:0], ipas, s.src)
		s.st.costs.Encode += time.Since(t)
		if err != nil {
			err = fmt.Errorf("round %d: encoding pages from %#x: %w", n, ipas[0], err)
			return
		}
		if err = s.st.write(TypeDirty, p); err != nil {
			err = fmt.Errorf("round %d: sending pages from %#x: %w", n, ipas[0], err)
			return
		}
		s.pages(uint64(len(ipas)), uint64(zero))
		ipas = ipas[:0]
		if !stopped {
			if err = s.overTime(); err == nil {
				s.st.pause()
			}
		}
	}
	bm.Harvest(func(i uint64) {
		if err != nil {
			return
		}
		ipa := base + i*PageSize
		if !inside(s.fp.RAM, ipa, PageSize) {
			err = fmt.Errorf("round %d: the machine reported page %d (%#x) dirty, outside guest RAM", n, i, ipa)
			return
		}
		if ipas = append(ipas, ipa); len(ipas) == DirtyPerRecord {
			flush()
		}
	})
	flush()
	return err
}

// stopAndCopy sends, the guest stopped, the last dirty pages, the machine
// state and End, and waits for the destination's Ack.
func (s *sender) stopAndCopy() error {
	t := time.Now()
	bm, err := s.src.Harvest()
	if err != nil {
		return fmt.Errorf("harvesting the last dirty pages: %w", err)
	}
	if s.pending != nil {
		bm.Or(s.pending)
	}
	harvest := time.Since(t)
	n := len(s.rep.Rounds)
	b := s.begin(n, bm.Count(), true)
	s.round.Harvest = harvest
	s.report(PhaseStopped, nil)
	if err := s.dirtyRound(n, bm, true); err != nil {
		return err
	}
	s.end(b, 0)
	s.rep.Parts.Pages = time.Since(t)

	t = time.Now()
	states, err := s.src.States()
	if err != nil {
		return fmt.Errorf("capturing the machine state: %w", err)
	}
	if len(states) > MaxStates {
		return fmt.Errorf("%w: %d states, limit %d", ErrInvalid, len(states), MaxStates)
	}
	for _, st := range states {
		p, err := st.Encode()
		if err != nil {
			return fmt.Errorf("encoding state %q: %w", st.Name, err)
		}
		if err := s.st.write(TypeState, p); err != nil {
			return fmt.Errorf("sending state %q: %w", st.Name, err)
		}
	}
	if err := s.st.send(TypeEnd, s.st.digest()); err != nil {
		return fmt.Errorf("sending end: %w", err)
	}
	s.rep.Parts.State = time.Since(t)
	s.report(PhaseCommitting, nil)
	t = time.Now()
	r, err := s.st.read(s.st.timeout)
	if err != nil {
		return fmt.Errorf("waiting for the destination's ack: %w", err)
	}
	if r.Type != TypeAck {
		return fmt.Errorf("waiting for the destination's ack: %w", unexpected(r, "Ack"))
	}
	s.rep.Parts.Ack = time.Since(t)
	return nil
}

// commit is past the commit point: the source decided Committed when the
// Ack arrived, and keeps its guest parked (memory and state intact) until
// the destination says what it did. Resumed: the guest runs there, the
// source gives it up. Abort: the destination could not resume it and
// discarded it, the source resumes its own. Anything else -- the link
// lost, no answer within the timeout -- leaves the migration committed
// but unconfirmed, in doubt: Send returns (OK, not Confirmed) and, given
// WithDial, keeps telling the destination on new connections until it
// answers (or the operator resolves it). The guest is never resumed here
// on a timeout: the destination may be running it.
//
// From here ctx no longer interrupts: a cancellation now would not save
// the guest. One timeout bounds Commit and the wait for the answer.
func (s *sender) commit() error {
	t := time.Now()
	s.st.finish(s.st.timeout)
	err := writeRecord(s.st.bw, TypeCommit, TypeCommit.Version(), encodeID(s.sess.ID))
	if err == nil {
		err = s.st.bw.Flush()
	}
	committed := time.Now()
	s.at("committed")
	s.rep.Total = committed.Sub(s.start)
	s.rep.Downtime = committed.Sub(s.paused)
	s.rep.Parts.Commit = committed.Sub(t)
	var r Record
	if err == nil {
		if r, err = ReadRecord(s.st.br, nil); err == nil {
			var v Verdict
			v, err = s.heard(r)
			switch {
			case v == Committed:
				s.rep.Confirmed = true
				return nil
			case v == Aborted:
				return err
			}
		}
	}
	why := fmt.Sprintf("committed, but the destination has not said that the guest runs there (%v); the guest is kept parked here until it does", err)
	s.rep.InDoubt = why
	s.l.Doubt(s.sess.ID, why)
	s.untrack() // before the guest can be given up or taken back
	if s.dial != nil {
		go tell(s.l, s.sess.ID, s.peer, s.dial, s.st.timeout)
	}
	return nil
}

// heard acts on the destination's answer to Commit.
func (s *sender) heard(r Record) (Verdict, error) {
	switch r.Type {
	case TypeResumed:
		id, restore, resume, err := DecodeResumed(r.Payload)
		if err != nil {
			return Unknown, err
		}
		if id != s.sess.ID {
			return Unknown, fmt.Errorf("%w: Resumed for migration %s, want %s", ErrProtocol, id, s.sess.ID)
		}
		s.rep.RestoreTime = restore
		s.rep.Parts.Restore = restore
		s.rep.Parts.Commit += resume
		s.rep.Downtime += resume
	case TypeAbort:
		why := unexpected(r, "Resumed")
		v, err := s.l.Heard(s.sess.ID, Aborted, s.peer, why.Error())
		if v == Aborted {
			return Aborted, fmt.Errorf("after commit the destination discarded the guest (%w); it runs on here", why)
		}
		return v, err
	default:
		return Unknown, unexpected(r, "Resumed")
	}
	return s.l.Heard(s.sess.ID, Committed, s.peer, "")
}
