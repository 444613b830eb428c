// Package views holds the templ components (layout, components, pages) and
// the view-model structs shaped like the screens. Views never query.
package views
