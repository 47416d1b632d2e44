// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package l2switch

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// port is one connection to the switch: a reader that forwards what comes
// in, and a writer that drains the port's bounded output queue.
type port struct {
	sw     *Switch
	id     int
	conn   net.Conn
	remote string
	opened time.Time

	out  chan []byte   // frames to send; never closed
	quit chan struct{} // closed when the port closes

	closeOnce sync.Once

	rxFrames, rxBytes atomic.Uint64
	txFrames, txBytes atomic.Uint64
	dropped           atomic.Uint64 // frames to this port dropped: queue full
	runts             atomic.Uint64 // frames from this port shorter than MinFrame
	cut               atomic.Uint64 // frames from or to this port dropped while its link was down
	down              bool          // link down (SetLink); under the switch's lock
}

// enqueue queues frame for output without blocking; when the queue is full
// the frame is dropped and counted. Frames are shared between ports and
// must not be modified after they are queued.
func (p *port) enqueue(frame []byte) {
	select {
	case p.out <- frame:
	default:
		p.dropped.Add(1)
	}
}

// readLoop reads frames until the connection fails or carries a frame
// length over the cap, then closes the port.
func (p *port) readLoop() {
	defer p.sw.wg.Done()
	r := bufio.NewReaderSize(p.conn, 2*MaxFrame)
	for {
		// Each frame gets its own buffer: it may sit in several queues.
		frame, err := ReadFrame(r, nil, p.sw.cfg.MaxFrame)
		if err != nil {
			switch {
			case errors.Is(err, ErrFrameTooLong):
				err = fmt.Errorf("closing port %d (%s): %w", p.id, p.remote, err)
				p.sw.cfg.Logf("l2switch: error: %v", err)
			case errors.Is(err, io.EOF):
				err = errors.New("peer closed the connection")
			}
			p.close(err)
			return
		}
		p.rxFrames.Add(1)
		p.rxBytes.Add(uint64(len(frame)))
		if len(frame) < MinFrame {
			p.runts.Add(1)
			continue
		}
		p.sw.forward(p, frame)
	}
}

// writeLoop sends queued frames, batching what is already queued into one
// flush, until the port closes or a write fails.
func (p *port) writeLoop() {
	defer p.sw.wg.Done()
	w := newBufferedWriter(p.conn)
	for {
		var frame []byte
		select {
		case frame = <-p.out:
		case <-p.quit:
			return
		}
		n, size := 0, 0
		for frame != nil {
			// Errors stick in w and come out of Flush.
			var hdr [HeaderLen]byte
			binary.BigEndian.PutUint32(hdr[:], uint32(len(frame)))
			w.Write(hdr[:])
			w.Write(frame)
			n++
			size += len(frame)
			select {
			case frame = <-p.out:
			default:
				frame = nil
			}
		}
		if err := w.Flush(); err != nil {
			p.close(fmt.Errorf("write: %w", err))
			return
		}
		p.txFrames.Add(uint64(n))
		p.txBytes.Add(uint64(size))
	}
}

// close closes the port once: the connection, the goroutines, and its
// entries in the switch's tables.
func (p *port) close(reason error) {
	p.closeOnce.Do(func() {
		p.sw.remove(p, reason)
		close(p.quit)
		p.conn.Close()
		p.sw.cfg.Logf("l2switch: port %d closed (%s): %v", p.id, p.remote, reason)
	})
}
