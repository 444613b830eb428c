// Package examples ships the demo app's sources inside the binary, so the
// "Create a demo project" button works from a bare `go run`.
package examples

import (
	"embed"
	"io/fs"
)

// Hello is examples/hello: main.go, VERSION, .slipway.yml and go.mod.txt
// (written out as go.mod when the demo repository is created; a real
// go.mod here would make the folder a separate module that cannot be
// embedded).
//
//go:embed all:hello
var Hello embed.FS

// HelloApp is Hello with the hello/ prefix removed: the files as they go
// into the demo repository's root.
func HelloApp() fs.FS {
	sub, err := fs.Sub(Hello, "hello")
	if err != nil {
		// fs.Sub fails only for an invalid directory name, and "hello" is valid.
		panic("examples: " + err.Error())
	}
	return sub
}
