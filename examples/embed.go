// Package examples ships the demo app's sources inside the binary, so the
// "Create a demo project" button works from a bare `go run`.
package examples

import "embed"

// Hello is examples/hello: main.go, .slipway.yml and go.mod.txt (written
// out as go.mod when the demo repository is created; a real go.mod here
// would make the folder a separate module that cannot be embedded).
//
//go:embed all:hello
var Hello embed.FS
