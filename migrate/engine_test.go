// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package migrate

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-hv/ferry/api"
)

type sendResult struct {
	rep api.Report
	err error
}

type receiveResult struct {
	rep ReceiveReport
	err error
}

// migrate runs Receive on dconn and Send on sconn; once Send returns the
// source closes its end, as Ferry does.
func migrate(t *testing.T, ctx context.Context, sconn, dconn net.Conn, src Source, dst Sink, progress func(api.Progress), opts ...Option) (sendResult, receiveResult) {
	t.Helper()
	return migrateWith(t, ctx, api.MigrateRequest{}, sconn, dconn, src, dst, progress, opts...)
}

// migrateWith is migrate with the migration's settings.
func migrateWith(t *testing.T, ctx context.Context, set api.MigrateRequest, sconn, dconn net.Conn, src Source, dst Sink, progress func(api.Progress), opts ...Option) (sendResult, receiveResult) {
	t.Helper()
	if f, ok := src.(*fakeSource); ok {
		opts = append(opts, WithYield(f.yield))
	}
	return sendReceive(t, ctx, set, sconn, dconn, src, dst, progress, opts, opts)
}

// sendReceive runs Receive on dconn with recvOpts and Send on sconn with
// sendOpts; once Send returns the source closes its end, as Ferry does.
func sendReceive(t *testing.T, ctx context.Context, set api.MigrateRequest, sconn, dconn net.Conn, src Source, dst Sink, progress func(api.Progress), sendOpts, recvOpts []Option) (sendResult, receiveResult) {
	t.Helper()
	got := make(chan receiveResult, 1)
	go func() {
		rep, err := Receive(context.Background(), dconn, dst, recvOpts...)
		dconn.Close()
		got <- receiveResult{rep, err}
	}()
	rep, err := Send(ctx, sconn, src, set, progress, sendOpts...)
	sconn.Close()
	select {
	case r := <-got:
		return sendResult{rep, err}, r
	case <-time.After(20 * time.Second):
		t.Fatal("Receive did not return after Send did")
	}
	panic("unreachable")
}

func TestMigrate(t *testing.T) {
	fp := testFingerprint()
	src, dst, zero := newMachines(fp)
	var phases []string
	var last api.Progress
	progress := func(p api.Progress) {
		if len(phases) == 0 || phases[len(phases)-1] != p.Phase {
			phases = append(phases, p.Phase)
		}
		if p.PagesSent < last.PagesSent || p.BytesSent < last.BytesSent {
			t.Errorf("progress went backwards: %+v after %+v", p, last)
		}
		last = p
	}
	a, b := net.Pipe()
	s, r := migrate(t, context.Background(), a, b, src, dst, progress)
	if s.err != nil || r.err != nil {
		t.Fatalf("send: %v\nreceive: %v", s.err, r.err)
	}

	if err := src.mem.equal(dst.mem); err != nil {
		t.Fatal("destination RAM:", err)
	}
	if !reflect.DeepEqual(dst.restored, src.states) {
		t.Fatalf("restored %+v, want %+v", dst.restored, src.states)
	}
	if p, res, g := src.counts(); p != 1 || res != 0 || g != 1 {
		t.Fatalf("source: %d pauses, %d resumes, %d give-ups; want 1, 0, 1", p, res, g)
	}
	if rs, res, d := dst.counts(); rs != 1 || res != 1 || d != 0 {
		t.Fatalf("destination: %d restores, %d resumes, %d discards; want 1, 1, 0", rs, res, d)
	}
	if src.readsUntracked != 0 || src.readsOutside != 0 {
		t.Fatalf("%d pages read without dirty tracking, %d outside RAM", src.readsUntracked, src.readsOutside)
	}
	if src.tracks != 1 || src.untracks != 1 || !src.trackedAtPause || !src.trackedAtGiveUp {
		t.Fatalf("tracking: %d tracks, %d untracks, tracked at pause %v, at give-up %v", src.tracks, src.untracks, src.trackedAtPause, src.trackedAtGiveUp)
	}

	rep := s.rep
	total := fp.Pages()
	if !rep.OK || rep.Error != "" {
		t.Fatalf("report %+v", rep)
	}
	if rep.Pages != total || rep.ZeroPages != zero || rep.ZeroPages+rep.DataPages != rep.Pages {
		t.Fatalf("report: %d pages (%d zero, %d data), want %d (%d zero)", rep.Pages, rep.ZeroPages, rep.DataPages, total, zero)
	}
	if want := streamBytes(fp, src.states, rep.DataPages); rep.Bytes != want {
		t.Fatalf("report: %d bytes, want %d", rep.Bytes, want)
	}
	if rep.Downtime <= 0 || rep.Total < rep.Downtime || rep.RestoreTime <= 0 {
		t.Fatalf("report times: total %v, downtime %v, restore %v", rep.Total, rep.Downtime, rep.RestoreTime)
	}
	rr := r.rep
	if !rr.OK || rr.Bytes != rep.Bytes || rr.Pages != total || rr.ZeroPages != rep.ZeroPages || rr.DataPages != rep.DataPages {
		t.Fatalf("receive report %+v vs send report %+v", rr, rep)
	}
	if !reflect.DeepEqual(rr.States, []string{"cpu", "gic", "uart"}) || rr.Source.MIDR != fp.MIDR {
		t.Fatalf("receive report: states %v, source %+v", rr.States, rr.Source)
	}

	if len(rep.Rounds) != 2 || rep.Rounds[0].Pages != total || !rep.Rounds[1].Stopped || rep.Rounds[1].Pages != 0 || rep.Switch != "fits" {
		t.Fatalf("rounds of an idle guest: %+v, switch %q; want round 0 of every page and an empty stopped round", rep.Rounds, rep.Switch)
	}
	want := []string{PhaseHandshake, PhasePrecopy, PhaseStopped, PhaseCommitting, PhaseDone}
	if !reflect.DeepEqual(phases, want) {
		t.Fatalf("phases %v, want %v", phases, want)
	}
	if last.PagesSent != total || last.PagesTotal != total || last.BytesSent != rep.Bytes {
		t.Fatalf("last progress %+v", last)
	}
	t.Logf("%d pages (%d zero), %d bytes, total %v, downtime %v, restore %v", rep.Pages, rep.ZeroPages, rep.Bytes, rep.Total, rep.Downtime, rep.RestoreTime)
}

// streamBytes is the exact size of what the source sends for an idle
// guest: Hello, the Pages records, Sync, an empty stopped Round, the
// States, End and Commit.
func streamBytes(fp Fingerprint, states []State, dataPages uint64) uint64 {
	fp.Protocol = ProtocolVersion
	hello, _ := EncodeHello(fp, testSession())
	n := uint64(HeaderSize + len(hello))
	for _, r := range fp.RAM {
		for pages := r.Size / PageSize; pages > 0; pages -= min(pages, PagesPerRecord) {
			batch := min(pages, PagesPerRecord)
			n += HeaderSize + pagesHeader + (batch+7)/8
		}
	}
	n += dataPages * PageSize
	n += HeaderSize + HeaderSize + roundSize // Sync, the stopped Round
	for _, s := range states {
		p, _ := s.Encode()
		n += uint64(HeaderSize + len(p))
	}
	return n + HeaderSize + DigestSize + HeaderSize + 16 // End, Commit
}

func TestMigrateTCP(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Skip("no loopback:", err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		accepted <- c
	}()
	a, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b := <-accepted
	if b == nil {
		t.Fatal("accept failed")
	}
	fp := testFingerprint()
	src, dst, _ := newMachines(fp)
	s, r := migrate(t, context.Background(), a, b, src, dst, nil)
	if s.err != nil || r.err != nil {
		t.Fatalf("send: %v\nreceive: %v", s.err, r.err)
	}
	if err := src.mem.equal(dst.mem); err != nil {
		t.Fatal(err)
	}
	if _, res, g := src.counts(); res != 0 || g != 1 {
		t.Fatal("source not given up")
	}
	if _, res, _ := dst.counts(); res != 1 {
		t.Fatal("destination not resumed")
	}
	t.Logf("TCP: %d bytes, downtime %v", s.rep.Bytes, s.rep.Downtime)
}

// failed checks the outcome every failure must have: Send failed with a
// report saying so, the guest runs on the source (resumed once if it was
// paused, never given up), and the destination never resumed it.
func failed(t *testing.T, s sendResult, r receiveResult, src *fakeSource, dst *fakeSink, paused bool) {
	t.Helper()
	if s.err == nil || s.rep.OK || s.rep.Error != s.err.Error() {
		t.Fatalf("send: %v, report %+v", s.err, s.rep)
	}
	if r.err == nil || r.rep.OK {
		t.Fatalf("receive succeeded: %+v", r.rep)
	}
	p, res, g := src.counts()
	want := 0
	if paused {
		want = 1
	}
	if p != want || res != want || g != 0 || !src.running() {
		t.Fatalf("source: %d pauses, %d resumes, %d give-ups; want %d, %d, 0", p, res, g, want, want)
	}
	if src.tracking || src.untracks != src.tracks-btoi(src.trackErr != nil) {
		t.Fatalf("source: dirty tracking left on (%d tracks, %d untracks)", src.tracks, src.untracks)
	}
	if _, res, _ := dst.counts(); res != 0 {
		t.Fatal("destination resumed the guest")
	}
	t.Logf("send: %v\nreceive: %v", s.err, r.err)
}

func TestRefusedIncompatible(t *testing.T) {
	src, dst, _ := newMachines(smallFingerprint())
	dst.fp.MIDR = 0x410fd034 // a Cortex-A53
	a, b := net.Pipe()
	s, r := migrate(t, context.Background(), a, b, src, dst, nil)
	failed(t, s, r, src, dst, false)
	if !errors.Is(s.err, ErrRefused) || !strings.Contains(s.err.Error(), "MIDR_EL1: source 0x410fd083, destination 0x410fd034") {
		t.Fatalf("send: %v", s.err)
	}
	if !errors.Is(r.err, ErrIncompatible) {
		t.Fatalf("receive: %v", r.err)
	}
	if rs, _, d := dst.counts(); rs != 0 || d != 0 || dst.writes != 0 {
		t.Fatal("refused, but the destination did something")
	}
}

// A source whose GIC state is newer than the destination reads is refused
// in Hello: no page is sent, the guest runs on, and both sides name the
// state and the versions.
func TestRefusedNewerState(t *testing.T) {
	src, dst, _ := newMachines(smallFingerprint())
	src.fp.States = []StateVersion{{"cpu", 1, 1}, {"gic", 3, 1}, {"uart", 1, 1}}
	a, b := net.Pipe()
	s, r := migrate(t, context.Background(), a, b, src, dst, nil)
	failed(t, s, r, src, dst, false)
	want := "state gic: source version 3, destination reads 1 to 2: a newer Ferry's state; upgrade the destination"
	if !errors.Is(s.err, ErrRefused) || !strings.Contains(s.err.Error(), want) {
		t.Fatalf("send: %v", s.err)
	}
	if !errors.Is(r.err, ErrIncompatible) || !strings.Contains(r.err.Error(), want) {
		t.Fatalf("receive: %v", r.err)
	}
	if rs, _, d := dst.counts(); rs != 0 || d != 0 || dst.writes != 0 {
		t.Fatal("refused, but the destination did something")
	}
}

// cutConn closes the connection once after bytes have been written.
type cutConn struct {
	net.Conn
	after, n int
}

func (c *cutConn) Write(p []byte) (int, error) {
	if c.n+len(p) <= c.after {
		n, err := c.Conn.Write(p)
		c.n += n
		return n, err
	}
	n, _ := c.Conn.Write(p[:c.after-c.n])
	c.n += n
	c.Conn.Close()
	return n, errors.New("cut")
}

func TestConnectionCutDuringPages(t *testing.T) {
	src, dst, _ := newMachines(testFingerprint())
	a, b := net.Pipe()
	s, r := migrate(t, context.Background(), &cutConn{Conn: a, after: 10<<20 + 123}, b, src, dst, nil)
	failed(t, s, r, src, dst, false)
	if !strings.Contains(s.err.Error(), "round 0: sending pages") {
		t.Fatalf("send: %v", s.err)
	}
	if s.rep.Total <= 0 || s.rep.Downtime != 0 || s.rep.Bytes < 10<<20 {
		t.Fatalf("a failed attempt's report must say how long it took (and the guest never stopped in round 0): %+v", s.rep)
	}
	if rs, _, d := dst.counts(); rs != 0 || d != 1 || dst.writes == 0 {
		t.Fatalf("destination: %d restores, %d discards, %d pages written", rs, d, dst.writes)
	}
}

// flipConn flips one byte of what is written, at stream offset at.
type flipConn struct {
	net.Conn
	at, n int
}

func (c *flipConn) Write(p []byte) (int, error) {
	if c.at >= c.n && c.at < c.n+len(p) {
		q := append([]byte(nil), p...)
		q[c.at-c.n] ^= 0x40
		p = q
	}
	n, err := c.Conn.Write(p)
	c.n += n
	return n, err
}

func TestTamperedStream(t *testing.T) {
	fp := smallFingerprint()
	src, dst, _ := newMachines(fp)
	fp.Protocol = ProtocolVersion
	hello, _ := EncodeHello(fp, testSession())
	// Into the first non-zero page (page 1) of the first Pages record.
	at := HeaderSize + len(hello) + HeaderSize + pagesHeader + PagesPerRecord/8 + 100
	a, b := net.Pipe()
	s, r := migrate(t, context.Background(), &flipConn{Conn: a, at: at}, b, src, dst, nil)
	failed(t, s, r, src, dst, true)
	if !errors.Is(s.err, ErrAborted) || !strings.Contains(s.err.Error(), `digest mismatch"`) {
		t.Fatalf("send: %v", s.err)
	}
	if !errors.Is(r.err, ErrDigest) {
		t.Fatalf("receive: %v", r.err)
	}
	if rs, _, d := dst.counts(); rs != 0 || d != 1 {
		t.Fatalf("destination: %d restores, %d discards; want 0, 1", rs, d)
	}
}

func TestRestoreFails(t *testing.T) {
	src, dst, _ := newMachines(smallFingerprint())
	dst.restoreErr = errors.New("gic: 1024 SPIs, this board has 988")
	a, b := net.Pipe()
	s, r := migrate(t, context.Background(), a, b, src, dst, nil)
	failed(t, s, r, src, dst, true)
	if !errors.Is(s.err, ErrAborted) || !strings.Contains(s.err.Error(), "1024 SPIs, this board has 988") {
		t.Fatalf("send: %v", s.err)
	}
	if _, _, d := dst.counts(); d != 1 {
		t.Fatal("destination did not discard")
	}
}

func TestPauseFails(t *testing.T) {
	src, dst, _ := newMachines(smallFingerprint())
	src.pauseErr = errors.New("vCPU did not stop")
	a, b := net.Pipe()
	s, r := migrate(t, context.Background(), a, b, src, dst, nil)
	if p, res, g := src.counts(); p != 1 || res != 0 || g != 0 || !src.running() {
		t.Fatalf("source: %d pauses, %d resumes, %d give-ups; want 1, 0, 0", p, res, g)
	}
	src.pauses = 0 // never stopped: failed() checks the rest as for a refusal
	failed(t, s, r, src, dst, false)
	if !strings.Contains(s.err.Error(), "stopping the guest: vCPU did not stop") {
		t.Fatalf("send: %v", s.err)
	}
	if !errors.Is(r.err, ErrAborted) {
		t.Fatalf("receive: %v", r.err)
	}
}

func TestStatesFail(t *testing.T) {
	src, dst, _ := newMachines(smallFingerprint())
	src.statesErr = errors.New("gic: redistributor asleep")
	a, b := net.Pipe()
	s, r := migrate(t, context.Background(), a, b, src, dst, nil)
	failed(t, s, r, src, dst, true)
	if !strings.Contains(s.err.Error(), "redistributor asleep") || !errors.Is(r.err, ErrAborted) {
		t.Fatalf("send: %v\nreceive: %v", s.err, r.err)
	}
	if rs, _, d := dst.counts(); rs != 0 || d != 1 {
		t.Fatal("destination restored or kept a partial guest")
	}
}

func TestSendCancelled(t *testing.T) {
	src, dst, _ := newMachines(testFingerprint())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	progress := func(p api.Progress) {
		if p.Phase == PhasePrecopy && p.PagesSent > 2000 {
			cancel()
		}
	}
	a, b := net.Pipe()
	s, r := migrate(t, ctx, a, b, src, dst, progress)
	failed(t, s, r, src, dst, false)
	if !errors.Is(s.err, context.Canceled) {
		t.Fatalf("send: %v", s.err)
	}
	if rs, _, d := dst.counts(); rs != 0 || d != 1 {
		t.Fatal("destination restored or kept a partial guest")
	}
}

// A destination that accepts the connection and never answers: the source
// gives up after the timeout, guest never paused.
func TestSendDeadPeer(t *testing.T) {
	src, _, _ := newMachines(smallFingerprint())
	a, b := net.Pipe()
	defer b.Close()
	go io.Copy(io.Discard, b)
	start := time.Now()
	rep, err := Send(context.Background(), a, src, api.MigrateRequest{}, nil, WithTimeout(200*time.Millisecond))
	if !errors.Is(err, os.ErrDeadlineExceeded) || rep.OK || !strings.Contains(err.Error(), "hello reply") {
		t.Fatalf("got %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("took too long")
	}
	if p, res, _ := src.counts(); p != 0 || res != 0 || !src.running() {
		t.Fatal("guest paused for a dead peer")
	}
}

// replayConn gives Receive a prepared stream and records its replies.
type replayConn struct {
	io.Reader
	mu  sync.Mutex
	out []byte
}

func (c *replayConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.out = append(c.out, p...)
	return len(p), nil
}

func (c *replayConn) replies(t *testing.T) []Record {
	var rs []Record
	r := strings.NewReader(string(c.out))
	for r.Len() > 0 {
		rec, err := ReadRecord(r, nil)
		if err != nil {
			t.Fatalf("reply stream: %v", err)
		}
		rs = append(rs, rec)
	}
	return rs
}

// Streams a hostile or broken source could send. Each must end in an
// error naming the problem, an Abort (or a refusing HelloReply) back to
// the source, nothing restored, nothing resumed, nothing outside RAM.
func TestReceiveRefusesBadStreams(t *testing.T) {
	fp := smallFingerprint()
	stateCPU, _ := State{Name: "cpu", Version: 1}.Encode()
	pagesAt := func(base uint64, n int) []byte {
		p, _, _ := EncodePages(nil, base, n, patterned)
		return p
	}
	r0, r1 := fp.RAM[0], fp.RAM[1]
	cases := []struct {
		name   string
		stream func(sc *script)
		want   error
		says   string
		refuse bool // refused at Hello: no Abort, no Discard
	}{
		{"not hello first", func(sc *script) { sc.send(t, TypePages, pagesAt(r0.Base, 1)) }, ErrProtocol, "got Pages, want Hello", false},
		{"bad magic", func(sc *script) {
			p, _ := (Fingerprint{Protocol: 1, PageSize: PageSize}).Encode()
			p[3] = 'X'
			sc.send(t, TypeHello, p)
		}, ErrMagic, "bad magic", true},
		{"other protocol", func(sc *script) {
			f := fp
			f.Protocol = 1
			p, _ := f.Encode()
			sc.send(t, TypeHello, p)
		}, ErrIncompatible, fmt.Sprintf("protocol version: source 1, destination %d", ProtocolVersion), true},
		{"pages outside RAM", func(sc *script) {
			sc.hello(t, fp)
			sc.send(t, TypePages, pagesAt(r1.End(), 1))
		}, ErrInvalid, "not inside guest RAM", false},
		{"pages skipped", func(sc *script) {
			sc.hello(t, fp)
			sc.send(t, TypePages, pagesAt(r0.Base+PageSize, 4))
		}, ErrProtocol, "want pages from 0x40000000", false},
		{"pages twice", func(sc *script) {
			sc.hello(t, fp)
			sc.send(t, TypePages, pagesAt(r0.Base, 4))
			sc.send(t, TypePages, pagesAt(r0.Base, 4))
		}, ErrProtocol, "want pages from 0x40004000", false},
		{"end before all pages", func(sc *script) {
			sc.hello(t, fp)
			sc.pages(t, fp.RAM[:1])
			sc.end(t)
		}, ErrProtocol, "End record before the stopped round was complete (round 0, round 0 at page 0x80000000)", false},
		{"state before round 0 ends", func(sc *script) {
			sc.hello(t, fp)
			sc.pages(t, fp.RAM[:1])
			sc.send(t, TypeState, stateCPU)
		}, ErrProtocol, "State record before the stopped round was complete (round 0, round 0 at page 0x80000000)", false},
		{"state while the guest runs", func(sc *script) {
			sc.hello(t, fp)
			sc.pages(t, fp.RAM)
			sc.send(t, TypeState, stateCPU)
		}, ErrProtocol, "State record before the stopped round was complete (round 0, the guest was never stopped)", false},
		{"end while the guest runs", func(sc *script) {
			sc.hello(t, fp)
			sc.pages(t, fp.RAM)
			sc.send(t, TypeRound, RoundHeader{N: 1}.Encode())
			sc.end(t)
		}, ErrProtocol, "End record before the stopped round was complete (round 1, the guest was never stopped)", false},
		{"state twice", func(sc *script) {
			sc.hello(t, fp)
			sc.pages(t, fp.RAM)
			sc.stopped(t, 1)
			sc.send(t, TypeState, stateCPU)
			sc.send(t, TypeState, stateCPU)
		}, ErrProtocol, `State record "cpu" twice`, false},
		{"round before round 0 ends", func(sc *script) {
			sc.hello(t, fp)
			sc.pages(t, fp.RAM[:1])
			sc.send(t, TypeRound, RoundHeader{N: 1, Pages: 1}.Encode())
		}, ErrProtocol, "Round record 1 before round 0 was complete (round 0 at page 0x80000000)", false},
		{"round skipped", func(sc *script) {
			sc.hello(t, fp)
			sc.pages(t, fp.RAM)
			sc.send(t, TypeRound, RoundHeader{N: 2, Pages: 1}.Encode())
		}, ErrProtocol, "Round record 2 after round 0", false},
		{"round 0 as a round", func(sc *script) {
			sc.hello(t, fp)
			sc.pages(t, fp.RAM)
			sc.send(t, TypeRound, RoundHeader{N: 0, Pages: 1}.Encode())
		}, ErrInvalid, "Round record: round: invalid field: round 0 is sent as Pages records", false},
		{"round bigger than RAM", func(sc *script) {
			sc.hello(t, fp)
			sc.pages(t, fp.RAM)
			sc.send(t, TypeRound, RoundHeader{N: 1, Pages: 1 << 40}.Encode())
		}, ErrProtocol, "Round record 1 announces 1099511627776 pages, guest RAM has 517", false},
		{"bad stopped flag", func(sc *script) {
			sc.hello(t, fp)
			sc.pages(t, fp.RAM)
			p := RoundHeader{N: 1}.Encode()
			p[12] = 7
			sc.send(t, TypeRound, p)
		}, ErrInvalid, "stopped flag 7", false},
		{"dirty before any round", func(sc *script) {
			sc.hello(t, fp)
			sc.pages(t, fp.RAM)
			sc.send(t, TypeDirty, dirtyAt(r0.Base))
		}, ErrProtocol, "Dirty record before any Round record", false},
		{"pages in a later round", func(sc *script) {
			sc.hello(t, fp)
			sc.pages(t, fp.RAM)
			sc.send(t, TypeRound, RoundHeader{N: 1, Pages: 1}.Encode())
			sc.send(t, TypePages, pagesAt(r0.Base, 1))
		}, ErrProtocol, "Pages record in round 1", false},
		{"more dirty pages than announced", func(sc *script) {
			sc.hello(t, fp)
			sc.pages(t, fp.RAM)
			sc.send(t, TypeRound, RoundHeader{N: 1, Pages: 2, Stopped: true}.Encode())
			sc.send(t, TypeDirty, dirtyAt(r0.Base, r0.Base+PageSize, r1.Base))
		}, ErrProtocol, "Dirty record of round 1: 3 pages, the round announced 2 and 0 have arrived", false},
		{"fewer dirty pages than announced", func(sc *script) {
			sc.hello(t, fp)
			sc.pages(t, fp.RAM)
			sc.send(t, TypeRound, RoundHeader{N: 1, Pages: 2, Stopped: true}.Encode())
			sc.send(t, TypeDirty, dirtyAt(r0.Base))
			sc.send(t, TypeState, stateCPU)
		}, ErrProtocol, "State record before the stopped round was complete (round 1, 1 of 2 pages arrived)", false},
		{"dirty pages out of order", func(sc *script) {
			sc.hello(t, fp)
			sc.pages(t, fp.RAM)
			sc.send(t, TypeRound, RoundHeader{N: 1, Pages: 2}.Encode())
			sc.send(t, TypeDirty, dirtyRaw([]uint64{r1.Base, r0.Base}))
		}, ErrProtocol, "page 0x40000000 after 0x80000000", false},
		{"dirty page twice in a round", func(sc *script) {
			sc.hello(t, fp)
			sc.pages(t, fp.RAM)
			sc.send(t, TypeRound, RoundHeader{N: 1, Pages: 2}.Encode())
			sc.send(t, TypeDirty, dirtyAt(r0.Base))
			sc.send(t, TypeDirty, dirtyAt(r0.Base))
		}, ErrProtocol, "sent twice in a round", false},
		{"dirty page outside RAM", func(sc *script) {
			sc.hello(t, fp)
			sc.pages(t, fp.RAM)
			sc.send(t, TypeRound, RoundHeader{N: 1, Pages: 1}.Encode())
			sc.send(t, TypeDirty, dirtyRaw([]uint64{r1.End()}))
		}, ErrInvalid, "page 0x80005000 not inside guest RAM", false},
		{"dirty page unaligned", func(sc *script) {
			sc.hello(t, fp)
			sc.pages(t, fp.RAM)
			sc.send(t, TypeRound, RoundHeader{N: 1, Pages: 1}.Encode())
			sc.send(t, TypeDirty, dirtyRaw([]uint64{r0.Base + 8}))
		}, ErrInvalid, "page 0x40000008 not 4096-byte aligned", false},
		{"sync in the middle of a round", func(sc *script) {
			sc.hello(t, fp)
			sc.pages(t, fp.RAM)
			sc.send(t, TypeRound, RoundHeader{N: 1, Pages: 2}.Encode())
			sc.send(t, TypeDirty, dirtyAt(r0.Base))
			sc.send(t, TypeSync, nil)
		}, ErrProtocol, "Sync record in round 1 (1 of 2 pages arrived)", false},
		{"sync after the stop", func(sc *script) {
			sc.hello(t, fp)
			sc.pages(t, fp.RAM)
			sc.stopped(t, 1)
			sc.send(t, TypeSync, nil)
		}, ErrProtocol, "Sync record in round 1", false},
		{"round after the stopped round", func(sc *script) {
			sc.hello(t, fp)
			sc.pages(t, fp.RAM)
			sc.stopped(t, 1)
			sc.send(t, TypeRound, RoundHeader{N: 2}.Encode())
		}, ErrProtocol, "Round record 2 after the stopped round 1", false},
		{"round after end", func(sc *script) {
			sc.hello(t, fp)
			sc.pages(t, fp.RAM)
			sc.stopped(t, 1)
			sc.send(t, TypeState, stateCPU)
			sc.end(t)
			sc.send(t, TypeRound, RoundHeader{N: 2}.Encode())
		}, ErrProtocol, "got Round, want Commit", false},
		{"second end", func(sc *script) {
			sc.hello(t, fp)
			sc.pages(t, fp.RAM)
			sc.stopped(t, 1)
			sc.send(t, TypeState, stateCPU)
			sc.end(t)
			sc.end(t)
		}, ErrProtocol, "got End, want Commit", false},
		{"wrong digest", func(sc *script) {
			sc.hello(t, fp)
			sc.pages(t, fp.RAM)
			sc.send(t, TypeEnd, make([]byte, DigestSize))
		}, ErrDigest, "digest mismatch", false},
		{"short digest", func(sc *script) {
			sc.hello(t, fp)
			sc.pages(t, fp.RAM)
			sc.send(t, TypeEnd, make([]byte, 3))
		}, ErrDigest, "digest mismatch", false},
		{"unknown type", func(sc *script) {
			sc.hello(t, fp)
			sc.raw(header(0x42, 1, 0))
		}, ErrUnknownType, "0x0042", false},
		{"oversize", func(sc *script) {
			sc.hello(t, fp)
			sc.raw(header(TypePages, 1, uint32(MaxPayload(TypePages)+1)))
		}, ErrTooLong, "Pages record of 2097229 bytes, limit 2097228", false},
		{"bad version", func(sc *script) {
			sc.hello(t, fp)
			sc.raw(header(TypePages, 9, 0))
		}, ErrVersion, "Pages record version 9", false},
		{"truncated", func(sc *script) {
			sc.hello(t, fp)
			sc.raw(header(TypePages, 1, 100))
			sc.raw(make([]byte, 50))
		}, ErrTruncated, "got 50 of 100", false},
		{"commit before ack", func(sc *script) {
			sc.hello(t, fp)
			sc.commit(t)
		}, ErrProtocol, "got Commit", false},
		{"source aborts", func(sc *script) {
			sc.hello(t, fp)
			sc.pages(t, fp.RAM[:1])
			sc.send(t, TypeAbort, EncodeAbort("operator cancelled"))
		}, ErrAborted, "operator cancelled", false},
		{"commit without end", func(sc *script) {
			sc.hello(t, fp)
			sc.pages(t, fp.RAM)
			sc.stopped(t, 1)
			sc.send(t, TypeState, stateCPU)
			sc.commit(t)
		}, ErrProtocol, "got Commit", false},
	}
	// These come after a good End: the guest was restored and Ack sent,
	// and is kept, in doubt -- the source may have decided either way.
	acked := map[string]bool{"round after end": true, "second end": true}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var in strings.Builder
			sc := newScript(&bufRW{w: &in})
			c.stream(sc)
			if sc.err != nil {
				t.Fatal(sc.err)
			}
			_, dst, _ := newMachines(fp)
			conn := &replayConn{Reader: strings.NewReader(in.String())}
			rep, err := Receive(context.Background(), conn, dst)
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.says) || rep.OK || rep.Error != err.Error() {
				t.Fatalf("got %v\nwant %v saying %q", err, c.want, c.says)
			}
			rs, res, d := dst.counts()
			if rs != btoi(acked[c.name]) || res != 0 || dst.outside != 0 {
				t.Fatalf("%d restores, %d resumes, %d writes outside RAM", rs, res, dst.outside)
			}
			replies := conn.replies(t)
			last := replies[len(replies)-1]
			switch {
			case acked[c.name]:
				if !errors.Is(err, ErrInDoubt) || d != 0 || last.Type != TypeAck || rep.Verdict != "unknown" {
					t.Fatalf("after Ack: %v, %d discards, last reply %v, verdict %s", err, d, last.Type, rep.Verdict)
				}
			case c.refuse:
				ok, why, _ := DecodeHelloReply(last.Payload)
				if last.Type != TypeHelloReply || ok || why == "" || d != 0 {
					t.Fatalf("last reply %v %q (accepted %v), %d discards", last.Type, why, ok, d)
				}
			case c.want == ErrAborted:
				if d != 1 || last.Type == TypeAbort {
					t.Fatalf("%d discards; answered an abort with %v", d, last.Type)
				}
			default:
				why, _ := DecodeAbort(last.Payload)
				if last.Type != TypeAbort || !strings.Contains(why, c.says) {
					t.Fatalf("last reply %v %q", last.Type, why)
				}
				if accepted := replies[0].Type == TypeHelloReply; accepted != (d == 1) {
					t.Fatalf("accepted %v, %d discards", accepted, d)
				}
			}
		})
	}
}

// bufRW is a write-only io.ReadWriter for building streams.
type bufRW struct{ w io.Writer }

func (b *bufRW) Write(p []byte) (int, error) { return b.w.Write(p) }
func (b *bufRW) Read([]byte) (int, error)    { return 0, io.EOF }

// dirtyAt is a Dirty payload of patterned pages at ipas.
func dirtyAt(ipas ...uint64) []byte {
	v := viewer{}
	for _, ipa := range ipas {
		p := make([]byte, PageSize)
		patterned(ipa, p)
		v[ipa] = p
	}
	p, _, err := EncodeDirty(nil, ipas, v)
	if err != nil {
		panic(err)
	}
	return p
}

// dirtyRaw is a Dirty payload of zero pages at ipas, in the order given.
func dirtyRaw(ipas []uint64) []byte {
	p := binary.LittleEndian.AppendUint16(nil, uint16(len(ipas)))
	for _, ipa := range ipas {
		p = binary.LittleEndian.AppendUint64(p, ipa)
	}
	bm := make([]byte, (len(ipas)+7)/8)
	for i := range ipas {
		bm[i/8] |= 1 << (i % 8)
	}
	return append(p, bm...)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// A destination whose RAM does not keep a page it was sent fails the
// migration before the Ack, naming the page; the guest runs on at the
// source.
func TestDestinationRAMDoesNotHold(t *testing.T) {
	src, dst, _ := newMachines(smallFingerprint())
	dst.stuck = smallFingerprint().RAM[1].Base + 2*PageSize
	a, b := net.Pipe()
	s, r := migrate(t, context.Background(), a, b, src, dst, nil)
	failed(t, s, r, src, dst, false)
	if !errors.Is(r.err, ErrVerify) || !strings.Contains(r.err.Error(), "0x80002000") {
		t.Fatalf("receive: %v", r.err)
	}
}
