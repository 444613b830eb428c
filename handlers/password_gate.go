package handlers

import (
	"context"
	"runtime"
)

// passwordGate bounds how many bcrypt comparisons run at once, so a burst
// of sign-ins queues instead of starving every other request of CPU.
type passwordGate chan struct{}

func newPasswordGate() passwordGate { return make(passwordGate, max(1, runtime.NumCPU())) }

// do runs fn when a slot is free, or gives up when ctx ends.
func (g passwordGate) do(ctx context.Context, fn func() bool) (bool, error) {
	select {
	case g <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-g }()
	return fn(), nil
}
