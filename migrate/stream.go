// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package migrate

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"sync"
	"time"

	"github.com/ferry-hv/ferry/api"
)

// DigestSize is the size of the End payload: a CRC32C of the stream. The
// stream is already authenticated and ordered by TLS between two boards
// that proved who they are, so the digest guards only against Ferry's own
// bugs (a page encoded from the wrong place, a record dropped): a cheap
// checksum does that, a cryptographic hash would only cost (see
// docs/decisions.md).
const DigestSize = 4

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// DefaultTimeout bounds every step (one record read or written, the wait
// for Ack, Commit or Resumed) unless WithTimeout says otherwise.
const DefaultTimeout = 30 * time.Second

// bufSize is the size of the buffered writer and reader on the connection:
// large enough that a Pages record goes out in a few writes.
const bufSize = 256 << 10

// Option tunes Send or Receive.
type Option func(*config)

type config struct {
	timeout   time.Duration
	yield     func()
	bandwidth uint64
	ledger    *Ledger
	peer      string
	dial      func(context.Context) (io.ReadWriteCloser, error)
	fault     func(step string)
}

// FaultPoints are the steps at which Send (the first six) and Receive (the
// last three) call WithFault's hook: Hello answered, the start of round 0
// and of round 1, the guest stopped, the Ack in (the source decided
// Committed, before Commit leaves), Commit sent (before Resumed comes);
// the guest accepted, prepared (Ack sent), resumed (before Resumed leaves).
var FaultPoints = []string{"hello", "round0", "round1", "stopped", "acked", "committed", "receiving", "prepared", "resumed"}

// WithFault has Send and Receive call hook at each of FaultPoints, on
// their goroutine: a test that holds there can cut the link or kill the
// board at that step.
func WithFault(hook func(step string)) Option { return func(c *config) { c.fault = hook } }

func (c config) at(step string) {
	if c.fault != nil {
		c.fault(step)
	}
}

// WithLedger has Send or Receive record the migration in the board's
// ledger, where the listener and the operator find it (without it each
// call has a ledger of its own).
func WithLedger(l *Ledger) Option { return func(c *config) { c.ledger = l } }

// WithPeer names the other board (its certificate's name): only it may
// tell this board the verdict, or ask for it.
func WithPeer(name string) Option { return func(c *config) { c.peer = name } }

// WithDial says how to reach the other board's migration listener again
// once the stream is lost in doubt: a committing source tells the
// destination the verdict, a prepared destination asks the source for
// it, over new connections, with back-off, until the verdict is known.
func WithDial(dial func(context.Context) (io.ReadWriteCloser, error)) Option {
	return func(c *config) { c.dial = dial }
}

// WithYield has Send call yield between two pieces of work while the guest
// runs (between records, and between two writes to the connection), so
// that a machine sharing its CPU with the guest can give it back.
func WithYield(yield func()) Option { return func(c *config) { c.yield = yield } }

// WithBandwidth caps what Send writes to bps bytes per second (0: no cap).
func WithBandwidth(bps uint64) Option { return func(c *config) { c.bandwidth = bps } }

// WithTimeout sets the longest Send or Receive waits for any one step
// before it gives up on the peer (DefaultTimeout if not given). It takes
// effect only if the connection has SetDeadline (a net.Conn does).
func WithTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.timeout = d
		}
	}
}

func newConfig(opts []Option) config {
	c := config{timeout: DefaultTimeout}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// inDigest says whether records of type t are covered by the End digest:
// everything the source sends from Hello up to End.
func inDigest(t RecordType) bool {
	return t == TypeHello || t == TypePages || t == TypeRound || t == TypeDirty || t == TypeSync || t == TypeState
}

type deadliner interface{ SetDeadline(time.Time) error }

// stream is one side's view of the connection: buffered, counted, hashed,
// every step bounded by a deadline and interrupted when ctx is done.
type stream struct {
	ctx     context.Context
	conn    io.ReadWriter
	dl      deadliner // nil: the connection has no deadlines
	timeout time.Duration

	bw    *bufio.Writer
	br    *bufio.Reader
	sent  counter
	recvd counter
	sum   hash.Hash32
	buf   []byte // reused for incoming payloads
	yield func()
	costs api.StreamCosts // where the sender's time went

	mu       sync.Mutex
	finished bool // no more interrupts: the step is the last, best-effort one
	stop     func() bool
}

type counter struct {
	n  uint64
	rw io.ReadWriter

	yield     func() // nil: never
	yielded   time.Duration
	bandwidth uint64 // bytes/s, 0: no cap
	start     time.Time
}

// yieldChunk is the most Write hands the connection between two yields:
// what TLS seals and the netstack sends in well under a millisecond of
// Ferry's slice on the emulated board.
const yieldChunk = 32 << 10

// Write writes p in chunks of at most yieldChunk (when it yields), before
// each waiting as long as the bandwidth cap asks and giving the CPU back
// if the machine wants it.
func (c *counter) Write(p []byte) (int, error) {
	if c.yield == nil && c.bandwidth == 0 {
		return c.write(p)
	}
	var n int
	for len(p) > 0 {
		k, err := c.write(p[:min(len(p), yieldChunk)])
		n += k
		if err != nil {
			return n, err
		}
		p = p[k:]
	}
	return n, nil
}

func (c *counter) write(p []byte) (int, error) {
	if c.bandwidth > 0 {
		if c.start.IsZero() {
			c.start = time.Now()
		}
		due := c.start.Add(time.Duration(float64(c.n) / float64(c.bandwidth) * float64(time.Second)))
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
	}
	if c.yield != nil {
		t := time.Now()
		c.yield()
		c.yielded += time.Since(t)
	}
	n, err := c.rw.Write(p)
	c.n += uint64(n)
	return n, err
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.rw.Read(p)
	c.n += uint64(n)
	return n, err
}

func newStream(ctx context.Context, conn io.ReadWriter, c config) *stream {
	s := &stream{ctx: ctx, conn: conn, timeout: c.timeout, sum: crc32.New(castagnoli), yield: c.yield}
	s.dl, _ = conn.(deadliner)
	s.sent.rw, s.recvd.rw = conn, conn
	s.sent.yield, s.sent.bandwidth = c.yield, c.bandwidth
	s.bw = bufio.NewWriterSize(&s.sent, bufSize)
	s.br = bufio.NewReaderSize(&s.recvd, bufSize)
	s.stop = context.AfterFunc(ctx, s.interrupt)
	return s
}

var longAgo = time.Unix(1, 0)

// interrupt unblocks any read or write in progress when ctx is done: a
// deadline in the past, or closing a connection without deadlines.
func (s *stream) interrupt() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.finished {
		return
	}
	if s.dl != nil {
		s.dl.SetDeadline(longAgo)
	} else if c, ok := s.conn.(io.Closer); ok {
		c.Close()
	}
}

// done is the context's error with its cause (a cancel says who).
func (s *stream) done() error {
	err := s.ctx.Err()
	if err == nil {
		return nil
	}
	if c := context.Cause(s.ctx); c != nil && c != err {
		return fmt.Errorf("%w: %w", err, c)
	}
	return err
}

// arm starts a step of at most d.
func (s *stream) arm(d time.Duration) error {
	if err := s.done(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dl != nil && !s.finished && s.ctx.Err() == nil {
		s.dl.SetDeadline(time.Now().Add(d))
	}
	return nil
}

// finish ends the interruptions by ctx; the best-effort messages after it
// (Abort, Resumed) get their own short deadline.
func (s *stream) finish(d time.Duration) {
	s.stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.finished = true
	if s.dl != nil {
		s.dl.SetDeadline(time.Now().Add(d))
	}
}

// close clears the deadline the stream left on the connection.
func (s *stream) close() {
	s.stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.finished = true
	if s.dl != nil {
		s.dl.SetDeadline(time.Time{})
	}
}

// cause turns an I/O error into the error worth reporting: the context's
// if it was cancelled, otherwise err itself.
func (s *stream) cause(err error) error {
	if cerr := s.done(); cerr != nil && !errors.Is(err, s.ctx.Err()) {
		return fmt.Errorf("%w (%v)", cerr, err)
	}
	return err
}

// write buffers one record (hashing it if the digest covers it).
func (s *stream) write(t RecordType, payload []byte) error {
	if err := s.arm(s.timeout); err != nil {
		return err
	}
	if len(payload) > MaxPayload(t) {
		return fmt.Errorf("%w: %v record of %d bytes, limit %d", ErrTooLong, t, len(payload), MaxPayload(t))
	}
	t0 := time.Now()
	if inDigest(t) {
		var h [HeaderSize]byte
		s.sum.Write(appendHeader(h[:0], t, t.Version(), len(payload)))
		s.sum.Write(payload)
	}
	t1, y := time.Now(), s.sent.yielded
	err := writeRecord(s.bw, t, t.Version(), payload)
	s.costs.Digest += t1.Sub(t0)
	s.costs.Write += time.Since(t1) - (s.sent.yielded - y)
	return s.cause(err)
}

// flush sends what is buffered.
func (s *stream) flush() error {
	if err := s.arm(s.timeout); err != nil {
		return err
	}
	t, y := time.Now(), s.sent.yielded
	err := s.bw.Flush()
	s.costs.Write += time.Since(t) - (s.sent.yielded - y)
	return s.cause(err)
}

// send writes one record and flushes.
func (s *stream) send(t RecordType, payload []byte) error {
	if err := s.write(t, payload); err != nil {
		return err
	}
	return s.flush()
}

// read reads one record, waiting at most d. Its payload is valid until the
// next read.
func (s *stream) read(d time.Duration) (Record, error) {
	if err := s.arm(d); err != nil {
		return Record{}, err
	}
	r, err := ReadRecord(s.br, s.buf)
	if err != nil {
		return Record{}, s.cause(err)
	}
	if cap(r.Payload) > cap(s.buf) {
		s.buf = r.Payload[:0]
	}
	if inDigest(r.Type) {
		var h [HeaderSize]byte
		s.sum.Write(appendHeader(h[:0], r.Type, r.Version, len(r.Payload)))
		s.sum.Write(r.Payload)
	}
	return r, nil
}

// digest is the CRC32C of the records hashed so far.
func (s *stream) digest() []byte { return binary.LittleEndian.AppendUint32(nil, s.sum.Sum32()) }

// pause gives the CPU back if the machine wants it (WithYield).
func (s *stream) pause() {
	if s.yield != nil {
		t := time.Now()
		s.yield()
		s.sent.yielded += time.Since(t)
	}
}

// abort tells the peer the migration is off, best effort: within a short
// deadline, ignoring errors (the connection may be what failed).
func (s *stream) abort(why string) {
	s.finish(min(s.timeout, time.Second))
	if writeRecord(s.bw, TypeAbort, TypeAbort.Version(), EncodeAbort(why)) == nil {
		s.bw.Flush()
	}
}

// unexpected is the error for a record that has no place at this step.
func unexpected(r Record, want string) error {
	if r.Type == TypeAbort {
		why, err := DecodeAbort(r.Payload)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrAborted, err)
		}
		return fmt.Errorf("%w: %q", ErrAborted, why)
	}
	return fmt.Errorf("%w: got %v, want %s", ErrProtocol, r.Type, want)
}
