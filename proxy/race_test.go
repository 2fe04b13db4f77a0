//go:build race

package proxy

// raceEnabled is set when the race detector, which slows the user-space
// stacks twentyfold, is on.
const raceEnabled = true
