package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"text/tabwriter"
	"time"

	"github.com/ferry-hv/ferry/api"
)

var migrateCommand = command{
	usage: "FROM TO",
	help:  "move the guest running on board FROM to board TO, showing progress; print the report",
	flags: func(fs *flag.FlagSet, e *env) func([]string) error {
		timeout := fs.Duration("timeout", 5*time.Minute, "give up waiting for the report after `duration`")
		poll := fs.Duration("poll", 250*time.Millisecond, "progress polling `interval`")
		asJSON := fs.Bool("json", false, "print the report as JSON")
		return func(args []string) error {
			if len(args) != 2 {
				return usageError{"want the source and the destination boards' addresses"}
			}
			from, err := apiAddr(args[0], api.APIPort)
			if err != nil {
				return err
			}
			to := args[1]
			if _, err := apiAddr(to, api.MigrationPort); err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(e.ctx, *timeout)
			defer cancel()
			s, err := e.open(ctx)
			if err != nil {
				return err
			}
			defer s.close()
			rep, err := migrate(ctx, e, s, from, to, *poll)
			if err != nil {
				switch {
				case errors.Is(ctx.Err(), context.DeadlineExceeded):
					err = fmt.Errorf("no report from %s within %v (the migration may still be running; see ferryctl status %s): %w", from, *timeout, args[0], err)
				case ctx.Err() != nil:
					err = fmt.Errorf("interrupted (the migration may still be running; see ferryctl status %s): %w", args[0], err)
				}
				return err
			}
			if *asJSON {
				b, _ := json.MarshalIndent(rep, "", "  ")
				fmt.Fprintf(e.stdout, "%s\n", b)
			} else {
				printReport(e.stdout, rep)
			}
			if !rep.OK {
				return fmt.Errorf("migration from %s to %s failed: %s", rep.From, rep.To, rep.Error)
			}
			return nil
		}
	},
}

// migrate asks from to move its guest to to and waits for the report,
// polling progress on a second connection meanwhile.
func migrate(ctx context.Context, e *env, s *session, from, to string, poll time.Duration) (api.Report, error) {
	type result struct {
		rep api.Report
		err error
	}
	done := make(chan result, 1)
	mc := s.client()
	defer mc.close()
	go func() {
		rep, err := postMigrate(ctx, mc, from, to)
		done <- result{rep, err}
	}()

	pc := s.client() // its own connection: the first is busy until the end
	defer pc.close()
	bar := newProgressBar(e.stderr)
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		select {
		case r := <-done:
			bar.finish()
			return r.rep, r.err
		case <-t.C:
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			var p api.Progress
			_, err := pc.getJSON(pctx, from, api.PathMigration, &p)
			cancel()
			if err == nil {
				bar.update(p)
			} else {
				bar.pollError(err)
			}
		}
	}
}

// postMigrate sends the request and reads the Report. A board that does
// not start the migration (bad request, one already running, nothing to
// move) answers an error status with {"error": "..."}.
func postMigrate(ctx context.Context, c *client, from, to string) (api.Report, error) {
	code, data, _, err := c.do(ctx, http.MethodPost, from, api.PathMigrate, api.MigrateRequest{To: to})
	if err != nil {
		return api.Report{}, err
	}
	if code != http.StatusOK {
		return api.Report{}, answerError("POST", from, api.PathMigrate, code, data)
	}
	var rep api.Report
	if err := json.Unmarshal(data, &rep); err != nil {
		return rep, fmt.Errorf("POST https://%s%s: bad report: %v", from, api.PathMigrate, err)
	}
	return rep, nil
}

// printReport prints a migration report as a table.
func printReport(w io.Writer, r api.Report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	result := "ok"
	if !r.OK {
		result = "FAILED"
	}
	fmt.Fprintf(tw, "migration\t%s\n", result)
	if r.Error != "" {
		fmt.Fprintf(tw, "error\t%s\n", r.Error)
	}
	fmt.Fprintf(tw, "from\t%s\n", r.From)
	fmt.Fprintf(tw, "to\t%s\n", r.To)
	fmt.Fprintf(tw, "bytes\t%s\n", bytesString(r.Bytes))
	fmt.Fprintf(tw, "pages\t%d (zero %d, non-zero %d)\n", r.Pages, r.ZeroPages, r.DataPages)
	fmt.Fprintf(tw, "total time\t%s\n", durationString(r.Total))
	fmt.Fprintf(tw, "downtime\t%s\n", durationString(r.Downtime))
	fmt.Fprintf(tw, "restore time\t%s\n", durationString(r.RestoreTime))
	tw.Flush()
}
