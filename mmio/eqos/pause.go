// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package eqos

import (
	"fmt"
	"time"
)

// pollInterval is how often Stop looks at the device while it waits.
const pollInterval = 50 * time.Microsecond

func (m *Model) now() int64 {
	if m.rl.Now != nil {
		return m.rl.Now()
	}
	return int64(time.Since(epoch))
}

var epoch = time.Now()

// wait sleeps between two polls, the lock released: the device runs on
// meanwhile.
func (m *Model) wait() {
	m.mu.Unlock()
	if m.rl.Sleep != nil {
		m.rl.Sleep(pollInterval)
	} else {
		time.Sleep(pollInterval)
	}
	m.mu.Lock()
}

// Stop stops the device's DMA for a pause, the guest paused: it lets the
// device send what the transmit ring holds (for up to wait: what is left
// is sent after a Restart here, and lost with a guest that moves), clears
// ST and SR at the device, waits up to wait again until both of its
// processes say Stopped (DMA_Debug_Status0) -- from then on it reads and
// writes no memory -- and copies back what it gave back, receive buffers
// marked written (Relaying.Wrote) before the migration takes its last
// pages. A device that does not stop is an error: the pause must fail.
// The rings stay set up: Restart starts the device again where it
// stopped.
func (m *Model) Stop(wait time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	start := m.now()
	for tx := &m.rings[dirTx]; tx.valid && tx.running; m.wait() {
		tx.reap(&m.rl)
		if tx.held == 0 || time.Duration(m.now()-start) > wait {
			break
		}
	}
	for d := range m.rings {
		if r := &m.rings[d]; r.valid && r.running {
			c := chanRegs[d]
			m.devWrite(chan0(c.control), m.devRead(chan0(c.control))&^uint32(c.start))
			r.running, m.paused[d] = false, true
		}
	}
	start = m.now()
	for !m.processStopped(dirTx) || !m.processStopped(dirRx) {
		if time.Duration(m.now()-start) > wait {
			err := fmt.Errorf("eqos: the device's DMA has not stopped %v after ST and SR were cleared (DMA_Debug_Status0 %#x)", wait, m.devRead(RegDebugStatus0))
			m.fault("a pause failed: " + err.Error())
			return err
		}
		m.wait()
	}
	m.reapAll()
	return nil
}

// Restart starts the device again as Stop left it: a migration that
// stopped it failed, and the guest runs on here. Each ring Stop stopped
// resumes where the device stopped, with what the guest added since.
func (m *Model) Restart() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for d := range m.rings {
		if !m.paused[d] {
			continue
		}
		m.paused[d] = false
		c, r := chanRegs[d], &m.rings[d]
		v := m.devRead(chan0(c.control)) | uint32(c.start)
		if !m.deviceHolds(direction(d)) {
			// Reset meanwhile: set up afresh, as a start by the guest is.
			if err := m.start(direction(d), &v); err != nil {
				m.fault(fmt.Sprintf("the %s ring not started again: %v", direction(d), err))
				continue
			}
		} else {
			m.relayTail(direction(d))
			// The device stopped where its tail may be (a receive ring
			// the guest refilled up to where the device was): a start
			// there would find it suspended, with descriptors it holds
			// ahead. Its tail past the ring's end, every descriptor the
			// relay gave is the device's; the guest's next tail pointer
			// write sets it as usual.
			m.devWrite(chan0(c.tail), uint32(r.sbase)+uint32(r.n*DescSize))
		}
		m.devWrite(chan0(c.control), v)
		r.running = true
	}
}

// Reset stops every DMA channel of the device (ST and SR cleared) and
// forgets what the relay knew of its rings: the device takes no
// descriptor until the guest sets a ring up and starts it, through the
// model. New does it first, so that nothing the firmware left running
// reads rings Ferry never checked; a board that takes a migrated guest
// does it again, for the guest's driver resets its device there (the
// relay's rings do not move with it).
func (m *Model) Reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.quiesce()
	m.forget()
}

// resetWait bounds how long quiesce waits for channel 0 to stop: the
// frame in flight at 10 Mbit/s, with room.
const resetWait = 20 * time.Millisecond

// quiesce clears ST and SR on every channel of the device, and waits a
// little (resetWait) for channel 0's processes to say they stopped: a
// new guest's memory is not to take the old one's frame in flight.
// Channels 1 to 4 only the firmware may have started; they get no wait.
func (m *Model) quiesce() {
	for ch := range NumChannels {
		at := ChanBase + uint64(ch)*ChanStride
		if v := m.devRead(at + ChTxControl); v&TxControlST != 0 {
			m.devWrite(at+ChTxControl, v&^TxControlST)
		}
		if v := m.devRead(at + ChRxControl); v&RxControlSR != 0 {
			m.devWrite(at+ChRxControl, v&^RxControlSR)
		}
	}
	for start := m.now(); (!m.processStopped(dirTx) || !m.processStopped(dirRx)) && time.Duration(m.now()-start) < resetWait; {
		m.wait()
	}
}
