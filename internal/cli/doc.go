// Package cli is rotor's command line: one file per subcommand, each a
// cobra.Command built by a newXxxCmd(*App) function and registered in root.go.
// Commands parse flags, build what they need through App, and print; the
// work itself lives in the domain packages.
package cli
