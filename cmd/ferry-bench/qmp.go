// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"time"
)

// qmp is a QEMU Machine Protocol client: JSON objects one per line over a
// unix socket. Asynchronous events are skipped.
type qmp struct {
	conn net.Conn
	r    *bufio.Reader
}

// dialQMP connects to a QMP unix socket (retrying while QEMU starts),
// reads the greeting and leaves capabilities negotiation mode.
func dialQMP(path string, timeout time.Duration) (*qmp, error) {
	deadline := time.Now().Add(timeout)
	var conn net.Conn
	var err error
	for {
		conn, err = net.Dial("unix", path)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		return nil, fmt.Errorf("qmp %s: %w", path, err)
	}
	q := &qmp{conn: conn, r: bufio.NewReaderSize(conn, 64<<10)}
	conn.SetDeadline(time.Now().Add(timeout))
	line, err := q.r.ReadBytes('\n')
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("qmp %s: greeting: %w", path, err)
	}
	var greet struct {
		QMP *json.RawMessage `json:"QMP"`
	}
	if err := json.Unmarshal(line, &greet); err != nil || greet.QMP == nil {
		conn.Close()
		return nil, fmt.Errorf("qmp %s: not a QMP greeting: %q", path, line)
	}
	if _, err := q.run("qmp_capabilities", nil); err != nil {
		conn.Close()
		return nil, err
	}
	return q, nil
}

func (q *qmp) Close() error { return q.conn.Close() }

// run executes a command and returns its "return" value.
func (q *qmp) run(cmd string, args any) (json.RawMessage, error) {
	req := map[string]any{"execute": cmd}
	if args != nil {
		req["arguments"] = args
	}
	b, _ := json.Marshal(req)
	q.conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := q.conn.Write(append(b, '\n')); err != nil {
		return nil, fmt.Errorf("qmp %s: %w", cmd, err)
	}
	for {
		line, err := q.r.ReadBytes('\n')
		if err != nil {
			return nil, fmt.Errorf("qmp %s: %w", cmd, err)
		}
		ret, isEvent, err := parseQMPReply(line)
		if isEvent {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("qmp %s: %w", cmd, err)
		}
		return ret, nil
	}
}

// parseQMPReply decodes one line from QEMU: an event (skipped by the
// caller), a successful return, or an error.
func parseQMPReply(line []byte) (ret json.RawMessage, event bool, err error) {
	var m struct {
		Return *json.RawMessage `json:"return"`
		Error  *struct {
			Class string `json:"class"`
			Desc  string `json:"desc"`
		} `json:"error"`
		Event string `json:"event"`
	}
	if err := json.Unmarshal(line, &m); err != nil {
		return nil, false, fmt.Errorf("bad reply %q: %v", line, err)
	}
	switch {
	case m.Event != "":
		return nil, true, nil
	case m.Error != nil:
		return nil, false, fmt.Errorf("%s: %s", m.Error.Class, m.Error.Desc)
	case m.Return != nil:
		return *m.Return, false, nil
	}
	return nil, false, fmt.Errorf("reply with neither return nor error: %q", line)
}

// MigrateInfo is the part of QEMU's query-migrate answer the bench uses.
// Times are in milliseconds, as QEMU gives them.
type MigrateInfo struct {
	Status           string `json:"status"`
	TotalTime        int64  `json:"total-time"`
	Downtime         int64  `json:"downtime"`
	ExpectedDowntime int64  `json:"expected-downtime"`
	SetupTime        int64  `json:"setup-time"`
	CPUThrottle      int    `json:"cpu-throttle-percentage"`
	ErrorDesc        string `json:"error-desc"`
	RAM              struct {
		Transferred    uint64  `json:"transferred"`
		Total          uint64  `json:"total"`
		Duplicate      uint64  `json:"duplicate"` // zero pages
		Normal         uint64  `json:"normal"`    // pages sent with their contents
		NormalBytes    uint64  `json:"normal-bytes"`
		Remaining      uint64  `json:"remaining"`
		DirtySyncCount uint64  `json:"dirty-sync-count"` // iterations over the dirty bitmap
		DirtyPagesRate uint64  `json:"dirty-pages-rate"`
		PageSize       uint64  `json:"page-size"`
		Mbps           float64 `json:"mbps"`
		PrecopyBytes   uint64  `json:"precopy-bytes"`
		DowntimeBytes  uint64  `json:"downtime-bytes"`
	} `json:"ram"`
}

// parseMigrateInfo decodes query-migrate's return value.
func parseMigrateInfo(ret json.RawMessage) (MigrateInfo, error) {
	var mi MigrateInfo
	if err := json.Unmarshal(ret, &mi); err != nil {
		return mi, fmt.Errorf("query-migrate: %v: %s", err, ret)
	}
	if mi.Status == "" {
		return mi, fmt.Errorf("query-migrate: no status in %s", ret)
	}
	return mi, nil
}

// finished says whether a migration status is final.
func (mi MigrateInfo) finished() bool {
	switch mi.Status {
	case "completed", "failed", "cancelled":
		return true
	}
	return false
}

func (q *qmp) queryMigrate() (MigrateInfo, error) {
	ret, err := q.run("query-migrate", nil)
	if err != nil {
		return MigrateInfo{}, err
	}
	return parseMigrateInfo(ret)
}
