package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"time"

	"github.com/ferry-hv/ferry/api"
	"github.com/ferry-hv/ferry/manage"
)

var cancelCommand = command{
	usage: "FROM",
	help:  "cancel the migration running on board FROM (before its commit; the guest runs on at FROM)",
	flags: func(fs *flag.FlagSet, e *env) func([]string) error {
		timeout := fs.Duration("timeout", 10*time.Second, "give up after `duration`")
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
			fmt.Fprintf(e.stdout, "cancelling the migration on %s: it stops before its commit and the guest runs on there; ferryctl migrate, if it is watching, prints the report\n", from)
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
