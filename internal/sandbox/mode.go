package sandbox

// Mode is the one sandbox setting (SLIPWAY_SANDBOX) that build steps and
// deployed apps share: whether they run in bubblewrap.
type Mode string

// Sandbox modes.
const (
	// ModeAuto sandboxes when bwrap works here, else runs unsandboxed and
	// says so in the build or release log.
	ModeAuto Mode = "auto"
	// ModeOff never sandboxes.
	ModeOff Mode = "off"
	// ModeRequired refuses to run anything without a working sandbox.
	ModeRequired Mode = "required"
)
