package migrate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ferry-hv/ferry/api"
)

// Source is the machine side of Send: the running guest to move away.
type Source interface {
	Fingerprint() Fingerprint
	// Pause stops the guest and returns once it is stopped. An error means
	// the guest was not stopped (Send then does not call Resume).
	Pause() error
	// Resume lets the guest run again, after a failure before the commit.
	Resume()
	// ReadPage copies the guest page at ipa into buf (PageSize bytes); the
	// guest is paused.
	ReadPage(ipa uint64, buf []byte)
	// States captures the machine state records, the guest paused.
	States() ([]State, error)
	// GiveUp parks the guest for good: it now runs on the destination.
	GiveUp()
}

// Progress phases reported by Send.
const (
	PhaseHandshake  = "handshake"
	PhaseCopying    = "copying"
	PhaseCommitting = "committing"
	PhaseDone       = "done"
	PhaseFailed     = "failed"
)

// Send moves src's guest to the destination at the other end of conn
// (stop-and-copy): Hello and the destination's answer, then, guest paused,
// every page, the machine state and the digest; on the destination's Ack it
// sends Commit and gives the guest up. progress (may be nil) is told the
// phase and the pages and bytes sent so far; it is called on Send's
// goroutine, once per Pages record, and must not block.
//
// Any failure before Ack -- the destination refused or aborted, a read or
// write failed or timed out, ctx was done, a protocol error -- resumes the
// guest on the source (if it was paused), tells the destination (Abort,
// best effort) and returns an error saying which step failed; the Report
// then has OK false. Once Ack has arrived the guest is the destination's:
// Send gives it up whatever happens next.
//
// In the Report, Total runs from the call to Commit sent; Downtime from
// the pause to Commit sent, plus the destination's Commit-to-resumed time
// that Resumed reports (the one-way latency of Commit is not measurable);
// RestoreTime is the destination's digest check and Restore. A failed
// attempt reports its Total and, if the guest was paused, how long it was
// stopped. From and To are left for the caller.
func Send(ctx context.Context, conn io.ReadWriter, src Source, progress func(api.Progress), opts ...Option) (api.Report, error) {
	s := &sender{
		src:      src,
		progress: progress,
		start:    time.Now(),
		st:       newStream(ctx, conn, newConfig(opts)),
	}
	defer s.st.close()
	err := s.run()
	s.rep.Bytes = s.st.sent.n
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
	s.report(PhaseDone, nil)
	return s.rep, nil
}

type sender struct {
	src      Source
	progress func(api.Progress)
	st       *stream
	rep      api.Report
	start    time.Time
	paused   time.Time
	total    uint64 // pages
}

func (s *sender) report(phase string, err error) {
	if s.progress == nil {
		return
	}
	p := api.Progress{
		Phase:      phase,
		PagesSent:  s.rep.ZeroPages + s.rep.DataPages,
		PagesTotal: s.total,
		BytesSent:  s.st.sent.n,
	}
	if err != nil {
		p.Error = err.Error()
	}
	s.progress(p)
}

// run is Send up to its report; on any error before the commit point it
// has resumed the guest.
func (s *sender) run() error {
	fp := s.src.Fingerprint()
	fp.Protocol = ProtocolVersion
	s.total = fp.Pages()
	s.rep.Pages = s.total
	s.report(PhaseHandshake, nil)
	if err := s.hello(fp); err != nil {
		s.tell(err)
		return err
	}
	if err := s.st.ctx.Err(); err != nil {
		err = fmt.Errorf("before pausing the guest: %w", err)
		s.tell(err)
		return err
	}
	if err := s.src.Pause(); err != nil {
		// Not stopped: nothing to resume (a Resume here could wait for a
		// vCPU that is not parked).
		err = fmt.Errorf("pausing the guest: %w", err)
		s.tell(err)
		return err
	}
	s.paused = time.Now()
	s.report(PhaseCopying, nil)
	if err := s.copy(fp); err != nil {
		s.src.Resume()
		s.tell(err)
		return err
	}
	return s.commit()
}

// tell sends the destination an Abort for err, unless the destination is
// the one that refused or aborted.
func (s *sender) tell(err error) {
	if !errors.Is(err, ErrRefused) && !errors.Is(err, ErrAborted) {
		s.st.abort(err.Error())
	}
}

// hello offers the fingerprint; an error means the guest was never paused.
func (s *sender) hello(fp Fingerprint) error {
	p, err := fp.Encode()
	if err != nil {
		return fmt.Errorf("hello: %w", err)
	}
	if fp.PageSize != PageSize {
		return fmt.Errorf("hello: %w: page size %d, this protocol moves %d-byte pages", ErrInvalid, fp.PageSize, PageSize)
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

// copy streams the paused guest: pages, states, End; then waits for Ack.
func (s *sender) copy(fp Fingerprint) error {
	buf := make([]byte, 0, maxPages)
	for _, r := range fp.RAM {
		for off := uint64(0); off < r.Size; off += PagesPerRecord * PageSize {
			n := int(min((r.Size-off)/PageSize, PagesPerRecord))
			var p []byte
			var zero int
			var err error
			if v, ok := s.src.(PageViewer); ok {
				p, zero, err = EncodePagesView(buf[:0], r.Base+off, n, v)
			} else {
				p, zero, err = EncodePages(buf[:0], r.Base+off, n, s.src.ReadPage)
			}
			if err != nil {
				return fmt.Errorf("encoding pages at %#x: %w", r.Base+off, err)
			}
			if err := s.st.write(TypePages, p); err != nil {
				return fmt.Errorf("sending pages at %#x: %w", r.Base+off, err)
			}
			s.rep.ZeroPages += uint64(zero)
			s.rep.DataPages += uint64(n - zero)
			s.report(PhaseCopying, nil)
		}
	}
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
	s.report(PhaseCommitting, nil)
	r, err := s.st.read(s.st.timeout)
	if err != nil {
		return fmt.Errorf("waiting for the destination's ack: %w", err)
	}
	if r.Type != TypeAck {
		return fmt.Errorf("waiting for the destination's ack: %w", unexpected(r, "Ack"))
	}
	return nil
}

// commit is past the commit point: the destination holds the restored
// guest and waits for Commit. The source gives its guest up whatever
// happens: if Commit is lost the destination discards its copy and the
// guest is lost, which is the price of never running it twice.
//
// From here ctx no longer interrupts: a cancellation now would lose the
// guest, not save it. One timeout bounds Commit and the wait for Resumed.
func (s *sender) commit() error {
	s.st.finish(s.st.timeout)
	err := writeRecord(s.st.bw, TypeCommit, TypeCommit.Version(), nil)
	if err == nil {
		err = s.st.bw.Flush()
	}
	committed := time.Now()
	s.src.GiveUp()
	s.rep.Total = committed.Sub(s.start)
	s.rep.Downtime = committed.Sub(s.paused)
	if err != nil {
		return fmt.Errorf("sending commit after the destination's ack (the guest is parked here; unless Commit arrived, the destination discards it): %w", err)
	}
	r, err := ReadRecord(s.st.br, nil)
	switch {
	case err != nil:
		// Committed; the destination resumed the guest or will, but did
		// not say how long it took.
		return nil
	case r.Type == TypeResumed:
		restore, resume, err := DecodeResumed(r.Payload)
		if err == nil {
			s.rep.RestoreTime = restore
			s.rep.Downtime += resume
		}
		return nil
	default:
		return fmt.Errorf("after commit (the guest is parked here): %w", unexpected(r, "Resumed"))
	}
}
