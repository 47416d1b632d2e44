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
	PathStatus    = "/v1/status"    // GET: Status
	PathMigrate   = "/v1/migrate"   // POST MigrateRequest: starts a migration, answers Report when it has ended
	PathMigration = "/v1/migration" // GET: Progress of the current or last migration
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
)

// Status is a board's answer to GET /v1/status.
type Status struct {
	Board   string        `json:"board"`   // this board's name, from its certificate
	Address string        `json:"address"` // management address, e.g. 10.77.0.11
	Role    string        `json:"role"`
	Guest   string        `json:"guest"`
	Uptime  time.Duration `json:"uptime_ns"`
	Exits   uint64        `json:"exits"` // guest exits to Ferry since boot
}

// MigrateRequest asks the board to move its guest to another board.
type MigrateRequest struct {
	To string `json:"to"` // the destination's management address, host or host:port
}

// Progress is the state of the current or last migration.
type Progress struct {
	Phase      string `json:"phase"` // "idle", "handshake", "copying", "committing", "done", "failed"
	PagesSent  uint64 `json:"pages_sent"`
	PagesTotal uint64 `json:"pages_total"`
	BytesSent  uint64 `json:"bytes_sent"`
	Error      string `json:"error,omitempty"`
}

// Report is how a migration ended, as the source saw it.
type Report struct {
	OK          bool          `json:"ok"`
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
}
