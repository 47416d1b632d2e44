// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"time"

	"github.com/ferry-hv/ferry/api"
	"github.com/ferry-hv/ferry/manage"
)

var cancelCommand = command{
	usage: "FROM",
	help:  "cancel the migration running on board FROM (before its commit; the guest runs on at FROM) and wait until it has stopped",
	flags: func(fs *flag.FlagSet, e *env) func([]string) error {
		timeout := fs.Duration("timeout", 30*time.Second, "give up after `duration`")
		poll := fs.Duration("poll", 100*time.Millisecond, "progress polling `interval` while the migration stops")
		return func(args []string) error {
			if len(args) != 1 {
				return usageError{"want the source board's address"}
			}
			from, err := apiAddr(args[0], api.APIPort)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(e.ctx, *timeout)
			defer cancel()
			s, err := e.open(ctx)
			if err != nil {
				return err
			}
			defer s.close()
			c := s.client()
			defer c.close()
			if err := postCancel(ctx, c, from); err != nil {
				return timeoutHint(ctx, err, *timeout)
			}
			fmt.Fprintf(e.stdout, "%s is cancelling its migration\n", from)
			p, err := waitStopped(ctx, c, from, *poll)
			if err != nil {
				return fmt.Errorf("the migration on %s had not stopped within %v: %w", from, *timeout, err)
			}
			switch p.Phase {
			case "done":
				return fmt.Errorf("the migration on %s committed before the cancel took effect: the guest runs on the destination", from)
			case "cancelled", "failed":
				fmt.Fprintf(e.stdout, "migration %s after %s: %s; the guest runs on at %s\n", p.Phase, durationString(p.Elapsed), p.Error, args[0])
			default:
				fmt.Fprintf(e.stdout, "migration ended (%s): %s\n", p.Phase, p.Error)
			}
			return nil
		}
	},
}

// postCancel asks from to cancel its migration. 202 is the board taking
// it; 409 says there is nothing to cancel (or it is too late).
func postCancel(ctx context.Context, c *client, from string) error {
	code, data, _, err := c.do(ctx, http.MethodPost, from, api.PathCancel, struct{}{})
	if err != nil {
		return err
	}
	var ans struct {
		manage.CancelReply
		Error string `json:"error"`
	}
	switch {
	case code == http.StatusAccepted && json.Unmarshal(data, &ans) == nil && ans.Cancelling:
		return nil
	case code == http.StatusConflict && json.Unmarshal(data, &ans) == nil && ans.Error != "":
		return fmt.Errorf("%s: %s", from, ans.Error)
	}
	return answerError("POST", from, api.PathCancel, code, data)
}

// running are the phases of a migration that has not ended.
var running = map[string]bool{"handshake": true, "precopy": true, "stopped": true, "committing": true}

// waitStopped polls from's progress until its migration has ended.
func waitStopped(ctx context.Context, c *client, from string, poll time.Duration) (api.Progress, error) {
	var p api.Progress
	for {
		_, err := c.getJSON(ctx, from, api.PathMigration, &p)
		switch {
		case err == nil && !running[p.Phase]:
			return p, nil
		case ctx.Err() != nil:
			if err == nil {
				err = errors.New("still " + p.Phase)
			}
			return p, err
		}
		select {
		case <-ctx.Done():
		case <-time.After(poll):
		}
	}
}
