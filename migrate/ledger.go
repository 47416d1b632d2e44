// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package migrate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"
)

// Phase is where a board's migration in progress stands in the commit
// protocol (see Ledger).
type Phase uint8

const (
	// Sending: the source streams the guest; it has not decided.
	Sending Phase = iota + 1
	// Committing: the source decided to commit (the destination's Ack
	// arrived). It keeps the guest parked, memory and state intact, and
	// tells the destination until it hears that the guest runs there.
	Committing
	// Receiving: the destination takes the stream, before its Ack.
	Receiving
	// Prepared: the destination sent Ack. It keeps the restored guest,
	// not running, until it learns the verdict; never on a timeout.
	Prepared
)

func (p Phase) String() string {
	switch p {
	case Sending:
		return "sending"
	case Committing:
		return "committing"
	case Receiving:
		return "receiving"
	case Prepared:
		return "prepared"
	}
	return "idle"
}

// Role is which side of a migration a board is.
type Role uint8

const (
	RoleSource Role = iota + 1
	RoleDestination
)

func (r Role) String() string {
	switch r {
	case RoleSource:
		return "source"
	case RoleDestination:
		return "destination"
	}
	return fmt.Sprintf("Role(%d)", uint8(r))
}

func (p Phase) role() Role {
	if p == Sending || p == Committing {
		return RoleSource
	}
	return RoleDestination
}

// Operator is the peer name Ledger.Resolve takes for the operator's
// decision (ferryctl resolve), which may end either side's doubt.
const Operator = "\x00operator"

// maxPast is how many decided migrations a Ledger remembers.
const maxPast = 32

// Errors of the ledger.
var (
	ErrBusy     = errors.New("this board is already in a migration")
	ErrUnknown  = errors.New("no such migration on this board")
	ErrInDoubt  = errors.New("in doubt: the guest is kept until the verdict is known")
	ErrReplayed = errors.New("replayed or stale")
)

// Ledger is one board's record of its migrations, and the only place
// that decides what becomes of a guest in flight: the migration in
// progress, if any (one at a time, either role), where it stands, and the
// verdicts of the last maxPast. Send and Receive write to it at every
// step; the listener answers the peer's questions from it; the operator
// resolves a migration in doubt through it. Its rules are the commit
// protocol's (docs/migration.md):
//
//   - A source decides once: Aborted at any failure before the
//     destination's Ack (and only then may it resume the guest), or
//     Committed when the Ack arrives. A destination that asks (Query)
//     before the source decided gets Aborted, decided on the spot: a late
//     Ack is then answered with Abort.
//   - After Committed the source keeps the guest parked until the
//     destination says it runs there (it then gives it up) or that it
//     discarded it (it then resumes it), or the operator decides.
//   - After its Ack the destination keeps the restored guest until it
//     learns the verdict from the source or the operator: Committed, it
//     resumes it; Aborted, it discards it. A timeout changes nothing.
//   - While a migration is in progress, or a guest is here, no other
//     migration is taken; an ID already seen is refused, and so is a
//     guest at an epoch older than one this board has handled.
//
// Actions (giving the guest up, resuming it, discarding it) run under the
// ledger's lock, so each happens once whoever learns the verdict first.
type Ledger struct {
	// Log, if set, is told every verdict as it is recorded (under the
	// ledger's lock: it must not call back).
	Log func(string)
	// Strict: take only migrations the operator announced (Expect).
	Strict bool

	mu    sync.Mutex
	cur   *entry
	past  []decision
	guest *Session // the guest this board holds (ID and Guest/Epoch); nil: none
	want  []expected
}

// expected is a migration the operator announced to this board.
type expected struct {
	id    ID
	from  string
	until time.Time
	lasts time.Duration // how long it may take to its Ack once begun (0: no bound of its own)
}

// maxExpected is how many announced migrations a board keeps.
const maxExpected = 4

// Expect records that the operator announced migration id from the board
// named from, to arrive before until. A Strict ledger takes no other; an
// announcement replaces an older one for the same ID, and the oldest goes
// when there are too many.
func (l *Ledger) Expect(id ID, from string, until time.Time) error {
	return l.ExpectFor(id, from, until, 0)
}

// ExpectFor is Expect for a migration that may take at most lasts from
// its Hello to its Ack (the source's max time and a margin): Receive
// gives it up, and discards what it took, once that has passed. 0: no
// bound but the caller's context.
func (l *Ledger) ExpectFor(id ID, from string, until time.Time, lasts time.Duration) error {
	if id.IsZero() || from == "" {
		return errors.New("an expected migration needs an ID and the source board's name")
	}
	if lasts < 0 {
		return fmt.Errorf("an expected migration that lasts %v", lasts)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen(id) || l.cur != nil && l.cur.sess.ID == id {
		return fmt.Errorf("%w: migration %s was seen before", ErrReplayed, id)
	}
	l.want = slices.DeleteFunc(l.want, func(e expected) bool { return e.id == id || time.Now().After(e.until) })
	if len(l.want) == maxExpected {
		l.want = l.want[1:]
	}
	l.want = append(l.want, expected{id: id, from: from, until: until, lasts: lasts})
	return nil
}

// announced takes the operator's announcement of s from peer, if there is
// one (or the ledger is not Strict), and returns how long the migration
// may last (0: no bound of its own).
func (l *Ledger) announced(s Session, peer string) (time.Duration, error) {
	if !l.Strict {
		return 0, nil
	}
	for i, e := range l.want {
		if e.id != s.ID {
			continue
		}
		switch {
		case time.Now().After(e.until):
			return 0, fmt.Errorf("migration %s was expected until %s", s.ID, e.until.Format(time.RFC3339))
		case e.from != peer:
			return 0, fmt.Errorf("migration %s was expected from %q, not %q", s.ID, e.from, peer)
		}
		l.want = slices.Delete(l.want, i, i+1)
		return e.lasts, nil
	}
	return 0, fmt.Errorf("migration %s was not announced to this board by the operator", s.ID)
}

type entry struct {
	sess  Session
	phase Phase
	peer  string // the other board's name; "" accepts any
	since time.Time
	doubt string // why the verdict is not known here yet ("": it is being worked out)

	giveUp, takeBack func()       // source, Committing
	resume           func() error // destination, Prepared
	discard          func()       // destination, Receiving and Prepared
	// stop ends the Receive that takes the stream (destination,
	// Receiving; nil: none). An abort while it runs leaves the discard to
	// it (Fail), once it has stopped touching the machine.
	stop func()
	// dial reaches the peer's migration listener (nil: not known here),
	// within timeout: the operator's verdict is checked with the peer
	// first (Force).
	dial    func(context.Context) (io.ReadWriteCloser, error)
	timeout time.Duration
}

type decision struct {
	sess      Session
	role      Role
	verdict   Verdict
	peer      string
	confirmed bool   // source: the destination said the guest runs there
	note      string // how it was decided
	at        time.Time
	// discard, until called: an incoming machine aborted while Receive
	// was taking it, which Receive discards when it stops (Fail).
	discard func()
}

// NewLedger returns the ledger of a board that holds guest (a random
// guest ID at epoch 0 for a board that booted one) or none (nil).
func NewLedger(guest *Session) *Ledger {
	l := &Ledger{}
	if guest != nil {
		g := *guest
		l.guest = &g
	}
	return l
}

// NewGuest is the session of a guest booted on this board.
func NewGuest() *Session { return &Session{Guest: NewID()} }

func (l *Ledger) record(e *entry, v Verdict, confirmed bool, note string) {
	if l.Log != nil {
		what := v.String()
		if confirmed && e.phase == Committing {
			what += " and confirmed"
		}
		if note != "" {
			what += " (" + note + ")"
		}
		l.Log(fmt.Sprintf("migration %s (%s, with %q): %s", e.sess.ID, e.phase.role(), e.peer, what))
	}
	l.past = append(l.past, decision{sess: e.sess, role: e.phase.role(), verdict: v, peer: e.peer,
		confirmed: confirmed, note: note, at: time.Now()})
	if len(l.past) > maxPast {
		l.past = l.past[len(l.past)-maxPast:]
	}
	l.cur = nil
}

func (l *Ledger) find(id ID, role Role) *decision {
	for i := len(l.past) - 1; i >= 0; i-- {
		if d := &l.past[i]; d.sess.ID == id && d.role == role {
			return d
		}
	}
	return nil
}

func (l *Ledger) seen(id ID) bool {
	for _, d := range l.past {
		if d.sess.ID == id {
			return true
		}
	}
	return false
}

// current is the entry in progress for id, if the peer may act on it.
func (l *Ledger) current(id ID, peer string, phases ...Phase) *entry {
	e := l.cur
	if e == nil || e.sess.ID != id || peer != Operator && e.peer != "" && peer != e.peer {
		return nil
	}
	for _, p := range phases {
		if e.phase == p {
			return e
		}
	}
	return nil
}

func (l *Ledger) busy() error {
	if e := l.cur; e != nil {
		return fmt.Errorf("%w: migration %s is %s (%s %q)", ErrBusy, e.sess.ID, e.phase, e.phase.role(), e.peer)
	}
	return nil
}

// BeginSend records a new outgoing migration of this board's guest to
// peer and returns its session.
func (l *Ledger) BeginSend(id ID, peer string) (Session, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.busy(); err != nil {
		return Session{}, err
	}
	if l.guest == nil {
		return Session{}, errors.New("no guest on this board to migrate")
	}
	if id.IsZero() || l.seen(id) {
		return Session{}, fmt.Errorf("%w: migration id %s was used before", ErrReplayed, id)
	}
	s := Session{ID: id, Guest: l.guest.Guest, Epoch: l.guest.Epoch}
	l.cur = &entry{sess: s, phase: Sending, peer: peer, since: time.Now()}
	return s, nil
}

// Decide is the source's decision for id: Aborted, or Committed once the
// destination's Ack arrived (giveUp and takeBack then say how to let the
// guest go, or take it back). It returns the verdict that holds: a
// destination's Query may have aborted the migration first.
func (l *Ledger) Decide(id ID, v Verdict, note string, giveUp, takeBack func()) Verdict {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.current(id, Operator, Sending)
	if e == nil {
		if d := l.find(id, RoleSource); d != nil {
			return d.verdict
		}
		return Aborted
	}
	if v != Committed {
		l.record(e, Aborted, false, note)
		return Aborted
	}
	e.phase, e.since, e.giveUp, e.takeBack = Committing, time.Now(), giveUp, takeBack
	return Committed
}

// Answer is the source's answer to the destination's Query for id. A
// migration still undecided is aborted here and now.
func (l *Ledger) Answer(id ID, peer string) Verdict {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e := l.current(id, peer, Sending); e != nil {
		l.record(e, Aborted, false, "the destination asked for the verdict before the source had its Ack")
		return Aborted
	}
	if l.current(id, peer, Committing) != nil {
		return Committed
	}
	if d := l.find(id, RoleSource); d != nil && (d.peer == "" || d.peer == peer || peer == Operator) {
		return d.verdict
	}
	return Unknown
}

// Heard is what the source learned from the destination of a committed
// migration: Committed (the guest runs there: the source gives it up) or
// Aborted (the destination discarded it: the source resumes it). It
// returns the verdict that now holds for the source's guest.
func (l *Ledger) Heard(id ID, v Verdict, peer, note string) (Verdict, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.heard(id, v, peer, note)
}

// heard is Heard with the lock held.
func (l *Ledger) heard(id ID, v Verdict, peer, note string) (Verdict, error) {
	e := l.current(id, peer, Committing)
	if e == nil {
		if d := l.find(id, RoleSource); d != nil {
			return d.verdict, nil
		}
		return Unknown, fmt.Errorf("%w: %s", ErrUnknown, id)
	}
	switch v {
	case Committed:
		e.giveUp()
		l.guest = nil
		l.record(e, Committed, true, note)
	case Aborted:
		e.takeBack()
		l.record(e, Aborted, false, note)
	default:
		return Committed, nil
	}
	return v, nil
}

// BeginReceive records a new incoming migration from peer, if this board
// can take it: no migration in progress, no guest, a new ID, and a guest
// epoch newer than any this board has handled for that guest.
func (l *Ledger) BeginReceive(s Session, peer string, discard func()) error {
	_, err := l.beginReceive(s, peer, discard, nil)
	return err
}

// beginReceive is BeginReceive for a Receive that stop ends; it also
// returns how long the migration may take to its Ack, as the operator
// announced it (0: no bound).
func (l *Ledger) beginReceive(s Session, peer string, discard, stop func()) (time.Duration, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.busy(); err != nil {
		return 0, err
	}
	if l.guest != nil {
		return 0, errors.New("this board already has a guest")
	}
	if err := s.check(); err != nil {
		return 0, err
	}
	if l.seen(s.ID) {
		return 0, fmt.Errorf("%w: migration id %s was seen before", ErrReplayed, s.ID)
	}
	for _, d := range l.past {
		if d.sess.Guest == s.Guest && d.verdict == Committed && s.Epoch <= d.sess.Epoch {
			return 0, fmt.Errorf("%w: guest %s at epoch %d, this board has handled it at epoch %d", ErrReplayed, s.Guest, s.Epoch, d.sess.Epoch)
		}
	}
	lasts, err := l.announced(s, peer)
	if err != nil {
		return 0, err
	}
	l.cur = &entry{sess: s, phase: Receiving, peer: peer, since: time.Now(), discard: discard, stop: stop}
	return lasts, nil
}

// Fail ends an incoming migration that failed before its Ack: the
// destination discards what it took -- also when it was aborted (by the
// operator, or the source's answer to a Query) while Receive was still
// taking it, and Receive calls Fail once it has stopped: what it restored
// meanwhile is discarded then, not left live.
func (l *Ledger) Fail(id ID, why string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e := l.current(id, Operator, Receiving); e != nil {
		e.discard()
		l.record(e, Aborted, false, why)
		return
	}
	if d := l.find(id, RoleDestination); d != nil && d.discard != nil {
		d.discard()
		d.discard = nil
	}
}

// Prepare records that the destination restored the guest of id and is
// about to send Ack: from here it resumes the guest (resume) only on
// Committed and discards it only on Aborted.
func (l *Ledger) Prepare(id ID, resume func() error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.current(id, Operator, Receiving)
	if e == nil {
		return fmt.Errorf("%w: migration %s was ended before its Ack", ErrAborted, id)
	}
	e.phase, e.since, e.resume = Prepared, time.Now(), resume
	return nil
}

// Resolve gives the destination the verdict for id (from the source, on
// the stream or a later connection, or from the operator) and acts on it
// once: Committed resumes the guest, Aborted discards it. Asked again it
// returns the verdict that holds. A resume that fails discards the guest
// and records Aborted (the source, told so, resumes its own copy).
func (l *Ledger) Resolve(id ID, v Verdict, peer, note string) (Verdict, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.resolve(id, v, peer, note)
}

// resolve is Resolve with the lock held.
func (l *Ledger) resolve(id ID, v Verdict, peer, note string) (Verdict, error) {
	if e := l.current(id, peer, Receiving); e != nil && v == Aborted {
		if e.stop == nil {
			e.discard()
			l.record(e, Aborted, false, note)
			return Aborted, nil
		}
		// Receive is taking the stream, and may be writing pages or
		// restoring the state right now: it is stopped, and discards
		// the machine itself once it has (Fail), so that nothing it
		// restores after this stays live.
		l.record(e, Aborted, false, note)
		l.past[len(l.past)-1].discard = e.discard
		e.stop()
		return Aborted, nil
	}
	e := l.current(id, peer, Prepared)
	if e == nil {
		if d := l.find(id, RoleDestination); d != nil {
			return d.verdict, nil
		}
		return Unknown, fmt.Errorf("%w: %s", ErrUnknown, id)
	}
	switch v {
	case Committed:
		if err := e.resume(); err != nil {
			e.discard()
			l.record(e, Aborted, false, "resuming failed: "+err.Error())
			return Aborted, fmt.Errorf("resuming the guest: %w", err)
		}
		g := Session{Guest: e.sess.Guest, Epoch: e.sess.Epoch + 1}
		l.guest = &g
		l.record(e, Committed, true, note)
		return Committed, nil
	case Aborted:
		e.discard()
		l.record(e, Aborted, false, note)
		return Aborted, nil
	}
	return Unknown, nil
}

// MaxCheck bounds Force's check of the operator's verdict with the peer:
// a board told a verdict may take this long more to answer (ferryctl
// resolve waits for it).
const MaxCheck = 5 * time.Second

// reach records how to reach the peer of migration id (Send and Receive
// give it, WithDial), for Force to check the operator's verdict with it.
func (l *Ledger) reach(id ID, dial func(context.Context) (io.ReadWriteCloser, error), timeout time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e := l.cur; e != nil && e.sess.ID == id {
		e.dial, e.timeout = dial, min(timeout, MaxCheck)
	}
}

// Force is the operator's decision for a migration in doubt on this
// board, whichever its role: a source in Committing gives the guest up
// (Committed: the operator knows it runs on the destination) or takes it
// back (Aborted: the operator knows the destination does not run it and
// never will); a destination resumes or discards it (Resolve).
//
// The operator may be wrong (a board it could not reach, or thought gone,
// may be running the guest), so a board that can reach its peer asks it
// first, once, as its own loops would (a committing source sends Commit,
// a prepared destination sends Query), and the peer's answer settles the
// migration: an operator's verdict that contradicts it is refused, with
// the verdict that holds. Only when the peer does not answer, or does not
// know the migration (it restarted and lost the guest), is the operator's
// verdict applied.
func (l *Ledger) Force(id ID, v Verdict) (Verdict, error) {
	const note = "resolved by the operator"
	if v != Committed && v != Aborted {
		return Unknown, fmt.Errorf("verdict %v: want committed or aborted", v)
	}
	l.mu.Lock()
	var check func() error
	if e := l.cur; e != nil && e.sess.ID == id && e.dial != nil {
		dial, peer, timeout := e.dial, e.peer, e.timeout
		switch e.phase {
		case Committing:
			check = func() error { return tellOnce(l, id, peer, dial, timeout) }
		case Prepared:
			check = func() error { return askOnce(l, id, peer, dial, timeout) }
		}
	}
	l.mu.Unlock()
	var checked error
	if check != nil {
		checked = check()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if e := l.cur; e != nil && e.sess.ID == id {
		switch {
		case e.phase == Committing:
			return l.heard(id, v, Operator, noteChecked(note, checked))
		case e.phase == Sending && v == Aborted:
			l.record(e, Aborted, false, note)
			return Aborted, nil
		case e.phase == Sending:
			return Unknown, fmt.Errorf("migration %s is still sending: only its Ack can commit it", id)
		}
		return l.resolve(id, v, Operator, noteChecked(note, checked))
	}
	for _, role := range []Role{RoleSource, RoleDestination} {
		if d := l.find(id, role); d != nil {
			if d.verdict != v {
				if check != nil && checked == nil {
					return d.verdict, fmt.Errorf("refused: migration %s is %s here: its peer %q, asked first, answered so (%s); the operator's %s would have %s",
						id, d.verdict, d.peer, d.note, v, contrary(role, v))
				}
				return d.verdict, fmt.Errorf("migration %s was already %s here (%s)", id, d.verdict, d.note)
			}
			return v, nil
		}
	}
	return Unknown, fmt.Errorf("%w: %s", ErrUnknown, id)
}

// noteChecked is how an operator's verdict was decided: after the peer
// could not be asked, if it was tried.
func noteChecked(note string, checked error) string {
	if checked != nil {
		return note + "; its peer did not settle it: " + checked.Error()
	}
	return note
}

// contrary says what a verdict contrary to the peer's would have done on
// a board of role.
func contrary(role Role, v Verdict) string {
	switch {
	case role == RoleSource && v == Aborted:
		return "resumed the guest here while the destination runs it"
	case role == RoleSource:
		return "given up a guest the destination does not run"
	case v == Committed:
		return "resumed the guest here while the source runs it"
	}
	return "discarded the only copy of the guest"
}

// Doubt records why the verdict for id is not known here yet.
func (l *Ledger) Doubt(id ID, why string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e := l.current(id, Operator, Committing, Prepared); e != nil {
		e.doubt = why
	}
}

// Pending reports whether id is still in the given phase (a loop asking
// or telling the peer goes on while it is).
func (l *Ledger) Pending(id ID, p Phase) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.current(id, Operator, p) != nil
}

// Guest is the guest this board holds, if any.
func (l *Ledger) Guest() (Session, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.guest == nil {
		return Session{}, false
	}
	return *l.guest, true
}

// Current is the migration in progress, as the ledger holds it.
type Current struct {
	Session Session
	Role    Role
	Phase   Phase
	Peer    string
	Since   time.Duration // how long it has been in its phase
	InDoubt string        // why a committed or prepared migration is unconfirmed ("" if not)
}

// Decided is a past verdict.
type Decided struct {
	Session   Session
	Role      Role
	Verdict   Verdict
	Peer      string
	Confirmed bool
	Note      string        // how it was decided
	Ago       time.Duration // how long ago
}

// Status is the migration in progress (nil if none) and the past
// verdicts, newest first.
func (l *Ledger) Status() (*Current, []Decided) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var cur *Current
	if e := l.cur; e != nil {
		cur = &Current{Session: e.sess, Role: e.phase.role(), Phase: e.phase, Peer: e.peer, Since: time.Since(e.since), InDoubt: e.doubt}
	}
	ds := make([]Decided, 0, len(l.past))
	for i := len(l.past) - 1; i >= 0; i-- {
		d := l.past[i]
		ds = append(ds, Decided{Session: d.sess, Role: d.role, Verdict: d.verdict, Peer: d.peer,
			Confirmed: d.confirmed, Note: d.note, Ago: time.Since(d.at)})
	}
	return cur, ds
}
