// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// The journal is ferryctl's own record of the migrations it asked for: one
// JSON line per event (requested, the report, a resolve), appended before
// and after each step. It is what ferryctl resolve goes by when the source
// board, which decides, cannot be reached.

// journalEntry is one line of the journal.
type journalEntry struct {
	At        time.Time `json:"at"`
	ID        string    `json:"id"`
	From      string    `json:"from"`
	To        string    `json:"to"`
	Event     string    `json:"event"`             // "requested", "report", "resolved"
	Verdict   string    `json:"verdict,omitempty"` // "committed" or "aborted"; empty: not known
	Confirmed bool      `json:"confirmed,omitempty"`
	Note      string    `json:"note,omitempty"`
}

// maxJournal is the most of the journal lookup reads (its end).
const maxJournal = 16 << 20

// journalPath is -journal, or $XDG_STATE_HOME/ferry/journal.jsonl, or
// ~/.local/state/ferry/journal.jsonl.
func (e *env) journalPath() (string, error) {
	if e.g.journal != "" {
		return e.g.journal, nil
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "ferry", "journal.jsonl"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no place for the journal (set -journal): %v", err)
	}
	return filepath.Join(home, ".local", "state", "ferry", "journal.jsonl"), nil
}

// record appends j to the journal, synced.
func (e *env) record(j journalEntry) error {
	path, err := e.journalPath()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	j.At = time.Now().UTC()
	line, _ := json.Marshal(j)
	_, err = f.Write(append(line, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("journal %s: %w", path, err)
	}
	return nil
}

// lookup returns the journal's last entry for id that carries a verdict,
// and the last entry for id at all.
func (e *env) lookup(id string) (decided, last journalEntry, err error) {
	path, err := e.journalPath()
	if err != nil {
		return decided, last, err
	}
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return decided, last, nil
	}
	if err != nil {
		return decided, last, fmt.Errorf("journal: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > maxJournal {
		f.Seek(fi.Size()-maxJournal, io.SeekStart)
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		var j journalEntry
		if json.Unmarshal(sc.Bytes(), &j) != nil || j.ID != id {
			continue // a line cut by the seek, or another migration
		}
		last = j
		if j.Verdict != "" {
			decided = j
		}
	}
	return decided, last, sc.Err()
}
