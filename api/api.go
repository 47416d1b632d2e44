// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

// Package api is the contract between Ferry's management API (served by the
// hypervisor on its management NIC, HTTPS with mutual TLS) and ferryctl. It
// is types and paths only: JSON bodies, no behaviour.
package api

import "time"

// Ports on the management network.
const (
	APIPort       = 7000 // HTTPS management API
	MigrationPort = 7001 // migration stream (mutual TLS)
)

// Paths of the management API.
const (
	PathStatus    = "/v1/status"            // GET: Status
	PathMigrate   = "/v1/migrate"           // POST MigrateRequest: starts a migration, answers Report when it has ended
	PathMigration = "/v1/migration"         // GET: Progress of the current or last migration
	PathCancel    = "/v1/migration/cancel"  // POST: abort the running migration (before its commit)
	PathResolve   = "/v1/migration/resolve" // POST ResolveRequest: the operator's verdict for a migration in doubt
	PathExpect    = "/v1/migration/expect"  // POST ExpectRequest: announce an incoming migration to its destination
	PathCRL       = "/v1/crl"               // POST CRLRequest: the CA's new revocation list
)

// Board roles and guest states in Status.
const (
	RoleRun     = "run"     // booted a guest
	RoleReceive = "receive" // waits for an incoming guest

	GuestNone     = "none" // no guest here (receive role, nothing arrived yet)
	GuestRunning  = "running"
	GuestPaused   = "paused"   // stopped for a migration
	GuestMigrated = "migrated" // handed to another board; this board has none and may take one
	GuestStopped  = "stopped"  // halted after an error
	GuestOff      = "off"      // powered itself off (PSCI SYSTEM_OFF); the board stays up, and no migration takes it
)

// Status is a board's answer to GET /v1/status.
type Status struct {
	Board   string        `json:"board"`   // this board's name, from its certificate
	Address string        `json:"address"` // management address, e.g. 10.77.0.11
	Role    string        `json:"role"`
	Guest   string        `json:"guest"`
	Uptime  time.Duration `json:"uptime_ns"`
	Exits   uint64        `json:"exits"` // guest exits to Ferry since boot
	// ExitCauses are those exits by cause: "timer" (Ferry's EL2 timer,
	// armed only for its own deadlines), "mgmt-nic" (its management NIC's
	// interrupt), "irq" (the guest's interrupt, listed for it in the
	// virtual CPU interface), "maint" (the interface's maintenance
	// interrupt), "spurious" (an interrupt exit with nothing pending),
	// "mmio" (a trapped device page: the guest NICs' models among them),
	// "dirty" (a migration's dirty tracking), "smc" (PSCI), "sysreg",
	// "wfi", "hvc", "other". An idle guest nobody talks to has none.
	ExitCauses map[string]uint64 `json:"exit_causes,omitempty"`
	// ExitNanos are the nanoseconds Ferry spent handling those exits, by
	// cause: from the exit to the end of its handling (for "irq": the
	// acknowledge, the list register and the priority drop; the guest's
	// own EOI then deactivates the physical interrupt without an exit),
	// not the world switch nor the slices Ferry's goroutines run.
	ExitNanos map[string]uint64 `json:"exit_ns,omitempty"`
	// ExitRates are exits per second by cause over ExitWindow: since the
	// status asked for at least a second before this one (since boot for
	// the first).
	ExitRates  map[string]float64 `json:"exit_rates,omitempty"`
	ExitWindow time.Duration      `json:"exit_window_ns,omitempty"`
	// VCPUs are the guest's vCPUs when it has more than one, vCPU i on
	// the board's CPU with that MPIDR (the exits above are vCPU 0's).
	VCPUs []VCPU `json:"vcpus,omitempty"`
	// Stopped says why the guest stopped (guest "stopped"): the trap
	// Ferry could not handle, decoded.
	Stopped string `json:"stopped,omitempty"`
	Heap    uint64 `json:"heap_bytes"` // Ferry's Go heap in use (runtime HeapInuse)

	// GuestResets counts the times the guest restarted itself on this
	// board (PSCI SYSTEM_RESET or SYSTEM_RESET2: Ferry booted it again, the
	// board, its API and its ledger stayed up); GuestPower is its last
	// power call ("SYSTEM_RESET", "SYSTEM_OFF", ...) and GuestPowerAgo how
	// long ago it made it.
	GuestResets   uint64        `json:"guest_resets,omitempty"`
	GuestPower    string        `json:"guest_power,omitempty"`
	GuestPowerAgo time.Duration `json:"guest_power_ago_ns,omitempty"`

	// ConsoleDropped counts bytes of Ferry's log lost to a UART whose
	// transmit FIFO stayed full (the guest disabled it, say).
	ConsoleDropped uint64 `json:"console_dropped"`
	// NICFaults are what Ferry refused of the guest's NICs' drivers, oldest
	// first, each after its transport's address: a queue whose rings are
	// not in guest RAM, or that is larger than the device offers or than
	// Ferry's shadow memory for the device allows, a queue stopped for a
	// chain that points elsewhere or breaks the ring (the device never saw
	// it), a register access of a width the transport does not take.
	NICFaults []string `json:"nic_faults,omitempty"`
	// GuestAborts counts the synchronous external aborts Ferry gave the
	// guest for an access outside its RAM and every device (a hole in the
	// memory map, Ferry's carve-out), as a bus answers natively;
	// GuestUndefined the traps Ferry does not emulate, given back as
	// undefined instructions. GuestFault is the newest, decoded.
	GuestAborts    uint64 `json:"guest_aborts,omitempty"`
	GuestUndefined uint64 `json:"guest_undefined,omitempty"`
	GuestFault     string `json:"guest_fault,omitempty"`
	// NICHeld are the guest's NICs' queues whose device has held a
	// request (a frame to send, say) longer than a migration's pause waits
	// for one, each after its transport's address: while it does, a
	// migration fails at the pause, unless MigrateRequest.ResetNIC.
	NICHeld []string `json:"nic_held,omitempty"`

	// Migration is the migration in progress on this board, if any, and
	// Decisions the verdicts of the last ones, newest first.
	Migration *Migration `json:"migration,omitempty"`
	Decisions []Decision `json:"decisions,omitempty"`
	CRL       CRL        `json:"crl"`
}

// VCPU is one of the guest's vCPUs: the affinity of the CPU it runs on,
// its PSCI power state ("on", "off", "on-pending") and its exits since
// boot.
type VCPU struct {
	MPIDR uint64 `json:"mpidr"`
	Power string `json:"power"`
	Exits uint64 `json:"exits"`
}

// Roles of a board in a migration.
const (
	MigrationSource      = "source"
	MigrationDestination = "destination"
)

// Migration is where a migration in progress stands on one board, in the
// commit protocol of docs/migration.md.
type Migration struct {
	ID    string        `json:"id"`
	Role  string        `json:"role"`  // MigrationSource or MigrationDestination
	Phase string        `json:"phase"` // "sending", "committing" (source); "receiving", "prepared" (destination)
	Peer  string        `json:"peer"`  // the other board's name
	Since time.Duration `json:"since_ns"`
	Guest string        `json:"guest"` // the guest's ID
	Epoch uint64        `json:"epoch"` // how many migrations of it were committed before this one
	// InDoubt says why this board does not know the verdict yet: a
	// committing source waiting to hear that the guest runs on the
	// destination, a prepared destination waiting to learn the source's
	// decision. Both keep the guest until they do (ferryctl resolve).
	InDoubt string `json:"in_doubt,omitempty"`
}

// Decision is what became of a past migration, as one board knows it.
type Decision struct {
	ID      string `json:"id"`
	Role    string `json:"role"`
	Verdict string `json:"verdict"` // "committed" or "aborted"
	Peer    string `json:"peer"`
	// Confirmed: a committed migration whose destination said the guest
	// runs there (always true on the destination's side).
	Confirmed bool          `json:"confirmed"`
	Note      string        `json:"note,omitempty"`
	Ago       time.Duration `json:"ago_ns"`
}

// ExpectRequest announces a migration to its destination (POST
// PathExpect): the board takes an incoming guest only with an ID it was
// told to expect, from the board named, within the time given.
type ExpectRequest struct {
	ID     string        `json:"id"`
	From   string        `json:"from"`      // the source board's name (its certificate's)
	Within time.Duration `json:"within_ns"` // how long the announcement holds
	// MaxTime is the migration's max time (MigrateRequest.MaxTime; 0: the
	// default): the destination gives up a migration that has not reached
	// its Ack by then and a margin (manage.TimeoutMargin).
	MaxTime time.Duration `json:"max_time_ns,omitempty"`
	// Address is the source board's IP address on the management link
	// (optional): until the announcement expires, its connections get the
	// handshake slots the board keeps for peers it knows, which a station
	// without a key cannot take.
	Address string `json:"address,omitempty"`
	// CRL is the number of the newest revocation list the operator has
	// (decimal; "": none): the board refuses the announcement while its
	// own is older -- it restarted and forgot a pushed one (POST PathCRL
	// first; ferryctl does).
	CRL string `json:"crl,omitempty"`
}

// CRLRequest carries the CA's revocation list (POST PathCRL), PEM: from
// then on the board refuses every peer whose certificate it names.
type CRLRequest struct {
	PEM string `json:"pem"`
}

// CRL is the revocation list a board checks peers against.
type CRL struct {
	Number  string `json:"number"` // the list's number (decimal); "" if the board has none
	Revoked int    `json:"revoked"`
}

// ResolveRequest is the operator's verdict for a migration in doubt
// (POST PathResolve): "committed" or "aborted".
type ResolveRequest struct {
	ID      string `json:"id"`
	Verdict string `json:"verdict"`
}

// Defaults of a migration's settings (MigrateRequest fields left zero).
const (
	DefaultDowntimeLimit = 30 * time.Millisecond
	DefaultMaxTime       = 5 * time.Minute
)

// MigrateRequest asks the board to move its guest to another board. Zero
// settings take their defaults.
type MigrateRequest struct {
	To string `json:"to"` // the destination's management address, host or host:port
	// ID names the migration (32 hex digits), chosen by the operator so
	// that it can ask after it whatever happens to the request; the board
	// picks one if it is empty.
	ID string `json:"id,omitempty"`
	// Board is the destination board's name: the source moves the guest
	// only to a board whose certificate names it.
	Board string `json:"board,omitempty"`

	// DowntimeLimit is the longest the guest should be stopped: pre-copy
	// rounds go on until the rest fits it at the measured bandwidth
	// (DefaultDowntimeLimit).
	DowntimeLimit time.Duration `json:"downtime_limit_ns,omitempty"`
	// Bandwidth caps the migration stream, bytes per second (0: no cap).
	Bandwidth uint64 `json:"bandwidth_bps,omitempty"`
	// MaxTime ends a migration that has not converged by then, the guest
	// running on at the source (DefaultMaxTime).
	MaxTime time.Duration `json:"max_time_ns,omitempty"`
	// NoAutoConverge turns auto-converge off: a guest that dirties memory
	// faster than Ferry sends it is not slowed down.
	NoAutoConverge bool `json:"no_auto_converge,omitempty"`
	// ResetNIC: at the pause, a guest NIC whose device still holds
	// requests (Status.NICHeld) is reset all the same, and those requests
	// go back to the guest's driver unused (a frame not sent is lost, as
	// on a wire); without it such a pause fails and the guest runs on.
	ResetNIC bool `json:"reset_nic,omitempty"`
	// CRL is the number of the newest revocation list the operator has
	// (decimal; "": none): the board refuses to move the guest while its
	// own list is older (see ExpectRequest.CRL).
	CRL string `json:"crl,omitempty"`
}

// Progress is the state of the current or last migration.
type Progress struct {
	Phase      string `json:"phase"`       // "idle", "handshake", "precopy", "stopped", "committing", "done", "failed", "cancelled"
	Round      int    `json:"round"`       // pre-copy round being sent: 0 is all of RAM
	PagesSent  uint64 `json:"pages_sent"`  // pages sent so far, all rounds
	PagesTotal uint64 `json:"pages_total"` // pages of guest RAM
	PagesLeft  uint64 `json:"pages_left"`  // pages still to send in this round
	BytesSent  uint64 `json:"bytes_sent"`

	DirtyRate        float64       `json:"dirty_rate_bps"` // bytes/s the guest dirtied in the last round
	Bandwidth        float64       `json:"bandwidth_bps"`  // bytes/s of stream, measured in this migration
	CPUShare         float64       `json:"cpu_share"`      // Ferry's share of the CPU while the guest runs, 0..1 (measured)
	Throttle         float64       `json:"throttle"`       // auto-converge's cut of the guest's CPU time, 0..0.99
	ExpectedDowntime time.Duration `json:"expected_downtime_ns"`
	Elapsed          time.Duration `json:"elapsed_ns"`
	Error            string        `json:"error,omitempty"`
}

// Round is one pre-copy round as the source sent it. Round 0 sends all of
// RAM; round n the pages dirtied while round n-1 was sent; the last round
// is sent with the guest stopped.
type Round struct {
	N         int           `json:"n"`
	Pages     uint64        `json:"pages"` // pages sent in this round
	ZeroPages uint64        `json:"zero_pages"`
	Bytes     uint64        `json:"bytes"`
	Duration  time.Duration `json:"duration_ns"`
	DirtyRate float64       `json:"dirty_rate_bps"` // bytes/s the guest dirtied during it
	CPUShare  float64       `json:"cpu_share"`      // Ferry's measured share of the CPU during it
	Throttle  float64       `json:"throttle"`
	Stopped   bool          `json:"stopped"`    // sent with the guest stopped (the last one)
	Harvest   time.Duration `json:"harvest_ns"` // taking the dirty bitmap and write-protecting its pages again, before it
}

// Downtime is the switchover, part by part, as the source measured it
// (Restore and Resume as the destination measured them).
type Downtime struct {
	Stop    time.Duration `json:"stop_ns"`    // asking the guest to stop until it is stopped
	Pages   time.Duration `json:"pages_ns"`   // the last dirty pages
	State   time.Duration `json:"state_ns"`   // capturing the GIC and UART, sending the machine state and End
	Restore time.Duration `json:"restore_ns"` // the destination's check and restore (End received to Ack sent, on its clock: it overlaps State and Ack)
	Ack     time.Duration `json:"ack_ns"`     // End sent to Ack received (Restore and the link's round trip)
	Commit  time.Duration `json:"commit_ns"`  // Ack received to Commit sent, plus the destination's resume
}

// Report is how a migration ended, as the source saw it.
type Report struct {
	// OK: the migration is committed, the guest is the destination's.
	// Confirmed: the destination said it runs there. Committed but not
	// confirmed, the source keeps the guest parked and InDoubt says why
	// (see Migration).
	OK          bool          `json:"ok"`
	Confirmed   bool          `json:"confirmed"`
	InDoubt     string        `json:"in_doubt,omitempty"`
	ID          string        `json:"id"`
	Error       string        `json:"error,omitempty"` // why it failed; the guest then runs on the source
	From        string        `json:"from"`
	To          string        `json:"to"`
	Bytes       uint64        `json:"bytes"`       // bytes of migration stream sent
	Pages       uint64        `json:"pages"`       // guest RAM pages in total
	ZeroPages   uint64        `json:"zero_pages"`  // sent as a flag only
	DataPages   uint64        `json:"data_pages"`  // sent with their contents
	Total       time.Duration `json:"total_ns"`    // request to commit
	Downtime    time.Duration `json:"downtime_ns"` // guest stopped on the source to running on the destination
	RestoreTime time.Duration `json:"restore_ns"`  // the destination's verify+restore, part of the downtime

	Settings MigrateRequest `json:"settings"`         // what the migration ran with, defaults filled in
	Rounds   []Round        `json:"rounds,omitempty"` // every round, the stopped one last
	Parts    Downtime       `json:"downtime_parts"`   // the downtime's parts
	// Overrun, when the downtime passed the limit, says by how much and
	// which part overran what the switch expected of it.
	Overrun  string        `json:"overrun,omitempty"`
	Switch   string        `json:"switch,omitempty"` // why pre-copy ended: "fits", "stalled", or empty if it never did
	Throttle float64       `json:"throttle"`         // auto-converge's last cut of the guest's CPU time
	Tracking time.Duration `json:"tracking_ns"`      // splitting and write-protecting RAM at the start
	Sync     time.Duration `json:"sync_ns"`          // before the stop, the guest running: waiting for the destination to write all sent so far
	Untrack  time.Duration `json:"untrack_ns"`       // back on 2 MiB blocks at the end
	Faults   uint64        `json:"dirty_faults"`     // write faults taken for dirty tracking
	FaultNS  float64       `json:"fault_ns"`         // Ferry's time per dirty fault, mean (exception entry and return not included)
	GuestCPU float64       `json:"guest_cpu"`        // the guest's share of the CPU during pre-copy (1: not slowed)
	Costs    StreamCosts   `json:"costs"`            // where the source's time went
}

// StreamCosts is where the source's time went while it sent the stream
// (wall-clock time on the migration's goroutine; a write includes waiting
// for the link, during which other goroutines or the guest may run).
type StreamCosts struct {
	Encode time.Duration `json:"encode_ns"` // reading pages, finding zero pages, building records
	Digest time.Duration `json:"digest_ns"` // the CRC32C over the records
	Write  time.Duration `json:"write_ns"`  // TLS, the netstack and the NIC, waits included
	Guest  time.Duration `json:"guest_ns"`  // given back to the guest at yields
}
