// Package components holds the dashboard's templ components. They receive
// plain view structs and never touch storage or configuration.
package components

//go:generate go tool templ generate
