// Package deploy owns the deploy engine below the UI and the jobs: one edge
// proxy per environment, the supervisor that runs each release's app as a
// process group (health checks, crash restarts with backoff, drain, warm
// rollback window), and the `script` target that runs a team's own deploy
// command.
//
// The package knows nothing of the database or of HTTP handlers: the caller
// (a deploy job) passes in everything an operation needs and persists what
// comes back, including the events reported through Options.OnEvent. Every
// operation goes through Engine, the one narrow interface that *Manager
// implements in process today, so that the edges and the supervisor can move
// into their own long-lived `slipway edge` process later without changing
// their callers.
package deploy
