// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package migrate

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/ferry-hv/ferry/api"
)

// orderSink is a fakeSink that keeps the order of its restores and
// discards.
type orderSink struct {
	*fakeSink
	mu  sync.Mutex
	log []string
}

func (o *orderSink) Restore(states []State) error {
	err := o.fakeSink.Restore(states)
	o.mu.Lock()
	o.log = append(o.log, "restore")
	o.mu.Unlock()
	return err
}

func (o *orderSink) Discard() {
	o.fakeSink.Discard()
	o.mu.Lock()
	o.log = append(o.log, "discard")
	o.mu.Unlock()
}

func (o *orderSink) events() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.log...)
}

// The operator aborts an incoming migration while the destination is
// restoring it: the machine it restored is discarded after the restore
// (not before it, leaving what the restore loaded live), once, and the
// source's guest runs on.
func TestOperatorAbortWhileRestoring(t *testing.T) {
	a, b := pair(t, smallFingerprint())
	sink := &orderSink{fakeSink: b.dst}
	id := NewID()
	var forced Verdict
	var ferr error
	b.dst.onRestore = func() {
		forced, ferr = b.l.Force(id, Aborted)
	}
	sconn, dconn := net.Pipe()
	s, r := sendReceive(t, context.Background(), api.MigrateRequest{ID: id.String()}, sconn, dconn, a.src, sink, nil, a.opts(), b.opts())
	if ferr != nil || forced != Aborted {
		t.Fatalf("the operator's abort: %v %v", forced, ferr)
	}
	if r.err == nil || s.rep.OK {
		t.Fatalf("receive %v, send %+v", r.err, s.rep)
	}
	if got := sink.events(); len(got) != 2 || got[0] != "restore" || got[1] != "discard" {
		t.Fatalf("destination: %v, want the restore then one discard", got)
	}
	settled(t, a, b, id.String(), Aborted)
	// A late Fail (or a second) discards nothing more.
	b.l.Fail(id, "again")
	if got := sink.events(); len(got) != 2 {
		t.Fatalf("destination after another Fail: %v", got)
	}
}

// An operator's abort while pages are still coming stops the stream at
// once (the source hears it), and the partial machine is discarded when
// the receiver has stopped.
func TestOperatorAbortWhileReceiving(t *testing.T) {
	a, b := pair(t, smallFingerprint())
	sink := &orderSink{fakeSink: b.dst}
	id := NewID()
	go func() {
		eventually(t, "the migration is received", func() bool {
			c, _ := b.l.Status()
			return c != nil && c.Phase == Receiving
		})
		b.l.Force(id, Aborted)
	}()
	step := WithTimeout(5 * time.Second)
	sconn, dconn := net.Pipe()
	start := time.Now()
	s, r := sendReceive(t, context.Background(), api.MigrateRequest{ID: id.String(), Bandwidth: 256 << 10}, sconn, dconn, a.src, sink, nil,
		append(a.opts(), step), append(b.opts(), step))
	if r.err == nil || s.rep.OK {
		t.Fatalf("receive %v, send %+v", r.err, s.rep)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("the abort took %v to stop the stream", took)
	}
	if got := sink.events(); len(got) != 1 || got[0] != "discard" {
		t.Fatalf("destination: %v, want one discard", got)
	}
	settled(t, a, b, id.String(), Aborted)
}
