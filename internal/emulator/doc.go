// Package emulator runs the GitHub and CodePipeline emulators together: the
// world file that seeds both, a Sandbox that serves them on loopback
// listeners with the CodePipeline emulator wired to the GitHub one, and the
// state file that carries both across restarts. `rotor emulator` is Serve;
// `rotor demo` and tests use Start.
package emulator
