//go:build race

package main

// raceEnabled: the test binary, and so every child node it starts, runs
// under the race detector, whose shadow memory multiplies RSS.
const raceEnabled = true
