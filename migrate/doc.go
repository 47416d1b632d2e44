// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

// Package migrate is Ferry's migration protocol and its live (pre-copy)
// engine: the records that cross the wire between two boards, their
// encoders and decoders, the Hello fingerprint and its compatibility check,
// Send and Receive, which move a running guest from a Source to a Sink
// in rounds of dirty pages, stopping it only for the last of them, and the
// Ledger, each board's record of its migrations and the only place that
// decides what becomes of a guest in flight (the commit protocol). When to
// stop the guest is package converge's decision.
//
// It is not the machine: reading a register, mapping guest RAM, applying a
// GIC state or maintaining caches belong to the packages behind the Source
// and Sink interfaces. State records are opaque here (a name, a version and
// the bytes another package's Encode produced). It does not open the
// connection either: the caller passes an authenticated stream (mutual TLS
// in Ferry) and, if it is a net.Conn, Send and Receive bound every step of
// the protocol with a deadline.
//
// # Stream
//
// Every record is `type u16 | version u16 | length u32 | payload`,
// little-endian, its length capped per type before anything is allocated
// (see MaxPayload). In order:
//
//	S→D Hello       magic, protocol version, Fingerprint, Session (migration
//	                ID, guest ID and epoch)
//	D→S HelloReply  accepted, or refused with the reason (guest never paused)
//	S→D Pages...    round 0, the guest running: every page of every RAM
//	                range, in order, 512 per record, zero pages as bits
//	S→D Round       round n >= 1: how many pages it carries, and whether
//	                the guest is stopped (the last round)
//	S→D Dirty...    its pages, by address, ascending, each once
//	    ...         more Round/Dirty rounds
//	S→D Sync        the policy switched: the guest still running, the source
//	D→S Synced      waits until everything sent so far is written
//	S→D Round...    the last round, sent with the guest stopped
//	S→D State...    opaque machine state ("cpu", "gic", "uart", ...)
//	S→D End         CRC32C of every byte of Hello, Pages, Round, Dirty and
//	                State records
//	D→S Ack         digest checked, state restored, the destination prepared
//	S→D Commit      (ID) the source decided Committed and keeps its guest parked
//	D→S Resumed     (ID) the guest runs on the destination (restore and resume
//	                times); the source gives its guest up
//
// Either side may send Abort (a reason) instead of its next record before
// the Ack; the source then resumes its guest and the destination discards
// what it received. After the Ack only the verdict ends a migration: a
// destination that cannot resume answers Commit with Abort (the source
// resumes its guest); a lost link leaves both sides in doubt, keeping the
// guest, and they settle it over new connections to each other's
// listener:
//
//	S→D Commit      (ID) first on a new connection: the source tells again
//	D→S Resumed     (ID), or Abort, or Outcome unknown
//	D→S Query       (ID) first on a new connection: the destination asks
//	S→D Outcome     (ID, verdict); if committed, D→S Resumed (ID) follows
//
// or the operator decides (Ledger.Force). The destination never resumes a
// guest without the source's Committed (or the operator's), and the source
// never resumes it after its Ack unless the destination discarded its copy
// (or the operator says so): the guest never runs on both boards, and is
// never dropped by both.
//
// docs/migration.md describes the design around it.
package migrate
