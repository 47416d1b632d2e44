// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package pki

import (
	"sync"
	"time"
)

// floor is the newest time a node knows has passed, from what the CA
// signed (its own certificate's start, the CA's revocation list's issue),
// advanced by the time it has run since it learned it: a board whose
// real-time clock reads earlier (or that has none) still sees time pass,
// and a certificate that expired before then is refused. (A peer's
// certificate would add nothing: it is taken only if it started before
// the time the board checks it at.)
type floor struct {
	mu    sync.Mutex
	t     time.Time                     // the newest time known to have passed
	at    time.Time                     // when it was learned (with its monotonic reading)
	since func(time.Time) time.Duration // time.Since; tests set it
}

// raise learns that t has passed.
func (f *floor) raise(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t.After(f.nowLocked()) {
		f.t, f.at = t, time.Now()
	}
}

// now is the floor as of now.
func (f *floor) now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.nowLocked()
}

func (f *floor) nowLocked() time.Time {
	if f.t.IsZero() {
		return f.t
	}
	since := time.Since
	if f.since != nil {
		since = f.since
	}
	return f.t.Add(max(since(f.at), 0))
}

// Clock is the time a board checks certificates against (Options.Time):
// its real-time clock rtc (nil: none), or the newest time it knows has
// passed (see floor) when the clock reads earlier -- a board without a
// real-time clock reads 1970. Without the floor such a board checked
// every certificate as of its own certificate's start, for ever: one
// that expired later was never refused.
func (b *Bundle) Clock(rtc func() time.Time) func() time.Time {
	return func() time.Time {
		f := b.floor.now()
		if rtc != nil {
			if t := rtc(); t.After(f) {
				return t
			}
		}
		return f
	}
}

// Floor is the newest time the bundle knows has passed (see Clock).
func (b *Bundle) Floor() time.Time { return b.floor.now() }
